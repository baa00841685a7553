import { test } from "node:test";
import assert from "node:assert/strict";
import {
  staticTrack, sampleTimed, resamplePath, writeMotion, drawnTrack, recordGroupMotion, pointAt, visibleAt,
  motionSpan, retimeTrack, shiftTrack, setTrackLength, clampGroupOffset, translateTracks, deleteTracks,
  gridPoints, hitTest, tracksInRect, rescaleTracks, cloneTrack, tracksBounds, KINDS,
} from "../lib/tracks.js";

const line = (x0, y0, x1, y1, ms, step = 10) => {
  const out = [];
  for (let t = 0; t < ms; t += step) out.push({ t: 1000 + t, x: x0 + ((x1 - x0) * t) / ms, y: y0 + ((y1 - y0) * t) / ms });
  out.push({ t: 1000 + ms, x: x1, y: y1 });
  return out;
};

test("kinds are the project's kinds", () => {
  assert.deepEqual([...KINDS], ["drag", "static", "live", "camera", "transfer"]);
});

test("a static track repeats the same point T times, visible", () => {
  const t = staticTrack(10.123, 20.456, 5);
  assert.equal(t.kind, "static");
  assert.equal(t.points.length, 5);
  for (const p of t.points) assert.deepEqual(p, [10.12, 20.46]);
  assert.deepEqual(t.visible, [1, 1, 1, 1, 1]);
  t.points[0][0] = 99;
  assert.equal(t.points[1][0], 10.12, "frames must not share arrays");
});

test("sampleTimed samples a 1 s drag at 16 fps: 17 frames, evenly spaced, ends at the last position", () => {
  const p = sampleTimed(line(0, 0, 160, 0, 1000), 16);
  assert.equal(p.length, 17);
  p.forEach((q, k) => assert.ok(Math.abs(q[0] - k * 10) < 1e-9, `frame ${k}: ${q[0]}`));
  assert.deepEqual(p[16], [160, 0]);
});

test("sampleTimed keeps the end of a drag that stops between frames", () => {
  const p = sampleTimed(line(0, 0, 103, 0, 1030), 16); // 1.03 s -> 18 frames, last clamped to the end
  assert.equal(p.length, 18);
  assert.deepEqual(p[17], [103, 0]);
  assert.ok(Math.abs(p[16][0] - 100) < 1e-9);
});

test("sampleTimed follows real timing: a pause in the drag holds the point", () => {
  const s = [{ t: 0, x: 0, y: 0 }, { t: 250, x: 40, y: 0 }, { t: 750, x: 40, y: 0 }, { t: 1000, x: 80, y: 0 }];
  const p = sampleTimed(s, 8); // frames every 125 ms
  assert.deepEqual(p.map((q) => q[0]), [0, 20, 40, 40, 40, 40, 40, 60, 80]);
});

test("sampleTimed of a click is one frame; bad input throws", () => {
  assert.deepEqual(sampleTimed([{ t: 5, x: 3, y: 4 }], 16), [[3, 4]]);
  assert.throws(() => sampleTimed([], 16));
  assert.throws(() => sampleTimed([{ t: 0, x: 0, y: 0 }], 0));
});

test("resamplePath keeps both ends and interpolates linearly", () => {
  const p = [[0, 0], [10, 0], [20, 0]];
  assert.deepEqual(resamplePath(p, 5), [[0, 0], [5, 0], [10, 0], [15, 0], [20, 0]]);
  assert.deepEqual(resamplePath(p, 1), [[0, 0]]);
  assert.deepEqual(resamplePath([[1, 2]], 3), [[1, 2], [1, 2], [1, 2]]);
  assert.deepEqual(resamplePath(p, 0), []);
});

test("writeMotion holds before and after, compresses when too long, cuts when fit=false", () => {
  const base = Array.from({ length: 6 }, () => [0, 0]);
  const path = [[1, 0], [2, 0], [3, 0]];
  assert.deepEqual(writeMotion(base, path, 2).map((p) => p[0]), [0, 0, 1, 2, 3, 3]);
  const long = [[0, 0], [1, 0], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0], [7, 0], [8, 0]];
  const fit = writeMotion(base, long, 2, true).map((p) => p[0]);
  assert.deepEqual(fit, [0, 0, 0, 2.67, 5.33, 8]);
  const cut = writeMotion(base, long, 2, false).map((p) => p[0]);
  assert.deepEqual(cut, [0, 0, 0, 1, 2, 3]);
  assert.deepEqual(base[3], [0, 0], "input not mutated");
});

test("drawnTrack: waits at the start until startFrame, plays in real time, then holds", () => {
  const t = drawnTrack(line(10, 10, 90, 10, 500), { fps: 16, T: 20, startFrame: 4, W: 100, H: 100 });
  assert.equal(t.kind, "drag");
  assert.equal(t.points.length, 20);
  assert.deepEqual(t.visible, new Array(20).fill(1));
  for (let f = 0; f <= 4; f++) assert.deepEqual(t.points[f], [10, 10]);
  assert.deepEqual(t.points[12], [90, 10]); // 0.5 s at 16 fps = 8 frames after frame 4
  assert.deepEqual(t.points[19], [90, 10]);
  assert.equal(t.points[8][0], 50);
});

test("drawnTrack clamps the drag into the image", () => {
  const t = drawnTrack(line(50, 50, 150, -30, 200), { fps: 16, T: 8, W: 100, H: 80 });
  for (const p of t.points) {
    assert.ok(p[0] >= 0 && p[0] <= 100 && p[1] >= 0 && p[1] <= 80, JSON.stringify(p));
  }
  assert.deepEqual(t.points[7], [100, 0]);
});

test("drawnTrack compresses a drag longer than the video into the frames left", () => {
  const t = drawnTrack(line(0, 0, 100, 0, 5000), { fps: 16, T: 11, startFrame: 0, W: 200, H: 200 });
  assert.equal(t.points[0][0], 0);
  assert.equal(t.points[10][0], 100);
  assert.equal(t.points[5][0], 50);
});

test("recordGroupMotion moves every selected point by the same displacement from startFrame", () => {
  const tracks = [staticTrack(10, 10, 10), staticTrack(30, 40, 10), staticTrack(70, 70, 10)];
  const out = recordGroupMotion(tracks, [0, 1], line(0, 0, 20, 10, 250), { fps: 16, startFrame: 3, W: 100, H: 100 });
  assert.equal(out[2], tracks[2], "unselected tracks are untouched (same object)");
  assert.equal(out[0].kind, "drag");
  assert.equal(out[1].kind, "drag");
  assert.deepEqual(out[0].points[2], [10, 10]);
  assert.deepEqual(out[0].points[3], [10, 10]);
  assert.deepEqual(out[0].points[7], [30, 20]);
  assert.deepEqual(out[1].points[7], [50, 50]);
  assert.deepEqual(out[1].points[9], [50, 50]);
  assert.deepEqual(tracks[0].points[7], [10, 10], "input not mutated");
});

test("recordGroupMotion starts from where each track is at startFrame and keeps earlier motion", () => {
  const t = drawnTrack(line(0, 0, 40, 0, 250), { fps: 16, T: 12, W: 100, H: 100 }); // reaches 40 at frame 4
  const out = recordGroupMotion([t], [0], line(0, 0, 0, 30, 125), { fps: 16, startFrame: 6, W: 100, H: 100 });
  assert.deepEqual(out[0].points.slice(0, 7), t.points.slice(0, 7));
  assert.deepEqual(out[0].points[8], [40, 30]);
  assert.deepEqual(out[0].points[11], [40, 30]);
});

test("recordGroupMotion keeps points inside the image and makes them visible from startFrame", () => {
  const t = { kind: "live", points: Array.from({ length: 5 }, () => [95, 5]), visible: [0, 0, 0, 0, 0] };
  const out = recordGroupMotion([t], [0], line(0, 0, 50, -50, 250), { fps: 16, startFrame: 2, W: 100, H: 100 });
  assert.equal(out[0].kind, "live");
  assert.deepEqual(out[0].visible, [0, 0, 1, 1, 1]);
  assert.deepEqual(out[0].points[4], [100, 0]);
});

test("pointAt interpolates fractional frames and clamps; visibleAt uses the nearest frame", () => {
  const t = { kind: "drag", points: [[0, 0], [10, 20], [20, 40]], visible: [1, 0, 1] };
  assert.deepEqual(pointAt(t, 0.5), [5, 10]);
  assert.deepEqual(pointAt(t, -3), [0, 0]);
  assert.deepEqual(pointAt(t, 9), [20, 40]);
  assert.equal(visibleAt(t, 0.4), true);
  assert.equal(visibleAt(t, 1.2), false);
  assert.equal(visibleAt(t, 99), true);
});

test("motionSpan finds the frames where a track moves", () => {
  const mk = (xs) => ({ kind: "drag", points: xs.map((x) => [x, 0]), visible: xs.map(() => 1) });
  assert.deepEqual(motionSpan(mk([0, 0, 0, 1, 2, 3, 3, 3])), [2, 5]);
  assert.deepEqual(motionSpan(mk([0, 1, 1, 1])), [0, 1]);
  assert.equal(motionSpan(mk([4, 4, 4])), null);
  assert.deepEqual(motionSpan(mk([0, 1, 1, 2])), [0, 3]);
});

test("retimeTrack stretches the motion span onto the new frames and holds outside", () => {
  const xs = [0, 0, 0, 10, 20, 30, 30, 30, 30, 30, 30];
  const t = { kind: "drag", points: xs.map((x) => [x, 1]), visible: xs.map(() => 1) };
  const r = retimeTrack(t, 2, 8);
  assert.deepEqual(motionSpan(r), [2, 8]);
  assert.deepEqual(r.points.map((p) => p[0]), [0, 0, 0, 5, 10, 15, 20, 25, 30, 30, 30]);
  const back = retimeTrack(r, 2, 5);
  assert.deepEqual(back.points, t.points, "retiming back restores the original samples");
  const fast = retimeTrack(t, 0, 1);
  assert.deepEqual(fast.points.map((p) => p[0]), [0, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30]);
});

test("retimeTrack carries visibility through the same time map", () => {
  const t = {
    kind: "live",
    points: [[0, 0], [0, 0], [0, 0], [5, 0], [10, 0], [10, 0]],
    visible: [0, 0, 1, 1, 1, 1],
  };
  const r = retimeTrack(t, 3, 5); // shift by one frame
  assert.deepEqual(r.visible, [0, 0, 0, 1, 1, 1]);
  assert.deepEqual(r.points.map((p) => p[0]), [0, 0, 0, 0, 5, 10]);
});

test("retimeTrack clamps the requested range and leaves non-moving tracks alone", () => {
  const s = staticTrack(1, 2, 4);
  assert.deepEqual(retimeTrack(s, 1, 2), s);
  const t = { kind: "drag", points: [[0, 0], [1, 0], [2, 0], [2, 0]], visible: [1, 1, 1, 1] };
  assert.deepEqual(motionSpan(retimeTrack(t, -5, 99)), [0, 3]);
  assert.deepEqual(motionSpan(retimeTrack(t, 3, 3)), [2, 3]);
});

test("shiftTrack moves the motion in time without changing its speed, inside the video", () => {
  const xs = [0, 0, 10, 20, 20, 20, 20];
  const t = { kind: "drag", points: xs.map((x) => [x, 0]), visible: xs.map(() => 1) };
  assert.deepEqual(shiftTrack(t, 2).points.map((p) => p[0]), [0, 0, 0, 0, 10, 20, 20]);
  assert.deepEqual(shiftTrack(t, 10).points.map((p) => p[0]), [0, 0, 0, 0, 0, 10, 20]);
  assert.deepEqual(shiftTrack(t, -5).points.map((p) => p[0]), [0, 10, 20, 20, 20, 20, 20]);
});

test("setTrackLength cuts or holds the last frame", () => {
  const t = { kind: "drag", points: [[0, 0], [1, 1], [2, 2]], visible: [1, 1, 0] };
  assert.deepEqual(setTrackLength(t, 2), { kind: "drag", points: [[0, 0], [1, 1]], visible: [1, 1] });
  assert.deepEqual(setTrackLength(t, 5), {
    kind: "drag",
    points: [[0, 0], [1, 1], [2, 2], [2, 2], [2, 2]],
    visible: [1, 1, 0, 0, 0],
  });
  assert.deepEqual(setTrackLength(t, 3), t);
});

test("moving a group keeps every point inside the image", () => {
  const tracks = [staticTrack(10, 10, 3), staticTrack(90, 50, 3), staticTrack(0, 0, 3)];
  assert.deepEqual(tracksBounds(tracks, [0, 1]), { minX: 10, minY: 10, maxX: 90, maxY: 50 });
  assert.deepEqual(clampGroupOffset(tracks, [0, 1], 50, -50, 100, 100), { dx: 10, dy: -10 });
  assert.deepEqual(clampGroupOffset(tracks, [0, 1], -3, 4, 100, 100), { dx: -3, dy: 4 });
  assert.deepEqual(clampGroupOffset(tracks, [], 5, 5, 100, 100), { dx: 0, dy: 0 });
  const moved = translateTracks(tracks, [0, 1], 10, -10);
  assert.deepEqual(moved[0].points[2], [20, 0]);
  assert.deepEqual(moved[1].points[0], [100, 40]);
  assert.equal(moved[2], tracks[2]);
  assert.deepEqual(deleteTracks(tracks, [0, 2]), [tracks[1]]);
});

test("gridPoints: centred grid with the given spacing, skipping existing points", () => {
  const g = gridPoints(100, 64, 32);
  assert.deepEqual(g, [[18, 16], [50, 16], [82, 16], [18, 48], [50, 48], [82, 48]]);
  const g2 = gridPoints(100, 64, 32, { avoid: [[19, 17]] });
  assert.equal(g2.length, 5);
  assert.ok(!g2.some(([x, y]) => x === 18 && y === 16));
  const g3 = gridPoints(512, 512, 64);
  assert.equal(g3.length, 64);
  assert.deepEqual(g3[0], [32, 32]);
  assert.deepEqual(g3[63], [480, 480]);
  const inRegion = gridPoints(512, 512, 20, { region: { x: 100, y: 100, w: 60, h: 40 } });
  assert.equal(inRegion.length, 6);
  for (const [x, y] of inRegion) assert.ok(x >= 100 && x <= 160 && y >= 100 && y <= 140);
  assert.equal(gridPoints(10, 10, 0).length, 100, "spacing below 1 is treated as 1");
});

test("hitTest picks the nearest visible point at the frame within the radius", () => {
  const a = { kind: "drag", points: [[0, 0], [50, 50]], visible: [1, 1] };
  const b = staticTrack(52, 50, 2);
  const hidden = { kind: "live", points: [[50, 50], [50, 50]], visible: [0, 0] };
  assert.equal(hitTest([a, b], 0, 1, 1, 5), 0);
  assert.equal(hitTest([a, b], 1, 51.5, 50, 5), 1);
  assert.equal(hitTest([a, b], 1, 80, 80, 5), -1);
  assert.equal(hitTest([hidden, b], 1, 50, 50, 5), 1, "visible points win over hidden ones");
  assert.equal(hitTest([hidden], 1, 50, 50, 5), 0, "hidden points can still be picked");
});

test("tracksInRect selects by the position at the frame", () => {
  const a = { kind: "drag", points: [[0, 0], [50, 50]], visible: [1, 1] };
  const b = staticTrack(10, 10, 2);
  assert.deepEqual(tracksInRect([a, b], 0, { x: -1, y: -1, w: 20, h: 20 }), [0, 1]);
  assert.deepEqual(tracksInRect([a, b], 1, { x: -1, y: -1, w: 20, h: 20 }), [1]);
});

test("rescaleTracks and cloneTrack", () => {
  const t = { kind: "drag", points: [[10, 20], [30, 40]], visible: [1, 0] };
  assert.deepEqual(rescaleTracks([t], 100, 100, 50, 200)[0].points, [[5, 40], [15, 80]]);
  const c = cloneTrack(t);
  assert.deepEqual(c, t);
  c.points[0][0] = 7;
  c.visible[0] = 0;
  assert.equal(t.points[0][0], 10);
  assert.equal(t.visible[0], 1);
});
