import { test } from "node:test";
import assert from "node:assert/strict";
import { StreamView } from "../ui/stream.js";

/** Images whose decode() resolves when the test says so (a browser decodes JPEGs asynchronously). */
function deferredImages() {
  const pending = [];
  const makeImage = () => {
    const img = {};
    img.decode = () => new Promise((resolve) => pending.push(resolve));
    return img;
  };
  const settle = async () => {
    while (pending.length) pending.shift()();
    await new Promise((r) => setTimeout(r, 0));
  };
  return { makeImage, settle };
}

const chunk = (session, chunk, start, n) => ({ session, chunk, start_frame: start, fps: 16,
  frames: Array.from({ length: n }, (_, k) => `data:image/jpeg;base64,${start + k}`) });

test("the last chunk plays even when the end event arrives before its frames are decoded", async () => {
  const { makeImage, settle } = deferredImages();
  const v = new StreamView({ makeImage });
  v.begin("s", 16, 0);
  v.addChunk(chunk("s", 0, 0, 4), 0);
  v.addChunk(chunk("s", 1, 4, 4), 0);
  await settle();
  let t = 0;
  for (; t <= 2000 && v.frame < 7; t += 20) v.current(t); // playback catches up with generation
  assert.equal(v.frame, 7);
  v.addChunk(chunk("s", 2, 8, 4), t); // the last chunk: its images are still decoding...
  v.finish(12); // ...when the run's end event arrives
  for (let k = 0; k < 10; k++) v.current((t += 20));
  await settle();
  for (let k = 0; k < 100 && v.player.state !== "ended"; k++) v.current((t += 20));
  assert.equal(v.player.state, "ended");
  assert.equal(v.frame, 11, "playback ends on the run's last frame");
  assert.equal(v.count, 12);
});

test("a run whose frames are all decoded ends at once; frames of an older run do not count", async () => {
  const { makeImage, settle } = deferredImages();
  const v = new StreamView({ makeImage });
  v.begin("old", 16, 0);
  v.addChunk(chunk("old", 0, 0, 4), 0); // never decoded before the next run starts
  v.begin("new", 16, 0);
  v.addChunk(chunk("new", 0, 0, 2), 0);
  await settle();
  v.finish();
  assert.equal(v.player.finished, true, "nothing of this run is still decoding");
  let t = 0;
  for (let k = 0; k < 100 && v.player.state !== "ended"; k++) v.current((t += 20));
  assert.equal(v.frame, 1);
});
