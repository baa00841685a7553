// Toolbar, timeline, track-timing and live-row controls of the editor:
// event wiring (DOM -> editor) and keeping the controls in sync with the
// editor state (editor -> DOM). Installed onto a MotionStreamEditor.

import { motionSpan } from "../lib/tracks.js";
import { trackColor } from "../lib/palette.js";

const methods = {
  bindControls() {
    const d = this.dom;
    const on = (elm, ev, fn) => elm.addEventListener(ev, fn);
    on(d.drawBtn, "click", () => this.setTool("draw"));
    on(d.moveBtn, "click", () => this.setTool("move"));
    on(d.gridBtn, "click", () => this.placeGrid());
    on(d.undoBtn, "click", () => this.undo());
    on(d.redoBtn, "click", () => this.redo());
    on(d.delBtn, "click", () => this.deleteSelected());
    on(d.clearBtn, "click", () => this.clearAll());
    on(d.viewBtn, "click", () => this.setView(this.view === "video" ? "edit" : "video"));
    on(d.playBtn, "click", () => this.togglePlay());
    on(d.range, "input", () => this.setFrame(Number(d.range.value)));
    on(d.spacing, "change", () => this.setSpacing(d.spacing.value));
    on(d.duration, "change", () => this.setDuration(d.duration.value));
    on(d.retimeStart, "change", () => this.retimeSelected(d.retimeStart.value, d.retimeEnd.value));
    on(d.retimeEnd, "change", () => this.retimeSelected(d.retimeStart.value, d.retimeEnd.value));
    on(d.pauseBtn, "click", () => this.control("pause"));
    on(d.resumeBtn, "click", () => this.control("resume"));
    on(d.stopBtn, "click", () => this.control("stop"));
    // keep clicks on controls from starting a node drag on the graph
    on(d.root, "pointerdown", (e) => e.stopPropagation());
  },

  syncTimeline() {
    const d = this.dom;
    const video = this.view === "video" && this.stream.hasFrames;
    const max = video ? this.stream.count - 1 : this.state.numFrames - 1;
    const min = video ? this.stream.first : 0;
    if (Number(d.range.min) !== min) d.range.min = String(min);
    const val = video ? Math.max(0, this.stream.frame) : this.frame;
    if (Number(d.range.max) !== max) d.range.max = String(max);
    if (document.activeElement !== d.range && Number(d.range.value) !== val) d.range.value = String(val);
    const label = `${val}/${max}`;
    if (d.frameLabel.textContent !== label) d.frameLabel.textContent = label;
    const playing = video ? this.stream.animating : this.editPlayer.state === "playing";
    const pl = playing ? "❚❚" : "▶";
    if (d.playBtn.textContent !== pl) d.playBtn.textContent = pl;
  },

  syncUI() {
    const d = this.dom;
    const live = this.isLive();
    d.drawBtn.classList.toggle("ms-on", this.tool === "draw");
    d.moveBtn.classList.toggle("ms-on", this.tool === "move");
    for (const b of [d.drawBtn, d.moveBtn, d.gridBtn, d.clearBtn, d.spacing, d.duration]) b.disabled = live;
    d.undoBtn.disabled = live || !this.history.canUndo;
    d.redoBtn.disabled = live || !this.history.canRedo;
    d.delBtn.disabled = live || this.selection.size === 0;
    d.clearBtn.disabled = live || this.state.tracks.length === 0;
    if (document.activeElement !== d.spacing) d.spacing.value = String(this.state.gridSpacing);
    if (document.activeElement !== d.duration) d.duration.value = String(this.state.durationFrames);
    d.viewBtn.textContent = this.view === "video" ? "✎ Edit" : "▶ Video";
    d.viewBtn.disabled = live || (!this.stream.hasFrames && this.view === "edit");
    // retiming row: one selected track that moves
    const one = this.selection.size === 1 ? [...this.selection][0] : -1;
    const t = this.state.tracks[one];
    const span = t ? motionSpan(t) : null;
    d.trackRow.classList.toggle("ms-hidden", !span || live);
    if (span) {
      d.trackLabel.textContent = `Track ${one} (${t.kind})`;
      d.trackLabel.style.color = trackColor(one);
      const max = String(this.state.numFrames - 1);
      d.retimeStart.max = max;
      d.retimeEnd.max = max;
      if (document.activeElement !== d.retimeStart) d.retimeStart.value = String(span[0]);
      if (document.activeElement !== d.retimeEnd) d.retimeEnd.value = String(span[1]);
    }
    d.liveRow.classList.toggle("ms-hidden", !live && !this.stream.hasFrames);
    for (const b of [d.pauseBtn, d.resumeBtn, d.stopBtn]) b.disabled = !live;
    if (live) {
      d.pauseBtn.disabled = !!this.session.paused;
      d.resumeBtn.disabled = !this.session.paused;
    }
    this.syncTimeline();
  },
};

export function installControls(ed) {
  Object.assign(ed, methods);
}
