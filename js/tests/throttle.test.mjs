import { test } from "node:test";
import assert from "node:assert/strict";
import { throttle, hzToInterval } from "../lib/throttle.js";

function fakeClock() {
  let now = 0;
  let timers = [];
  let id = 0;
  return {
    now: () => now,
    setTimeout: (fn, ms) => {
      timers.push({ id: ++id, at: now + ms, fn });
      return id;
    },
    clearTimeout: (i) => {
      timers = timers.filter((t) => t.id !== i);
    },
    advance(ms) {
      const end = now + ms;
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const t = timers[0];
        if (!t || t.at > end) break;
        timers.shift();
        now = t.at;
        t.fn();
      }
      now = end;
    },
  };
}

test("first call runs at once; a burst runs once more with the latest args after the interval", () => {
  const c = fakeClock();
  const calls = [];
  const th = throttle((v) => calls.push([c.now(), v]), 25, c);
  th.call(1);
  th.call(2);
  th.call(3);
  assert.deepEqual(calls, [[0, 1]]);
  assert.ok(th.pending);
  c.advance(30);
  assert.deepEqual(calls, [[0, 1], [25, 3]]);
  assert.ok(!th.pending);
});

test("pointer moves at 240 Hz are sent at no more than the throttle rate, the last one always", () => {
  const c = fakeClock();
  const sent = [];
  const th = throttle((v) => sent.push([c.now(), v]), hzToInterval(40), c);
  for (let i = 0; i <= 240; i++) {
    th.call(i);
    c.advance(1000 / 240);
  }
  c.advance(100);
  for (let k = 1; k < sent.length; k++) assert.ok(sent[k][0] - sent[k - 1][0] >= 25 - 1e-9);
  const rate = sent.length / 1.0;
  assert.ok(rate >= 38 && rate <= 43, `rate ${rate}`);
  assert.equal(sent[sent.length - 1][1], 240);
  assert.ok(rate < 120, "below the server's 120 Hz limit");
});

test("flush sends the pending call now; cancel drops it", () => {
  const c = fakeClock();
  const sent = [];
  const th = throttle((v) => sent.push(v), 50, c);
  th.call("a");
  th.call("b");
  th.flush();
  assert.deepEqual(sent, ["a", "b"]);
  c.advance(100);
  assert.deepEqual(sent, ["a", "b"]);
  th.call("c");
  th.call("d");
  th.cancel();
  c.advance(100);
  assert.deepEqual(sent, ["a", "b", "c"]);
});

test("hzToInterval keeps the rate within 30-60 Hz", () => {
  assert.equal(hzToInterval(40), 25);
  assert.equal(hzToInterval(500), 1000 / 60);
  assert.equal(hzToInterval(1), 1000 / 30);
  assert.equal(hzToInterval("x"), 1000 / 30);
});
