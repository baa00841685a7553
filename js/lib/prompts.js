// Live prompt switching (models that read the prompt text: a causal Wan model with the Wan text encoder
// connected to its loader, or the demo). Typing in the Generate node's `prompt` while it streams posts
// the new prompt (POST /motionstream/prompt) once typing pauses; the run's prompt schedule comes back in
// the done event and is kept in editor_state ("prompts": [{"chunk", "text"}]) so that re-queueing with
// the same seed replays the switches exactly.

import { realClock } from "./throttle.js";

export const PROMPT_SETTLE_MS = 1200; // typing pause before a prompt is sent (each switch re-caches the window)

/** `extra` (the editor state's unknown top-level keys) with the run's prompt schedule, or without one. */
export function withPrompts(extra, prompts) {
  const out = { ...(extra || {}) };
  if (Array.isArray(prompts) && prompts.length) out.prompts = prompts.map((p) => ({ chunk: p.chunk, text: p.text }));
  else delete out.prompts;
  return out;
}

/**
 * debounce(fn, ms) -> {call(...args), cancel()}: runs fn once, `ms` after the last call, with its arguments.
 * `clock` defaults to the page's timers called as plain functions: a browser refuses `setTimeout` called as a
 * method of another object ("Illegal invocation"), so never pass `{ setTimeout, clearTimeout }` here.
 */
export function debounce(fn, ms, clock = realClock) {
  let timer = null;
  return {
    call(...args) {
      if (timer !== null) clock.clearTimeout(timer);
      timer = clock.setTimeout(() => {
        timer = null;
        fn(...args);
      }, ms);
    },
    cancel() {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
    },
  };
}
