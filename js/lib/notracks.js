// Which drag mode a Generate node's run will use, and what the editor says about it before the run.
//   model: the learned track head (MotionStream checkpoints; the default for them)
//   warp:  training-free (Time-to-Move's dual clock): the start image's regions are cut and dragged along
//          the tracks and the model refines that (the default for causal Wan students, which have no
//          track head); a region drag needs a start image
//   none:  a causal Wan student on a node without the drag-mode input: it takes no drags
// The node's `drag_mode` input (auto / model / warp) chooses; auto follows the model.

export const NO_TRACK_LOADERS = new Set(["MotionStreamCausalModelLoader"]);

export const NO_TRACKS_MESSAGE =
  "This model takes no drags: it is a text-to-video causal Wan model (Self-Forcing family) that streams " +
  "from the prompt and an optional start image. Drawn tracks and drags are not used.";

const WARP_WHY = {
  causal: "this causal Wan model has no track head, so a drag cuts a region of the start image (⬚ Region tool; " +
    "without one, a soft neighbourhood) and moves it, and the model refines that",
  chosen: "drag_mode is warp: a drag cuts a region of the start image (⬚ Region tool; without one, a soft " +
    "neighbourhood) and moves it, and the model refines that",
};
export const NEEDS_IMAGE = "a region drag needs a start image: connect one to Generate's image";
export const MODEL_ON_CAUSAL =
  "drag_mode is model, but this causal Wan model has no track head: it takes drags in warp mode only (set drag_mode to auto or warp)";

/** The type of the node linked into `node`'s input `name`, or null (LiteGraph's node/graph API). */
export function upstreamType(node, name = "model") {
  const input = node?.inputs?.find((i) => i.name === name);
  if (!input || input.link == null) return null;
  const graph = node.graph;
  const link = graph?.links?.[input.link] ?? graph?.links?.get?.(input.link);
  if (!link) return null;
  return graph.getNodeById?.(link.origin_id)?.type ?? null;
}

/**
 * The drag mode of `node` (a MotionStreamGenerate) as the graph stands: {mode: "model" | "warp" | "none" |
 * "invalid" | null (no model connected), causal, why, hasImage}.
 */
export function dragModeOf(node) {
  const loader = upstreamType(node);
  const causal = NO_TRACK_LOADERS.has(loader);
  const input = node?.inputs?.find((i) => i.name === "image");
  const hasImage = !!(input && input.link != null);
  const chosen = node?.widgets?.find((w) => w.name === "drag_mode")?.value;
  const base = { causal, hasImage };
  if (!loader) return { ...base, mode: null, why: "" };
  if (chosen === undefined) return causal ? { ...base, mode: "none", why: NO_TRACKS_MESSAGE } : { ...base, mode: "model", why: "" };
  if (chosen === "warp") return { ...base, mode: "warp", why: causal ? WARP_WHY.causal : WARP_WHY.chosen };
  if (chosen === "model" && causal) return { ...base, mode: "invalid", why: MODEL_ON_CAUSAL };
  if (causal) return { ...base, mode: "warp", why: WARP_WHY.causal };
  return { ...base, mode: "model", why: "" };
}

/** What the editor says before a run about the node's drags ("" when there is nothing to say). */
export function noTracksNotice(node) {
  const d = dragModeOf(node);
  if (d.mode === "none" || d.mode === "invalid") return d.why;
  if (d.mode === "warp") return `Drag mode warp: ${d.why}${d.hasImage ? "" : `. No start image: ${NEEDS_IMAGE}`}`;
  return "";
}
