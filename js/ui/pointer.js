// Pointer and keyboard handling of the editor canvas.
//
// Edit mode (no stream running):
//   Draw tool  drag on empty space   -> a new track, timed as drawn, starting at the scrubber frame
//              click on empty space  -> a static anchor point
//              drag a point          -> that point (or the selected group) moves from the scrubber frame on
//   Move tool  drag a point          -> the whole track(s) move (all frames)
//              drag on empty space   -> box selection
//   Shift+click a point toggles it in the selection; Shift+drag draws a selection box.
//   Right-click a point deletes its track. Middle button pans, wheel zooms the graph.
// Live mode (a stream of this node is running):
//   drag a point -> steer it ("track:<i>"), drag empty space -> a new live point.

import { rectFromCorners } from "../lib/coords.js";
import {
  hitTest, drawnTrack, staticTrack, recordGroupMotion, translateTracks, clampGroupOffset, tracksInRect, pointAt,
} from "../lib/tracks.js";

const CLICK_SLOP_CSS = 3;

function samplesOf(e, toImage) {
  const evs = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
  const list = evs && evs.length ? evs : [e];
  return list.map((ev) => ({ t: ev.timeStamp, ...toImage(ev) }));
}

export function attachPointer(ed) {
  const canvas = ed.dom.canvas;
  let g = null;

  const toImage = (e) => ed.toImage(e.clientX, e.clientY);
  const movedFar = (e) => Math.hypot(e.clientX - g.cx, e.clientY - g.cy) > CLICK_SLOP_CSS;

  const onDown = (e) => {
    ed.focus();
    if (e.button === 1) {
      ed.host.forwardPointer("down", e);
      g = { type: "pan" };
      return;
    }
    if (e.button === 2) {
      e.preventDefault();
      if (ed.isLive()) return;
      const p = toImage(e);
      const i = hitTest(ed.state.tracks, ed.currentFrame(), p.x, p.y, ed.hitRadius());
      if (i >= 0) ed.deleteTracks([i]);
      return;
    }
    if (e.button !== 0) return;
    e.preventDefault();
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch {
      /* synthetic events may have no capturable pointer */
    }
    const p = toImage(e);
    const base = { cx: e.clientX, cy: e.clientY, a: p, moved: false, samples: [{ t: e.timeStamp, x: p.x, y: p.y }] };
    if (ed.isLive()) {
      const id = ed.liveHit(p) ?? ed.live.newId();
      ed.steerPress(id, p.x, p.y);
      g = { ...base, type: "steer", id };
      return;
    }
    const frame = ed.currentFrame();
    const i = hitTest(ed.state.tracks, frame, p.x, p.y, ed.hitRadius());
    if (e.shiftKey) {
      if (i >= 0) {
        ed.toggleSelected(i);
        g = null;
      } else {
        g = { ...base, type: "box", additive: true };
      }
      return;
    }
    if (i >= 0) {
      if (!ed.selection.has(i)) ed.setSelection([i]);
      g = { ...base, type: ed.tool === "move" ? "translate" : "motion", index: i, frame };
    } else if (ed.tool === "move") {
      g = { ...base, type: "box", additive: false };
    } else {
      g = { ...base, type: "draw", frame };
    }
  };

  const onMove = (e) => {
    if (!g) {
      if (e.buttons === 0 && !ed.isLive()) {
        const p = toImage(e);
        const i = hitTest(ed.state.tracks, ed.currentFrame(), p.x, p.y, ed.hitRadius());
        canvas.style.cursor = i >= 0 ? (ed.tool === "move" ? "move" : "grab") : "crosshair";
      } else if (ed.isLive()) {
        canvas.style.cursor = "grab";
      }
      return;
    }
    if (g.type === "pan") {
      ed.host.forwardPointer("move", e);
      return;
    }
    const p = toImage(e);
    if (!g.moved && movedFar(e)) g.moved = true;
    if (g.type === "steer") {
      ed.steerMove(g.id, p.x, p.y);
      return;
    }
    for (const s of samplesOf(e, toImage)) g.samples.push(s);
    const { W, H } = ed.size();
    if (g.type === "draw") {
      ed.setPreview({ path: g.samples.map((s) => [s.x, s.y]), color: ed.nextColor() });
    } else if (g.type === "motion") {
      const dx = p.x - g.a.x;
      const dy = p.y - g.a.y;
      const overrides = new Map();
      for (const i of ed.selection) {
        const q = pointAt(ed.state.tracks[i], g.frame);
        overrides.set(i, [Math.min(W, Math.max(0, q[0] + dx)), Math.min(H, Math.max(0, q[1] + dy))]);
      }
      ed.setPreview({ path: g.samples.map((s) => [s.x, s.y]), overrides });
    } else if (g.type === "translate") {
      const sel = [...ed.selection];
      const d = clampGroupOffset(ed.state.tracks, sel, p.x - g.a.x, p.y - g.a.y, W, H);
      ed.setPreview({ tracks: translateTracks(ed.state.tracks, sel, d.dx, d.dy) });
    } else if (g.type === "box") {
      ed.setPreview({ rubber: rectFromCorners(g.a, p) });
    }
  };

  const finish = (e, cancelled) => {
    const cur = g;
    g = null;
    if (!cur) return;
    if (cur.type === "pan") {
      ed.host.forwardPointer("up", e);
      return;
    }
    if (cur.type === "steer") {
      ed.steerRelease(cur.id);
      return;
    }
    ed.setPreview(null);
    if (cancelled) return;
    const p = toImage(e);
    const st = ed.state;
    const { W, H } = ed.size();
    if (cur.type === "draw") {
      const T = st.numFrames;
      let track;
      if (!cur.moved) {
        track = staticTrack(Math.min(W, Math.max(0, cur.a.x)), Math.min(H, Math.max(0, cur.a.y)), T);
      } else {
        cur.samples.push({ t: e.timeStamp, x: p.x, y: p.y });
        track = drawnTrack(cur.samples, { fps: st.fps, T, startFrame: cur.frame, W, H });
      }
      ed.addTracks([track]);
    } else if (cur.type === "motion") {
      if (!cur.moved) return;
      cur.samples.push({ t: e.timeStamp, x: p.x, y: p.y });
      const next = recordGroupMotion(st.tracks, [...ed.selection], cur.samples, { fps: st.fps, startFrame: cur.frame, W, H });
      ed.replaceTracks(next, "Move over time");
    } else if (cur.type === "translate") {
      if (!cur.moved) return;
      const sel = [...ed.selection];
      const d = clampGroupOffset(st.tracks, sel, p.x - cur.a.x, p.y - cur.a.y, W, H);
      ed.replaceTracks(translateTracks(st.tracks, sel, d.dx, d.dy), "Move tracks");
    } else if (cur.type === "box") {
      const r = rectFromCorners(cur.a, p);
      if (r.w < 1 && r.h < 1) {
        if (!cur.additive) ed.setSelection([]);
        return;
      }
      const hits = tracksInRect(st.tracks, ed.currentFrame(), r);
      ed.setSelection(cur.additive ? [...ed.selection, ...hits] : hits);
      ed.lastBox = r.w >= 4 && r.h >= 4 ? r : null;
    }
  };

  const onUp = (e) => finish(e, false);
  const onCancel = (e) => finish(e, true);
  const onWheel = (e) => {
    e.preventDefault();
    e.stopPropagation();
    ed.host.forwardWheel(e);
  };
  const onContext = (e) => e.preventDefault();

  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onCancel);
  canvas.addEventListener("lostpointercapture", (e) => {
    if (g && g.type === "steer") finish(e, true);
  });
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("contextmenu", onContext);
  return {
    get gesture() {
      return g;
    },
  };
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
    else if (e.key === "Delete" || e.key === "Backspace") ed.deleteSelected();
    else if (e.key === "Escape") ed.setSelection([]);
    else if (e.key === " ") ed.togglePlay();
    else if (e.key === "ArrowLeft") ed.stepFrame(-1);
    else if (e.key === "ArrowRight") ed.stepFrame(1);
    else if (!mod && key === "d") ed.setTool("draw");
    else if (!mod && key === "m") ed.setTool("move");
    else if (!mod && key === "g") ed.placeGrid();
    else handled = false;
    if (handled) {
      e.preventDefault();
      e.stopPropagation();
    }
  });
}
