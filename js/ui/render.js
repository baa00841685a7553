// Drawing the editor canvas: background (start image or a video frame),
// letterboxed into the view, with tracks, points, selection and overlays on
// top. Everything is drawn in view (backing-store) pixels; `k` is view
// pixels per CSS pixel so sizes look the same at any zoom / devicePixelRatio.

import { imageToView } from "../lib/coords.js";
import { trackColor, kindStyle, withAlpha, SELECTION_COLOR, LIVE_ACTIVE_COLOR, CONNECTED_COLOR } from "../lib/palette.js";
import { pointAt, visibleAt } from "../lib/tracks.js";

const TAU = Math.PI * 2;

function drawBackground(ctx, s) {
  const { rect } = s;
  ctx.fillStyle = s.colors.canvasBg;
  ctx.fillRect(0, 0, s.viewW, s.viewH);
  if (s.bg && (s.bg.naturalWidth || s.bg.width)) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(s.bg, rect.x, rect.y, rect.w, rect.h);
  } else {
    // checkerboard placeholder where the image will be
    const cell = 16 * s.k;
    ctx.save();
    ctx.beginPath();
    ctx.rect(rect.x, rect.y, rect.w, rect.h);
    ctx.clip();
    for (let y = rect.y, j = 0; y < rect.y + rect.h; y += cell, j++) {
      for (let x = rect.x, i = 0; x < rect.x + rect.w; x += cell, i++) {
        ctx.fillStyle = (i + j) % 2 ? "#2a2a2a" : "#333333";
        ctx.fillRect(x, y, cell, cell);
      }
    }
    ctx.restore();
  }
  ctx.strokeStyle = withAlpha("#ffffff", 0.25);
  ctx.lineWidth = 1 * s.k;
  ctx.strokeRect(rect.x + 0.5, rect.y + 0.5, rect.w - 1, rect.h - 1);
}

function toView(s, p) {
  return imageToView(p[0], p[1], s.rect, s.W, s.H);
}

export const TRAIL_OUTLINE = "#000000";

function drawTrail(ctx, s, t, color, frame) {
  const T = t.points.length;
  if (T < 2) return;
  let moving = false;
  for (let f = 1; f < T && !moving; f++) moving = t.points[f][0] !== t.points[0][0] || t.points[f][1] !== t.points[0][1];
  if (!moving) return;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  const path = (upto) => {
    ctx.beginPath();
    for (let f = 0; f <= upto; f++) {
      const v = toView(s, t.points[f]);
      if (f === 0) ctx.moveTo(v.x, v.y);
      else ctx.lineTo(v.x, v.y);
    }
  };
  // every trail has a dark outline under it, so a red trail stays visible on a red or orange picture
  const outlined = (upto, width, alpha) => {
    path(upto);
    ctx.strokeStyle = withAlpha(TRAIL_OUTLINE, 0.75 * alpha);
    ctx.lineWidth = width + 2 * s.k;
    ctx.stroke();
    ctx.strokeStyle = withAlpha(color, alpha);
    ctx.lineWidth = width;
    ctx.stroke();
  };
  outlined(T - 1, 2 * s.k, 0.45); // whole path, faint
  const upto = Math.min(T - 1, Math.floor(frame));
  if (upto >= 1) outlined(upto, 2.5 * s.k, 0.9); // the part already travelled at this frame, strong
  // arrow head at the end of the path
  const a = toView(s, t.points[T - 2]);
  const b = toView(s, t.points[T - 1]);
  let dx = b.x - a.x;
  let dy = b.y - a.y;
  for (let f = T - 2; f > 0 && Math.hypot(dx, dy) < 1e-6; f--) {
    const c = toView(s, t.points[f - 1]);
    dx = b.x - c.x;
    dy = b.y - c.y;
  }
  const len = Math.hypot(dx, dy);
  if (len > 1e-6) {
    const ux = dx / len;
    const uy = dy / len;
    const h = 7 * s.k;
    ctx.fillStyle = withAlpha(color, 0.8);
    ctx.beginPath();
    ctx.moveTo(b.x, b.y);
    ctx.lineTo(b.x - ux * h - uy * h * 0.6, b.y - uy * h + ux * h * 0.6);
    ctx.lineTo(b.x - ux * h + uy * h * 0.6, b.y - uy * h - ux * h * 0.6);
    ctx.closePath();
    ctx.strokeStyle = withAlpha(TRAIL_OUTLINE, 0.6);
    ctx.lineWidth = 1.5 * s.k;
    ctx.stroke();
    ctx.fill();
  }
}

function drawPoint(ctx, s, v, color, kind, { selected = false, hidden = false, active = false, label = null } = {}) {
  const st = kindStyle(kind);
  const r = (kind === "static" ? 4 : 5.5) * s.k;
  ctx.globalAlpha = hidden ? 0.35 : 1;
  if (selected) {
    ctx.strokeStyle = SELECTION_COLOR;
    ctx.lineWidth = 2 * s.k;
    ctx.beginPath();
    ctx.arc(v.x, v.y, r + 4 * s.k, 0, TAU);
    ctx.stroke();
  }
  ctx.fillStyle = color;
  ctx.beginPath();
  ctx.arc(v.x, v.y, r, 0, TAU);
  ctx.fill();
  ctx.strokeStyle = active ? LIVE_ACTIVE_COLOR : st.ring;
  ctx.lineWidth = (active ? 3 : st.ringWidth) * s.k;
  ctx.stroke();
  if (active) {
    ctx.strokeStyle = withAlpha(LIVE_ACTIVE_COLOR, 0.5);
    ctx.lineWidth = 1.5 * s.k;
    ctx.beginPath();
    ctx.arc(v.x, v.y, r + 7 * s.k, 0, TAU);
    ctx.stroke();
  }
  if (label) {
    ctx.font = `${10 * s.k}px sans-serif`;
    ctx.fillStyle = "#fff";
    ctx.strokeStyle = "rgba(0,0,0,0.7)";
    ctx.lineWidth = 3 * s.k;
    ctx.strokeText(label, v.x + r + 3 * s.k, v.y - r);
    ctx.fillText(label, v.x + r + 3 * s.k, v.y - r);
  }
  ctx.globalAlpha = 1;
}

/** Tracks from the graph's TRACKS input: dashed trails and hollow squares, never editable. */
function drawConnected(ctx, s) {
  const list = s.connected || [];
  if (!list.length) return;
  ctx.save();
  ctx.setLineDash([4 * s.k, 3 * s.k]);
  list.forEach((t) => drawTrail(ctx, s, t, CONNECTED_COLOR, s.frame));
  ctx.setLineDash([]);
  const h = 3.5 * s.k;
  list.forEach((t) => {
    const v = toView(s, pointAt(t, s.frame));
    ctx.globalAlpha = visibleAt(t, s.frame) ? 0.9 : 0.35;
    ctx.strokeStyle = "rgba(0,0,0,0.7)";
    ctx.lineWidth = 3 * s.k;
    ctx.strokeRect(v.x - h, v.y - h, 2 * h, 2 * h);
    ctx.strokeStyle = CONNECTED_COLOR;
    ctx.lineWidth = 1.5 * s.k;
    ctx.strokeRect(v.x - h, v.y - h, 2 * h, 2 * h);
  });
  ctx.restore();
}

function drawTracks(ctx, s) {
  const { tracks, frame, selection } = s;
  const takenOver = s.takenOver || new Map();
  const overrides = s.overrides || new Map();
  if (s.showTrails) tracks.forEach((t, i) => drawTrail(ctx, s, t, trackColor(i), frame));
  tracks.forEach((t, i) => {
    const live = takenOver.get(i);
    const o = overrides.get(i);
    const p = live ? [live.x, live.y] : o || pointAt(t, frame);
    drawPoint(ctx, s, toView(s, p), trackColor(i), live ? "live" : t.kind, {
      selected: selection.has(i),
      hidden: !live && !o && !visibleAt(t, frame),
      active: !!(live && live.active),
    });
  });
  for (const lp of s.livePoints || []) {
    drawPoint(ctx, s, toView(s, [lp.x, lp.y]), trackColor(lp.slot), "live", { active: lp.active });
  }
}

function drawPreview(ctx, s) {
  const pv = s.preview;
  if (!pv) return;
  if (pv.path && pv.path.length) {
    ctx.strokeStyle = withAlpha(pv.color || "#ffffff", 0.9);
    ctx.lineWidth = 2.5 * s.k;
    ctx.setLineDash([6 * s.k, 4 * s.k]);
    ctx.beginPath();
    pv.path.forEach((p, i) => {
      const v = toView(s, p);
      if (i === 0) ctx.moveTo(v.x, v.y);
      else ctx.lineTo(v.x, v.y);
    });
    ctx.stroke();
    ctx.setLineDash([]);
  }
  if (pv.rubber) {
    const a = toView(s, [pv.rubber.x, pv.rubber.y]);
    const b = toView(s, [pv.rubber.x + pv.rubber.w, pv.rubber.y + pv.rubber.h]);
    ctx.fillStyle = withAlpha(SELECTION_COLOR, 0.12);
    ctx.strokeStyle = SELECTION_COLOR;
    ctx.lineWidth = 1 * s.k;
    ctx.fillRect(a.x, a.y, b.x - a.x, b.y - a.y);
    ctx.strokeRect(a.x, a.y, b.x - a.x, b.y - a.y);
  }
}

function drawText(ctx, s) {
  const pad = 6 * s.k;
  ctx.font = `${11 * s.k}px sans-serif`;
  ctx.textBaseline = "top";
  let y = pad;
  for (const line of s.hud || []) {
    const w = ctx.measureText(line).width;
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(pad - 3 * s.k, y - 2 * s.k, w + 6 * s.k, 15 * s.k);
    ctx.fillStyle = "#fff";
    ctx.fillText(line, pad, y);
    y += 16 * s.k;
  }
  if (s.message) {
    ctx.font = `${13 * s.k}px sans-serif`;
    const lines = String(s.message).split("\n");
    const h = 18 * s.k;
    const w = Math.max(...lines.map((l) => ctx.measureText(l).width)) + 16 * s.k;
    const x0 = (s.viewW - w) / 2;
    const y0 = (s.viewH - h * lines.length) / 2;
    ctx.fillStyle = s.messageIsError ? "rgba(120,0,0,0.85)" : "rgba(0,0,0,0.7)";
    ctx.fillRect(x0, y0 - 4 * s.k, w, h * lines.length + 8 * s.k);
    ctx.fillStyle = "#fff";
    ctx.textAlign = "center";
    lines.forEach((l, i) => ctx.fillText(l, s.viewW / 2, y0 + i * h));
    ctx.textAlign = "left";
  }
  ctx.textBaseline = "alphabetic";
}

/** Draw a whole scene (see editor.js for the fields). */
/** Region polygons: each track's (in its colour), the selected one and a lasso being drawn (dashed white). */
function drawRegions(ctx, s) {
  const outline = (poly, color, dashed) => {
    if (!poly || poly.length < 2) return;
    ctx.beginPath();
    poly.forEach((p, k) => {
      const v = toView(s, p);
      if (k === 0) ctx.moveTo(v.x, v.y);
      else ctx.lineTo(v.x, v.y);
    });
    ctx.closePath();
    ctx.setLineDash(dashed ? [5 * s.k, 4 * s.k] : []);
    ctx.lineWidth = 3 * s.k;
    ctx.strokeStyle = withAlpha(TRAIL_OUTLINE, 0.6);
    ctx.stroke();
    ctx.lineWidth = 1.5 * s.k;
    ctx.strokeStyle = color;
    ctx.stroke();
    ctx.setLineDash([]);
  };
  const seen = new Set();
  (s.tracks || []).forEach((t, i) => {
    if (!t.region) return;
    const key = JSON.stringify(t.region);
    if (seen.has(key)) return;
    seen.add(key);
    outline(t.region, trackColor(i), false);
  });
  outline(s.pendingRegion, "#ffffff", true);
  outline(s.preview?.region, "#ffffff", true);
}

export function drawScene(ctx, s) {
  ctx.save();
  drawBackground(ctx, s);
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, 0, s.viewW, s.viewH);
  ctx.clip();
  if (s.showOverlay !== false) {
    drawRegions(ctx, s);
    drawConnected(ctx, s);
    drawTracks(ctx, s);
    drawPreview(ctx, s);
  }
  ctx.restore();
  drawText(ctx, s);
  ctx.restore();
}
