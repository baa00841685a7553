// The picture the editor draws on. Before a run: the image upstream of the
// node (a Load Image file, a preview, an example clip's first frame), which
// nodes on the way (resize, crop) may still change. From a run on: the exact
// start image the model got (sent with the session), as long as the upstream
// source stays the one that run used. A StartPicture is given its editor
// explicitly; it tells it when a picture arrives.

import { DEMO_IMAGE_ROUTE, findImageSource, pathKey, viewQuery } from "../lib/imagesource.js";

export class StartPicture {
  constructor(ed) {
    this.ed = ed;
    this.startImage = null; // the upstream picture (an <img>)
    this.key = null; // pathKey of the upstream source
    this.source = null;
    this.run = null; // {key, width, height, image}: the exact start image of this node's last run
    this.exampleURL = null;
  }

  /** The last run's exact picture while the upstream source is the one it used; null otherwise. */
  exact() {
    const r = this.run;
    return r && r.key === this.key ? r : null;
  }

  /** Width and height of the picture drawn on (null before any is known). */
  size() {
    const r = this.exact();
    if (r) return { width: r.width, height: r.height };
    const img = this.startImage;
    return img && img.naturalWidth > 0 ? { width: img.naturalWidth, height: img.naturalHeight } : null;
  }

  /** The background of the edit view. */
  forEdit() {
    const r = this.exact();
    return (r && r.image) || this.startImage || this.run?.image || null;
  }

  /** A run of width x height started from the current upstream source: its picture is the exact one. */
  useRun(width, height) {
    this.refresh();
    if (!(width > 0 && height > 0)) return;
    const same = this.run && this.run.width === width && this.run.height === height;
    this.run = { key: this.key, width, height, image: same ? this.run.image : null };
  }

  /** The run's start image as the server sent it (a data URL). */
  setRunImage(url) {
    const run = this.run;
    if (!run) return;
    const img = new Image();
    img.onload = () => {
      run.image = img;
      this.ed.requestRender();
    };
    img.src = url;
  }

  /** Cheap check (every graph redraw) whether the upstream source changed; loads the new picture. */
  refresh() {
    const src = findImageSource(this.ed.node);
    const key = pathKey(src);
    if (key === this.key) return;
    this.key = key;
    this.source = src;
    if (!src) {
      this.startImage = null;
      this.ed.requestRender();
      return;
    }
    this.load(src, key);
  }

  async load(src, key) {
    const ed = this.ed;
    const what = src.kind === "file" ? src.file.filename : src.kind === "example" ? "the example clip's first frame"
      : src.kind === "demo" ? "the demo photo" : src.src;
    let url;
    try {
      url = await this.url(src);
    } catch (e) {
      if (this.key === key) ed.status(`Could not load the start image (${what}): ${e.message || e}`, "error");
      return;
    }
    const img = new Image();
    img.onload = () => {
      if (this.key !== key) return;
      this.startImage = img;
      ed.adoptImageSize(img.naturalWidth, img.naturalHeight);
      ed.requestRender();
    };
    img.onerror = () => {
      if (this.key === key) ed.status(`Could not load the start image (${what})`, "error");
    };
    img.src = url;
  }

  /** A URL the picture loads from: the node's preview, the /view route, the demo photo or a rendered example. */
  async url(src) {
    const host = this.ed.host;
    if (src.kind === "imgs") return src.src;
    if (src.kind === "file") return host.apiURL(viewQuery(src.file));
    if (src.kind === "demo") return host.apiURL(DEMO_IMAGE_ROUTE);
    const res = await host.fetchApi("/motionstream/example_image", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(src.params),
    });
    if (!res.ok) throw new Error((await res.json().then((j) => j.error, () => null)) || `${res.status} ${res.statusText}`);
    this.destroy();
    this.exampleURL = URL.createObjectURL(await res.blob());
    return this.exampleURL;
  }

  destroy() {
    if (this.exampleURL) URL.revokeObjectURL(this.exampleURL);
    this.exampleURL = null;
  }
}
