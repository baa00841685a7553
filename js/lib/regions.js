// Region drags: a polygon on the start image (lasso or box) that a drag cuts out and moves. A track
// that carries `region` ([[x, y], ...] image pixels, at the track's first frame) drags that polygon:
// one track on a region translates it, two tracks on the same polygon rotate and scale it about them
// (the node's reference builder reads it so; tracks without a region move a soft neighbourhood).

import { roundTo } from "./coords.js";

export const MAX_REGION_POINTS = 256; // vertices kept of a lasso (the server takes up to 1024)
export const MIN_REGION_AREA = 16; // square image pixels: anything smaller is a click, not a region

const r2 = (v) => roundTo(v, 2);

/** Whether (x, y) lies inside `poly` (even-odd rule, as the node's mask has it). */
export function pointInPolygon(poly, x, y) {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < xi + ((y - yi) * (xj - xi)) / (yj - yi)) inside = !inside;
  }
  return inside;
}

/** The polygon's area (square pixels, always >= 0). */
export function polygonArea(poly) {
  let a = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) a += poly[j][0] * poly[i][1] - poly[i][0] * poly[j][1];
  return Math.abs(a) / 2;
}

/** A box from two corners, as a polygon (clockwise from the top left). */
export function boxPolygon(a, b) {
  const x0 = Math.min(a.x, b.x);
  const x1 = Math.max(a.x, b.x);
  const y0 = Math.min(a.y, b.y);
  const y1 = Math.max(a.y, b.y);
  return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(([x, y]) => [r2(x), r2(y)]);
}

/**
 * A lasso path -> a region polygon: points clamped into the W x H image, consecutive points closer
 * than `minStep` pixels merged, at most MAX_REGION_POINTS kept (evenly). null when it encloses too
 * little to be a region.
 */
export function lassoPolygon(path, W, H, minStep = 1.5) {
  const out = [];
  for (const [x, y] of path) {
    const p = [r2(Math.min(W, Math.max(0, x))), r2(Math.min(H, Math.max(0, y)))];
    const last = out[out.length - 1];
    if (!last || Math.hypot(p[0] - last[0], p[1] - last[1]) >= minStep) out.push(p);
  }
  let poly = out;
  if (poly.length > MAX_REGION_POINTS) {
    const step = poly.length / MAX_REGION_POINTS;
    poly = Array.from({ length: MAX_REGION_POINTS }, (_, k) => out[Math.floor(k * step)]);
  }
  return poly.length >= 3 && polygonArea(poly) >= MIN_REGION_AREA ? poly : null;
}

/** Two polygons are the same region when their vertices are the same. */
export function sameRegion(a, b) {
  return !!a && !!b && a.length === b.length && a.every((p, k) => p[0] === b[k][0] && p[1] === b[k][1]);
}

/**
 * The region a press at (x, y) grabs: the pending one (just selected), else the last drawn track's
 * region containing the point; null when none does.
 */
export function regionAt(tracks, pending, x, y) {
  if (pending && pointInPolygon(pending, x, y)) return pending;
  for (let i = tracks.length - 1; i >= 0; i--) {
    const r = tracks[i].region;
    if (r && pointInPolygon(r, x, y)) return r;
  }
  return null;
}

/** How many tracks drag this polygon already (a third drag on one region is refused: two define it). */
export function dragsOnRegion(tracks, poly) {
  return tracks.filter((t) => sameRegion(t.region, poly)).length;
}

/** A polygon mapped point by point (scaling, shifting). */
export function mapRegion(poly, f) {
  return poly.map((p) => {
    const q = f(p);
    return [r2(q[0]), r2(q[1])];
  });
}
