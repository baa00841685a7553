import { test } from "node:test";
import assert from "node:assert/strict";
import {
  fitRect, clientToView, viewToClient, viewToImage, imageToView, clientToImage,
  backingSize, clampToImage, insideImage, roundTo, rectFromCorners, pointInRect, viewPerCss, imagePerView,
} from "../lib/coords.js";

const close = (a, b, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps, `${a} != ${b}`);

test("fitRect letterboxes a wide image into a tall view (bars top and bottom)", () => {
  const r = fitRect(200, 100, 400, 400);
  assert.deepEqual(r, { x: 0, y: 100, w: 400, h: 200, scale: 2 });
});

test("fitRect pillarboxes a tall image into a wide view (bars left and right)", () => {
  const r = fitRect(100, 200, 400, 200);
  assert.deepEqual(r, { x: 150, y: 0, w: 100, h: 200, scale: 1 });
});

test("fitRect keeps padding on every side", () => {
  const r = fitRect(100, 100, 220, 120, 10);
  assert.deepEqual(r, { x: 60, y: 10, w: 100, h: 100, scale: 1 });
});

test("fitRect of an empty view is empty, never negative", () => {
  const r = fitRect(100, 100, 0, 0, 5);
  assert.equal(r.w, 0);
  assert.equal(r.h, 0);
});

test("clientToView maps the on-screen box onto the backing store (devicePixelRatio 2)", () => {
  const bounds = { left: 100, top: 50, width: 300, height: 150 };
  // CSS 300x150 on a dpr-2 screen -> backing 600x300
  const v = clientToView(250, 125, bounds, 600, 300);
  assert.deepEqual(v, { x: 300, y: 150 });
  const c = viewToClient(v.x, v.y, bounds, 600, 300);
  assert.deepEqual(c, { x: 250, y: 125 });
});

test("clientToView accounts for a CSS zoom transform (box on screen smaller than layout)", () => {
  // element laid out at 400x400 CSS px but shown at scale 0.5 -> 200x200 on screen,
  // backing store sized from the on-screen box: 200 * dpr(1.5) = 300
  const bounds = { left: 10, top: 20, width: 200, height: 200 };
  const v = clientToView(110, 120, bounds, 300, 300);
  assert.deepEqual(v, { x: 150, y: 150 });
});

test("view <-> image round trip through a letterbox rect", () => {
  const W = 832, H = 480;
  const rect = fitRect(W, H, 1000, 1000, 8);
  for (const [x, y] of [[0, 0], [W, H], [123.25, 456.5], [W / 2, H / 2]]) {
    const v = imageToView(x, y, rect, W, H);
    const p = viewToImage(v.x, v.y, rect, W, H);
    close(p.x, x, 1e-9);
    close(p.y, y, 1e-9);
  }
  const corner = imageToView(0, 0, rect, W, H);
  close(corner.x, rect.x);
  close(corner.y, rect.y);
  const far = imageToView(W, H, rect, W, H);
  close(far.x, rect.x + rect.w);
  close(far.y, rect.y + rect.h);
});

test("clientToImage: same image pixel whatever the node size, zoom or dpr", () => {
  const W = 640, H = 360;
  const target = { x: 320, y: 90 };
  for (const [cssW, cssH, zoom, dpr] of [[400, 300, 1, 1], [800, 700, 0.5, 2], [300, 500, 2.5, 1.25]]) {
    const bounds = { left: 37, top: 11, width: cssW * zoom, height: cssH * zoom };
    const back = backingSize(bounds, dpr);
    const rect = fitRect(W, H, back.width, back.height, 6);
    const v = imageToView(target.x, target.y, rect, W, H);
    const c = viewToClient(v.x, v.y, bounds, back.width, back.height);
    const p = clientToImage(c.x, c.y, bounds, back.width, back.height, rect, W, H);
    close(p.x, target.x, 1e-6);
    close(p.y, target.y, 1e-6);
  }
});

test("backingSize multiplies by devicePixelRatio and caps huge sizes keeping aspect", () => {
  assert.deepEqual(backingSize({ width: 300, height: 200 }, 2), { width: 600, height: 400 });
  assert.deepEqual(backingSize({ width: 300.4, height: 200.6 }, 1), { width: 300, height: 201 });
  assert.deepEqual(backingSize({ width: 10000, height: 5000 }, 1, 4096), { width: 4096, height: 2048 });
  assert.deepEqual(backingSize({ width: 0, height: 0 }, 0), { width: 1, height: 1 });
});

test("scale helpers", () => {
  assert.equal(viewPerCss({ width: 200 }, 400), 2);
  assert.equal(imagePerView({ w: 100 }, 50), 0.5);
});

test("clamping, inside tests, rounding and rects", () => {
  assert.deepEqual(clampToImage(-5, 900, 640, 480), { x: 0, y: 480 });
  assert.ok(insideImage(640, 480, 640, 480));
  assert.ok(!insideImage(641, 10, 640, 480));
  assert.ok(insideImage(645, 10, 640, 480, 10));
  assert.equal(roundTo(1.23456), 1.23);
  assert.equal(roundTo(-0.001), 0);
  assert.ok(!Object.is(roundTo(-0.001), -0));
  assert.deepEqual(rectFromCorners({ x: 10, y: 5 }, { x: 2, y: 9 }), { x: 2, y: 5, w: 8, h: 4 });
  assert.ok(pointInRect(2, 5, { x: 2, y: 5, w: 8, h: 4 }));
  assert.ok(!pointInRect(11, 5, { x: 2, y: 5, w: 8, h: 4 }));
});
