// Coordinate transforms between the three spaces the widget deals with:
//
//   client  - CSS pixels of the page (PointerEvent.clientX/Y). The DOM widget
//             is scaled with a CSS transform when the graph is zoomed, so the
//             element's on-screen box (getBoundingClientRect) is the truth.
//   view    - pixels of the <canvas> backing store (canvas.width/height),
//             = on-screen size x devicePixelRatio, so drawing stays sharp at
//             any zoom.
//   image   - pixels of the start image / output frame, W x H, pixel-corner
//             convention: the image spans [0, W] x [0, H] (as in Tracks).
//
// The image is letterboxed (fit, centred, aspect kept) into the view.

/**
 * Fit a content box of contentW x contentH into a view of viewW x viewH,
 * keeping the aspect ratio, centred, leaving `pad` view pixels on every side.
 * Returns {x, y, w, h, scale} where scale = view pixels per content pixel.
 */
export function fitRect(contentW, contentH, viewW, viewH, pad = 0) {
  const cw = Math.max(1e-9, Number(contentW) || 0);
  const ch = Math.max(1e-9, Number(contentH) || 0);
  const aw = Math.max(0, viewW - 2 * pad);
  const ah = Math.max(0, viewH - 2 * pad);
  const scale = Math.min(aw / cw, ah / ch);
  const w = cw * scale;
  const h = ch * scale;
  return { x: pad + (aw - w) / 2, y: pad + (ah - h) / 2, w, h, scale };
}

/**
 * Client (page CSS) coordinates -> view (canvas backing store) coordinates.
 * `bounds` is the canvas element's getBoundingClientRect() (on-screen box,
 * transforms included); viewW/viewH are canvas.width/height.
 */
export function clientToView(clientX, clientY, bounds, viewW, viewH) {
  const bw = bounds.width || 1;
  const bh = bounds.height || 1;
  return {
    x: ((clientX - bounds.left) * viewW) / bw,
    y: ((clientY - bounds.top) * viewH) / bh,
  };
}

/** View coordinates -> client coordinates (inverse of clientToView). */
export function viewToClient(vx, vy, bounds, viewW, viewH) {
  return {
    x: bounds.left + (vx * bounds.width) / (viewW || 1),
    y: bounds.top + (vy * bounds.height) / (viewH || 1),
  };
}

/** View coordinates -> image pixels, given the letterbox rect of a W x H image. */
export function viewToImage(vx, vy, rect, W, H) {
  return {
    x: ((vx - rect.x) * W) / (rect.w || 1),
    y: ((vy - rect.y) * H) / (rect.h || 1),
  };
}

/** Image pixels -> view coordinates (inverse of viewToImage). */
export function imageToView(x, y, rect, W, H) {
  return {
    x: rect.x + (x * rect.w) / (W || 1),
    y: rect.y + (y * rect.h) / (H || 1),
  };
}

/** Client coordinates straight to image pixels. */
export function clientToImage(clientX, clientY, bounds, viewW, viewH, rect, W, H) {
  const v = clientToView(clientX, clientY, bounds, viewW, viewH);
  return viewToImage(v.x, v.y, rect, W, H);
}

/**
 * Size the canvas backing store should have for an element shown on screen
 * at bounds.width x bounds.height CSS pixels on a display with the given
 * devicePixelRatio. Capped so a huge zoom cannot allocate a giant canvas.
 */
export function backingSize(bounds, dpr = 1, max = 4096) {
  const r = Number(dpr) > 0 ? Number(dpr) : 1;
  let w = Math.max(1, Math.round((bounds.width || 0) * r));
  let h = Math.max(1, Math.round((bounds.height || 0) * r));
  const big = Math.max(w, h);
  if (big > max) {
    w = Math.max(1, Math.round((w * max) / big));
    h = Math.max(1, Math.round((h * max) / big));
  }
  return { width: w, height: h };
}

/** View pixels per CSS pixel on screen (for hit radii given in CSS pixels). */
export function viewPerCss(bounds, viewW) {
  return viewW / (bounds.width || 1);
}

/** Image pixels per view pixel for a letterbox rect (for hit radii). */
export function imagePerView(rect, W) {
  return W / (rect.w || 1);
}

/** Clamp a point into the image [0, W] x [0, H]. */
export function clampToImage(x, y, W, H) {
  return { x: Math.min(W, Math.max(0, x)), y: Math.min(H, Math.max(0, y)) };
}

/** True when (x, y) is inside [-margin, W + margin] x [-margin, H + margin]. */
export function insideImage(x, y, W, H, margin = 0) {
  return x >= -margin && y >= -margin && x <= W + margin && y <= H + margin;
}

/** Round to `decimals` places (coordinates are stored with 2 decimals). */
export function roundTo(v, decimals = 2) {
  const f = 10 ** decimals;
  const r = Math.round(v * f) / f;
  return Object.is(r, -0) ? 0 : r;
}

/** Rectangle spanned by two corner points, normalised (w, h >= 0). */
export function rectFromCorners(a, b) {
  const x0 = Math.min(a.x, b.x);
  const y0 = Math.min(a.y, b.y);
  return { x: x0, y: y0, w: Math.abs(b.x - a.x), h: Math.abs(b.y - a.y) };
}

/** True when point (x, y) is inside rect {x, y, w, h} (edges included). */
export function pointInRect(x, y, r) {
  return x >= r.x && y >= r.y && x <= r.x + r.w && y <= r.y + r.h;
}
