// The editor's track edits: every change a tool or control makes to the drawn tracks, the grid spacing
// and the video length, each one commit of the editor state (undoable). A TrackEdits is owned by one
// MotionStreamEditor and given it explicitly.

import { cloneState } from "../lib/state.js";
import { gridPoints, staticTrack, deleteTracks, retimeTrack, motionSpan, setTrackLength, pointAt } from "../lib/tracks.js";

export class TrackEdits {
  constructor(ed) {
    this.ed = ed;
  }

  withTracks(tracks, extra = {}) {
    const s = cloneState(this.ed.state);
    s.tracks = tracks;
    return Object.assign(s, extra);
  }

  addTracks(list) {
    const n0 = this.ed.state.tracks.length;
    if (this.ed.commit(this.withTracks([...this.ed.state.tracks, ...list]))) {
      this.ed.setSelection(list.map((_, k) => n0 + k));
    }
  }

  replaceTracks(tracks, label = "") {
    this.ed.commit(this.withTracks(tracks), { label });
  }

  deleteTracks(indices) {
    if (!indices.length) return;
    this.ed.selection.clear();
    this.ed.commit(this.withTracks(deleteTracks(this.ed.state.tracks, indices)));
  }

  deleteSelected() {
    this.deleteTracks([...this.ed.selection]);
  }

  clearAll() {
    if (!this.ed.state.tracks.length) return;
    this.ed.selection.clear();
    this.ed.commit(this.withTracks([]), { label: "Cleared all tracks (Ctrl+Z brings them back)" });
  }

  placeGrid() {
    if (this.ed.isLive()) return;
    const { W, H } = this.ed.size();
    const f = this.ed.currentFrame();
    const avoid = this.ed.state.tracks.map((t) => pointAt(t, f));
    const pts = gridPoints(W, H, this.ed.state.gridSpacing, { avoid, region: this.ed.lastBox });
    this.ed.lastBox = null;
    if (!pts.length) {
      this.ed.note("Grid: every grid position already has a point");
      return;
    }
    this.addTracks(pts.map(([x, y]) => staticTrack(x, y, this.ed.state.numFrames)));
    this.ed.note(`Grid: added ${pts.length} static points`);
  }

  setSpacing(v) {
    const n = Math.round(Number(v));
    if (!(n >= 1)) return;
    const s = cloneState(this.ed.state);
    s.gridSpacing = n;
    this.ed.commit(s, { key: "spacing" });
  }

  setDuration(v, { fromWidget = false } = {}) {
    const n = Math.round(Number(v));
    if (!(n >= 1 && n <= 100000)) return;
    const s = cloneState(this.ed.state);
    s.tracks = s.tracks.map((t) => setTrackLength(t, n));
    s.numFrames = n;
    s.durationFrames = n;
    this.ed.commit(s, { key: "duration" });
    if (!fromWidget) this.ed.controls.syncFramesWidget();
  }

  retimeSelected(a, b) {
    if (this.ed.selection.size !== 1) return;
    const i = [...this.ed.selection][0];
    const t = this.ed.state.tracks[i];
    if (!t || !motionSpan(t)) return;
    const tracks = this.ed.state.tracks.slice();
    tracks[i] = retimeTrack(t, Number(a), Number(b));
    this.ed.commit(this.withTracks(tracks), { key: `retime:${i}` });
  }
}
