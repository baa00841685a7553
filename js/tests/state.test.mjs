import { test } from "node:test";
import assert from "node:assert/strict";
import {
  defaultState, cloneState, toTracksJSON, toEditorJSON, serializeState, parseState, parseTracksJSON,
  sameState, EDITOR_STATE_VERSION, TRACKS_FORMAT,
} from "../lib/state.js";
import { staticTrack, drawnTrack } from "../lib/tracks.js";

const sample = () => {
  const s = defaultState({ width: 832, height: 480, fps: 16, durationFrames: 9, gridSpacing: 48 });
  const samples = [{ t: 0, x: 100.5, y: 200.25 }, { t: 300, x: 300.125, y: 120 }];
  s.tracks = [
    drawnTrack(samples, { fps: 16, T: 9, W: 832, H: 480 }),
    staticTrack(400, 240, 9),
    { kind: "live", points: Array.from({ length: 9 }, (_, k) => [k * 1.5, 7]), visible: [0, 0, 0, 1, 1, 1, 1, 1, 1] },
  ];
  return s;
};

test("the editor-state JSON has exactly the contract's shape", () => {
  const o = JSON.parse(serializeState(sample()));
  assert.deepEqual(Object.keys(o), ["version", "tracks", "grid_spacing", "duration_frames"]);
  assert.equal(o.version, EDITOR_STATE_VERSION);
  assert.equal(o.grid_spacing, 48);
  assert.equal(o.duration_frames, 9);
  const t = o.tracks;
  assert.deepEqual(Object.keys(t), ["format", "version", "width", "height", "fps", "num_frames", "tracks"]);
  assert.equal(t.format, TRACKS_FORMAT);
  assert.equal(t.version, 1);
  assert.deepEqual([t.width, t.height, t.fps, t.num_frames], [832, 480, 16, 9]);
  assert.equal(t.tracks.length, 3);
  for (const tr of t.tracks) assert.deepEqual(Object.keys(tr), ["points", "visible", "kind"]);
  // each track up to its last change: the drag's 300 ms at 16 fps (6 frames), the static point once,
  // the live track to its last move
  assert.deepEqual(t.tracks.map((tr) => [tr.points.length, tr.visible.length]), [[6, 6], [1, 1], [9, 9]]);
  assert.deepEqual(t.tracks[1].points, [[400, 240]]);
  assert.deepEqual(t.tracks.map((x) => x.kind), ["drag", "static", "live"]);
});

test("serialise -> parse -> serialise is exact (what is saved is what is loaded)", () => {
  const s = sample();
  const text = serializeState(s);
  const { state, error } = parseState(text);
  assert.equal(error, null);
  assert.equal(serializeState(state), text);
  assert.deepEqual(state.tracks, s.tracks);
  assert.ok(sameState(state, s));
});

test("an empty value or {} is a fresh default state, with the caller's fallback", () => {
  for (const v of ["", "   ", null, undefined, "{}"]) {
    const { state, error } = parseState(v, { width: 64, height: 32 });
    assert.equal(error, null);
    assert.equal(state.width, 64);
    assert.equal(state.height, 32);
    assert.deepEqual(state.tracks, []);
    assert.equal(state.numFrames, state.durationFrames);
  }
});

test("editor state without tracks keeps its duration and spacing", () => {
  const { state, error } = parseState('{"version":1,"grid_spacing":20,"duration_frames":33}');
  assert.equal(error, null);
  assert.equal(state.gridSpacing, 20);
  assert.equal(state.durationFrames, 33);
  assert.equal(state.numFrames, 33);
});

test("unknown top-level keys survive a round trip", () => {
  const o = toEditorJSON(sample());
  o.future_field = { a: [1, 2] };
  const text = JSON.stringify(o);
  const { state, error } = parseState(text);
  assert.equal(error, null);
  assert.equal(serializeState(state), text);
});

test("visible given as booleans and missing kind/visible are accepted", () => {
  const tj = {
    format: TRACKS_FORMAT, version: 1, width: 10, height: 10, fps: 8, num_frames: 2,
    tracks: [{ points: [[1, 1], [2, 2]], visible: [true, false] }, { points: [[3, 3], [3, 3]] }],
  };
  const r = parseTracksJSON(tj);
  assert.deepEqual(r.tracks[0], { kind: "drag", points: [[1, 1], [2, 2]], visible: [1, 0] });
  assert.deepEqual(r.tracks[1].visible, [1, 1]);
});

test("num_frames may be omitted (taken from the points)", () => {
  const r = parseTracksJSON({ width: 4, height: 4, fps: 16, tracks: [{ points: [[0, 0], [1, 1], [2, 2]] }] });
  assert.equal(r.numFrames, 3);
});

const bad = [
  ["not json", "{nope", /not valid JSON/],
  ["array", "[1,2]", /must be a JSON object/],
  ["no version", '{"tracks":null}', /no version/],
  ["newer version", '{"version":2}', /newer than this widget/],
  ["bad version", '{"version":"1"}', /bad editor state version/],
  ["bad spacing", '{"version":1,"grid_spacing":-4}', /grid_spacing must be a positive number/],
  ["bad duration", '{"version":1,"duration_frames":2.5}', /duration_frames must be a positive integer/],
];
for (const [name, text, re] of bad) {
  test(`a bad editor state is reported, not silently dropped: ${name}`, () => {
    const { state, error } = parseState(text);
    assert.match(error, re);
    assert.deepEqual(state.tracks, []);
  });
}

const badTracks = [
  ["wrong format", { format: "other" }, /tracks.format/],
  ["newer tracks", { version: 9 }, /newer/],
  ["width", { width: 0 }, /tracks.width must be a positive integer/],
  ["height", { height: 1.5 }, /tracks.height/],
  ["fps", { fps: "16" }, /tracks.fps/],
  ["list", { tracks: {} }, /must be a list/],
  ["length", { tracks: [{ points: [[0, 0], [1, 1], [2, 2]] }] }, /track 0: points must have 1 to 2 entries/],
  ["empty", { tracks: [{ points: [] }] }, /track 0: points must have 1 to 2 entries/],
  ["NaN-like", { tracks: [{ points: [[0, 0], [null, 1]] }] }, /track 0, frame 1/],
  ["visible", { tracks: [{ points: [[0, 0], [1, 1]], visible: [1, 2] }] }, /track 0, frame 1: visible/],
  ["visible length", { tracks: [{ points: [[0, 0], [1, 1]], visible: [1] }] }, /visible must have 2 entries, as many as its points/],
  ["kind", { tracks: [{ points: [[0, 0], [1, 1]], kind: "banana" }] }, /unknown kind "banana"/],
  ["track type", { tracks: [7] }, /track 0 must be an object/],
];
for (const [name, over, re] of badTracks) {
  test(`bad tracks JSON names what and where: ${name}`, () => {
    const tj = { format: TRACKS_FORMAT, version: 1, width: 8, height: 8, fps: 16, num_frames: 2, tracks: [], ...over };
    const { error } = parseState(JSON.stringify({ version: 1, tracks: tj }));
    assert.match(error, re);
  });
}

test("toTracksJSON is the project's track format", () => {
  const t = toTracksJSON(sample());
  assert.equal(t.format, "motionstream-tracks");
  assert.equal(t.num_frames, 9);
});

test("cloneState is deep", () => {
  const s = sample();
  s.extra = { k: { v: 1 } };
  const c = cloneState(s);
  c.tracks[0].points[0][0] = -1;
  c.tracks[0].visible[0] = 0;
  c.extra.k.v = 2;
  assert.notEqual(s.tracks[0].points[0][0], -1);
  assert.equal(s.tracks[0].visible[0], 1);
  assert.equal(s.extra.k.v, 1);
  assert.ok(!sameState(s, c));
});

test("an empty track list follows duration_frames (the Python default writes num_frames 1)", () => {
  const py = '{"version": 1, "tracks": {"format": "motionstream-tracks", "version": 1, "width": 832, "height": 480, "fps": 16, "num_frames": 1, "tracks": []}, "grid_spacing": 32, "duration_frames": 49}';
  const { state, error } = parseState(py);
  assert.equal(error, null);
  assert.equal(state.numFrames, 49);
  assert.equal(state.width, 832);
  assert.equal(JSON.parse(serializeState(state)).tracks.num_frames, 49);
});

test("a long video keeps the saved state short: tracks are written up to their last change and held after", () => {
  const s = sample();
  const long = cloneState(s);
  long.numFrames = long.durationFrames = 100000;
  long.tracks = long.tracks.map((t) => ({
    kind: t.kind,
    points: t.points.concat(Array.from({ length: 100000 - 9 }, () => t.points[8].slice())),
    visible: t.visible.concat(new Array(100000 - 9).fill(t.visible[8])),
  }));
  const text = serializeState(long);
  assert.ok(text.length < 1000, `${text.length} characters for 3 tracks of 100000 frames`);
  const back = parseState(text).state;
  assert.equal(back.numFrames, 100000);
  assert.deepEqual(back.tracks, long.tracks, "held frames come back exactly");
  assert.equal(serializeState(back), text);
  // a track that changes visibility at its end keeps that entry
  const t = { kind: "drag", points: [[1, 1], [1, 1], [1, 1]], visible: [1, 1, 0] };
  assert.deepEqual(toTracksJSON({ ...s, numFrames: 3, tracks: [t] }).tracks[0], { points: [[1, 1], [1, 1], [1, 1]], visible: [1, 1, 0], kind: "drag" });
});
