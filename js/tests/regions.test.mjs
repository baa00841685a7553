import { test } from "node:test";
import assert from "node:assert/strict";
import { pointInPolygon, polygonArea, boxPolygon, lassoPolygon, regionAt, dragsOnRegion } from "../lib/regions.js";
import { LiveSteering } from "../lib/steer.js";
import { rescaleTracks, translateTracks, setTrackLength, retimeTrack, staticTrack, drawnTrack } from "../lib/tracks.js";
import { defaultState, serializeState, parseState } from "../lib/state.js";

const square = [[10, 10], [30, 10], [30, 30], [10, 30]];

test("inside a region is the node's even-odd rule; boxes and lassos become polygons", () => {
  assert.equal(pointInPolygon(square, 20, 20), true);
  assert.equal(pointInPolygon(square, 31, 20), false);
  assert.equal(polygonArea(square), 400);
  assert.deepEqual(boxPolygon({ x: 30, y: 30 }, { x: 10, y: 10 }), square);
  const circle = Array.from({ length: 2000 }, (_, k) => [50 + 20 * Math.cos(k / 100), 40 + 20 * Math.sin(k / 100)]);
  const poly = lassoPolygon(circle, 64, 64);
  assert.ok(poly.length >= 3 && poly.length <= 256, `${poly.length} vertices`);
  assert.ok(poly.every(([x, y]) => x >= 0 && x <= 64 && y >= 0 && y <= 64), "clamped into the image");
  assert.equal(lassoPolygon([[1, 1], [2, 1], [1.5, 2]], 64, 64), null, "a scribble encloses no region");
});

test("a press grabs the selected region first, then the newest track's; two drags on one region are its limit", () => {
  const other = [[0, 0], [40, 0], [40, 40]];
  const tracks = [{ ...staticTrack(1, 1, 3), region: other }, { ...staticTrack(2, 2, 3), region: square }];
  assert.equal(regionAt(tracks, null, 20, 15), square);
  assert.equal(regionAt(tracks, null, 35, 5), other);
  const pending = [[18, 12], [24, 12], [24, 18]];
  assert.equal(regionAt(tracks, pending, 20, 14), pending);
  assert.equal(regionAt(tracks, null, 5, 35), null);
  assert.equal(dragsOnRegion(tracks, square.map((p) => p.slice())), 1);
});

test("a track's region is saved, read back, scaled and moved with it", () => {
  const s = defaultState({ width: 64, height: 64, durationFrames: 5 });
  const t = { ...drawnTrack([{ t: 0, x: 20, y: 20 }, { t: 200, x: 40, y: 20 }], { fps: 16, T: 5, W: 64, H: 64 }), region: square };
  s.tracks = [t];
  const text = serializeState(s);
  assert.deepEqual(JSON.parse(text).tracks.tracks[0].region, square);
  const back = parseState(text).state;
  assert.deepEqual(back.tracks[0].region, square);
  assert.deepEqual(rescaleTracks([t], 64, 64, 128, 32)[0].region, [[20, 5], [60, 5], [60, 15], [20, 15]]);
  assert.deepEqual(translateTracks([t], [0], 2, -3)[0].region, [[12, 7], [32, 7], [32, 27], [12, 27]]);
  assert.deepEqual(setTrackLength(t, 9).region, square);
  assert.deepEqual(retimeTrack(t, 1, 3).region, square);
  assert.match(parseState(text.replace('"region":[[10,10]', '"region":[[10,"x"]')).error, /region point 0/);
});

test("a live point that drags a region posts its polygon with every post", () => {
  const s = new LiveSteering("sess");
  s.press("live:1", 5, 6, [[1, 1], [9, 1], [9, 9]]);
  s.press("track:0", 2, 2);
  const first = s.takePayload(10);
  assert.deepEqual(first.points, [{ id: "live:1", x: 5, y: 6, active: true, region: [[1, 1], [9, 1], [9, 9]] },
    { id: "track:0", x: 2, y: 2, active: true }]);
  s.move("live:1", 7, 8);
  assert.deepEqual(s.takePayload(20).points[0].region, [[1, 1], [9, 1], [9, 9]]);
  s.press("live:1", 7, 9, [[0, 0], [1, 0], [1, 1]]); // grabbed again: it keeps the region it came with
  assert.deepEqual(s.takePayload(30).points[0].region, [[1, 1], [9, 1], [9, 9]]);
});
