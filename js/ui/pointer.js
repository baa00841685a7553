// Pointer and keyboard handling of the editor canvas.
//
// Edit mode (no stream running):
//   Draw tool  drag on empty space   -> a new track, timed as drawn, starting at the scrubber frame
//              click on empty space  -> a static anchor point
//              drag a point          -> that point (or the selected group) moves from the scrubber frame on
//   Move tool  drag a point          -> the whole track(s) move (all frames)
//              drag on empty space   -> box selection
//   Region tool (regiontool.js): lasso / box a region, then drag inside it
//   Shift+click a point toggles it in the selection; Shift+drag draws a selection box.
//   Right-click a point deletes its track. Middle button pans, wheel zooms the graph.
// Live mode (a stream of this node is running):
//   drag a point -> steer it ("track:<i>"), drag empty space -> a new live point (inside a region:
//   a live point that drags the region).
//
// A press picks one gesture (pan, steer, draw, motion, translate, box); the gesture then gets the
// moves and the release. Each gesture is a small object {type, move(e), end(e), cancel()}.

import { rectFromCorners } from "../lib/coords.js";
import { NO_DRAGS_LIVE, NO_IMAGE_LIVE } from "./live.js";
import { dragModeOf } from "../lib/notracks.js";
import { regionGesture } from "./regiontool.js";
import { regionAt } from "../lib/regions.js";
import {
  hitTest, drawnTrack, staticTrack, recordGroupMotion, translateTracks, clampGroupOffset, tracksInRect, pointAt,
} from "../lib/tracks.js";

const CLICK_SLOP_CSS = 3;

const clamp = (v, hi) => Math.min(hi, Math.max(0, v));

/**
 * What a primary-button drag has done so far: where it started (client and image pixels), whether it
 * went beyond a click, and its timed samples in image pixels (coalesced events included).
 */
class Stroke {
  constructor(input, e) {
    this.input = input;
    this.cx = e.clientX;
    this.cy = e.clientY;
    this.a = input.toImage(e);
    this.moved = false;
    this.samples = [{ t: e.timeStamp, x: this.a.x, y: this.a.y }];
  }

  /** Note a move; returns the pointer's image position. */
  track(e, { sample = true } = {}) {
    if (!this.moved && Math.hypot(e.clientX - this.cx, e.clientY - this.cy) > CLICK_SLOP_CSS) this.moved = true;
    if (sample) {
      const evs = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
      for (const ev of evs && evs.length ? evs : [e]) this.samples.push({ t: ev.timeStamp, ...this.input.toImage(ev) });
    }
    return this.input.toImage(e);
  }

  /** The release point, appended as the last sample. */
  close(e) {
    const p = this.input.toImage(e);
    this.samples.push({ t: e.timeStamp, x: p.x, y: p.y });
    return p;
  }

  get path() {
    return this.samples.map((s) => [s.x, s.y]);
  }
}

// ------------------------------------------------------------ gestures
function panGesture(ed) {
  return {
    type: "pan",
    move: (e) => ed.host.forwardPointer("move", e),
    end: (e) => ed.host.forwardPointer("up", e),
    cancel: (e) => ed.host.forwardPointer("up", e),
  };
}

/**
 * Live: hold a point (a drawn track, a live point of this run, or a new one) and steer it; a new point
 * pressed inside a region drags that region.
 */
function steerGesture(ed, stroke) {
  const held = ed.live.hit(stroke.a);
  const id = held ?? ed.live.steering.newId();
  const region = held ? null : regionAt(ed.state.tracks, ed.pendingRegion, stroke.a.x, stroke.a.y);
  ed.live.press(id, stroke.a.x, stroke.a.y, region);
  const release = () => ed.live.release(id);
  return {
    type: "steer",
    id,
    move(e) {
      const p = stroke.track(e, { sample: false });
      ed.live.move(id, p.x, p.y);
    },
    end: release,
    cancel: release,
  };
}

/** Draw tool on empty space: a drawn track (or a static point for a click). */
function drawGesture(ed, stroke, frame) {
  return {
    type: "draw",
    move(e) {
      stroke.track(e);
      ed.setPreview({ path: stroke.path, color: ed.nextColor() });
    },
    end(e) {
      ed.setPreview(null);
      const st = ed.state;
      const { W, H } = ed.size();
      const T = st.numFrames;
      if (!stroke.moved) {
        ed.edits.addTracks([staticTrack(clamp(stroke.a.x, W), clamp(stroke.a.y, H), T)]);
        return;
      }
      stroke.close(e);
      ed.edits.addTracks([drawnTrack(stroke.samples, { fps: st.fps, T, startFrame: frame, W, H })]);
    },
    cancel: () => ed.setPreview(null),
  };
}

/** Draw tool on a point: the selected group moves over time from the scrubber frame on, as dragged. */
function motionGesture(ed, stroke, frame) {
  return {
    type: "motion",
    move(e) {
      const p = stroke.track(e);
      const { W, H } = ed.size();
      const overrides = new Map();
      for (const i of ed.selection) {
        const q = pointAt(ed.state.tracks[i], frame);
        overrides.set(i, [clamp(q[0] + p.x - stroke.a.x, W), clamp(q[1] + p.y - stroke.a.y, H)]);
      }
      ed.setPreview({ path: stroke.path, overrides });
    },
    end(e) {
      ed.setPreview(null);
      if (!stroke.moved) return;
      stroke.close(e);
      const st = ed.state;
      const { W, H } = ed.size();
      const next = recordGroupMotion(st.tracks, [...ed.selection], stroke.samples, { fps: st.fps, startFrame: frame, W, H });
      ed.edits.replaceTracks(next, "Move over time");
    },
    cancel: () => ed.setPreview(null),
  };
}

/** Move tool on a point: the selected tracks move as a whole (every frame), kept inside the image. */
function translateGesture(ed, stroke) {
  const moved = (p) => {
    const sel = [...ed.selection];
    const { W, H } = ed.size();
    const d = clampGroupOffset(ed.state.tracks, sel, p.x - stroke.a.x, p.y - stroke.a.y, W, H);
    return translateTracks(ed.state.tracks, sel, d.dx, d.dy);
  };
  return {
    type: "translate",
    move: (e) => ed.setPreview({ tracks: moved(stroke.track(e)) }),
    end(e) {
      ed.setPreview(null);
      if (stroke.moved) ed.edits.replaceTracks(moved(ed.toImage(e.clientX, e.clientY)), "Move tracks");
    },
    cancel: () => ed.setPreview(null),
  };
}

/** A selection box (Move tool on empty space, or Shift+drag: added to the selection). */
function boxGesture(ed, stroke, additive) {
  return {
    type: "box",
    move: (e) => ed.setPreview({ rubber: rectFromCorners(stroke.a, stroke.track(e)) }),
    end(e) {
      ed.setPreview(null);
      const r = rectFromCorners(stroke.a, ed.toImage(e.clientX, e.clientY));
      if (r.w < 1 && r.h < 1) {
        if (!additive) ed.setSelection([]);
        return;
      }
      const hits = tracksInRect(ed.state.tracks, ed.currentFrame(), r);
      ed.setSelection(additive ? [...ed.selection, ...hits] : hits);
      ed.lastBox = r.w >= 4 && r.h >= 4 ? r : null;
    },
    cancel: () => ed.setPreview(null),
  };
}

// ------------------------------------------------------------ the canvas's listeners
export class PointerInput {
  constructor(ed) {
    this.ed = ed;
    this.gesture = null;
    const c = ed.dom.canvas;
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.finish(e, false));
    c.addEventListener("pointercancel", (e) => this.finish(e, true));
    c.addEventListener("lostpointercapture", (e) => {
      if (this.gesture?.type === "steer") this.finish(e, true);
    });
    c.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    c.addEventListener("contextmenu", (e) => e.preventDefault());
  }

  toImage(e) {
    return this.ed.toImage(e.clientX, e.clientY);
  }

  /** The drawn track under a pointer event, or -1. */
  trackAt(e) {
    const ed = this.ed;
    const p = this.toImage(e);
    return hitTest(ed.state.tracks, ed.currentFrame(), p.x, p.y, ed.hitRadius());
  }

  onDown(e) {
    this.ed.focus();
    if (e.button === 1) {
      this.ed.host.forwardPointer("down", e);
      this.gesture = panGesture(this.ed);
    } else if (e.button === 2) {
      e.preventDefault();
      this.deleteAt(e);
    } else if (e.button === 0) {
      e.preventDefault();
      try {
        this.ed.dom.canvas.setPointerCapture(e.pointerId);
      } catch {
        /* synthetic events may have no capturable pointer */
      }
      this.gesture = this.pick(e);
    }
  }

  /** Right-click: delete the track under the pointer (not while a stream runs). */
  deleteAt(e) {
    if (this.ed.isLive()) return;
    const i = this.trackAt(e);
    if (i >= 0) this.ed.edits.deleteTracks([i]);
  }

  /** The gesture a primary press starts (null: a Shift+click that toggled a point). */
  pick(e) {
    const ed = this.ed;
    const stroke = new Stroke(this, e);
    if (ed.isLive()) {
      if (ed.live.takesDrags) return steerGesture(ed, stroke);
      ed.status(`Not steered: ${dragModeOf(ed.node).mode === "warp" ? NO_IMAGE_LIVE : NO_DRAGS_LIVE}`);
      return null;
    }
    const frame = ed.currentFrame();
    if (ed.tool === "region") return regionGesture(ed, stroke, frame, e.shiftKey);
    const i = this.trackAt(e);
    if (e.shiftKey) {
      if (i < 0) return boxGesture(ed, stroke, true);
      ed.toggleSelected(i);
      return null;
    }
    if (i >= 0) {
      if (!ed.selection.has(i)) ed.setSelection([i]);
      return ed.tool === "move" ? translateGesture(ed, stroke) : motionGesture(ed, stroke, frame);
    }
    return ed.tool === "move" ? boxGesture(ed, stroke, false) : drawGesture(ed, stroke, frame);
  }

  onMove(e) {
    if (this.gesture) this.gesture.move(e);
    else this.hover(e);
  }

  /** The cursor says what a press would do. */
  hover(e) {
    const ed = this.ed;
    const c = ed.dom.canvas;
    if (ed.isLive()) c.style.cursor = "grab";
    else if (e.buttons === 0) c.style.cursor = this.trackAt(e) >= 0 ? (ed.tool === "move" ? "move" : "grab") : "crosshair";
  }

  finish(e, cancelled) {
    const g = this.gesture;
    this.gesture = null;
    if (!g) return;
    if (cancelled) g.cancel(e);
    else g.end(e);
  }

  onWheel(e) {
    e.preventDefault();
    e.stopPropagation();
    this.ed.host.forwardWheel(e);
  }
}

/** Keyboard shortcuts on the widget root; keys it handles never reach the graph. */
export function attachKeys(ed) {
  const root = ed.dom.root;
  root.addEventListener("keydown", (e) => {
    const tag = (e.target && e.target.tagName) || "";
    if (tag === "INPUT" && e.target !== ed.dom.keySink) {
      e.stopPropagation(); // typing a number must not trigger graph shortcuts
      return;
    }
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    let handled = true;
    if (mod && key === "z" && !e.shiftKey) ed.undo();
    else if ((mod && key === "z" && e.shiftKey) || (mod && key === "y")) ed.redo();
    else if (mod && key === "a") ed.setSelection(ed.state.tracks.map((_, i) => i));
    else if (e.key === "Delete" || e.key === "Backspace") ed.edits.deleteSelected();
    else if (e.key === "Escape") ed.setSelection([]);
    else if (e.key === " ") ed.togglePlay();
    else if (e.key === "ArrowLeft") ed.stepFrame(-1);
    else if (e.key === "ArrowRight") ed.stepFrame(1);
    else if (!mod && key === "d") ed.setTool("draw");
    else if (!mod && key === "m") ed.setTool("move");
    else if (!mod && key === "r") ed.setTool("region");
    else if (!mod && key === "g") ed.edits.placeGrid();
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  });
}
