// Frames that stream in chunk by chunk, and the clock that plays them at the
// video's frame rate from a small buffer. Time is always passed in (ms), so
// all of this runs and is tested without a browser.

/**
 * Frames by absolute index (chunks may in principle arrive out of order). An endless stream would
 * grow without bound, so only the newest `maxFrames` of the contiguous run are kept: older ones
 * are dropped and `first` is the oldest frame still there.
 */
export class FrameStore {
  constructor(maxFrames = Infinity) {
    this.maxFrames = maxFrames;
    this.clear();
  }

  put(index, item) {
    if (!Number.isInteger(index) || index < 0) throw new Error(`bad frame index ${index}`);
    if (index < this.first) return; // already scrolled out of the window
    if (this.items.get(index) === undefined) this.size++;
    this.items.set(index, item);
    while (this.items.get(this.contiguous) !== undefined) this.contiguous++;
    while (this.contiguous - this.first > this.maxFrames) {
      if (this.items.delete(this.first)) this.size--;
      this.first++;
    }
  }

  /** Store a chunk: frames[k] is frame startFrame + k. */
  putChunk(startFrame, frames) {
    frames.forEach((f, k) => this.put(startFrame + k, f));
  }

  get(index) {
    return this.items.get(index);
  }

  has(index) {
    return this.items.get(index) !== undefined;
  }

  /** Empty; the next frame expected is `first` (a stream joined mid-run starts there, not at 0). */
  clear(first = 0) {
    if (!Number.isInteger(first) || first < 0) throw new Error(`bad first frame ${first}`);
    this.items = new Map();
    this.contiguous = first; // frames first..contiguous-1 are all present
    this.first = first;
    this.size = 0;
  }

  /** Whether any frame is there to show. */
  get hasFrames() {
    return this.contiguous > this.first;
  }
}

/**
 * Events per second over a sliding window (default 1 s): call tick(now) on
 * every event, read rate(now).
 */
export class RateMeter {
  constructor(windowMs = 1000) {
    this.windowMs = windowMs;
    this.times = [];
  }

  tick(now, count = 1) {
    for (let i = 0; i < count; i++) this.times.push(now);
    this.trim(now);
  }

  trim(now) {
    const lo = now - this.windowMs;
    while (this.times.length && this.times[0] < lo) this.times.shift();
  }

  rate(now) {
    this.trim(now);
    const n = this.times.length;
    if (n < 2) return 0;
    const span = this.times[n - 1] - this.times[0];
    return span > 0 ? ((n - 1) * 1000) / span : 0;
  }

  reset() {
    this.times = [];
  }
}

/**
 * Playback clock.
 *
 * States: "idle" (nothing yet), "buffering" (waiting until `bufferFrames`
 * frames are ready ahead of the playhead), "playing", "paused", "ended"
 * (stream finished and the playhead reached the last frame).
 *
 * While a stream is live, frames are shown at `fps` from the moment the
 * buffer is full; on an underrun the last frame is held and playback goes
 * back to buffering; if playback falls more than `maxLagFrames` behind the
 * newest frame (generation faster than real time), it jumps forward to
 * `bufferFrames` behind the newest so what is shown stays close to what is
 * being steered. After the stream, the video can be played, paused and
 * scrubbed (seek).
 */
export class Player {
  constructor({ fps = 16, bufferFrames = 4, maxLagFrames = 36 } = {}) {
    this.fps = fps;
    this.bufferFrames = bufferFrames;
    this.maxLagFrames = maxLagFrames;
    this.reset();
  }

  reset() {
    this.state = "idle";
    this.available = 0;
    this.firstFrame = 0; // older frames were dropped (see FrameStore.maxFrames)
    this.live = false;
    this.finished = false;
    this.position = 0;
    this.anchorFrame = 0;
    this.anchorTime = 0;
    this.loop = false;
  }

  /** A new stream begins (frames will follow). */
  startStream(fps, now = 0) {
    this.reset();
    if (fps > 0) this.fps = fps;
    this.live = true;
    this.state = "buffering";
    this.anchorTime = now;
  }

  /** `n` frames (0..n-1, or first..n-1 once older ones were dropped) are ready. */
  setAvailable(n, now = 0, first = 0) {
    this.available = Math.max(this.available, n);
    this.firstFrame = Math.max(this.firstFrame, first);
    if (this.position < this.firstFrame) {
      this.position = this.firstFrame;
      this.anchorFrame = this.firstFrame;
      this.anchorTime = now;
    }
    if (this.state === "idle" && this.available > 0) {
      this.state = "buffering";
      this.anchorTime = now;
    }
  }

  /** No more frames will come. */
  finish() {
    this.finished = true;
    this.live = false;
  }

  /** Show a finished/loaded video of n frames, paused at `frame`. */
  load(n, frame = 0) {
    this.reset();
    this.available = n;
    this.finished = true;
    this.state = n > 0 ? "paused" : "idle";
    this.position = Math.min(Math.max(0, frame), Math.max(0, n - 1));
  }

  get lastFrame() {
    return this.available - 1;
  }

  /** Frames ready ahead of the playhead (the playhead's frame included). */
  get buffered() {
    return Math.max(0, this.available - Math.floor(this.position));
  }

  play(now) {
    if (this.available === 0) return;
    if (this.state === "ended" || (this.finished && this.position >= this.lastFrame)) this.position = this.firstFrame;
    this.state = this.live || !this.finished ? "buffering" : "playing";
    this.anchorFrame = this.position;
    this.anchorTime = now;
  }

  pause() {
    if (this.state === "idle") return;
    this.state = "paused";
  }

  togglePlay(now) {
    if (this.state === "playing" || this.state === "buffering") this.pause();
    else this.play(now);
  }

  /** Jump to a frame and hold there (scrubbing). */
  seek(frame, now = 0) {
    if (this.available === 0) return;
    this.position = Math.min(Math.max(this.firstFrame, Math.round(frame)), this.lastFrame);
    if (this.state === "playing" || this.state === "buffering") {
      this.anchorFrame = this.position;
      this.anchorTime = now;
    } else {
      this.state = "paused";
    }
  }

  /** Advance the clock to `now`; returns the frame index to show (-1: none). */
  tick(now) {
    if (this.available === 0) return -1;
    if (this.state === "buffering") {
      const ready = this.available - Math.floor(this.position) >= this.bufferFrames;
      if (ready || this.finished) {
        this.state = "playing";
        this.anchorFrame = this.position;
        this.anchorTime = now;
      }
    }
    if (this.state === "playing") {
      let pos = this.anchorFrame + ((now - this.anchorTime) * this.fps) / 1000;
      if (!this.finished && this.available - 1 - pos > this.maxLagFrames) {
        pos = Math.max(0, this.available - this.bufferFrames);
        this.anchorFrame = pos;
        this.anchorTime = now;
      }
      if (this.finished) {
        if (this.loop && this.available > 1) {
          if (pos >= this.available) {
            pos = this.firstFrame + ((pos - this.firstFrame) % (this.available - this.firstFrame));
            this.anchorFrame = pos;
            this.anchorTime = now;
          }
        } else if (pos >= this.lastFrame) {
          pos = this.lastFrame;
          this.state = "ended";
        }
      } else if (pos > this.lastFrame) {
        pos = this.lastFrame;
        this.state = "buffering";
      }
      this.position = pos;
    }
    return Math.min(Math.max(this.firstFrame, Math.floor(this.position)), this.lastFrame);
  }
}
