import { test } from "node:test";
import assert from "node:assert/strict";
import { LiveRun } from "../ui/live.js";
import { defaultState, cloneState } from "../lib/state.js";

/** The editor surface a LiveRun uses, recorded (it is handed its editor explicitly). */
function fakeEditor({ replies = [] } = {}) {
  const calls = [];
  const ed = {
    calls,
    state: defaultState({ width: 128, height: 128 }),
    selection: new Set(),
    preview: null,
    view: "edit",
    editPlayer: { pause() {} },
    stream: {
      chunk: -1,
      sessionId: null,
      begin(id, fps, now, first) { this.sessionId = id; calls.push(["begin", id, fps, first]); },
      addChunk(d) { this.chunk = d.chunk; calls.push(["chunk", d.chunk]); },
      finish(fps) { calls.push(["finish", fps]); },
      player: { pause() {}, play() {} },
    },
    host: {
      clientId: () => "tab-1",
      fetchApi: async (route, init) => {
        calls.push(["fetch", route, JSON.parse(init.body)]);
        const r = replies.shift() || { status: 200, body: { ok: true } };
        return { ok: r.status < 300, status: r.status, statusText: "", json: async () => r.body };
      },
    },
    size() { return { W: this.state.width, H: this.state.height }; },
    hitRadius: () => 4,
    currentFrame: () => 0,
    requestRender() {},
    syncUI() {},
    status(text, kind = "info") { calls.push(["status", text, kind]); },
    useRunSize(w, h) { calls.push(["size", w, h]); },
    picture: { setRunImage(url) { calls.push(["image", url]); } },
    commit(s, { label = "" } = {}) {
      this.state = s;
      calls.push(["commit", s.durationFrames, s.numFrames, s.tracks.length]);
      if (label) this.status(label);
    },
  };
  return ed;
}

const flush = () => new Promise((r) => setTimeout(r, 0));

test("a page that opens mid-run joins: frames from the joined one on, details fetched for this tab", async () => {
  const ed = fakeEditor({ replies: [{ status: 200, body: { session: "s1", width: 96, height: 64, image: "data:x", connected: null } }] });
  const live = new LiveRun(ed);
  live.onFrames({ session: "s1", chunk: 20, start_frame: 237, fps: 16, width: 96, height: 64, frames: [] });
  await flush();
  assert.ok(live.running);
  assert.deepEqual(ed.calls.find((c) => c[0] === "begin"), ["begin", "s1", 16, 237]);
  assert.deepEqual(ed.calls.find((c) => c[0] === "fetch"), ["fetch", "/motionstream/session", { session: "s1", client_id: "tab-1" }]);
  assert.deepEqual(ed.calls.filter((c) => c[0] === "size"), [["size", 96, 64], ["size", 96, 64]]);
  assert.ok(ed.calls.some((c) => c[0] === "image" && c[1] === "data:x"));
  assert.ok(ed.calls.some((c) => c[0] === "status" && /Joined the run at frame 237/.test(c[1])));
  assert.equal(ed.view, "video");
  // the next chunk of the same run does not join again
  live.onFrames({ session: "s1", chunk: 21, start_frame: 249, fps: 16, frames: [] });
  assert.equal(ed.calls.filter((c) => c[0] === "begin").length, 1);
});

test("steering posts carry this tab's client id; a 403 is said, not swallowed", async () => {
  const ed = fakeEditor({ replies: [{ status: 200, body: { ok: true, chunk: 0 } }, { status: 403, body: { error: "belongs to another client" } }] });
  const live = new LiveRun(ed);
  live.onSession({ session: "s2", width: 128, height: 128, fps: 16 });
  live.press("live:1", 10, 20);
  await live.sendSteer();
  const post = ed.calls.find((c) => c[0] === "fetch");
  assert.equal(post[1], "/motionstream/steer");
  assert.equal(post[2].client_id, "tab-1");
  assert.deepEqual(post[2].points, [{ id: "live:1", x: 10, y: 20, active: true }]);
  live.move("live:1", 30, 40);
  await live.sendSteer();
  assert.equal(live.sent, 2);
  assert.equal(live.ok, 1);
  assert.ok(ed.calls.some((c) => c[0] === "status" && c[1] === "Steering rejected (403): belongs to another client" && c[2] === "error"));
});

test("the end of a run keeps the node's frame count, states the run's speed and the connected tracks", () => {
  const ed = fakeEditor();
  ed.state = cloneState(defaultState({ width: 128, height: 128, durationFrames: 49 }));
  const live = new LiveRun(ed);
  const connected = { format: "motionstream-tracks", version: 1, width: 128, height: 128, fps: 16, num_frames: 2,
    tracks: [{ points: [[1, 2], [3, 4]] }, { points: [[5, 6], [7, 8]] }] };
  live.onSession({ session: "s3", width: 128, height: 128, fps: 16, connected });
  assert.equal(live.scene().connected.length, 2);
  const recorded = { format: "motionstream-tracks", version: 1, width: 128, height: 128, fps: 16, num_frames: 57,
    tracks: [{ points: Array.from({ length: 57 }, () => [9, 9]), kind: "live" }] };
  // the backend sends the record as our tracks JSON text, and names the file it saved it to
  live.onDone({ session: "s3", reason: "finished", recorded: JSON.stringify(recorded), gen_fps: 24.6,
    video: { filename: "a.mp4", subfolder: "motionstream", type: "output" },
    tracks_file: { filename: "a.tracks.json", subfolder: "motionstream", type: "output" } });
  assert.deepEqual(ed.calls.find((c) => c[0] === "commit"), ["commit", 49, 57, 1], "duration stays 49; the timeline holds the 57 frames used");
  assert.deepEqual(ed.calls.find((c) => c[0] === "finish"), ["finish", 24.6]);
  const status = ed.calls.filter((c) => c[0] === "status").at(-1)[1];
  assert.equal(status, "Run finished · kept 1 track as run (Ctrl+Z restores the drawn ones) · 2 connected tracks from the graph (shown dashed, read-only) · saved to output/motionstream/a.mp4 (its tracks: a.tracks.json)");
  assert.ok(!live.running);
});

test("a steer post in flight or pending when the run ends does not overwrite how it ended", async () => {
  const gone = { status: 404, body: { error: "no running MotionStream session 's5'" } };
  const ed = fakeEditor({ replies: [{ status: 200, body: { ok: true, chunk: 0 } }, gone, gone] });
  const live = new LiveRun(ed);
  live.onSession({ session: "s5", width: 128, height: 128, fps: 16 });
  live.press("live:1", 10, 20); // posted at once
  live.move("live:1", 30, 40); // pending in the throttle
  await flush();
  const inFlight = live.sendSteer(); // its reply comes after the done event
  live.move("live:1", 50, 60); // pending again
  live.onDone({ session: "s5", reason: "stopped", recorded: null, video: null });
  await inFlight;
  await new Promise((r) => setTimeout(r, 100)); // past the throttle's interval
  const posts = ed.calls.filter((c) => c[0] === "fetch" && c[1] === "/motionstream/steer");
  assert.equal(posts.length, 2, "the pending post is dropped at the end, not sent to a finished session");
  const statuses = ed.calls.filter((c) => c[0] === "status");
  assert.equal(statuses.at(-1)[1], "Run stopped", "the late 404 leaves the run's own ending in the status");
  assert.ok(!live.running);
});

test("connected tracks are shown in the editor's pixel space", () => {
  const ed = fakeEditor();
  const live = new LiveRun(ed);
  live.onSession({ session: "s4", width: 128, height: 128, fps: 16,
    connected: { width: 64, height: 32, fps: 16, num_frames: 1, tracks: [{ points: [[32, 16]] }] } });
  assert.deepEqual(live.scene().connected[0].points, [[64, 64]]);
});

test("the end-of-run message stays the last word when the run switched prompts; the schedule is kept", () => {
  const ed = fakeEditor();
  const live = new LiveRun(ed);
  live.onSession({ session: "s9", width: 128, height: 128, fps: 16 });
  const prompts = [{ chunk: 0, text: "a fox" }, { chunk: 3, text: "a fox in snow" }];
  live.onDone({ session: "s9", reason: "stopped", prompts, video: { filename: "v.mp4", subfolder: "video" } });
  const statuses = ed.calls.filter((c) => c[0] === "status");
  assert.equal(statuses.at(-1)[1], "Run stopped · 1 prompt switch kept for replay · saved to output/video/v.mp4");
  assert.deepEqual(ed.state.extra.prompts, prompts);
  // the next run without switches drops the old schedule, and says nothing of prompts
  live.onSession({ session: "s10", width: 128, height: 128, fps: 16 });
  live.onDone({ session: "s10", reason: "finished", video: { filename: "w.mp4", subfolder: "" } });
  assert.equal(ed.calls.filter((c) => c[0] === "status").at(-1)[1], "Run finished · saved to output/w.mp4");
  assert.equal(ed.state.extra.prompts, undefined);
  // an interruption (no done event) leaves the kept schedule alone
  ed.state.extra = { prompts };
  live.onSession({ session: "s11", width: 128, height: 128, fps: 16 });
  live.end({ reason: "interrupted" });
  assert.deepEqual(ed.state.extra.prompts, prompts);
});

test("a run that takes no drags says so instead of inviting them", () => {
  const ed = fakeEditor();
  const live = new LiveRun(ed);
  live.onSession({ session: "t2v", width: 64, height: 48, fps: 16, max_tracks: 0 });
  assert.equal(live.takesDrags, false);
  const said = ed.calls.filter((c) => c[0] === "status").at(-1)[1];
  assert.equal(said, "Generating: this model takes no drags (text-to-video); Pause and Stop work as usual");
  live.onSession({ session: "drag", width: 64, height: 48, fps: 16, max_tracks: 64 });
  assert.equal(live.takesDrags, true);
  assert.match(ed.calls.filter((c) => c[0] === "status").at(-1)[1], /^Generating: drag a point or a region to steer it/);
});

test("a record too long for the workflow is kept as a reference to its file, not as text", () => {
  const ed = fakeEditor();
  const live = new LiveRun(ed);
  live.onSession({ session: "long", width: 128, height: 128, fps: 16 });
  const before = ed.state.tracks;
  live.onDone({ session: "long", reason: "stopped", recorded: null, recorded_in_file: true,
    tracks_file: { filename: "MotionStream_00003.tracks.json", subfolder: "video", type: "output" },
    video: { filename: "MotionStream_00003.mp4", subfolder: "video" } });
  assert.deepEqual(ed.state.extra.recorded_file, { filename: "MotionStream_00003.tracks.json", subfolder: "video", type: "output" });
  assert.deepEqual(ed.state.tracks, before, "the drawn tracks stay in the editor");
  assert.equal(ed.calls.filter((c) => c[0] === "status").at(-1)[1],
    "Run stopped · its tracks are kept in output/video/MotionStream_00003.tracks.json (too long for the workflow): " +
    "re-queueing replays them, editing the tracks starts anew · saved to output/video/MotionStream_00003.mp4");
});

test("the run's drag mode (from its session event) says why a warp run without a start image takes no drags", () => {
  const ed = fakeEditor();
  const live = new LiveRun(ed);
  live.onSession({ session: "w", width: 64, height: 48, fps: 16, max_tracks: 0, drag_mode: "warp" });
  assert.equal(ed.calls.filter((c) => c[0] === "status").at(-1)[1],
    "Generating: no drags without a start image (warp mode cuts and drags its regions): connect one to Generate's image for the next run");
  live.onSession({ session: "w2", width: 64, height: 48, fps: 16, max_tracks: 1024, drag_mode: "warp" });
  assert.match(ed.calls.filter((c) => c[0] === "status").at(-1)[1], /^Generating: \(drag mode warp\) drag a point or a region/);
});
