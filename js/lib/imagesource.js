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

/**
 * Walk upstream from `node`'s image input. Returns
 *   {kind: "imgs", src, node}     a node with a loaded preview image,
 *   {kind: "file", file, node}    a node naming an image file in a widget,
 * or null when nothing is connected / found within maxDepth hops.
 * `getInputNode(node, slot)` defaults to node.getInputNode(slot).
 */
export function findImageSource(node, { maxDepth = 6, getInputNode = (n, s) => n.getInputNode?.(s) } = {}) {
  let cur = node;
  const seen = new Set();
  for (let depth = 0; depth < maxDepth; depth++) {
    const slot = imageInputIndex(cur);
    if (slot < 0) return null;
    const up = getInputNode(cur, slot);
    if (!up || seen.has(up)) return null;
    seen.add(up);
    const img = up.imgs?.[0];
    if (img && img.src) return { kind: "imgs", src: img.src, node: up };
    const w = (up.widgets || []).find((x) => x && x.name === "image" && typeof x.value === "string" && x.value);
    if (w) return { kind: "file", file: parseAnnotated(w.value), node: up };
    cur = up; // pass-through nodes (resize, reroute...): keep walking
  }
  return null;
}

/** A stable key for a source (so the widget reloads only when it changes). */
export function sourceKey(src) {
  if (!src) return "";
  return src.kind === "imgs" ? `imgs:${src.src}` : `file:${src.file.type}/${src.file.subfolder}/${src.file.filename}`;
}
