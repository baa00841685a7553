import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveSteering, trackId, parseId, mapSize } from "../lib/steer.js";

test("ids: track:<i> takes over a pre-drawn track, anything else is a new live point", () => {
  assert.equal(trackId(3), "track:3");
  assert.deepEqual(parseId("track:12"), { track: 12 });
  assert.deepEqual(parseId("live:1"), { live: "live:1" });
  assert.deepEqual(parseId("track:x"), { live: "track:x" });
});

test("press/move/release produce the contract's payloads, changed points only", () => {
  const s = new LiveSteering("abc");
  assert.equal(s.takePayload(0), null);
  s.press(trackId(0), 10.123, 20.987);
  const id = s.newId();
  s.press(id, 1, 2);
  assert.deepEqual(s.takePayload(5.4), {
    session: "abc",
    points: [{ id: "track:0", x: 10.12, y: 20.99, active: true }, { id: "live:1", x: 1, y: 2, active: true }],
    t: 5,
  });
  assert.equal(s.takePayload(6), null);
  s.move(id, 3, 4);
  s.move(id, 5, 6);
  assert.deepEqual(s.takePayload(7).points, [{ id: "live:1", x: 5, y: 6, active: true }]);
  assert.ok(s.release(id));
  assert.ok(!s.release(id), "releasing twice does nothing");
  assert.ok(!s.move(id, 9, 9), "a released point does not move");
  assert.deepEqual(s.takePayload(8).points, [{ id: "live:1", x: 5, y: 6, active: false }]);
  assert.deepEqual(s.held.map((p) => p.id), ["track:0"]);
  assert.ok(s.releaseAll());
  assert.deepEqual(s.takePayload(9).points, [{ id: "track:0", x: 10.12, y: 20.99, active: false }]);
  assert.equal(s.held.length, 0);
  assert.equal(s.newId(), "live:2");
});

test("no session, no payload", () => {
  const s = new LiveSteering(null);
  s.press("live:1", 0, 0);
  assert.ok(s.hasDirty);
  assert.equal(s.takePayload(0), null);
});

test("mapSize converts editor pixels to stream pixels", () => {
  assert.deepEqual(mapSize(256, 128, 512, 512, 128, 128), { x: 64, y: 32 });
});

test("a release waits until the stream has moved past the point's last position", () => {
  const s = new LiveSteering("abc");
  s.press("track:1", 10, 10);
  s.move("track:1", 30, 40);
  s.takePayload(1);
  assert.ok(s.deferRelease("track:1", 5));
  assert.deepEqual(s.dueReleases(4), []);
  assert.equal(s.takePayload(2), null, "nothing sent before the chunk");
  assert.deepEqual(s.held.map((p) => p.id), ["track:1"]);
  assert.deepEqual(s.dueReleases(5), ["track:1"]);
  assert.deepEqual(s.takePayload(3).points, [{ id: "track:1", x: 30, y: 40, active: false }]);
  assert.deepEqual(s.dueReleases(9), []);
});

test("grabbing a point again cancels its pending release; released points are not deferred", () => {
  const s = new LiveSteering("abc");
  s.press("live:1", 0, 0);
  s.deferRelease("live:1", 3);
  s.press("live:1", 1, 1);
  assert.deepEqual(s.dueReleases(10), []);
  assert.equal(s.held.length, 1);
  s.release("live:1");
  assert.equal(s.deferRelease("live:1", 3), false);
  assert.equal(s.deferRelease("nope", 3), false);
});

test("the track:<i> rule is the server's (the shared contract table)", async () => {
  const { readFile } = await import("node:fs/promises");
  const table = JSON.parse(await readFile(new URL("../../tests/data/steer_ids.json", import.meta.url), "utf8"));
  assert.ok(table.cases.length > 10);
  for (const [id, slot] of table.cases) {
    const got = parseId(id);
    assert.deepEqual(got, slot === null ? { live: id } : { track: slot }, JSON.stringify(id));
    if (slot !== null) assert.deepEqual(parseId(trackId(slot)), { track: slot });
  }
});
