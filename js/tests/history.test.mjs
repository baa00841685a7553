import { test } from "node:test";
import assert from "node:assert/strict";
import { UndoStack } from "../lib/history.js";

test("undo and redo walk back and forth through snapshots", () => {
  const h = new UndoStack();
  let cur = "A";
  const edit = (next) => {
    h.record(cur);
    cur = next;
  };
  edit("B");
  edit("C");
  assert.ok(h.canUndo);
  assert.ok(!h.canRedo);
  cur = h.undo(cur);
  assert.equal(cur, "B");
  cur = h.undo(cur);
  assert.equal(cur, "A");
  assert.equal(h.undo(cur), null);
  cur = h.redo(cur);
  assert.equal(cur, "B");
  cur = h.redo(cur);
  assert.equal(cur, "C");
  assert.equal(h.redo(cur), null);
});

test("a new edit after undo clears redo", () => {
  const h = new UndoStack();
  h.record("A");
  let cur = h.undo("B");
  assert.equal(cur, "A");
  assert.ok(h.canRedo);
  h.record(cur);
  assert.ok(!h.canRedo);
});

test("recording the same snapshot twice is one step", () => {
  const h = new UndoStack();
  assert.equal(h.record("A"), true);
  assert.equal(h.record("A"), false);
  assert.equal(h.undos.length, 1);
});

test("edits with the same key close together coalesce into one undo step", () => {
  let t = 0;
  const h = new UndoStack({ coalesceMs: 500, now: () => t });
  h.record("A", "spacing");
  t = 100;
  h.record("B", "spacing");
  t = 300;
  h.record("C", "spacing");
  assert.equal(h.undos.length, 1);
  t = 2000;
  h.record("D", "spacing");
  assert.equal(h.undos.length, 2);
  h.record("E", "other");
  assert.equal(h.undos.length, 3);
  assert.equal(h.undo("F"), "E");
  h.record("G", "other"); // undo breaks a burst
  assert.equal(h.undos.length, 3);
});

test("the stack is bounded, oldest first out", () => {
  const h = new UndoStack({ limit: 3 });
  for (const s of ["1", "2", "3", "4", "5"]) h.record(s);
  assert.deepEqual(h.undos, ["3", "4", "5"]);
});

test("clear forgets everything", () => {
  const h = new UndoStack();
  h.record("A");
  h.undo("B");
  h.clear();
  assert.ok(!h.canUndo && !h.canRedo);
});
