// Toolbar, timeline, track-timing and live-row controls of the editor:
// event wiring (DOM -> editor) and keeping the controls in sync with the
// editor state (editor -> DOM). A Controls object is given its editor
// explicitly and only calls the editor's public methods.

import { motionSpan } from "../lib/tracks.js";
import { trackColor } from "../lib/palette.js";

export class Controls {
  constructor(ed) {
    this.ed = ed;
    this.bind();
  }

  bind() {
    const ed = this.ed;
    const d = ed.dom;
    const on = (elm, ev, fn) => elm.addEventListener(ev, fn);
    on(d.drawBtn, "click", () => ed.setTool("draw"));
    on(d.moveBtn, "click", () => ed.setTool("move"));
    on(d.regionBtn, "click", () => ed.setTool("region"));
    on(d.gridBtn, "click", () => ed.edits.placeGrid());
    on(d.undoBtn, "click", () => ed.undo());
    on(d.redoBtn, "click", () => ed.redo());
    on(d.delBtn, "click", () => ed.edits.deleteSelected());
    on(d.clearBtn, "click", () => ed.edits.clearAll());
    on(d.viewBtn, "click", () => ed.setView(ed.view === "video" ? "edit" : "video"));
    on(d.playBtn, "click", () => ed.togglePlay());
    on(d.range, "input", () => ed.setFrame(Number(d.range.value)));
    on(d.spacing, "change", () => ed.edits.setSpacing(d.spacing.value));
    on(d.duration, "change", () => ed.edits.setDuration(d.duration.value));
    on(d.retimeStart, "change", () => ed.edits.retimeSelected(d.retimeStart.value, d.retimeEnd.value));
    on(d.retimeEnd, "change", () => ed.edits.retimeSelected(d.retimeStart.value, d.retimeEnd.value));
    on(d.pauseBtn, "click", () => ed.live.control("pause"));
    on(d.resumeBtn, "click", () => ed.live.control("resume"));
    on(d.stopBtn, "click", () => ed.live.control("stop"));
    // keep clicks on controls from starting a node drag on the graph
    on(d.root, "pointerdown", (e) => e.stopPropagation());
  }

  syncTimeline() {
    const ed = this.ed;
    const d = ed.dom;
    const video = ed.view === "video" && ed.stream.hasFrames;
    const max = video ? ed.stream.count - 1 : ed.state.numFrames - 1;
    const min = video ? ed.stream.first : 0;
    if (Number(d.range.min) !== min) d.range.min = String(min);
    const val = video ? Math.max(0, ed.stream.frame) : ed.frame;
    if (Number(d.range.max) !== max) d.range.max = String(max);
    if (document.activeElement !== d.range && Number(d.range.value) !== val) d.range.value = String(val);
    const label = `${val}/${max}`;
    if (d.frameLabel.textContent !== label) d.frameLabel.textContent = label;
    const playing = video ? ed.stream.animating : ed.editPlayer.state === "playing";
    const pl = playing ? "❚❚" : "▶";
    if (d.playBtn.textContent !== pl) d.playBtn.textContent = pl;
  }

  sync() {
    const ed = this.ed;
    const d = ed.dom;
    const live = ed.isLive();
    d.drawBtn.classList.toggle("ms-on", ed.tool === "draw");
    d.moveBtn.classList.toggle("ms-on", ed.tool === "move");
    d.regionBtn.classList.toggle("ms-on", ed.tool === "region");
    for (const b of [d.drawBtn, d.moveBtn, d.regionBtn, d.gridBtn, d.clearBtn, d.spacing, d.duration]) b.disabled = live;
    d.undoBtn.disabled = live || !ed.history.canUndo;
    d.redoBtn.disabled = live || !ed.history.canRedo;
    d.delBtn.disabled = live || ed.selection.size === 0;
    d.clearBtn.disabled = live || ed.state.tracks.length === 0;
    if (document.activeElement !== d.spacing) d.spacing.value = String(ed.state.gridSpacing);
    if (document.activeElement !== d.duration) d.duration.value = String(ed.state.durationFrames);
    d.viewBtn.textContent = ed.view === "video" ? "✎ Edit" : "▶ Video";
    d.viewBtn.disabled = live || (!ed.stream.hasFrames && ed.view === "edit");
    // retiming row: one selected track that moves
    const one = ed.selection.size === 1 ? [...ed.selection][0] : -1;
    const t = ed.state.tracks[one];
    const span = t ? motionSpan(t) : null;
    const showTrack = !!span && !live;
    const showLive = !showTrack && (live || ed.stream.hasFrames);
    d.trackRow.classList.toggle("ms-hidden", !showTrack);
    d.liveRow.classList.toggle("ms-hidden", !showLive && showTrack);
    d.liveRow.classList.toggle("ms-reserved", !showLive && !showTrack); // keeps the slot's height
    if (span) {
      d.trackLabel.textContent = `Track ${one} (${t.kind})`;
      d.trackLabel.style.color = trackColor(one);
      const max = String(ed.state.numFrames - 1);
      d.retimeStart.max = max;
      d.retimeEnd.max = max;
      if (document.activeElement !== d.retimeStart) d.retimeStart.value = String(span[0]);
      if (document.activeElement !== d.retimeEnd) d.retimeEnd.value = String(span[1]);
    }
    for (const b of [d.pauseBtn, d.resumeBtn, d.stopBtn]) b.disabled = !live;
    if (live) {
      d.pauseBtn.disabled = !!ed.live.session.paused;
      d.resumeBtn.disabled = !ed.live.session.paused;
    }
    this.syncTimeline();
  }

  /**
   * Follow the node's own frame-count widget ("frames"): when the user changes it, the timeline
   * follows; when the timeline length changes here, it follows (unless it is 0 = endless).
   */
  linkFramesWidget(w) {
    if (!w || this.framesWidget === w) return;
    this.framesWidget = w;
    const prev = w.callback;
    const ed = this.ed;
    w.callback = function (...args) {
      const r = prev?.apply(this, args);
      const n = Number(w.value);
      if (n > 0 && n !== ed.state.durationFrames) ed.edits.setDuration(n, { fromWidget: true });
      return r;
    };
  }

  syncFramesWidget() {
    const w = this.framesWidget;
    const n = this.ed.state.durationFrames;
    if (w && Number(w.value) > 0 && Number(w.value) !== n) {
      w.value = n;
      this.ed.node.setDirtyCanvas?.(true, false);
    }
  }
}
