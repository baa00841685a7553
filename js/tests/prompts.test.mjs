import { test } from "node:test";
import assert from "node:assert/strict";
import { debounce, withPrompts } from "../lib/prompts.js";
import { parseState, serializeState } from "../lib/state.js";

test("the prompt schedule rides in editor_state's extra keys and survives a round trip", () => {
  const { state } = parseState('{"version":1,"grid_spacing":32,"duration_frames":49}');
  state.extra = withPrompts(state.extra, [{ chunk: 0, text: "a fox" }, { chunk: 4, text: "a fox in snow", x: 1 }]);
  const again = parseState(serializeState(state)).state;
  assert.deepEqual(again.extra.prompts, [{ chunk: 0, text: "a fox" }, { chunk: 4, text: "a fox in snow" }]);
  assert.deepEqual(withPrompts(again.extra, null), {});
  assert.deepEqual(withPrompts({ other: 1, prompts: [] }, []), { other: 1 });
});

test("debounce sends only the last text, once typing pauses", () => {
  const timers = new Map();
  let id = 0;
  const clock = { setTimeout: (fn) => (timers.set(++id, fn), id), clearTimeout: (t) => timers.delete(t) };
  const sent = [];
  const d = debounce((t) => sent.push(t), 1000, clock);
  d.call("a");
  d.call("a f");
  d.call("a fox");
  assert.equal(timers.size, 1);
  const [key, fire] = [...timers][0];
  timers.delete(key);
  fire();
  assert.deepEqual(sent, ["a fox"]);
  d.call("x");
  d.cancel();
  assert.equal(timers.size, 0);
});

test("debounce's default clock calls the timers as a browser requires (never as methods of another object)", async () => {
  // Chromium's setTimeout throws "Illegal invocation" when `this` is not the window; Node's does not. Mimic it.
  const real = { setTimeout: globalThis.setTimeout, clearTimeout: globalThis.clearTimeout };
  const strict = (f) => function (...args) {
    if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
    return f.apply(globalThis, args);
  };
  globalThis.setTimeout = strict(real.setTimeout);
  globalThis.clearTimeout = strict(real.clearTimeout);
  try {
    const sent = [];
    const d = debounce((t) => sent.push(t), 5);
    d.call("a");
    d.call("a fox");
    await new Promise((r) => real.setTimeout(r, 40));
    assert.deepEqual(sent, ["a fox"]);
    d.call("x");
    d.cancel();
  } finally {
    Object.assign(globalThis, real);
  }
});
