import { test } from "node:test";
import assert from "node:assert/strict";
import { NO_TRACKS_MESSAGE, noTracksNotice, upstreamType } from "../lib/notracks.js";

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
