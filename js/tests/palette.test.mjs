import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { PALETTE, trackColor, hexToRgb, withAlpha, kindStyle, KIND_STYLE } from "../lib/palette.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DRAW_PY = join(root, "motionstream_core", "motion", "draw.py");

/** Read `PALETTE = (...)` / `[...]` from the Python source: the hex strings in order. */
export function readPythonPalette(src) {
  const m = /^PALETTE\s*(?::[^=]*)?=\s*[([]([\s\S]*?)[)\]]/m.exec(src);
  if (!m) return null;
  return [...m[1].matchAll(/["'](#[0-9a-fA-F]{3,8})["']/g)].map((x) => x[1]);
}

test("the widget palette is the Python drawing palette (motionstream_core/motion/draw.py)", (t) => {
  if (!existsSync(DRAW_PY)) {
    t.skip("motionstream_core/motion/draw.py is not there yet");
    return;
  }
  const py = readPythonPalette(readFileSync(DRAW_PY, "utf8"));
  assert.ok(py && py.length > 0, "could not find PALETTE in draw.py");
  assert.deepEqual([...PALETTE].map((c) => c.toLowerCase()), py.map((c) => c.toLowerCase()));
});

test("readPythonPalette reads tuples, lists and annotated assignments", () => {
  assert.deepEqual(readPythonPalette('PALETTE = ("#ff0000", "#00ff00")\n'), ["#ff0000", "#00ff00"]);
  assert.deepEqual(readPythonPalette("PALETTE: tuple[str, ...] = (\n    '#abc',\n    '#123456',  # blue\n)\n"), ["#abc", "#123456"]);
  assert.deepEqual(readPythonPalette('X = 1\nPALETTE = [\n "#010203",\n]\n'), ["#010203"]);
  assert.equal(readPythonPalette("nothing here"), null);
});

test("track i uses PALETTE[i % n], negative indices wrap", () => {
  const n = PALETTE.length;
  assert.equal(trackColor(0), PALETTE[0]);
  assert.equal(trackColor(n + 2), PALETTE[2]);
  assert.equal(trackColor(-1), PALETTE[n - 1]);
});

test("palette entries are distinct #rrggbb colours", () => {
  assert.ok(PALETTE.length >= 8);
  assert.equal(new Set(PALETTE.map((c) => c.toLowerCase())).size, PALETTE.length);
  for (const c of PALETTE) assert.match(c, /^#[0-9a-fA-F]{6}$/);
});

test("colour helpers", () => {
  assert.deepEqual(hexToRgb("#ff8000"), [255, 128, 0]);
  assert.deepEqual(hexToRgb("#abc"), [170, 187, 204]);
  assert.throws(() => hexToRgb("red"));
  assert.equal(withAlpha("#000000", 0.5), "rgba(0,0,0,0.5)");
});

test("live, static and pre-drawn points are told apart by ring colour", () => {
  const rings = new Set(["drag", "static", "live"].map((k) => kindStyle(k).ring));
  assert.equal(rings.size, 3);
  assert.equal(kindStyle("nonsense"), KIND_STYLE.drag);
});
