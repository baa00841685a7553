// Models that take no drags: the public causal Wan students (Self-Forcing family) loaded by
// "Load Causal Wan Model". They stream from the prompt (and an optional start image), so the editor
// says so plainly when one is connected, instead of silently ignoring what is drawn.

export const NO_TRACK_LOADERS = new Set(["MotionStreamCausalModelLoader"]);

export const NO_TRACKS_MESSAGE =
  "This model takes no drags: it is a text-to-video causal Wan model (Self-Forcing family) that streams " +
  "from the prompt and an optional start image. Drawn tracks and drags are not used.";

/** The type of the node linked into `node`'s input `name`, or null (LiteGraph's node/graph API). */
export function upstreamType(node, name = "model") {
  const input = node?.inputs?.find((i) => i.name === name);
  if (!input || input.link == null) return null;
  const graph = node.graph;
  const link = graph?.links?.[input.link] ?? graph?.links?.get?.(input.link);
  if (!link) return null;
  return graph.getNodeById?.(link.origin_id)?.type ?? null;
}

/** The notice for `node` (a MotionStreamGenerate) given what feeds its model input, or "". */
export function noTracksNotice(node) {
  return NO_TRACK_LOADERS.has(upstreamType(node)) ? NO_TRACKS_MESSAGE : "";
}
