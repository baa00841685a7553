// The editor's canvas: where the image sits in it (layout, client <-> image pixels, pick radius) and
// drawing it (one animation frame at a time: picture or video frame, tracks, live points, HUD, messages).
// A CanvasView is owned by one MotionStreamEditor and given it explicitly.

import { drawScene } from "./render.js";
import { backingSize, fitRect, clientToImage, viewPerCss } from "../lib/coords.js";
import { dragModeOf } from "../lib/notracks.js";

const now = () => performance.now();
export const DRAW_HINT = "drag on the picture: a motion · click: a point that stays · drag a point: move it later";
export const WARP_HINT = "⬚ Region: drag around a part of the picture, then drag inside it to move it";

export class CanvasView {
  constructor(ed) {
    this.ed = ed;
    this.renderPending = false;
  }

  layout() {
    const c = this.ed.dom.canvas;
    const bounds = c.getBoundingClientRect();
    const k = viewPerCss(bounds, c.width);
    const { W, H } = this.ed.size();
    return { bounds, k, rect: fitRect(W, H, c.width, c.height, 6 * k) };
  }

  /** Client (page) coordinates -> image pixels. */
  toImage(clientX, clientY) {
    const c = this.ed.dom.canvas;
    const { bounds, rect } = this.layout();
    const { W, H } = this.ed.size();
    return clientToImage(clientX, clientY, bounds, c.width, c.height, rect, W, H);
  }

  /** Pick radius: 10 CSS pixels, in image pixels. */
  hitRadius() {
    const { k, rect } = this.layout();
    return (10 * k * this.ed.state.width) / (rect.w || 1);
  }

  requestRender() {
    if (this.renderPending || this.ed.destroyed) return;
    this.renderPending = true;
    requestAnimationFrame(() => this.render());
  }

  render() {
    this.renderPending = false;
    if (this.ed.destroyed) return;
    const c = this.ed.dom.canvas;
    const b = c.getBoundingClientRect();
    if (b.width < 2 || b.height < 2) return;
    const bs = backingSize(b, window.devicePixelRatio || 1);
    if (c.width !== bs.width || c.height !== bs.height) {
      c.width = bs.width;
      c.height = bs.height;
    }
    const t = now();
    let bg = this.ed.picture.forEdit();
    let animating = false;
    if (this.ed.view === "video") {
      bg = this.ed.stream.current(t) || this.ed.picture.exact()?.image || bg;
      animating = this.ed.stream.animating;
    } else if (this.ed.editPlayer.state === "playing") {
      this.ed.frame = this.ed.editPlayer.tick(t);
      animating = this.ed.editPlayer.state === "playing";
      if (!animating) this.ed.syncUI();
    }
    const { k, rect } = this.layout();
    const { W, H } = this.ed.size();
    const pv = this.ed.preview || {};
    const scene = {
      viewW: c.width, viewH: c.height, rect, W, H, k, bg,
      colors: { canvasBg: getComputedStyle(this.ed.dom.wrap).backgroundColor || "#171717" },
      tracks: pv.tracks || this.ed.state.tracks,
      frame: this.ed.currentFrame(),
      selection: this.ed.selection,
      showTrails: true,
      preview: pv,
      overrides: pv.overrides,
      hud: this.hudLines(),
      pendingRegion: this.ed.pendingRegion,
      ...this.ed.live.scene(),
      ...this.messageScene(),
    };
    drawScene(c.getContext("2d"), scene);
    this.ed.syncTimeline();
    if (this.ed.isLive() || this.ed.stream.hasFrames) this.ed.dom.stats.textContent = this.ed.stream.statsText(t);
    if (animating) this.requestRender();
  }

  hudLines() {
    if (this.ed.view === "video") {
      const st = this.ed.stream.player.state;
      if (!this.ed.isLive()) return [`video · ${st}`];
      if (this.ed.session.paused) return ["❚❚ paused (generation)"];
      if (this.ed.live.takesDrags) return ["● live: drag points to steer"];
      return [dragModeOf(this.ed.node).mode === "warp" ? "● live (no drags without a start image)" : "● live (this model takes no drags)"];
    }
    const n = this.ed.state.tracks.length;
    const lines = [`${n} track${n === 1 ? "" : "s"} · ${this.ed.state.width}×${this.ed.state.height} · frame ${this.ed.currentFrame()}`];
    const mode = dragModeOf(this.ed.node).mode;
    if (!n && this.ed.picture.forEdit() && mode !== "none" && mode !== "invalid") lines.push(mode === "warp" ? WARP_HINT : DRAW_HINT);
    const via = this.ed.startSource?.via || [];
    if (this.ed.startImage && !this.ed.picture.exact() && via.length) {
      lines.push(`⚠ ${via.map((v) => `'${v}'`).join(", ")} change${via.length === 1 ? "s" : ""} this image:`,
        "the exact one the model gets shows once a run starts");
    }
    return lines;
  }

  messageScene() {
    const be = this.ed.host.backend?.() || { ok: null };
    if (this.ed.parseError) return { message: `Saved editor state could not be read:\n${this.ed.parseError}`, messageIsError: true };
    if (this.ed.view === "video" && this.ed.isLive() && !this.ed.stream.hasFrames) return { message: "Waiting for the first frames…" };
    if (be.ok === false && this.ed.isLive()) return { message: be.message, messageIsError: true };
    if (this.ed.view === "edit" && !this.ed.picture.forEdit()) {
      const d = dragModeOf(this.ed.node);
      if (d.causal && d.mode === "warp") {
        return { message: "This model makes video from the prompt: no start image is needed to run\n(a region drag needs one: connect it to Generate's image)" };
      }
      if (d.causal) {
        return { message: "This model makes video from the prompt: no start image is needed\n(connect one to Generate's image to continue a picture)" };
      }
      return { message: "The start image shows here once the node has run once\n(or at once with a Load Image node)" };
    }
    return {};
  }

}
