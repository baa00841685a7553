// The widget's DOM: toolbar, canvas, timeline, track timing row, live row
// and status line. Colours come from the host theme's CSS variables
// (--comfy-input-bg, --input-text, --border-color, --fg-color, ...), with
// fallbacks, so the widget follows light and dark palettes.

const STYLE_ID = "motionstream-editor-style";

const CSS = `
.ms-root { display: flex; flex-direction: column; gap: 3px; width: 100%; height: 100%;
  box-sizing: border-box; font: 11px sans-serif; color: var(--input-text, #ddd); outline: none; user-select: none; }
.ms-root:focus-within .ms-canvas-wrap { box-shadow: 0 0 0 1px var(--p-primary-color, #4a9eff); }
.ms-keysink { position: absolute; left: 0; top: 0; width: 1px; height: 1px; opacity: 0; border: 0; padding: 0;
  pointer-events: none; caret-color: transparent; }
.ms-row { display: flex; align-items: center; gap: 3px; flex-wrap: wrap; min-height: 22px; }
.ms-row.ms-hidden { display: none; }
.ms-btn { background: var(--comfy-input-bg, #222); color: var(--input-text, #ddd);
  border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px; padding: 1px 5px;
  height: 22px; cursor: pointer; font: inherit; white-space: nowrap; }
.ms-btn:hover:not(:disabled) { border-color: var(--fg-color, #fff); }
.ms-btn:disabled { opacity: 0.4; cursor: default; }
.ms-btn.ms-on { background: var(--p-primary-color, #2b6cb0); color: #fff; border-color: transparent; }
.ms-sep { width: 1px; height: 16px; background: var(--border-color, #4e4e4e); margin: 0 2px; }
.ms-num { width: 44px; height: 20px; box-sizing: border-box; background: var(--comfy-input-bg, #222);
  color: var(--input-text, #ddd); border: 1px solid var(--border-color, #4e4e4e); border-radius: 4px; font: inherit; }
.ms-label { color: var(--descrip-text, #999); white-space: nowrap; }
.ms-canvas-wrap { position: relative; flex: 1 1 auto; min-height: 120px; border-radius: 4px; overflow: hidden;
  background: var(--comfy-menu-bg, #171717); }
.ms-canvas { position: absolute; left: 0; top: 0; width: 100%; height: 100%; touch-action: none; cursor: crosshair; display: block; }
.ms-range { flex: 1 1 auto; min-width: 60px; }
.ms-row.ms-reserved { visibility: hidden; }
.ms-slot { display: flex; flex-direction: column; flex: none; }
.ms-slot > .ms-row { flex-wrap: nowrap; overflow: hidden; height: 22px; }
.ms-status { line-height: 14px; height: 42px; flex: none; color: var(--descrip-text, #999); white-space: normal;
  overflow-wrap: anywhere; overflow: hidden; user-select: text; }
.ms-status.ms-error { color: var(--error-text, #ff4444); }
.ms-stats { font-variant-numeric: tabular-nums; color: var(--descrip-text, #999); white-space: nowrap; }
.ms-legend i { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin: 0 2px 0 6px; vertical-align: middle; }
`;

/** Put the stylesheet into the page once. */
export function ensureStyle(doc = document) {
  if (doc.getElementById(STYLE_ID)) return;
  const el = doc.createElement("style");
  el.id = STYLE_ID;
  el.textContent = CSS;
  doc.head.appendChild(el);
}

function el(doc, tag, cls, props = {}) {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  Object.assign(e, props);
  return e;
}

function button(doc, label, title, testid) {
  const b = el(doc, "button", "ms-btn", { textContent: label, title, type: "button" });
  b.dataset.testid = testid;
  return b;
}

function num(doc, title, testid, { min = 1, max = 100000, step = 1 } = {}) {
  const i = el(doc, "input", "ms-num", { type: "number", title, min, max, step });
  i.dataset.testid = testid;
  return i;
}

/**
 * Build the widget's elements. Returns {root, canvas, ...named controls}.
 * Every control carries data-testid="ms-..." for the browser tests.
 */
export function buildDom(doc = document) {
  ensureStyle(doc);
  const root = el(doc, "div", "ms-root");
  root.dataset.testid = "ms-root";

  const toolbar = el(doc, "div", "ms-row");
  const drawBtn = button(doc, "✎", "Draw tool: drag on the image to draw a track, click to add a static point, drag a point to move it over time (D)", "ms-tool-draw");
  const moveBtn = button(doc, "✥", "Move tool: drag points to move whole tracks, drag on empty space to select (M)", "ms-tool-move");
  const regionBtn = button(doc, "⬚", "Region tool: drag around a region of the picture (Shift: a box), then drag inside it to move it; a second drag on it rotates and scales it (R)", "ms-tool-region");
  const gridBtn = button(doc, "Grid", "Place static anchor points on a grid (over the selection box if there is one)", "ms-grid");
  const spacing = num(doc, "Grid spacing (image pixels)", "ms-spacing", { min: 4, max: 1024 });
  const undoBtn = button(doc, "↶", "Undo (Ctrl+Z)", "ms-undo");
  const redoBtn = button(doc, "↷", "Redo (Ctrl+Shift+Z / Ctrl+Y)", "ms-redo");
  const delBtn = button(doc, "✕", "Delete the selected tracks (Del)", "ms-delete");
  const clearBtn = button(doc, "Clear", "Remove all tracks", "ms-clear");
  const viewBtn = button(doc, "▶ Video", "Switch between the start image (edit) and the generated video", "ms-view");
  toolbar.append(
    drawBtn, moveBtn, regionBtn, el(doc, "span", "ms-sep"), gridBtn, spacing, el(doc, "span", "ms-sep"),
    undoBtn, redoBtn, delBtn, clearBtn, el(doc, "span", "ms-sep"), viewBtn,
  );

  const wrap = el(doc, "div", "ms-canvas-wrap");
  const canvas = el(doc, "canvas", "ms-canvas");
  canvas.dataset.testid = "ms-canvas";
  // Keyboard focus goes to this (invisible, read-only) text input: the host leaves keys typed into
  // inputs alone (its graph-level Ctrl+Z / Delete would otherwise act too), and the editor's own
  // shortcuts are handled on the root. Tab reaches it too.
  const keySink = el(doc, "input", "ms-keysink", { type: "text", readOnly: true, tabIndex: 0, autocomplete: "off" });
  keySink.setAttribute("aria-label", "MotionStream trajectory editor (keyboard shortcuts)");
  keySink.dataset.testid = "ms-keys";
  wrap.append(canvas, keySink);

  const timeline = el(doc, "div", "ms-row");
  const playBtn = button(doc, "▶", "Play / pause (Space)", "ms-play");
  const range = el(doc, "input", "ms-range", { type: "range", min: 0, max: 0, step: 1, value: 0, title: "Frame" });
  range.dataset.testid = "ms-scrub";
  const frameLabel = el(doc, "span", "ms-label", { textContent: "0/0" });
  frameLabel.dataset.testid = "ms-frame";
  const duration = num(doc, "Video length in frames", "ms-duration", { min: 1, max: 100000 });
  timeline.append(playBtn, range, frameLabel, el(doc, "span", "ms-label", { textContent: "frames" }), duration);

  const trackRow = el(doc, "div", "ms-row ms-hidden");
  const trackLabel = el(doc, "span", "ms-label");
  const retimeStart = num(doc, "Frame where the selected track starts moving", "ms-retime-start", { min: 0 });
  const retimeEnd = num(doc, "Frame where the selected track stops moving", "ms-retime-end", { min: 0 });
  trackRow.append(trackLabel, el(doc, "span", "ms-label", { textContent: "moves from" }), retimeStart,
    el(doc, "span", "ms-label", { textContent: "to" }), retimeEnd);

  const liveRow = el(doc, "div", "ms-row ms-hidden");
  const pauseBtn = button(doc, "❚❚ Pause", "Pause generation", "ms-pause");
  const resumeBtn = button(doc, "▶ Resume", "Resume generation", "ms-resume");
  const stopBtn = button(doc, "■ Stop", "Stop generation (the video so far is kept)", "ms-stop");
  const stats = el(doc, "span", "ms-stats");
  stats.dataset.testid = "ms-stats";
  const legend = el(doc, "span", "ms-label ms-legend");
  legend.innerHTML = '<i style="border:2px solid #ff2d55"></i>live<i style="border:2px solid #fff"></i>static<i style="border:2px solid #000;background:#888"></i>pre-drawn<i style="border:1.5px dashed #c8c8c8;border-radius:0"></i>from graph';
  liveRow.append(pauseBtn, resumeBtn, stopBtn, stats, legend);

  const status = el(doc, "div", "ms-status");
  status.dataset.testid = "ms-status";

  // the retiming row and the live row take turns in one slot that is always there: the canvas keeps
  // its size when either appears; the status has room for three lines (the full text is its tooltip)
  const slot = el(doc, "div", "ms-slot");
  slot.append(trackRow, liveRow);
  root.append(toolbar, wrap, timeline, slot, status);
  return {
    root, canvas, wrap, keySink, drawBtn, moveBtn, regionBtn, gridBtn, spacing, undoBtn, redoBtn, delBtn, clearBtn, viewBtn,
    playBtn, range, frameLabel, duration, trackRow, trackLabel, retimeStart, retimeEnd,
    liveRow, pauseBtn, resumeBtn, stopBtn, stats, status,
  };
}

/** Show a status line (kind: "info" | "error"). */
export function setStatus(dom, text, kind = "info") {
  dom.status.textContent = text || "";
  dom.status.classList.toggle("ms-error", kind === "error");
  dom.status.title = text || "";
}
