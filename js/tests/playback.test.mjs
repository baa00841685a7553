import { test } from "node:test";
import assert from "node:assert/strict";
import { FrameStore, Player, RateMeter } from "../lib/playback.js";

test("FrameStore tracks contiguous frames even when chunks arrive out of order", () => {
  const s = new FrameStore();
  s.putChunk(12, Array.from({ length: 12 }, (_, k) => `f${12 + k}`));
  assert.equal(s.contiguous, 0);
  assert.equal(s.size, 12);
  s.putChunk(0, Array.from({ length: 12 }, (_, k) => `f${k}`));
  assert.equal(s.contiguous, 24);
  assert.equal(s.get(13), "f13");
  assert.ok(s.has(0) && !s.has(24));
  s.put(0, "again");
  assert.equal(s.size, 24);
  assert.throws(() => s.put(-1, "x"));
  s.clear();
  assert.equal(s.contiguous, 0);
});

test("RateMeter measures events per second over a window", () => {
  const m = new RateMeter(1000);
  for (let i = 0; i <= 16; i++) m.tick(i * 62.5);
  assert.ok(Math.abs(m.rate(1000) - 16) < 1e-9);
  assert.equal(m.rate(5000), 0);
  m.tick(0, 3);
  m.reset();
  assert.equal(m.rate(0), 0);
});

test("nothing to show before the first frame", () => {
  const p = new Player({ fps: 16, bufferFrames: 4 });
  assert.equal(p.tick(0), -1);
  p.startStream(16, 0);
  assert.equal(p.tick(10), -1);
  assert.equal(p.state, "buffering");
});

test("waits for the buffer, then plays at the video's frame rate", () => {
  const p = new Player({ fps: 16, bufferFrames: 4 });
  p.startStream(16, 0);
  p.setAvailable(2, 0);
  assert.equal(p.tick(100), 0);
  assert.equal(p.state, "buffering");
  p.setAvailable(12, 200);
  assert.equal(p.tick(200), 0);
  assert.equal(p.state, "playing");
  assert.equal(p.tick(200 + 62.5 * 3), 3);
  assert.equal(p.tick(200 + 62.5 * 11), 11);
});

test("an underrun holds the last frame and rebuffers, then continues without skipping", () => {
  const p = new Player({ fps: 16, bufferFrames: 4 });
  p.startStream(16, 0);
  p.setAvailable(12, 0);
  p.tick(0);
  assert.equal(p.tick(2000), 11);
  assert.equal(p.state, "buffering");
  p.setAvailable(14, 2100);
  assert.equal(p.tick(2100), 11, "not enough buffered yet");
  p.setAvailable(24, 2200);
  assert.equal(p.tick(2200), 11);
  assert.equal(p.state, "playing");
  assert.equal(p.tick(2200 + 62.5), 12);
});

test("falling far behind a fast generator jumps close to the newest frame", () => {
  const p = new Player({ fps: 16, bufferFrames: 4, maxLagFrames: 20 });
  p.startStream(16, 0);
  p.setAvailable(12, 0);
  p.tick(0);
  p.setAvailable(60, 100);
  const f = p.tick(100);
  assert.equal(f, 56);
  assert.equal(p.tick(100 + 62.5), 57);
});

test("after the stream ends, playback stops on the last frame; play restarts; seek scrubs", () => {
  const p = new Player({ fps: 10, bufferFrames: 4 });
  p.startStream(10, 0);
  p.setAvailable(10, 0);
  p.finish();
  p.tick(0);
  assert.equal(p.tick(5000), 9);
  assert.equal(p.state, "ended");
  p.seek(3);
  assert.equal(p.state, "paused");
  assert.equal(p.tick(9999), 3);
  p.seek(99);
  assert.equal(p.tick(0), 9);
  p.play(10000);
  assert.equal(p.tick(10000), 0, "play from the end restarts");
  assert.equal(p.tick(10250), 2);
  p.pause();
  assert.equal(p.tick(20000), 2);
  p.togglePlay(20000);
  assert.equal(p.state, "playing");
  assert.equal(p.tick(20100), 3);
  p.togglePlay(20100);
  assert.equal(p.state, "paused");
});

test("a finished stream with fewer frames than the buffer still plays", () => {
  const p = new Player({ fps: 16, bufferFrames: 8 });
  p.startStream(16, 0);
  p.setAvailable(3, 0);
  p.finish();
  assert.equal(p.tick(0), 0);
  assert.equal(p.state, "playing");
});

test("load shows a saved video paused; loop wraps around", () => {
  const p = new Player({ fps: 4 });
  p.load(8, 5);
  assert.equal(p.state, "paused");
  assert.equal(p.tick(0), 5);
  p.loop = true;
  p.play(0);
  assert.equal(p.tick(500), 7);
  assert.equal(p.tick(750), 0, "wraps after the last frame had its time");
  assert.equal(p.tick(1000), 1);
  assert.equal(p.state, "playing");
  p.load(0);
  assert.equal(p.state, "idle");
  assert.equal(p.tick(0), -1);
  p.seek(3);
  p.play(0);
  assert.equal(p.state, "idle");
});

test("seek while playing continues from the new frame; buffered counts frames ahead", () => {
  const p = new Player({ fps: 16, bufferFrames: 2 });
  p.startStream(16, 0);
  p.setAvailable(30, 0);
  p.finish();
  p.tick(0);
  p.seek(20, 100);
  assert.equal(p.tick(100), 20);
  assert.equal(p.buffered, 10);
  assert.equal(p.tick(100 + 62.5 * 2), 22);
});

test("an endless stream keeps only the newest maxFrames frames", () => {
  const s = new FrameStore(10);
  s.putChunk(0, Array.from({ length: 12 }, (_, k) => `f${k}`));
  assert.equal(s.contiguous, 12);
  assert.equal(s.first, 2);
  assert.equal(s.size, 10);
  assert.ok(!s.has(1) && s.has(2));
  s.put(0, "late"); // scrolled out: ignored
  assert.ok(!s.has(0));
  s.putChunk(12, ["a", "b", "c"]);
  assert.equal(s.first, 5);
  assert.equal(s.size, 10);
});

test("the player never goes to dropped frames", () => {
  const p = new Player({ fps: 10, bufferFrames: 2 });
  p.startStream(10, 0);
  p.setAvailable(30, 0, 20);
  assert.equal(p.tick(0), 20);
  p.finish();
  p.seek(3);
  assert.equal(p.tick(0), 20);
  p.seek(29);
  p.play(0);
  assert.equal(p.tick(0), 20, "play from the end restarts at the oldest kept frame");
  p.loop = true;
  assert.equal(p.tick(1000), 20, "wraps to the oldest kept frame");
  assert.equal(p.tick(1050), 20);
  assert.equal(p.tick(1150), 21);
});

test("FrameStore joined mid-run: frames count from the first one that comes", () => {
  const s = new FrameStore(100);
  s.clear(240);
  assert.ok(!s.hasFrames);
  s.putChunk(240, Array.from({ length: 12 }, (_, k) => `f${240 + k}`));
  assert.equal(s.first, 240);
  assert.equal(s.contiguous, 252);
  assert.ok(s.hasFrames);
  s.put(3, "before the join");
  assert.ok(!s.has(3), "frames before the joined one are not kept");
  assert.throws(() => s.clear(-1), /bad first frame/);
  const p = new Player({ fps: 16, bufferFrames: 4 });
  p.startStream(16, 0);
  assert.equal(p.tick(0), -1, "nothing to show before the first frame arrives");
  p.setAvailable(s.contiguous, 0, s.first);
  assert.equal(p.tick(1), 240, "play starts at the joined frame");
});
