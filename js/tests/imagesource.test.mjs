import { test } from "node:test";
import assert from "node:assert/strict";
import { DEMO_IMAGE_ROUTE, parseAnnotated, viewQuery, imageInputIndex, findImageSource, sourceKey, pathKey } from "../lib/imagesource.js";

test("annotated file names", () => {
  assert.deepEqual(parseAnnotated("cat.png"), { filename: "cat.png", subfolder: "", type: "input" });
  assert.deepEqual(parseAnnotated("a/b/cat.png [output]"), { filename: "cat.png", subfolder: "a/b", type: "output" });
  assert.deepEqual(parseAnnotated("x\\y.jpg [temp]"), { filename: "y.jpg", subfolder: "x", type: "temp" });
  assert.deepEqual(parseAnnotated("weird [name].png"), { filename: "weird [name].png", subfolder: "", type: "input" });
});

test("view query", () => {
  assert.equal(viewQuery({ filename: "a b.png", subfolder: "s", type: "input" }), "/view?filename=a+b.png&type=input&subfolder=s");
});

const node = (props) => ({ inputs: [], widgets: [], ...props });

test("the image input is found by name first, then by type", () => {
  assert.equal(imageInputIndex(node({ inputs: [{ name: "model", type: "MODEL" }, { name: "image", type: "IMAGE" }] })), 1);
  assert.equal(imageInputIndex(node({ inputs: [{ name: "x", type: "IMAGE" }, { name: "start_image", type: "IMAGE" }] })), 1);
  assert.equal(imageInputIndex(node({ inputs: [{ name: "pic", type: "IMAGE" }] })), 0);
  assert.equal(imageInputIndex(node({ inputs: [{ name: "m", type: "MODEL" }] })), -1);
  assert.equal(imageInputIndex(null), -1);
});

test("findImageSource follows the link to a LoadImage-like node, through pass-through nodes", () => {
  const load = node({ widgets: [{ name: "image", value: "pics/cat.png [input]" }] });
  const resize = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const gen = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const links = new Map([[gen, load]]);
  const getInputNode = (n) => links.get(n) || null;
  const src = findImageSource(gen, { getInputNode });
  assert.equal(src.kind, "file");
  assert.deepEqual(src.file, { filename: "cat.png", subfolder: "pics", type: "input" });
  assert.equal(sourceKey(src), "file:input/pics/cat.png");

  links.set(gen, resize);
  links.set(resize, load);
  assert.equal(findImageSource(gen, { getInputNode }).node, load);

  load.imgs = [{ src: "/view?filename=cat.png&rand=1" }];
  const s2 = findImageSource(gen, { getInputNode });
  assert.equal(s2.kind, "imgs");
  assert.equal(sourceKey(s2), "imgs:/view?filename=cat.png&rand=1");
});

test("findImageSource returns null when nothing is connected, on cycles and past maxDepth", () => {
  const gen = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  assert.equal(findImageSource(gen, { getInputNode: () => null }), null);
  const a = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const b = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const links = new Map([[gen, a], [a, b], [b, a]]);
  assert.equal(findImageSource(gen, { getInputNode: (n) => links.get(n) }), null);
  assert.equal(sourceKey(null), "");
  // default getInputNode uses node.getInputNode
  const load = node({ widgets: [{ name: "image", value: "x.png" }] });
  const g2 = node({ inputs: [{ name: "image", type: "IMAGE" }], getInputNode: () => load });
  assert.equal(findImageSource(g2).kind, "file");
});

test("findImageSource names the nodes that may change the image, and finds example clips", () => {
  const load = node({ type: "LoadImage", widgets: [{ name: "image", value: "cat.png" }] });
  const scale = node({ type: "ImageScale", title: "Upscale Image", inputs: [{ name: "image", type: "IMAGE" }] });
  const reroute = node({ type: "Reroute", inputs: [{ name: "", type: "IMAGE" }] });
  const gen = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const links = new Map([[gen, reroute], [reroute, scale], [scale, load]]);
  const getInputNode = (n) => links.get(n) || null;
  const src = findImageSource(gen, { getInputNode });
  assert.deepEqual(src.via, ["Upscale Image"], "a reroute hands the image on unchanged; a scale node may change it");
  assert.equal(sourceKey(src), "file:input//cat.png");
  assert.equal(pathKey(src), "file:input//cat.png via Upscale Image");
  links.set(gen, load);
  assert.equal(pathKey(findImageSource(gen, { getInputNode })), "file:input//cat.png");

  const clip = node({ comfyClass: "MotionStreamExampleClip", widgets: [
    { name: "seed", value: 7 }, { name: "control_after_generate", value: "fixed" }, { name: "width", value: 128 },
    { name: "height", value: 96 }, { name: "num_frames", value: 49 }, { name: "num_points", value: 64 }] });
  links.set(gen, clip);
  const ex = findImageSource(gen, { getInputNode });
  assert.equal(ex.kind, "example");
  assert.deepEqual(ex.params, { seed: 7, width: 128, height: 96, num_frames: 49, num_points: 64 });
  assert.equal(sourceKey(ex), 'example:{"seed":7,"width":128,"height":96,"num_frames":49,"num_points":64}');
});

test("findImageSource finds the demo photo, through a scale node that may change it", () => {
  const demo = node({ comfyClass: "MotionStreamDemoPhoto" });
  const scale = node({ type: "ImageScale", title: "Upscale Image", inputs: [{ name: "image", type: "IMAGE" }] });
  const gen = node({ inputs: [{ name: "image", type: "IMAGE" }] });
  const links = new Map([[gen, demo]]);
  const getInputNode = (n) => links.get(n) || null;
  const src = findImageSource(gen, { getInputNode });
  assert.equal(src.kind, "demo");
  assert.equal(src.node, demo);
  assert.equal(pathKey(src), "demo");
  links.set(gen, scale).set(scale, demo);
  assert.equal(pathKey(findImageSource(gen, { getInputNode })), "demo via Upscale Image");
  assert.equal(DEMO_IMAGE_ROUTE, "/motionstream/demo_image");
});
