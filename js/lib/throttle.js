// Rate limiting for live steering: pointer moves arrive at 60-240 Hz, the
// server accepts up to 120 Hz; we post at ~40 Hz, always ending with the
// latest position.

export const realClock = Object.freeze({
  now: () => (typeof performance !== "undefined" ? performance.now() : Date.now()),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
});

/**
 * throttle(fn, intervalMs) -> {call(...args), flush(), cancel(), pending}
 *
 * - the first call runs at once (leading edge);
 * - calls within the interval are merged: only the latest arguments run,
 *   once, when the interval has passed (trailing edge);
 * - calls are never closer than intervalMs;
 * - flush() runs a pending call now; cancel() drops it.
 */
export function throttle(fn, intervalMs, clock = realClock) {
  let last = -Infinity;
  let timer = null;
  let pendingArgs = null;

  const run = (args) => {
    last = clock.now();
    pendingArgs = null;
    fn(...args);
  };
  const onTimer = () => {
    timer = null;
    if (pendingArgs) run(pendingArgs);
  };

  return {
    call(...args) {
      const now = clock.now();
      const wait = last + intervalMs - now;
      if (wait <= 0 && timer === null) {
        run(args);
        return;
      }
      pendingArgs = args;
      if (timer === null) timer = clock.setTimeout(onTimer, Math.max(0, wait));
    },
    flush() {
      if (timer !== null) {
        clock.clearTimeout(timer);
        timer = null;
      }
      if (pendingArgs) run(pendingArgs);
    },
    cancel() {
      if (timer !== null) clock.clearTimeout(timer);
      timer = null;
      pendingArgs = null;
    },
    get pending() {
      return pendingArgs !== null;
    },
  };
}

/** Hz -> interval in ms, kept inside [minHz, maxHz]. */
export function hzToInterval(hz, minHz = 30, maxHz = 60) {
  const h = Math.min(maxHz, Math.max(minHz, Number(hz) || minHz));
  return 1000 / h;
}
