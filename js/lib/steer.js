// Live steering while a stream runs: which points the user holds, where
// they are, and the payloads for POST /motionstream/steer:
//   {"session": str, "points": [{"id", "x", "y", "active"[, "region"]}], "t": ms}
// id "track:<i>" takes over pre-drawn track i; any other id is a new live
// point; active=false releases a point (it stays where it was left); "region" (a new live point's)
// is the polygon it drags.
// Positions are in the stream's pixels (the session's width x height).

import { roundTo } from "./coords.js";

// "track:" and 1 to 9 ASCII digits; the server's rule too (motionstream_core/steering.py, tests/data/steer_ids.json)
const TAKEOVER = /^track:([0-9]{1,9})$/;

export const trackId = (i) => `track:${i}`;

/** "track:3" -> {track: 3}; anything else -> {live: id}. */
export function parseId(id) {
  const m = TAKEOVER.exec(String(id));
  return m ? { track: Number(m[1]) } : { live: String(id) };
}

/** Map a point from a W x H space to a W2 x H2 space. */
export function mapSize(x, y, W, H, W2, H2) {
  return { x: (x * W2) / (W || 1), y: (y * H2) / (H || 1) };
}

export class LiveSteering {
  constructor(session = null) {
    this.session = session;
    this.points = new Map(); // id -> {id, x, y, active}
    this.dirty = new Set();
    this.counter = 0;
  }

  /** A fresh id for a new live point. */
  newId() {
    this.counter += 1;
    return `live:${this.counter}`;
  }

  /**
   * Pointer down on a point (or empty space with a new id). `region` ([[x, y], ...], stream pixels): the
   * polygon a new point drags; it goes with every post of the point (a post may be refused as too fast;
   * the server keeps the region a slot first came with).
   */
  press(id, x, y, region = null) {
    this.cancelRelease(id);
    const had = this.points.get(id);
    const r = had ? had.region : region ? region.map((p) => [roundTo(p[0], 2), roundTo(p[1], 2)]) : null;
    this.points.set(id, { id, x: roundTo(x, 2), y: roundTo(y, 2), active: true, region: r });
    this.dirty.add(id);
  }

  move(id, x, y) {
    const p = this.points.get(id);
    if (!p || !p.active) return false;
    p.x = roundTo(x, 2);
    p.y = roundTo(y, 2);
    this.dirty.add(id);
    return true;
  }

  release(id) {
    const p = this.points.get(id);
    if (!p || !p.active) return false;
    p.active = false;
    this.dirty.add(id);
    return true;
  }

  /**
   * Let go of a point once the stream has used its last position: the release is sent with the
   * first chunk numbered `chunk` or later (see dueReleases). Until then the point stays held at
   * its last position, so a drag made between two chunk boundaries (or while paused) is applied
   * even if the server drops the position that comes with a release.
   */
  deferRelease(id, chunk) {
    if (!this.points.get(id)?.active) return false;
    this.pending = this.pending || new Map();
    this.pending.set(id, chunk);
    return true;
  }

  /** A point grabbed again is no longer waiting to be released. */
  cancelRelease(id) {
    this.pending?.delete(id);
  }

  /** A chunk arrived: release the points waiting for it; returns their ids. */
  dueReleases(chunk) {
    const out = [];
    for (const [id, c] of this.pending || []) {
      if (chunk >= c) {
        this.pending.delete(id);
        if (this.release(id)) out.push(id);
      }
    }
    return out;
  }

  /** Release every held point (pointer lost, stream stopping). */
  releaseAll() {
    let any = false;
    for (const id of this.points.keys()) any = this.release(id) || any;
    return any;
  }

  get held() {
    return [...this.points.values()].filter((p) => p.active);
  }

  get hasDirty() {
    return this.dirty.size > 0;
  }

  /**
   * The payload with every point changed since the last call (null when
   * nothing changed); marks them clean.
   */
  takePayload(now) {
    if (!this.dirty.size || !this.session) return null;
    const points = [...this.dirty].map((id) => {
      const p = this.points.get(id);
      return p.region ? { id: p.id, x: p.x, y: p.y, active: p.active, region: p.region } : { id: p.id, x: p.x, y: p.y, active: p.active };
    });
    this.dirty.clear();
    return { session: this.session, points, t: Math.round(now) };
  }
}
