// The running side of the editor: a MotionStream session of this node
// ("motionstream.session" / ".frames" / ".done" events), live steering
// (POST /motionstream/steer, throttled) and pause/resume/stop
// (POST /motionstream/control). Installed onto a MotionStreamEditor.

import { LiveSteering, trackId, parseId, mapSize } from "../lib/steer.js";
import { throttle, hzToInterval } from "../lib/throttle.js";
import { parseTracksJSON, cloneState } from "../lib/state.js";
import { hitTest } from "../lib/tracks.js";

export const STEER_HZ = 40;

const now = () => performance.now();

const methods = {
  isLive() {
    return !!(this.session && this.session.running);
  },

  /** Editor pixels -> the stream's pixels (the session's width x height). */
  toStream(x, y) {
    const s = this.session;
    return mapSize(x, y, this.state.width, this.state.height, s.width || this.state.width, s.height || this.state.height);
  },

  /** Which id a press at p grabs: a live point of this run, a track, or null (new point). */
  liveHit(p) {
    const r = this.hitRadius();
    let best = null;
    let bestD = r * r;
    for (const [id, lp] of this.livePos) {
      const d = (lp.x - p.x) ** 2 + (lp.y - p.y) ** 2;
      if (d <= bestD) {
        best = id;
        bestD = d;
      }
    }
    if (best) return best;
    const i = hitTest(this.state.tracks, this.currentFrame(), p.x, p.y, r);
    return i >= 0 ? trackId(i) : null;
  },

  steerPress(id, x, y) {
    const { W, H } = this.size();
    x = Math.min(W, Math.max(0, x));
    y = Math.min(H, Math.max(0, y));
    let entry = this.livePos.get(id);
    if (!entry) {
      const pid = parseId(id);
      entry = { x, y, active: true, slot: pid.track ?? this.state.tracks.length + this.liveCount++ };
      this.livePos.set(id, entry);
    }
    Object.assign(entry, { x, y, active: true });
    const q = this.toStream(x, y);
    this.live.press(id, q.x, q.y);
    this.sendThrottle.call();
    this.requestRender();
  },

  steerMove(id, x, y) {
    const entry = this.livePos.get(id);
    if (!entry || !entry.active) return;
    const { W, H } = this.size();
    entry.x = Math.min(W, Math.max(0, x));
    entry.y = Math.min(H, Math.max(0, y));
    const q = this.toStream(entry.x, entry.y);
    if (this.live.move(id, q.x, q.y)) this.sendThrottle.call();
    this.requestRender();
  },

  steerRelease(id) {
    const entry = this.livePos.get(id);
    if (entry) entry.active = false;
    // the last position goes out now; the release itself once the stream has used it (two chunks on)
    this.sendThrottle.flush();
    this.live.deferRelease(id, this.stream.chunk + 2);
    this.requestRender();
  },

  /** POST the changed points now (called through the throttle). */
  async sendSteer() {
    const payload = this.live.takePayload(now());
    if (!payload || !this.isLive()) return;
    this.steerSent = (this.steerSent || 0) + 1;
    let res;
    try {
      res = await this.host.fetchApi("/motionstream/steer", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(payload),
      });
    } catch (e) {
      this.status(`Steering failed: ${e.message || e}`, "error");
      return;
    }
    if (res.ok) {
      this.steerOk = (this.steerOk || 0) + 1;
      return;
    }
    if (res.status === 429) return; // too fast: the next post carries the latest position anyway
    const msg = await res.json().then((j) => j.error, () => null).catch(() => null);
    if (res.status === 404) {
      this.status(msg || "The MotionStream session has ended", "error");
      if (msg && /no running MotionStream session/i.test(msg)) this.endSession({ reason: "finished", message: "" });
      else if (!msg) this.status("MotionStream backend not loaded: /motionstream/steer is missing", "error");
      return;
    }
    this.status(`Steering rejected (${res.status}): ${msg || res.statusText}`, "error");
  },

  async control(action) {
    if (!this.isLive()) return;
    try {
      const res = await this.host.fetchApi("/motionstream/control", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ session: this.session.id, action }),
      });
      if (!res.ok) {
        const msg = await res.json().then((j) => j.error, () => res.statusText);
        this.status(`${action} failed (${res.status}): ${msg}`, "error");
        return;
      }
      // the picture holds still while generation is paused, so points can be grabbed where they are
      if (action === "pause") {
        this.session.paused = true;
        this.stream.player.pause();
      }
      if (action === "resume") {
        this.session.paused = false;
        this.stream.player.play(now());
      }
      this.status(action === "stop" ? "Stopping…" : action === "pause" ? "Paused" : "Resumed");
      this.syncUI();
      this.requestRender();
    } catch (e) {
      this.status(`${action} failed: ${e.message || e}`, "error");
    }
  },

  // ------------------------------------------------------------ server events
  onSession(d) {
    this.sendThrottle.cancel();
    this.session = {
      id: d.session,
      width: d.width,
      height: d.height,
      fps: d.fps,
      numFrames: d.num_frames ?? null,
      running: true,
      paused: false,
    };
    this.live = new LiveSteering(d.session);
    this.livePos = new Map();
    this.liveCount = 0;
    this.steerSent = 0;
    this.steerOk = 0;
    this.preview = null;
    this.editPlayer.pause();
    this.stream.begin(d.session, d.fps, now());
    if (d.image) {
      const img = new Image();
      img.onload = () => {
        this.sessionImage = img;
        this.requestRender();
      };
      img.src = d.image;
    }
    this.view = "video";
    this.status("Generating: drag a point to steer it, drag empty space to add a live point");
    this.syncUI();
    this.requestRender();
  },

  onFrames(d) {
    if (!this.session || this.session.id !== d.session) {
      // joined mid-run (page reloaded): follow the stream without steering history
      if (this.stream.sessionId !== d.session) this.onSession({ session: d.session, fps: d.fps, width: this.state.width, height: this.state.height });
    }
    this.stream.addChunk(d, now());
    if (Number.isInteger(d.chunk) && this.live.dueReleases(d.chunk).length) this.sendThrottle.call();
    if (this.view !== "video") this.view = this.isLive() ? "video" : this.view;
    this.syncUI();
    this.requestRender();
  },

  onDone(d) {
    if (this.stream.sessionId !== null && d.session !== this.stream.sessionId) return;
    this.endSession(d);
  },

  /** The run is over (done event, interruption, or the session vanished). */
  endSession(d = {}) {
    const wasLive = this.isLive();
    this.sendThrottle.flush();
    if (this.session) this.session.running = false;
    for (const lp of this.livePos.values()) lp.active = false;
    this.stream.finish();
    const reason = d.reason || "finished";
    let msg = `Run ${reason}${d.message ? `: ${d.message}` : ""}`;
    if (d.recorded) {
      try {
        const r = parseTracksJSON(d.recorded);
        const s = cloneState(this.state);
        Object.assign(s, { width: r.width, height: r.height, fps: r.fps, numFrames: r.numFrames, durationFrames: r.numFrames, tracks: r.tracks });
        this.selection.clear();
        // (the node's own frame count stays: the record may run to the end of the last chunk)
        this.commit(s);
        msg += ` · kept ${r.tracks.length} track${r.tracks.length === 1 ? "" : "s"} as run (Ctrl+Z restores the drawn ones)`;
      } catch (e) {
        msg += ` · the recorded tracks could not be read: ${e.message}`;
      }
    }
    this.livePos = new Map();
    if (wasLive || d.reason) this.status(msg, reason === "error" ? "error" : "info");
    this.syncUI();
    this.requestRender();
  },

  /** What the renderer needs about live points. */
  liveScene() {
    const takenOver = new Map();
    const livePoints = [];
    for (const [id, lp] of this.livePos) {
      const pid = parseId(id);
      if (pid.track !== undefined && pid.track < this.state.tracks.length) takenOver.set(pid.track, lp);
      else livePoints.push(lp);
    }
    return { takenOver, livePoints };
  },
};

export function installLive(ed) {
  Object.assign(ed, methods);
  ed.session = null;
  ed.live = new LiveSteering(null);
  ed.livePos = new Map();
  ed.liveCount = 0;
  ed.sendThrottle = throttle(() => ed.sendSteer(), hzToInterval(STEER_HZ));
  ed.liveTeardown = () => ed.sendThrottle.cancel();
}
