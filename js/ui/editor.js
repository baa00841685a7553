// The trajectory editor + stream viewer behind the MotionStreamGenerate
// node's `editor_state` widget. Owns the editor state (its JSON is the
// widget value), undo/redo, selection, tool and time.
// It hands itself to six controllers, one job each: TrackEdits (edits.js:
// every change to the tracks), CanvasView (canvasview.js: layout and
// drawing), StartPicture (picture.js: the start image, upstream or exact),
// LiveRun (live.js: the running session, steering), Controls (controls.js:
// toolbar and rows) and PointerInput (pointer.js: gestures and keys).
//
// `host` decouples this from ComfyUI (motionstream.js provides it):
//   fetchApi(route, init), apiURL(route), forwardPointer(kind, event),
//   forwardWheel(event), onChange(text), backend() -> {ok, message},
//   clientId() -> this tab's websocket client id

import { buildDom, setStatus } from "./dom.js";
import { PointerInput, attachKeys } from "./pointer.js";
import { StreamView } from "./stream.js";
import { LiveRun } from "./live.js";
import { Controls } from "./controls.js";
import { StartPicture } from "./picture.js";
import { TrackEdits } from "./edits.js";
import { CanvasView } from "./canvasview.js";
import { REGION_HELP } from "./regiontool.js";
import { parseState, serializeState, cloneState, toTracksJSON } from "../lib/state.js";
import { UndoStack } from "../lib/history.js";
import { rescaleTracks } from "../lib/tracks.js";
import { trackColor } from "../lib/palette.js";
import { Player } from "../lib/playback.js";

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
    this.pendingRegion = null; // a region selected with the Region tool and not yet dragged
    this.rawInvalid = null;
    this.parseError = null;
    this.destroyed = false;
    this.editPlayer = new Player({ fps: 16 });
    this.stream = new StreamView({ onUpdate: () => this.requestRender() });
    const { state } = parseState("");
    this.state = state;
    this.text = serializeState(state);
    this.edits = new TrackEdits(this);
    this.canvas = new CanvasView(this);
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
    if (label) this.note(label);
    else if (record && this.noteShown) this.status(""); // an edit's note is stale after the next edit
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
    if (t === "region") this.note(REGION_HELP);
    this.syncUI();
  }

  /** The Region tool's selection (a polygon in image pixels, or null). */
  setPendingRegion(poly) {
    this.pendingRegion = poly;
    this.requestRender();
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
    this.noteShown = false;
  }

  /** A status about an edit (cleared by the next edit). */
  note(text) {
    this.status(text);
    this.noteShown = true;
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

  // ------------------------------------------------------------ the canvas (see canvasview.js)
  requestRender() {
    this.canvas.requestRender();
  }

  layout() {
    return this.canvas.layout();
  }

  toImage(clientX, clientY) {
    return this.canvas.toImage(clientX, clientY);
  }

  hitRadius() {
    return this.canvas.hitRadius();
  }

  hudLines() {
    return this.canvas.hudLines();
  }

  messageScene() {
    return this.canvas.messageScene();
  }

  destroy() {
    this.destroyed = true;
    this.resizeObserver?.disconnect();
    this.live.destroy();
    this.picture.destroy();
  }
}
