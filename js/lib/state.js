// The editor state and its JSON, the value of the MotionStreamGenerate
// node's `editor_state` widget (saved in the workflow, sent with the prompt):
//
//   {"version": 1,
//    "tracks": {"format": "motionstream-tracks", "version": 1, "width": W,
//               "height": H, "fps": 16, "num_frames": T,
//               "tracks": [{"points": [[x, y] x n], "visible": [0|1 x n],
//                           "kind": "drag"|"static"|"live"|"camera"|"transfer",
//                           "region": [[x, y], ...] (optional: the polygon it drags)}]},
//    "grid_spacing": 32, "duration_frames": 49}
//
// Each track is written up to its last change (1 <= n <= T entries): after that it holds its last
// point and visibility to frame T-1, which the node fills in (Tracks.hold_to). A static point is one
// entry however long the video, so a long video does not make the workflow long. In memory every
// track has T entries.
//
// Python reads "tracks" with Tracks.from_json. In memory the state is flat:
// {width, height, fps, numFrames, gridSpacing, durationFrames, tracks, extra}
// where `extra` keeps unknown top-level keys so that a newer writer's fields
// survive a round trip. serializeState(parseState(s).state) reproduces a
// canonical s exactly.

import { KINDS, cloneTrack } from "./tracks.js";

export const EDITOR_STATE_VERSION = 1;
export const TRACKS_FORMAT = "motionstream-tracks";
export const TRACKS_VERSION = 1;

export const DEFAULTS = Object.freeze({
  width: 512,
  height: 512,
  fps: 16,
  durationFrames: 49,
  gridSpacing: 32,
});

const KNOWN_KEYS = new Set(["version", "tracks", "grid_spacing", "duration_frames"]);

/** A fresh, empty editor state. */
export function defaultState(over = {}) {
  const s = {
    width: over.width ?? DEFAULTS.width,
    height: over.height ?? DEFAULTS.height,
    fps: over.fps ?? DEFAULTS.fps,
    durationFrames: over.durationFrames ?? DEFAULTS.durationFrames,
    gridSpacing: over.gridSpacing ?? DEFAULTS.gridSpacing,
    tracks: over.tracks ?? [],
    extra: over.extra ?? {},
  };
  s.numFrames = over.numFrames ?? s.durationFrames;
  return s;
}

/** Deep copy of a state. */
export function cloneState(s) {
  return {
    width: s.width,
    height: s.height,
    fps: s.fps,
    numFrames: s.numFrames,
    durationFrames: s.durationFrames,
    gridSpacing: s.gridSpacing,
    tracks: s.tracks.map(cloneTrack),
    extra: JSON.parse(JSON.stringify(s.extra || {})),
  };
}

/** The project's tracks JSON object for a state. */
export function toTracksJSON(s) {
  return {
    format: TRACKS_FORMAT,
    version: TRACKS_VERSION,
    width: s.width,
    height: s.height,
    fps: s.fps,
    num_frames: s.numFrames,
    tracks: s.tracks.map((t) => {
      const n = heldLength(t);
      const out = { points: n === t.points.length ? t.points : t.points.slice(0, n), visible: t.visible.slice(0, n), kind: t.kind };
      return t.region ? { ...out, region: t.region } : out;
    }),
  };
}

/** How many entries of a track to write: up to its last change of point or visibility (at least one). */
export function heldLength(t) {
  const p = t.points;
  const v = t.visible;
  let n = p.length;
  while (n > 1 && p[n - 1][0] === p[n - 2][0] && p[n - 1][1] === p[n - 2][1] && !v[n - 1] === !v[n - 2]) n--;
  return n;
}

/** The editor-state JSON object for a state. */
export function toEditorJSON(s) {
  return {
    version: EDITOR_STATE_VERSION,
    tracks: toTracksJSON(s),
    grid_spacing: s.gridSpacing,
    duration_frames: s.durationFrames,
    ...(s.extra || {}),
  };
}

/** The widget value: the editor-state JSON text (compact, key order fixed). */
export function serializeState(s) {
  return JSON.stringify(toEditorJSON(s));
}

class StateError extends Error {}

const fail = (msg) => {
  throw new StateError(msg);
};

function posInt(v, what) {
  if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) fail(`${what} must be a positive integer; got ${JSON.stringify(v)}`);
  return v;
}

function posNum(v, what) {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) fail(`${what} must be a positive number; got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Read a tracks JSON object (or text) into {width, height, fps, numFrames,
 * tracks}. Throws an Error naming what is wrong and where.
 */
export function parseTracksJSON(obj) {
  const o = typeof obj === "string" ? JSON.parse(obj) : obj;
  if (!o || typeof o !== "object" || Array.isArray(o)) fail("tracks must be a JSON object");
  if (o.format !== undefined && o.format !== TRACKS_FORMAT) fail(`tracks.format must be "${TRACKS_FORMAT}"; got ${JSON.stringify(o.format)}`);
  if (o.version !== undefined && o.version > TRACKS_VERSION) fail(`tracks version ${o.version} is newer than this widget understands (${TRACKS_VERSION})`);
  const width = posInt(o.width, "tracks.width");
  const height = posInt(o.height, "tracks.height");
  const fps = posNum(o.fps, "tracks.fps");
  const list = o.tracks;
  if (!Array.isArray(list)) fail("tracks.tracks must be a list");
  let T = o.num_frames;
  if (T === undefined || T === null) T = list.length ? (list[0].points || []).length : DEFAULTS.durationFrames;
  posInt(T, "tracks.num_frames");
  const tracks = list.map((t, i) => {
    if (!t || typeof t !== "object") fail(`track ${i} must be an object`);
    const pts = t.points;
    if (!Array.isArray(pts) || pts.length < 1 || pts.length > T) {
      fail(`track ${i}: points must have 1 to ${T} entries (num_frames); got ${Array.isArray(pts) ? pts.length : typeof pts}`);
    }
    const n = pts.length;
    const points = pts.map((p, f) => {
      if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === "number" && Number.isFinite(v))) {
        fail(`track ${i}, frame ${f}: a point must be [x, y] finite numbers; got ${JSON.stringify(p)}`);
      }
      return [p[0], p[1]];
    });
    let visible;
    if (t.visible === undefined) visible = new Array(n).fill(1);
    else {
      if (!Array.isArray(t.visible) || t.visible.length !== n) fail(`track ${i}: visible must have ${n} entries, as many as its points`);
      visible = t.visible.map((v, f) => {
        if (v === true || v === 1) return 1;
        if (v === false || v === 0) return 0;
        return fail(`track ${i}, frame ${f}: visible must be 0/1 or true/false; got ${JSON.stringify(v)}`);
      });
    }
    for (let f = n; f < T; f++) { // held after its last entry
      points.push([points[n - 1][0], points[n - 1][1]]);
      visible.push(visible[n - 1]);
    }
    const kind = t.kind === undefined ? "drag" : t.kind;
    if (!KINDS.includes(kind)) fail(`track ${i}: unknown kind ${JSON.stringify(kind)} (known: ${KINDS.join(", ")})`);
    if (t.region === undefined || t.region === null) return { kind, points, visible };
    const r = t.region;
    if (!Array.isArray(r) || r.length < 3 || r.length > 1024) fail(`track ${i}: region must be a list of 3 to 1024 [x, y] points`);
    const region = r.map((p, k) => {
      if (!Array.isArray(p) || p.length !== 2 || !p.every((v) => typeof v === "number" && Number.isFinite(v))) {
        fail(`track ${i}, region point ${k}: must be [x, y] finite numbers; got ${JSON.stringify(p)}`);
      }
      return [p[0], p[1]];
    });
    return { kind, points, visible, region };
  });
  return { width, height, fps, numFrames: T, tracks };
}

/**
 * Parse a widget value. Returns {state, error}: on any problem `state` is a
 * default state and `error` a message saying what was wrong (the caller
 * keeps the raw text so nothing is lost). An empty value is a fresh state.
 * `fallback` overrides the defaults of a fresh state.
 */
export function parseState(text, fallback = {}) {
  if (text === undefined || text === null || (typeof text === "string" && text.trim() === "")) {
    return { state: defaultState(fallback), error: null };
  }
  try {
    const o = typeof text === "string" ? JSON.parse(text) : text;
    if (!o || typeof o !== "object" || Array.isArray(o)) fail("editor state must be a JSON object");
    if (Object.keys(o).length === 0) return { state: defaultState(fallback), error: null };
    if (o.version === undefined) fail("editor state has no version");
    if (typeof o.version !== "number" || !Number.isInteger(o.version) || o.version < 1) fail(`bad editor state version ${JSON.stringify(o.version)}`);
    if (o.version > EDITOR_STATE_VERSION) fail(`editor state version ${o.version} is newer than this widget understands (${EDITOR_STATE_VERSION}); update ComfyUI-MotionStream`);
    const base = defaultState(fallback);
    const gridSpacing = o.grid_spacing === undefined ? base.gridSpacing : posNum(o.grid_spacing, "grid_spacing");
    let s;
    if (o.tracks === undefined || o.tracks === null) {
      const d = o.duration_frames === undefined ? base.durationFrames : posInt(o.duration_frames, "duration_frames");
      s = defaultState({ ...fallback, gridSpacing, durationFrames: d });
    } else {
      const tj = parseTracksJSON(o.tracks);
      const d = o.duration_frames === undefined ? tj.numFrames : posInt(o.duration_frames, "duration_frames");
      // with nothing drawn, the timeline is the video length (writers may put num_frames 1 there)
      if (!tj.tracks.length) tj.numFrames = d;
      s = { ...tj, gridSpacing, durationFrames: d };
    }
    s.extra = {};
    for (const k of Object.keys(o)) if (!KNOWN_KEYS.has(k)) s.extra[k] = o[k];
    return { state: s, error: null };
  } catch (e) {
    const msg = e instanceof SyntaxError ? `editor state is not valid JSON (${e.message})` : e.message;
    return { state: defaultState(fallback), error: msg };
  }
}

/** True when two states serialise identically. */
export function sameState(a, b) {
  return serializeState(a) === serializeState(b);
}
