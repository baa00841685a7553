import { test } from "node:test";
import assert from "node:assert/strict";
import { MODEL_ON_CAUSAL, NO_TRACKS_MESSAGE, dragModeOf, noTracksNotice, upstreamType } from "../lib/notracks.js";

function graph(nodes, links) {
  return { links, getNodeById: (id) => nodes[id] ?? null };
}

test("a causal loader upstream of the model input gives the no-drags notice", () => {
  const g = graph({ 1: { type: "MotionStreamCausalModelLoader" } }, { 7: { origin_id: 1 } });
  const node = { graph: g, inputs: [{ name: "image", link: null }, { name: "model", link: 7 }] };
  assert.equal(upstreamType(node), "MotionStreamCausalModelLoader");
  assert.equal(noTracksNotice(node), NO_TRACKS_MESSAGE);
  assert.match(NO_TRACKS_MESSAGE, /takes no drags/);
});

test("other loaders, no link, or a Map of links (newer frontends)", () => {
  const links = new Map([[3, { origin_id: 2 }]]);
  const g = graph({ 2: { type: "MotionStreamModelLoader" } }, links);
  assert.equal(noTracksNotice({ graph: g, inputs: [{ name: "model", link: 3 }] }), "");
  assert.equal(upstreamType({ graph: g, inputs: [{ name: "model", link: 3 }] }), "MotionStreamModelLoader");
  assert.equal(noTracksNotice({ graph: g, inputs: [{ name: "model", link: null }] }), "");
  assert.equal(noTracksNotice({ inputs: [] }), "");
});

test("the drag mode the node's run uses, and why, from the loader and the node's drag_mode", () => {
  const g = graph({ 1: { type: "MotionStreamCausalModelLoader" }, 2: { type: "MotionStreamModelLoader" }, 5: { type: "LoadImage" } },
    { 7: { origin_id: 1 }, 8: { origin_id: 2 }, 9: { origin_id: 5 } });
  const node = (model, mode, image = null) => ({ graph: g, inputs: [{ name: "model", link: model }, { name: "image", link: image }],
    widgets: mode === undefined ? [] : [{ name: "drag_mode", value: mode }] });
  assert.equal(dragModeOf(node(7, "auto")).mode, "warp");
  assert.match(noTracksNotice(node(7, "auto")), /^Drag mode warp: this causal Wan model has no track head.*No start image: a region drag needs a start image/);
  assert.doesNotMatch(noTracksNotice(node(7, "warp", 9)), /No start image/);
  assert.equal(dragModeOf(node(7, "model")).mode, "invalid");
  assert.equal(noTracksNotice(node(7, "model")), MODEL_ON_CAUSAL);
  assert.equal(dragModeOf(node(8, "auto")).mode, "model");
  assert.equal(noTracksNotice(node(8, "auto", 9)), "");
  assert.match(noTracksNotice(node(8, "warp", 9)), /^Drag mode warp: drag_mode is warp/);
  assert.equal(dragModeOf(node(null, "auto")).mode, null);
});
