// Track colours. Track i is drawn with PALETTE[i % PALETTE.length], the same
// list (same order, same hex strings) as motionstream_core/motion/draw.py
// PALETTE, so a track has one colour in the widget and in the videos the
// Python side draws. js/tests/palette.test.mjs reads the Python file and
// fails when the two lists drift apart.

export const PALETTE = Object.freeze([
  "#ff3b30", "#0a84ff", "#30d158", "#ffd60a", "#bf5af2", "#64d2ff", "#ff9f0a", "#ff375f",
  "#a4de02", "#5e5ce6", "#00c7be", "#ff8fa3", "#b08968", "#f4a261", "#2ec4b6", "#e76f51",
  "#90be6d", "#f15bb5", "#00bbf9", "#fee440",
]);

/** Colour of track `i` (any integer, wraps around). */
export function trackColor(i, palette = PALETTE) {
  const n = palette.length;
  return palette[((i % n) + n) % n];
}

/** "#rrggbb" -> [r, g, b] (0..255). Accepts "#rgb" too. */
export function hexToRgb(hex) {
  let h = String(hex).trim().replace(/^#/, "");
  if (h.length === 3) h = h.split("").map((c) => c + c).join("");
  if (!/^[0-9a-fA-F]{6}$/.test(h)) throw new Error(`not a hex colour: ${hex}`);
  return [0, 2, 4].map((k) => parseInt(h.slice(k, k + 2), 16));
}

/** "#rrggbb" + alpha -> "rgba(r,g,b,a)". */
export function withAlpha(hex, alpha) {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r},${g},${b},${alpha})`;
}

/**
 * How a point is marked on top of its track colour, by what it is:
 * pre-drawn (drag/camera/transfer), static anchor, or live (dragged while the
 * stream runs). The ring colour is what tells them apart; the fill stays the
 * track colour so it matches the Python drawing.
 */
export const KIND_STYLE = Object.freeze({
  drag: { ring: "#000000", ringWidth: 1.5, label: "pre-drawn" },
  camera: { ring: "#000000", ringWidth: 1.5, label: "camera" },
  transfer: { ring: "#000000", ringWidth: 1.5, label: "transfer" },
  static: { ring: "#ffffff", ringWidth: 2, label: "static" },
  live: { ring: "#ff2d55", ringWidth: 3, label: "live" },
});

/** Ring style for a kind; unknown kinds look like pre-drawn tracks. */
export function kindStyle(kind) {
  return KIND_STYLE[kind] || KIND_STYLE.drag;
}

/** Colour shown for a point that is being dragged live right now. */
export const LIVE_ACTIVE_COLOR = "#ff2d55";
/** Selection outline colour. */
export const SELECTION_COLOR = "#00e5ff";
/** Tracks that come from the graph (TRACKS input): drawn read-only in this colour, dashed. */
export const CONNECTED_COLOR = "#c8c8c8";
