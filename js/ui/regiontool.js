// The Region tool (edit mode): select a region of the start image and drag it.
//   drag on empty space        -> a lasso around a region (Shift+drag: a box); it stays selected
//   drag inside a region       -> a track that drags that region (one drag translates it; a second
//                                 drag on the same region rotates and scales it about the two)
//   click outside any region   -> the selection is dropped
// Live, a press inside a region (and on no point) starts a live point that drags it (live.js).

import { drawnTrack } from "../lib/tracks.js";
import { boxPolygon, lassoPolygon, regionAt, dragsOnRegion } from "../lib/regions.js";

export const REGION_HELP = "Region: drag around a region of the picture (Shift: a box), then drag inside it to move it; " +
  "a second drag on the same region rotates and scales it";

/** Region tool: a press picks a region drag (inside one) or a new lasso / box (outside). */
export function regionGesture(ed, stroke, frame, box) {
  const poly = regionAt(ed.state.tracks, ed.pendingRegion, stroke.a.x, stroke.a.y);
  return poly ? regionDragGesture(ed, stroke, poly, frame) : lassoGesture(ed, stroke, box);
}

function lassoGesture(ed, stroke, box) {
  const { W, H } = ed.size();
  const shape = () => (box ? boxPolygon(stroke.a, stroke.samples[stroke.samples.length - 1]) : lassoPolygon(stroke.path, W, H));
  return {
    type: "lasso",
    move(e) {
      stroke.track(e);
      ed.setPreview({ region: box ? shape() : stroke.path });
    },
    end(e) {
      ed.setPreview(null);
      stroke.close(e);
      const poly = stroke.moved ? shape() : null;
      ed.setPendingRegion(poly);
      if (poly) ed.note("Region selected: drag inside it to move it (a second drag on it rotates and scales it)");
    },
    cancel: () => ed.setPreview(null),
  };
}

function regionDragGesture(ed, stroke, poly, frame) {
  return {
    type: "region-drag",
    move(e) {
      stroke.track(e);
      ed.setPreview({ path: stroke.path, color: ed.nextColor(), region: poly });
    },
    end(e) {
      ed.setPreview(null);
      if (!stroke.moved) return;
      if (dragsOnRegion(ed.state.tracks, poly) >= 2) {
        ed.note("This region has two drags already (they set its rotation and scale): delete one to drag it again");
        return;
      }
      stroke.close(e);
      const st = ed.state;
      const { W, H } = ed.size();
      const track = drawnTrack(stroke.samples, { fps: st.fps, T: st.numFrames, startFrame: frame, W, H });
      ed.edits.addTracks([{ ...track, region: poly.map((p) => [p[0], p[1]]) }]);
      if (ed.pendingRegion === poly) ed.setPendingRegion(null);
    },
    cancel: () => ed.setPreview(null),
  };
}
