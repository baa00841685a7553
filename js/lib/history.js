// Undo/redo of editor states. Snapshots are stored as immutable strings (the
// serialised state), so nothing a later edit does can change history.
//
// Usage: before changing the state, call record(currentSnapshot, key?).
// undo(current) returns the snapshot to restore (and keeps `current` for
// redo); redo(current) goes the other way. A `key` coalesces a burst of
// edits of the same kind (e.g. typing in a number box) into one undo step
// when they come within `coalesceMs` of each other.

export class UndoStack {
  constructor({ limit = 200, coalesceMs = 800, now = () => Date.now() } = {}) {
    this.limit = limit;
    this.coalesceMs = coalesceMs;
    this.now = now;
    this.undos = [];
    this.redos = [];
    this.lastKey = null;
    this.lastTime = -Infinity;
  }

  /** Remember `snapshot` (the state before an edit). Clears redo. */
  record(snapshot, key = null) {
    const t = this.now();
    const top = this.undos[this.undos.length - 1];
    const coalesce = key !== null && key === this.lastKey && t - this.lastTime <= this.coalesceMs;
    this.lastKey = key;
    this.lastTime = t;
    this.redos.length = 0;
    if (coalesce) return false;
    if (top === snapshot) return false;
    this.undos.push(snapshot);
    if (this.undos.length > this.limit) this.undos.splice(0, this.undos.length - this.limit);
    return true;
  }

  get canUndo() {
    return this.undos.length > 0;
  }

  get canRedo() {
    return this.redos.length > 0;
  }

  /** Snapshot to go back to, or null. `current` becomes redoable. */
  undo(current) {
    if (!this.undos.length) return null;
    this.redos.push(current);
    this.lastKey = null;
    return this.undos.pop();
  }

  /** Snapshot to go forward to, or null. `current` becomes undoable. */
  redo(current) {
    if (!this.redos.length) return null;
    this.undos.push(current);
    this.lastKey = null;
    return this.redos.pop();
  }

  /** Forget everything (a new document was loaded). */
  clear() {
    this.undos.length = 0;
    this.redos.length = 0;
    this.lastKey = null;
  }
}
