// Finding the start image shown in the editor: follow the generate node's
// IMAGE input upstream to a node that shows an image (its preview `imgs`,
// e.g. LoadImage after it loaded) or names one in an `image` widget
// ("name.png", "sub/name.png [input]"), and build the /view query for it.
// Works on anything shaped like a litegraph node, so it is tested with
// plain objects.

/** "sub/dir/x.png [output]" -> {filename: "x.png", subfolder: "sub/dir", type: "output"}. */
export function parseAnnotated(value, defaultType = "input") {
  let s = String(value ?? "").trim();
  let type = defaultType;
  const m = /^(.*?)\s*\[(input|output|temp)\]$/.exec(s);
  if (m) {
    s = m[1];
    type = m[2];
  }
  s = s.replace(/\\/g, "/");
  const cut = s.lastIndexOf("/");
  return cut >= 0
    ? { filename: s.slice(cut + 1), subfolder: s.slice(0, cut), type }
    : { filename: s, subfolder: "", type };
}

/** The /view route (without the api base) for an annotated file. */
export function viewQuery({ filename, subfolder = "", type = "input" }) {
  const q = new URLSearchParams({ filename, type, subfolder });
  return `/view?${q.toString()}`;
}

const isImageType = (t) => String(t || "").toUpperCase() === "IMAGE";

/** Index of the input slot carrying the start image, or -1. */
export function imageInputIndex(node, names = ["image", "start_image", "images"]) {
  const inputs = node?.inputs || [];
  for (const n of names) {
    const i = inputs.findIndex((s) => s && s.name === n && isImageType(s.type));
    if (i >= 0) return i;
  }
  return inputs.findIndex((s) => s && isImageType(s.type));
}

/** Node types that hand their image on unchanged (anything else on the way may change it). */
export const PASS_THROUGH = new Set(["Reroute", "PrimitiveNode"]);

/** Node types that render their start image on request (POST /motionstream/example_image). */
export const EXAMPLE_NODES = new Set(["MotionStreamExampleClip"]);

/** Node types whose start image is the demo's shipped photo (GET /motionstream/demo_image). */
export const DEMO_NODES = new Set(["MotionStreamDemoPhoto"]);

/** The route of the demo's photo (without the api base). */
export const DEMO_IMAGE_ROUTE = "/motionstream/demo_image";

const EXAMPLE_PARAMS = ["seed", "width", "height", "num_frames", "num_points"];

const nodeType = (n) => n?.comfyClass || n?.type || "";
const nodeTitle = (n) => n?.title || nodeType(n) || "?";

/**
 * Walk upstream from `node`'s image input. Returns
 *   {kind: "imgs", src, node, via}       a node with a loaded preview image,
 *   {kind: "file", file, node, via}      a node naming an image file in a widget,
 *   {kind: "example", params, node, via} an example-clip node (its widget values),
 *   {kind: "demo", node, via}            the demo-photo node (its picture is a file the pack ships),
 * or null when nothing is connected / found within maxDepth hops. `via` lists the titles of the
 * nodes walked through that may change the image (resize, crop...) before it reaches `node`.
 * `getInputNode(node, slot)` defaults to node.getInputNode(slot).
 */
export function findImageSource(node, { maxDepth = 6, getInputNode = (n, s) => n.getInputNode?.(s) } = {}) {
  let cur = node;
  const seen = new Set();
  const via = [];
  for (let depth = 0; depth < maxDepth; depth++) {
    const slot = imageInputIndex(cur);
    if (slot < 0) return null;
    const up = getInputNode(cur, slot);
    if (!up || seen.has(up)) return null;
    seen.add(up);
    if (EXAMPLE_NODES.has(nodeType(up))) {
      const params = {};
      for (const w of up.widgets || []) if (EXAMPLE_PARAMS.includes(w?.name)) params[w.name] = w.value;
      return { kind: "example", params, node: up, via };
    }
    if (DEMO_NODES.has(nodeType(up))) return { kind: "demo", node: up, via };
    const img = up.imgs?.[0];
    if (img && img.src) return { kind: "imgs", src: img.src, node: up, via };
    const w = (up.widgets || []).find((x) => x && x.name === "image" && typeof x.value === "string" && x.value);
    if (w) return { kind: "file", file: parseAnnotated(w.value), node: up, via };
    if (!PASS_THROUGH.has(nodeType(up))) via.unshift(nodeTitle(up));
    cur = up; // pass-through nodes (resize, reroute...): keep walking
  }
  return null;
}

/** A stable key for a source's picture (so the widget reloads only when it changes). */
export function sourceKey(src) {
  if (!src) return "";
  if (src.kind === "example") return `example:${JSON.stringify(src.params)}`;
  if (src.kind === "demo") return "demo";
  return src.kind === "imgs" ? `imgs:${src.src}` : `file:${src.file.type}/${src.file.subfolder}/${src.file.filename}`;
}

/** The key of the whole way to the node: the picture and the nodes it passes (a new crop is a new key). */
export function pathKey(src) {
  const key = sourceKey(src);
  return src?.via?.length ? `${key} via ${src.via.join(" > ")}` : key;
}
