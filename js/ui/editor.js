// The trajectory editor + stream viewer behind the MotionStreamGenerate
// node's `editor_state` widget. Owns the editor state (its JSON is the
// widget value), undo/redo and the canvas rendering loop.
// It hands itself to four controllers: StartPicture (picture.js: the start
// image, upstream or exact), LiveRun (live.js: the running session,
// steering), Controls (controls.js: toolbar and rows) and PointerInput
// (pointer.js: gestures); keys are in pointer.js too.
//
// `host` decouples this from ComfyUI (motionstream.js provides it):
//   fetchApi(route, init), apiURL(route), forwardPointer(kind, event),
//   forwardWheel(event), onChange(text), backend() -> {ok, message},
//   clientId() -> this tab's websocket client id

import { buildDom, setStatus } from "./dom.js";
import { drawScene } from "./render.js";
import { PointerInput, attachKeys } from "./pointer.js";
import { StreamView } from "./stream.js";
import { LiveRun } from "./live.js";
import { Controls } from "./controls.js";
import { StartPicture } from "./picture.js";
import { backingSize, fitRect, clientToImage, viewPerCss } from "../lib/coords.js";
import { parseState, serializeState, cloneState, toTracksJSON } from "../lib/state.js";
import { UndoStack } from "../lib/history.js";
import {
  gridPoints, staticTrack, deleteTracks, retimeTrack, motionSpan, setTrackLength, pointAt, rescaleTracks,
} from "../lib/tracks.js";
import { trackColor } from "../lib/palette.js";
import { Player } from "../lib/playback.js";
import { noTracksNotice } from "../lib/notracks.js";

const now = () => performance.now();
const sameTracks = (a, b) => JSON.stringify(toTracksJSON(a)) === JSON.stringify(toTracksJSON(b));

export class MotionStreamEditor {
  constructor(host, node) {
    this.host = host;
    this.node = node;
    this.dom = buildDom(document);
    this.history = new UndoStack();
    this.tool = "draw";
    this.selection = new Set();
    this.frame = 0;
    this.view = "edit";
    this.preview = null;
    this.lastBox = null;
    this.rawInvalid = null;
    this.parseError = null;
    this.renderPending = false;
    this.destroyed = false;
    this.editPlayer = new Player({ fps: 16 });
    this.stream = new StreamView({ onUpdate: () => this.requestRender() });
    const { state } = parseState("");
    this.state = state;
    this.text = serializeState(state);
    this.picture = new StartPicture(this);
    this.live = new LiveRun(this);
    this.controls = new Controls(this);
    this.pointer = new PointerInput(this);
    attachKeys(this);
    if (typeof ResizeObserver !== "undefined") {
      this.resizeObserver = new ResizeObserver(() => this.requestRender());
      this.resizeObserver.observe(this.dom.wrap);
    }
    this.syncUI();
    this.requestRender();
  }

  // ------------------------------------------------------------ the run (see live.js)
  isLive() {
    return this.live.running;
  }

  get session() {
    return this.live.session;
  }

  get steerSent() {
    return this.live.sent;
  }

  get steerOk() {
    return this.live.ok;
  }

  syncUI() {
    this.controls.sync();
  }

  syncTimeline() {
    this.controls.syncTimeline();
  }

  // ------------------------------------------------------------ value
  getValue() {
    return this.rawInvalid ?? this.text;
  }

  /** A value from outside (workflow load, paste, graph undo). */
  setValue(v) {
    const text = typeof v === "string" ? v : v == null ? "" : JSON.stringify(v);
    if (text === this.getValue()) return;
    const { state, error } = parseState(text, this.picture.size() || {});
    this.state = state;
    this.text = serializeState(state);
    this.rawInvalid = error ? text : null;
    this.parseError = error;
    this.history.clear();
    this.selection.clear();
    this.frame = Math.min(this.frame, state.numFrames - 1);
    this.syncUI();
    this.requestRender();
  }

  /** Replace the state (an edit): undoable unless record=false. */
  commit(next, { key = null, record = true, label = "" } = {}) {
    if (next.extra?.recorded_file && next.tracks !== this.state.tracks && !sameTracks(next, this.state)) {
      next.extra = { ...next.extra }; // the tracks were edited: the run's record no longer replaces them
      delete next.extra.recorded_file;
    }
    const pic = this.picture.size();
    if (!next.tracks.length && pic) {
      // with nothing drawn, the editor's pixel space is the start image's
      next.width = pic.width;
      next.height = pic.height;
    }
    const after = serializeState(next);
    if (after === this.text && this.rawInvalid === null) return false;
    if (record) this.history.record(this.getValue(), key);
    this.state = next;
    this.text = after;
    this.rawInvalid = null;
    this.parseError = null;
    if (label) this.status(label);
    this.host.onChange?.(after);
    this.syncUI();
    this.requestRender();
    return true;
  }

  restore(snapshot) {
    const { state, error } = parseState(snapshot);
    this.state = state;
    this.text = serializeState(state);
    this.rawInvalid = error ? snapshot : null;
    this.parseError = error;
    this.selection.clear();
    this.frame = Math.min(this.frame, state.numFrames - 1);
    this.host.onChange?.(this.getValue());
    this.syncUI();
    this.requestRender();
  }

  undo() {
    const s = this.history.undo(this.getValue());
    if (s !== null) this.restore(s);
  }

  redo() {
    const s = this.history.redo(this.getValue());
    if (s !== null) this.restore(s);
  }

  // ------------------------------------------------------------ edits
  withTracks(tracks, extra = {}) {
    const s = cloneState(this.state);
    s.tracks = tracks;
    return Object.assign(s, extra);
  }

  addTracks(list) {
    const n0 = this.state.tracks.length;
    if (this.commit(this.withTracks([...this.state.tracks, ...list]))) {
      this.setSelection(list.map((_, k) => n0 + k));
    }
  }

  replaceTracks(tracks, label = "") {
    this.commit(this.withTracks(tracks), { label });
  }

  deleteTracks(indices) {
    if (!indices.length) return;
    this.selection.clear();
    this.commit(this.withTracks(deleteTracks(this.state.tracks, indices)));
  }

  deleteSelected() {
    this.deleteTracks([...this.selection]);
  }

  clearAll() {
    if (!this.state.tracks.length) return;
    this.selection.clear();
    this.commit(this.withTracks([]), { label: "Cleared all tracks (Ctrl+Z brings them back)" });
  }

  placeGrid() {
    if (this.isLive()) return;
    const { W, H } = this.size();
    const f = this.currentFrame();
    const avoid = this.state.tracks.map((t) => pointAt(t, f));
    const pts = gridPoints(W, H, this.state.gridSpacing, { avoid, region: this.lastBox });
    this.lastBox = null;
    if (!pts.length) {
      this.status("Grid: every grid position already has a point");
      return;
    }
    this.addTracks(pts.map(([x, y]) => staticTrack(x, y, this.state.numFrames)));
    this.status(`Grid: added ${pts.length} static points`);
  }

  setSpacing(v) {
    const n = Math.round(Number(v));
    if (!(n >= 1)) return;
    const s = cloneState(this.state);
    s.gridSpacing = n;
    this.commit(s, { key: "spacing" });
  }

  setDuration(v, { fromWidget = false } = {}) {
    const n = Math.round(Number(v));
    if (!(n >= 1 && n <= 100000)) return;
    const s = cloneState(this.state);
    s.tracks = s.tracks.map((t) => setTrackLength(t, n));
    s.numFrames = n;
    s.durationFrames = n;
    this.commit(s, { key: "duration" });
    if (!fromWidget) this.controls.syncFramesWidget();
  }

  retimeSelected(a, b) {
    if (this.selection.size !== 1) return;
    const i = [...this.selection][0];
    const t = this.state.tracks[i];
    if (!t || !motionSpan(t)) return;
    const tracks = this.state.tracks.slice();
    tracks[i] = retimeTrack(t, Number(a), Number(b));
    this.commit(this.withTracks(tracks), { key: `retime:${i}` });
  }

  // ------------------------------------------------------------ selection, tools, time
  setSelection(indices) {
    this.selection = new Set(indices.filter((i) => i >= 0 && i < this.state.tracks.length));
    this.syncUI();
    this.requestRender();
  }

  toggleSelected(i) {
    if (this.selection.has(i)) this.selection.delete(i);
    else this.selection.add(i);
    this.syncUI();
    this.requestRender();
  }

  setTool(t) {
    this.tool = t;
    this.syncUI();
  }

  setPreview(p) {
    this.preview = p;
    this.requestRender();
  }

  setView(v) {
    this.view = v === "video" && (this.stream.hasFrames || this.isLive()) ? "video" : "edit";
    this.syncUI();
    this.requestRender();
  }

  /** The frame the overlay shows: the video's frame in video view, else the scrubber's. */
  currentFrame() {
    const T = this.state.numFrames;
    if (this.view === "video" && this.stream.frame >= 0) return Math.min(T - 1, this.stream.frame);
    return Math.min(T - 1, Math.max(0, this.frame));
  }

  setFrame(f) {
    if (this.view === "video" && this.stream.hasFrames) this.stream.player.seek(f, now());
    else this.frame = Math.max(0, Math.min(this.state.numFrames - 1, Math.round(f)));
    this.syncTimeline();
    this.requestRender();
  }

  stepFrame(d) {
    this.setFrame((this.view === "video" ? this.stream.frame : this.frame) + d);
  }

  togglePlay() {
    const t = now();
    if (this.view === "video" && this.stream.hasFrames) {
      this.stream.player.togglePlay(t);
    } else if (this.editPlayer.state === "playing") {
      this.editPlayer.pause();
    } else {
      this.editPlayer.fps = this.state.fps;
      this.editPlayer.load(this.state.numFrames, this.frame >= this.state.numFrames - 1 ? 0 : this.frame);
      this.editPlayer.play(t);
    }
    this.syncUI();
    this.requestRender();
  }

  nextColor() {
    return trackColor(this.state.tracks.length);
  }

  size() {
    return { W: this.state.width, H: this.state.height };
  }

  focus() {
    try {
      this.dom.keySink.focus({ preventScroll: true });
    } catch {
      /* not focusable yet */
    }
  }

  status(text, kind = "info") {
    setStatus(this.dom, text, kind);
  }

  // ------------------------------------------------------------ geometry
  layout() {
    const c = this.dom.canvas;
    const bounds = c.getBoundingClientRect();
    const k = viewPerCss(bounds, c.width);
    const { W, H } = this.size();
    return { bounds, k, rect: fitRect(W, H, c.width, c.height, 6 * k) };
  }

  /** Client (page) coordinates -> image pixels. */
  toImage(clientX, clientY) {
    const c = this.dom.canvas;
    const { bounds, rect } = this.layout();
    const { W, H } = this.size();
    return clientToImage(clientX, clientY, bounds, c.width, c.height, rect, W, H);
  }

  /** Pick radius: 10 CSS pixels, in image pixels. */
  hitRadius() {
    const { k, rect } = this.layout();
    return (10 * k * this.state.width) / (rect.w || 1);
  }

  // ------------------------------------------------------------ start image (see picture.js)
  get startImage() {
    return this.picture.startImage;
  }

  get startSource() {
    return this.picture.source;
  }

  /** Called on every graph redraw: cheap check whether the upstream image changed. */
  refreshImage() {
    this.picture.refresh();
  }

  /** With no tracks yet, the editor takes the image's size as its pixel space. */
  adoptImageSize(w, h) {
    if (!(w > 0 && h > 0) || this.state.tracks.length || this.rawInvalid !== null || this.picture.exact()) return;
    if (this.state.width === w && this.state.height === h) return;
    const s = cloneState(this.state);
    s.width = Math.round(w);
    s.height = Math.round(h);
    this.commit(s, { record: false });
  }

  /**
   * A run of width x height started: the editor's pixel space becomes the run's (drawn tracks scaled
   * as the node scales them), so what is drawn and dragged maps 1:1 onto what the model gets.
   */
  useRunSize(width, height) {
    this.picture.useRun(width, height);
    const { W, H } = this.size();
    if (!(width > 0 && height > 0) || (W === width && H === height) || this.rawInvalid !== null) return;
    const s = cloneState(this.state);
    s.tracks = rescaleTracks(s.tracks, W, H, width, height);
    s.width = width;
    s.height = height;
    this.commit(s, { record: false });
  }

  /** Health of the pack's server side changed. */
  onBackend(b) {
    if (b.ok === false) this.status(b.message, "error");
    else if (b.ok && this.dom.status.classList.contains("ms-error") && /backend/i.test(this.dom.status.textContent)) this.status("");
  }

  /** The graph redrew the node: pick up image changes and size/zoom changes. */
  onHostDraw() {
    this.refreshImage();
    const b = this.dom.canvas.getBoundingClientRect();
    const key = `${Math.round(b.width)}x${Math.round(b.height)}`;
    if (key !== this.boundsKey) {
      this.boundsKey = key;
      this.requestRender();
    }
  }

  // ------------------------------------------------------------ drawing
  requestRender() {
    if (this.renderPending || this.destroyed) return;
    this.renderPending = true;
    requestAnimationFrame(() => this.render());
  }

  render() {
    this.renderPending = false;
    if (this.destroyed) return;
    const c = this.dom.canvas;
    const b = c.getBoundingClientRect();
    if (b.width < 2 || b.height < 2) return;
    const bs = backingSize(b, window.devicePixelRatio || 1);
    if (c.width !== bs.width || c.height !== bs.height) {
      c.width = bs.width;
      c.height = bs.height;
    }
    const t = now();
    let bg = this.picture.forEdit();
    let animating = false;
    if (this.view === "video") {
      bg = this.stream.current(t) || this.picture.exact()?.image || bg;
      animating = this.stream.animating;
    } else if (this.editPlayer.state === "playing") {
      this.frame = this.editPlayer.tick(t);
      animating = this.editPlayer.state === "playing";
      if (!animating) this.syncUI();
    }
    const { k, rect } = this.layout();
    const { W, H } = this.size();
    const pv = this.preview || {};
    const scene = {
      viewW: c.width, viewH: c.height, rect, W, H, k, bg,
      colors: { canvasBg: getComputedStyle(this.dom.wrap).backgroundColor || "#171717" },
      tracks: pv.tracks || this.state.tracks,
      frame: this.currentFrame(),
      selection: this.selection,
      showTrails: true,
      preview: pv,
      overrides: pv.overrides,
      hud: this.hudLines(),
      ...this.live.scene(),
      ...this.messageScene(),
    };
    drawScene(c.getContext("2d"), scene);
    this.syncTimeline();
    if (this.isLive() || this.stream.hasFrames) this.dom.stats.textContent = this.stream.statsText(t);
    if (animating) this.requestRender();
  }

  hudLines() {
    if (this.view === "video") {
      const st = this.stream.player.state;
      if (!this.isLive()) return [`video · ${st}`];
      if (this.session.paused) return ["❚❚ paused (generation)"];
      return [this.live.takesDrags ? "● live: drag points to steer" : "● live (this model takes no drags)"];
    }
    const n = this.state.tracks.length;
    const lines = [`${n} track${n === 1 ? "" : "s"} · ${this.state.width}×${this.state.height} · frame ${this.currentFrame()}`];
    const via = this.startSource?.via || [];
    if (this.startImage && !this.picture.exact() && via.length) {
      lines.push(`⚠ ${via.map((v) => `'${v}'`).join(", ")} change${via.length === 1 ? "s" : ""} this image:`,
        "the exact one the model gets shows once a run starts");
    }
    return lines;
  }

  messageScene() {
    const be = this.host.backend?.() || { ok: null };
    if (this.parseError) return { message: `Saved editor state could not be read:\n${this.parseError}`, messageIsError: true };
    if (this.view === "video" && this.isLive() && !this.stream.hasFrames) return { message: "Waiting for the first frames…" };
    if (be.ok === false && this.isLive()) return { message: be.message, messageIsError: true };
    if (this.view === "edit" && !this.picture.forEdit()) {
      if (noTracksNotice(this.node)) {
        return { message: "This model makes video from the prompt: no start image is needed\n(connect one to Generate's image to continue a picture)" };
      }
      return { message: "The start image shows here once the node has run once\n(or at once with a Load Image node)" };
    }
    return {};
  }

  destroy() {
    this.destroyed = true;
    this.resizeObserver?.disconnect();
    this.live.destroy();
    this.picture.destroy();
  }
}
