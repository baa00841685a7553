// The stream viewer's data side: frames arriving as JPEG data URLs in
// "motionstream.frames" events are decoded into images, stored by frame
// index and handed to the playback clock; generation speed and latency come
// from the events, display speed is measured.

import { FrameStore, Player, RateMeter } from "../lib/playback.js";

export class StreamView {
  // an endless stream keeps its newest MAX_FRAMES frames for scrubbing (~1.5 min at 16 fps)
  static MAX_FRAMES = 1500;

  constructor({ onUpdate = () => {}, makeImage = () => new Image(), bufferFrames = 4, maxFrames = StreamView.MAX_FRAMES } = {}) {
    this.onUpdate = onUpdate;
    this.makeImage = makeImage;
    this.frames = new FrameStore(maxFrames);
    this.player = new Player({ fps: 16, bufferFrames, maxLagFrames: 36 });
    this.display = new RateMeter(1000);
    this.reset();
  }

  reset(first = 0) {
    this.frames.clear(first);
    this.player.reset();
    this.display.reset();
    this.sessionId = null;
    this.genFps = 0;
    this.latencyMs = 0;
    this.chunk = -1;
    this.expected = 0; // frames announced by events (decoded or not)
    this.lastShown = -1;
    this.lastShownAt = 0;
    this.decoding = 0; // frames announced and not yet decoded
    this.finishing = false; // the run ended: the player finishes once the last frames are decoded
    this.epoch = (this.epoch || 0) + 1; // decodes from an older run are dropped
  }

  get hasFrames() {
    return this.frames.hasFrames;
  }

  /** One past the newest frame that can be shown (frames first..count-1). */
  get count() {
    return this.frames.contiguous;
  }

  /** The oldest frame still kept. */
  get first() {
    return this.frames.first;
  }

  /** A stream starts; `first` is its first frame to come (> 0 when the page joins a run in progress). */
  begin(sessionId, fps, now, first = 0) {
    this.reset(first);
    this.sessionId = sessionId;
    this.player.startStream(fps > 0 ? fps : 16, now);
  }

  /** A "motionstream.frames" event. */
  addChunk(detail, now) {
    if (this.sessionId !== null && detail.session !== this.sessionId) return;
    const start = Number(detail.start_frame) || 0;
    const list = Array.isArray(detail.frames) ? detail.frames : [];
    if (detail.fps > 0) this.player.fps = detail.fps;
    // the run's speed so far (the frames over the time spent making them), else this chunk's
    const fps = Number.isFinite(detail.run_fps) ? detail.run_fps : detail.gen_fps;
    if (Number.isFinite(fps)) this.genFps = fps;
    if (Number.isFinite(detail.latency_ms)) this.latencyMs = detail.latency_ms;
    if (Number.isInteger(detail.chunk)) this.chunk = detail.chunk;
    // a chunk's worth of frames is a good buffer: play starts as soon as one chunk is in
    if (list.length) this.player.bufferFrames = Math.max(2, Math.min(list.length, 16));
    this.expected = Math.max(this.expected, start + list.length);
    const epoch = this.epoch;
    this.decoding += list.length;
    list.forEach((url, k) => {
      const img = this.makeImage();
      const done = () => {
        if (epoch !== this.epoch) return;
        this.decoding -= 1;
        this.frames.put(start + k, img);
        this.player.setAvailable(this.frames.contiguous, now, this.frames.first);
        if (this.finishing && this.decoding === 0) this.player.finish();
        this.onUpdate();
      };
      img.src = url;
      if (typeof img.decode === "function") img.decode().then(done, done);
      else done();
    });
  }

  /**
   * The run is over: play out what is there, then keep it for scrubbing; `runFps`: the whole run's speed.
   * Frames still decoding (the end event can overtake the last chunk's images) are waited for, so the
   * player does not end on the frame before them.
   */
  finish(runFps) {
    if (Number.isFinite(runFps) && runFps > 0) this.genFps = runFps;
    this.finishing = true;
    if (this.decoding === 0) this.player.finish();
  }

  /** The image to show now (null when none), advancing the clock. */
  current(now) {
    const f = this.player.tick(now);
    if (f < 0) return null;
    if (f !== this.lastShown) {
      this.lastShown = f;
      this.lastShownAt = now;
      if (this.player.state === "playing") this.display.tick(now);
    }
    return this.frames.get(f) || null;
  }

  get frame() {
    return this.lastShown;
  }

  /** Whether the clock needs animation frames. */
  get animating() {
    const s = this.player.state;
    return s === "playing" || (s === "buffering" && this.hasFrames);
  }

  statsText(now) {
    const play = this.display.rate(now);
    const buffered = Math.max(0, this.count - 1 - Math.max(0, this.lastShown));
    const parts = [
      `gen ${this.genFps ? this.genFps.toFixed(1) : "–"} fps`,
      `play ${play ? play.toFixed(1) : "–"} fps`,
      `latency ${this.latencyMs ? Math.round(this.latencyMs) : "–"} ms`,
      `buffer ${buffered}`,
      `frame ${Math.max(0, this.lastShown)}/${Math.max(0, this.count - 1)}`,
    ];
    return parts.join(" · ");
  }
}
