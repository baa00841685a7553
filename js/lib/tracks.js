// Track editing logic, free of any DOM: sampling a timed pointer path at the
// video frame rate, static anchors, grids, group motion, moving, retiming.
//
// A track is {kind, points, visible[, region]}: points is T entries of [x, y] in
// image pixels, visible is T entries of 0/1 (the project's track JSON, one
// track); `region` (optional) is the polygon it drags (see regions.js), kept
// by every function here and moved with the track where the track moves.
// Every function returns new objects; inputs are never mutated.
// Coordinates produced here are rounded to 2 decimals so that what is saved
// in the workflow is exactly what is loaded back.

import { roundTo } from "./coords.js";

export const KINDS = Object.freeze(["drag", "static", "live", "camera", "transfer"]);

const r2 = (v) => roundTo(v, 2);
const samePt = (a, b) => a[0] === b[0] && a[1] === b[1];
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** `out` with `t`'s region (mapped point by point by `f`, if given); `out` itself when t has none. */
export function keepRegion(t, out, f = (p) => p) {
  if (!t.region) return out;
  return { ...out, region: t.region.map((p) => {
    const q = f(p);
    return [r2(q[0]), r2(q[1])];
  }) };
}

/** A deep copy of a track. */
export function cloneTrack(t) {
  return keepRegion(t, { kind: t.kind, points: t.points.map((p) => [p[0], p[1]]), visible: t.visible.slice() });
}

/** A point that stays at (x, y) for all T frames. */
export function staticTrack(x, y, T, kind = "static") {
  const p = [r2(x), r2(y)];
  return {
    kind,
    points: Array.from({ length: T }, () => [p[0], p[1]]),
    visible: new Array(T).fill(1),
  };
}

/**
 * Sample a timed pointer path at `fps`. samples: [{t (ms), x, y}, ...] in
 * time order (any t origin). Frame k is at time k / fps after the first
 * sample; the last frame is the final position (time clamped to the end), so
 * nothing drawn is lost. Positions are linearly interpolated in time.
 * Returns an array of [x, y] (at least one entry).
 */
export function sampleTimed(samples, fps) {
  if (!samples || samples.length === 0) throw new Error("sampleTimed: no samples");
  if (!(fps > 0)) throw new Error(`sampleTimed: bad fps ${fps}`);
  const t0 = samples[0].t;
  const dur = Math.max(0, samples[samples.length - 1].t - t0);
  const n = Math.ceil((dur * fps) / 1000 - 1e-9) + 1;
  const out = [];
  let j = 0;
  for (let k = 0; k < n; k++) {
    const t = t0 + Math.min((k * 1000) / fps, dur);
    while (j < samples.length - 2 && samples[j + 1].t < t) j++;
    const a = samples[j];
    const b = samples[Math.min(j + 1, samples.length - 1)];
    const span = b.t - a.t;
    const u = span > 0 ? clamp((t - a.t) / span, 0, 1) : 1;
    out.push([a.x + (b.x - a.x) * u, a.y + (b.y - a.y) * u]);
  }
  return out;
}

/**
 * Resample a per-frame path (uniform in time) to n frames, linearly in time,
 * keeping both ends.
 */
export function resamplePath(path, n) {
  if (n <= 0) return [];
  if (path.length === 0) throw new Error("resamplePath: empty path");
  if (path.length === 1 || n === 1) return Array.from({ length: n }, () => [path[0][0], path[0][1]]);
  const out = [];
  const last = path.length - 1;
  for (let k = 0; k < n; k++) {
    const s = (k * last) / (n - 1);
    const i = Math.min(Math.floor(s), last - 1);
    const u = s - i;
    const a = path[i];
    const b = path[i + 1];
    out.push([a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u]);
  }
  return out;
}

/**
 * Write `path` into a copy of `points` from `startFrame` on; frames after
 * the path hold its last position. If the path is longer than the frames
 * left and `fit` is true it is time-compressed to fit (relative timing
 * kept); otherwise it is cut.
 */
export function writeMotion(points, path, startFrame, fit = true) {
  const T = points.length;
  const start = clamp(Math.round(startFrame), 0, T - 1);
  const room = T - start;
  let p = path;
  if (p.length > room) p = fit ? resamplePath(p, room) : p.slice(0, room);
  const out = points.map((q) => [q[0], q[1]]);
  for (let k = 0; k < room; k++) {
    const q = p[Math.min(k, p.length - 1)];
    out[start + k] = [r2(q[0]), r2(q[1])];
  }
  return out;
}

/** Clamp a sample list into the image. */
function clampSamples(samples, W, H) {
  if (!(W > 0 && H > 0)) return samples;
  return samples.map((s) => ({ t: s.t, x: clamp(s.x, 0, W), y: clamp(s.y, 0, H) }));
}

/**
 * A new drawn track from a timed pointer path. Before `startFrame` the point
 * waits at the first position; the drag plays in real time at `fps` from
 * startFrame (compressed if it would run past the end); then it holds.
 * opts: {fps, T, startFrame = 0, W, H, kind = "drag"}.
 */
export function drawnTrack(samples, opts) {
  const { fps, T, startFrame = 0, W, H, kind = "drag" } = opts;
  const path = sampleTimed(clampSamples(samples, W, H), fps);
  const base = Array.from({ length: T }, () => [r2(path[0][0]), r2(path[0][1])]);
  return { kind, points: writeMotion(base, path, startFrame, true), visible: new Array(T).fill(1) };
}

/**
 * Record one drag for a group of existing tracks: every selected track moves
 * by the pointer's displacement over time, from `startFrame` on, starting
 * from where it is at startFrame. Frames before startFrame are kept. Static
 * anchors that are moved become "drag" tracks. Points are kept inside the
 * image. Returns a new track array.
 * opts: {fps, startFrame = 0, W, H}.
 */
export function recordGroupMotion(tracks, indices, samples, opts) {
  const { fps, startFrame = 0, W, H } = opts;
  const path = sampleTimed(samples, fps);
  const d = path.map((p) => [p[0] - path[0][0], p[1] - path[0][1]]);
  const sel = new Set(indices);
  return tracks.map((t, i) => {
    if (!sel.has(i)) return t;
    const T = t.points.length;
    const f = clamp(Math.round(startFrame), 0, T - 1);
    const base = t.points[f];
    const moved = d.map((q) => {
      const x = base[0] + q[0];
      const y = base[1] + q[1];
      return W > 0 && H > 0 ? [clamp(x, 0, W), clamp(y, 0, H)] : [x, y];
    });
    const visible = t.visible.slice();
    for (let k = f; k < T; k++) visible[k] = 1;
    return keepRegion(t, {
      kind: t.kind === "static" ? "drag" : t.kind,
      points: writeMotion(t.points, moved, f, true),
      visible,
    });
  });
}

/** Position of a track at a (possibly fractional) frame, clamped to [0, T-1]. */
export function pointAt(track, frame) {
  const T = track.points.length;
  const f = clamp(frame, 0, T - 1);
  const i = Math.floor(f);
  const u = f - i;
  const a = track.points[i];
  if (u === 0 || i >= T - 1) return [a[0], a[1]];
  const b = track.points[i + 1];
  return [a[0] + (b[0] - a[0]) * u, a[1] + (b[1] - a[1]) * u];
}

/** Whether a track is visible at a frame (nearest frame, clamped). */
export function visibleAt(track, frame) {
  const T = track.visible.length;
  return !!track.visible[clamp(Math.round(frame), 0, T - 1)];
}

/**
 * The frames over which a track moves: [s, e] with s the last frame before
 * the first change and e the frame of the last change, or null when it never
 * moves.
 */
export function motionSpan(track) {
  const p = track.points;
  const T = p.length;
  let s = -1;
  for (let i = 0; i < T - 1; i++) {
    if (!samePt(p[i], p[i + 1])) {
      s = i;
      break;
    }
  }
  if (s < 0) return null;
  let e = s + 1;
  for (let i = T - 1; i >= 1; i--) {
    if (!samePt(p[i], p[i - 1])) {
      e = i;
      break;
    }
  }
  return [s, e];
}

/**
 * Retime a track so that its motion span [s, e] becomes [newStart, newEnd]
 * (a speed change plus a shift). The whole track goes through the same
 * time map, visibility included: outside the span frames shift by the same
 * offset as the span's ends. Tracks that never move are returned unchanged.
 */
export function retimeTrack(track, newStart, newEnd) {
  const T = track.points.length;
  const span = motionSpan(track);
  if (!span || T < 2) return cloneTrack(track);
  const [s, e] = span;
  const a = clamp(Math.round(newStart), 0, T - 2);
  const b = clamp(Math.round(newEnd), a + 1, T - 1);
  const g = (f) => {
    let src;
    if (f <= a) src = s - (a - f);
    else if (f >= b) src = e + (f - b);
    else src = s + ((f - a) * (e - s)) / (b - a);
    return clamp(src, 0, T - 1);
  };
  const points = [];
  const visible = [];
  for (let f = 0; f < T; f++) {
    const src = g(f);
    const p = pointAt(track, src);
    points.push([r2(p[0]), r2(p[1])]);
    visible.push(track.visible[clamp(Math.round(src), 0, T - 1)] ? 1 : 0);
  }
  return keepRegion(track, { kind: track.kind, points, visible });
}

/** Shift a track's motion by df frames (kept inside the video). */
export function shiftTrack(track, df) {
  const span = motionSpan(track);
  if (!span) return cloneTrack(track);
  const T = track.points.length;
  const [s, e] = span;
  const d = clamp(Math.round(df), -s, T - 1 - e);
  return retimeTrack(track, s + d, e + d);
}

/**
 * Change a track's length to T2 frames: cut, or extend by holding the last
 * frame (motion keeps its speed).
 */
export function setTrackLength(track, T2) {
  const T = track.points.length;
  if (T2 === T) return cloneTrack(track);
  if (T2 < T) {
    return keepRegion(track, {
      kind: track.kind,
      points: track.points.slice(0, T2).map((p) => [p[0], p[1]]),
      visible: track.visible.slice(0, T2),
    });
  }
  const last = track.points[T - 1];
  const lastV = track.visible[T - 1];
  return keepRegion(track, {
    kind: track.kind,
    points: track.points.map((p) => [p[0], p[1]]).concat(Array.from({ length: T2 - T }, () => [last[0], last[1]])),
    visible: track.visible.concat(new Array(T2 - T).fill(lastV)),
  });
}

/** Bounding box {minX, minY, maxX, maxY} of all points of the given tracks. */
export function tracksBounds(tracks, indices) {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const i of indices) {
    const t = tracks[i];
    if (!t) continue;
    for (const p of t.points) {
      if (p[0] < minX) minX = p[0];
      if (p[1] < minY) minY = p[1];
      if (p[0] > maxX) maxX = p[0];
      if (p[1] > maxY) maxY = p[1];
    }
  }
  return { minX, minY, maxX, maxY };
}

/**
 * Limit a move (dx, dy) of a group of tracks so every point of theirs stays
 * inside [0, W] x [0, H]. (If the group already sticks out, it may not move
 * further out.)
 */
export function clampGroupOffset(tracks, indices, dx, dy, W, H) {
  const b = tracksBounds(tracks, indices);
  if (!Number.isFinite(b.minX)) return { dx: 0, dy: 0 };
  const lox = Math.min(0, -b.minX);
  const hix = Math.max(0, W - b.maxX);
  const loy = Math.min(0, -b.minY);
  const hiy = Math.max(0, H - b.maxY);
  return { dx: clamp(dx, lox, hix), dy: clamp(dy, loy, hiy) };
}

/** Move whole tracks (all frames) by (dx, dy). Returns a new track array. */
export function translateTracks(tracks, indices, dx, dy) {
  const sel = new Set(indices);
  return tracks.map((t, i) =>
    sel.has(i)
      ? keepRegion(t, { kind: t.kind, points: t.points.map((p) => [r2(p[0] + dx), r2(p[1] + dy)]), visible: t.visible.slice() },
        (p) => [p[0] + dx, p[1] + dy])
      : t,
  );
}

/** Remove tracks by index. */
export function deleteTracks(tracks, indices) {
  const sel = new Set(indices);
  return tracks.filter((_, i) => !sel.has(i));
}

/**
 * Grid of anchor positions over a W x H image with the given spacing,
 * centred (equal margins), as the MotionStream demo places them. Positions
 * closer than `minDist` to any point in `avoid` ([[x, y], ...]) are skipped.
 * `region` {x, y, w, h} (image pixels) restricts the grid to a rectangle.
 */
export function gridPoints(W, H, spacing, { avoid = [], minDist = spacing / 2, region = null } = {}) {
  const sp = Math.max(1, Number(spacing) || 1);
  const R = region || { x: 0, y: 0, w: W, h: H };
  const nx = Math.max(1, Math.floor(R.w / sp));
  const ny = Math.max(1, Math.floor(R.h / sp));
  const x0 = R.x + (R.w - (nx - 1) * sp) / 2;
  const y0 = R.y + (R.h - (ny - 1) * sp) / 2;
  const md2 = minDist * minDist;
  const out = [];
  for (let j = 0; j < ny; j++) {
    for (let i = 0; i < nx; i++) {
      const x = r2(x0 + i * sp);
      const y = r2(y0 + j * sp);
      if (avoid.some((p) => (p[0] - x) ** 2 + (p[1] - y) ** 2 < md2)) continue;
      out.push([x, y]);
    }
  }
  return out;
}

/**
 * Index of the track whose point at `frame` is nearest to (x, y) within
 * `radius` (image pixels), visible points first; -1 when none.
 */
export function hitTest(tracks, frame, x, y, radius) {
  let best = -1;
  let bestD = Infinity;
  let bestVis = false;
  const r2max = radius * radius;
  tracks.forEach((t, i) => {
    const p = pointAt(t, frame);
    const d = (p[0] - x) ** 2 + (p[1] - y) ** 2;
    if (d > r2max) return;
    const vis = visibleAt(t, frame);
    if ((vis && !bestVis) || (vis === bestVis && d <= bestD)) {
      best = i;
      bestD = d;
      bestVis = vis;
    }
  });
  return best;
}

/** Indices of tracks whose point at `frame` lies in rect {x, y, w, h}. */
export function tracksInRect(tracks, frame, rect) {
  const out = [];
  tracks.forEach((t, i) => {
    const p = pointAt(t, frame);
    if (p[0] >= rect.x && p[1] >= rect.y && p[0] <= rect.x + rect.w && p[1] <= rect.y + rect.h) out.push(i);
  });
  return out;
}

/** Scale all coordinates from a W x H image to W2 x H2. */
export function rescaleTracks(tracks, W, H, W2, H2) {
  const sx = W2 / W;
  const sy = H2 / H;
  return tracks.map((t) => keepRegion(t, {
    kind: t.kind,
    points: t.points.map((p) => [r2(p[0] * sx), r2(p[1] * sy)]),
    visible: t.visible.slice(),
  }, (p) => [p[0] * sx, p[1] * sy]));
}
