// The running side of the editor: a MotionStream session of this node
// ("motionstream.session" / ".frames" / ".done" events), live steering
// (POST /motionstream/steer, throttled) and pause/resume/stop
// (POST /motionstream/control). A LiveRun is owned by one MotionStreamEditor
// and is given it explicitly; it reads the editor's state and geometry and
// tells it what changed.

import { LiveSteering, trackId, parseId, mapSize } from "../lib/steer.js";
import { throttle, hzToInterval } from "../lib/throttle.js";
import { parseTracksJSON, cloneState } from "../lib/state.js";
import { hitTest, rescaleTracks } from "../lib/tracks.js";
import { withPrompts } from "../lib/prompts.js";
import { dragModeOf } from "../lib/notracks.js";

export const STEER_HZ = 40;
export const QUEUED_BEHIND =
  "Another run is queued behind this stream, which runs until Stop: it starts (with its own settings) when you press Stop";
export const NO_IMAGE_LIVE = "no drags without a start image (warp mode cuts and drags its regions): connect one to " +
  "Generate's image for the next run";
export const NO_DRAGS_LIVE = "this model takes no drags (text-to-video); Pause and Stop work as usual";

const now = () => performance.now();

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** The error text of a non-2xx JSON reply (null when there is none). */
async function replyError(res) {
  return res.json().then((j) => j?.error ?? null, () => null).catch(() => null);
}

export class LiveRun {
  constructor(ed) {
    this.ed = ed;
    this.session = null;
    this.steering = new LiveSteering(null);
    this.points = new Map(); // id -> {x, y, active, slot}: points held or left this run (editor pixels)
    this.newPoints = 0;
    this.sent = 0;
    this.ok = 0;
    this.connected = null; // {tracks, width, height}: read-only tracks from the graph's TRACKS input
    this.throttle = throttle(() => this.sendSteer(), hzToInterval(STEER_HZ));
  }

  get running() {
    return !!(this.session && this.session.running);
  }

  /** Whether the running model takes drags (a text-to-video model takes none; unknown counts as yes). */
  get takesDrags() {
    return this.session?.maxTracks !== 0;
  }

  /** Editor pixels -> the stream's pixels (the session's width x height). */
  toStream(x, y) {
    const { W, H } = this.ed.size();
    const s = this.session;
    return mapSize(x, y, W, H, s.width || W, s.height || H);
  }

  /** Which id a press at p grabs: a live point of this run, a drawn track, or null (new point). */
  hit(p) {
    const ed = this.ed;
    const r = ed.hitRadius();
    let best = null;
    let bestD = r * r;
    for (const [id, lp] of this.points) {
      const d = (lp.x - p.x) ** 2 + (lp.y - p.y) ** 2;
      if (d <= bestD) {
        best = id;
        bestD = d;
      }
    }
    if (best) return best;
    const i = hitTest(ed.state.tracks, ed.currentFrame(), p.x, p.y, r);
    return i >= 0 ? trackId(i) : null;
  }

  clampToImage(x, y) {
    const { W, H } = this.ed.size();
    return { x: Math.min(W, Math.max(0, x)), y: Math.min(H, Math.max(0, y)) };
  }

  /** Hold point `id` at (x, y) (editor pixels); a new point with a `region` (editor pixels) drags it. */
  press(id, x, y, region = null) {
    const c = this.clampToImage(x, y);
    let entry = this.points.get(id);
    if (!entry) {
      const pid = parseId(id);
      entry = { slot: pid.track ?? this.ed.state.tracks.length + this.newPoints++, region };
      this.points.set(id, entry);
    }
    Object.assign(entry, c, { active: true });
    const q = this.toStream(c.x, c.y);
    const inStream = entry.region ? entry.region.map(([rx, ry]) => {
      const p = this.toStream(rx, ry);
      return [p.x, p.y];
    }) : null;
    this.steering.press(id, q.x, q.y, inStream);
    this.throttle.call();
    this.ed.requestRender();
  }

  move(id, x, y) {
    const entry = this.points.get(id);
    if (!entry || !entry.active) return;
    Object.assign(entry, this.clampToImage(x, y));
    const q = this.toStream(entry.x, entry.y);
    if (this.steering.move(id, q.x, q.y)) this.throttle.call();
    this.ed.requestRender();
  }

  release(id) {
    const entry = this.points.get(id);
    if (entry) entry.active = false;
    // the last position goes out now; the release itself once the stream has used it (two chunks on)
    this.throttle.flush();
    this.steering.deferRelease(id, this.ed.stream.chunk + 2);
    this.ed.requestRender();
  }

  /** The request body for a session: the client id binds it to this browser tab. */
  body(obj) {
    const client = this.ed.host.clientId?.();
    return JSON.stringify(client ? { ...obj, client_id: client } : obj);
  }

  post(route, obj) {
    return this.ed.host.fetchApi(route, { method: "POST", headers: { "Content-Type": "application/json" }, body: this.body(obj) });
  }

  /** POST the changed points now (called through the throttle). */
  async sendSteer() {
    const payload = this.steering.takePayload(now());
    if (!payload || !this.running) return;
    this.sent += 1;
    let res;
    try {
      res = await this.post("/motionstream/steer", payload);
    } catch (e) {
      this.ed.status(`Steering failed: ${e.message || e}`, "error");
      return;
    }
    if (res.ok) {
      this.ok += 1;
      return;
    }
    if (res.status === 429) return; // too fast: the next post carries the latest position anyway
    const msg = await replyError(res);
    if (res.status === 404) this.sessionGone(msg, "/motionstream/steer");
    else this.ed.status(`Steering rejected (${res.status}): ${msg || res.statusText}`, "error");
  }

  sessionGone(msg, route) {
    if (!msg) {
      this.ed.status(`MotionStream backend not loaded: ${route} is missing`, "error");
      return;
    }
    if (!this.running) return; // a post in flight when the run ended: its done event already said how
    this.ed.status(msg, "error");
    if (/no running MotionStream session/i.test(msg)) this.end({ reason: "finished", message: "" });
  }

  async control(action) {
    if (!this.running) return;
    try {
      const res = await this.post("/motionstream/control", { session: this.session.id, action });
      if (!res.ok) {
        this.ed.status(`${action} failed (${res.status}): ${(await replyError(res)) || res.statusText}`, "error");
        return;
      }
      this.applyControl(action);
    } catch (e) {
      this.ed.status(`${action} failed: ${e.message || e}`, "error");
    }
  }

  /** The server accepted `action`: the picture holds still while paused, so points can be grabbed. */
  applyControl(action) {
    const player = this.ed.stream.player;
    if (action === "pause") {
      this.session.paused = true;
      player.pause();
    }
    if (action === "resume") {
      this.session.paused = false;
      player.play(now());
    }
    this.ed.status(action === "stop" ? "Stopping…" : action === "pause" ? "Paused" : "Resumed");
    this.ed.syncUI();
    this.ed.requestRender();
  }

  // ------------------------------------------------------------ host events (before any session)
  /** The node is about to run (its "executing" event): old run messages no longer apply. */
  onStarting() {
    if (!this.running) this.ed.status("Starting the run…");
  }

  /** The run failed: before streaming (nothing of it reached the editor) or during it. */
  onError(message) {
    if (this.running) this.end({ reason: "error", message });
    else this.ed.status(`Run failed: ${message}`, "error");
  }

  /**
   * After queueing: the host's validation errors by node id (null when the prompt was queued). A
   * refused prompt never runs; the previous run's status would mislead, so the refusal replaces it.
   */
  onQueued(nodeErrors) {
    const entries = Object.entries(nodeErrors || {}).filter(([, v]) => v?.errors?.length);
    if (!entries.length) {
      // queued: "executing" and the session events say the rest; behind an endless stream it waits for Stop
      if (this.running && !(this.session.numFrames > 0)) this.ed.status(QUEUED_BEHIND);
      return;
    }
    const node = this.ed.node;
    const mine = entries.find(([id]) => id === String(node.id));
    const [id, info] = mine || entries[0];
    const where = mine ? "" : `${node.graph?.getNodeById?.(Number(id))?.title || info.class_type || `node ${id}`}: `;
    const text = info.errors.map((e) => [e.message, e.details].filter(Boolean).join(": ")).join("; ");
    this.ed.status(`Not queued: ${where}${text}`, "error");
  }

  // ------------------------------------------------------------ server events
  /** "motionstream.session": a run of this node starts (or, joined, is in progress). */
  onSession(d) {
    const ed = this.ed;
    this.throttle.cancel();
    this.session = {
      id: d.session,
      width: d.width || ed.state.width,
      height: d.height || ed.state.height,
      fps: d.fps,
      numFrames: d.num_frames ?? null,
      running: true,
      paused: !!d.paused,
      maxTracks: Number.isInteger(d.max_tracks) ? d.max_tracks : null, // 0: the run takes no drags
      dragMode: d.drag_mode ?? null,
    };
    this.steering = new LiveSteering(d.session);
    this.points = new Map();
    this.newPoints = 0;
    this.sent = 0;
    this.ok = 0;
    this.connected = null;
    ed.preview = null;
    ed.editPlayer.pause();
    ed.stream.begin(d.session, d.fps, now(), Number(d.start_frame) || 0);
    this.applyDetails(d);
    ed.view = "video";
    const joined = d.start_frame > 0 ? `Joined the run at frame ${d.start_frame}: ` : "Generating: ";
    const warp = (d.drag_mode ?? dragModeOf(ed.node).mode) === "warp"; // the run's own word first
    ed.status(this.takesDrags ? `${joined}${warp ? "(drag mode warp) " : ""}drag a point or a region to steer it, drag empty space to add a live point`
      : `${joined}${warp ? NO_IMAGE_LIVE : NO_DRAGS_LIVE}`);
    ed.syncUI();
    ed.requestRender();
  }

  /** What the session event (or the join reply) says about the run: exact start image, connected tracks. */
  applyDetails(d) {
    const ed = this.ed;
    ed.useRunSize(this.session.width, this.session.height);
    if (d.image) ed.picture.setRunImage(d.image);
    if (d.connected) {
      try {
        const c = parseTracksJSON(d.connected);
        this.connected = c.tracks.length ? { tracks: c.tracks, width: c.width, height: c.height } : null;
      } catch (e) {
        ed.status(`The connected tracks could not be read: ${e.message}`, "error");
      }
    }
    ed.requestRender();
  }

  /** A page opened (or reloaded) during a run: follow it from the frame it is at, and ask for the rest. */
  join(d) {
    this.onSession({ session: d.session, fps: d.fps, width: d.width, height: d.height, start_frame: d.start_frame,
      num_frames: d.num_frames, paused: d.paused });
    this.post("/motionstream/session", { session: d.session })
      .then(async (res) => {
        if (!res.ok) throw new Error((await replyError(res)) || `${res.status} ${res.statusText}`);
        const info = await res.json();
        if (this.session?.id === d.session) this.applyDetails(info);
      })
      .catch((e) => this.ed.status(`Joined the run, but its start image could not be fetched: ${e.message || e}`, "error"));
  }

  onFrames(d) {
    const ed = this.ed;
    if (this.session?.id !== d.session && ed.stream.sessionId !== d.session) this.join(d);
    ed.stream.addChunk(d, now());
    if (Number.isInteger(d.chunk) && this.steering.dueReleases(d.chunk).length) this.throttle.call();
    if (this.running) ed.view = "video";
    ed.syncUI();
    ed.requestRender();
  }

  onDone(d) {
    if (this.ed.stream.sessionId !== null && d.session !== this.ed.stream.sessionId) return;
    this.end(d, { done: true });
  }

  /**
   * The run is over (done event, interruption, or the session vanished). Only the done event carries what
   * the run used (its tracks and prompt schedule); the one status line says how it ended and what was kept.
   */
  end(d = {}, { done = false } = {}) {
    const ed = this.ed;
    const wasLive = this.running;
    this.throttle.cancel(); // the session is over: a pending post would only be refused (404)
    if (this.session) this.session.running = false;
    ed.stream.finish(d.gen_fps);
    const reason = d.reason || "finished";
    let msg = `Run ${reason}${d.message ? `: ${d.message}` : ""}`;
    if (d.recorded) msg += this.keepRecorded(d.recorded);
    else if (done && d.recorded_in_file && d.tracks_file?.filename) msg += this.keepRecordedFile(d.tracks_file);
    if (done) msg += this.keepPrompts(d.prompts);
    if (this.connected) msg += ` · ${plural(this.connected.tracks.length, "connected track")} from the graph (shown dashed, read-only)`;
    if (d.video?.filename) msg += ` · saved to output/${d.video.subfolder ? `${d.video.subfolder}/` : ""}${d.video.filename}`;
    if (d.tracks_file?.filename && !d.recorded_in_file) msg += ` (its tracks: ${d.tracks_file.filename})`;
    this.points = new Map();
    if (wasLive || d.reason) ed.status(msg, reason === "error" ? "error" : "info");
    ed.syncUI();
    ed.requestRender();
  }

  /** Store the run's own tracks (drawn + live, as used) in the editor; returns the status text for it. */
  keepRecorded(recorded) {
    const ed = this.ed;
    try {
      const r = parseTracksJSON(recorded);
      if (!r.tracks.length && !ed.state.tracks.length) return ""; // nothing drawn, nothing live: nothing to say
      const s = cloneState(ed.state);
      // the timeline holds every frame handed to the model (to the end of the last chunk); the
      // video length stays the node's frame count
      Object.assign(s, { width: r.width, height: r.height, fps: r.fps, numFrames: r.numFrames, tracks: r.tracks });
      ed.selection.clear();
      ed.commit(s);
      return ` · kept ${plural(r.tracks.length, "track")} as run (Ctrl+Z restores the drawn ones)`;
    } catch (e) {
      return ` · the recorded tracks could not be read: ${e.message}`;
    }
  }

  /**
   * A record too long for the workflow stays in its .tracks.json beside the video: the editor keeps a
   * reference to it (re-queueing replays it; any edit of the tracks drops it, see editor.commit).
   */
  keepRecordedFile(file) {
    const ed = this.ed;
    const s = cloneState(ed.state);
    s.extra = { ...s.extra, recorded_file: { filename: file.filename, subfolder: file.subfolder || "", type: "output" } };
    ed.selection.clear();
    ed.commit(s);
    const where = `output/${file.subfolder ? `${file.subfolder}/` : ""}${file.filename}`;
    return ` · its tracks are kept in ${where} (too long for the workflow): re-queueing replays them, editing the tracks starts anew`;
  }

  /** Keep the run's prompt schedule (live prompt switches) in editor_state, so re-queueing replays it. */
  keepPrompts(prompts) {
    const ed = this.ed;
    const list = Array.isArray(prompts) && prompts.length ? prompts : null;
    if (!list && !Array.isArray(ed.state.extra?.prompts)) return "";
    const s = cloneState(ed.state);
    s.extra = withPrompts(s.extra, list);
    ed.commit(s);
    const n = list ? list.length - 1 : 0;
    return n > 0 ? ` · ${n} prompt switch${n === 1 ? "" : "es"} kept for replay` : "";
  }

  /** What the renderer needs about live points and connected tracks. */
  scene() {
    const takenOver = new Map();
    const livePoints = [];
    const n = this.ed.state.tracks.length;
    for (const [id, lp] of this.points) {
      const pid = parseId(id);
      if (pid.track !== undefined && pid.track < n) takenOver.set(pid.track, lp);
      else livePoints.push(lp);
    }
    return { takenOver, livePoints, connected: this.connectedInEditor() };
  }

  /** The connected tracks in the editor's pixel space. */
  connectedInEditor() {
    const c = this.connected;
    if (!c) return [];
    const { W, H } = this.ed.size();
    return c.width === W && c.height === H ? c.tracks : rescaleTracks(c.tracks, c.width, c.height, W, H);
  }

  destroy() {
    this.throttle.cancel();
  }
}
