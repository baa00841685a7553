// ComfyUI-MotionStream browser extension: the trajectory editor + stream
// viewer on the MotionStreamGenerate node.
//
// Host conventions used (ComfyUI frontend 1.27):
// - app.registerExtension({...}) with beforeRegisterNodeDef / getCustomWidgets;
// - the node's STRING input `editor_state` is given widgetType
//   MOTIONSTREAM_EDITOR in beforeRegisterNodeDef, so the frontend builds our
//   DOM widget (node.addDOMWidget) for it instead of a textarea; its value
//   is the editor-state JSON, saved in widgets_values and sent with the
//   prompt like any widget value;
// - server events through api.addEventListener("motionstream.*"),
//   requests through api.fetchApi.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { MotionStreamEditor } from "./ui/editor.js";
import { dragModeOf, noTracksNotice } from "./lib/notracks.js";
import { PROMPT_SETTLE_MS, debounce } from "./lib/prompts.js";

const NODE_CLASS = "MotionStreamGenerate";
const WIDGET_NAME = "editor_state";
const WIDGET_TYPE = "MOTIONSTREAM_EDITOR";

const editors = new Set();
const backend = { ok: null, message: "", version: null };

async function checkBackend() {
  try {
    const res = await api.fetchApi("/motionstream/health", { cache: "no-store" });
    const body = await res.json().catch(() => null);
    if (res.ok && body && body.ok) {
      Object.assign(backend, { ok: true, message: "", version: body.version || null, running: body.running || [] });
    } else {
      const why = body && body.error ? `: ${body.error}` : ` (GET /motionstream/health answered ${res.status})`;
      Object.assign(backend, {
        ok: false,
        message: `MotionStream backend not loaded${why}. Live steering and streaming are unavailable; check the ComfyUI console for errors from ComfyUI-MotionStream and restart.`,
      });
    }
  } catch (e) {
    Object.assign(backend, { ok: false, message: `MotionStream backend not reachable: ${e.message || e}` });
  }
  for (const ed of editors) ed.onBackend(backend);
  noteRunningElsewhere();
  return backend;
}

/** A page that did not queue a run (another tab, another client) gets no events of it: say so. */
function noteRunningElsewhere() {
  const running = new Set((backend.running || []).map(String));
  for (const ed of editors) {
    if (!ed.isLive() && running.has(String(ed.node.id))) ed.status(RUNNING_ELSEWHERE);
  }
}

const RUNNING_ELSEWHERE = "This node is running for another tab or client: its frames stream there (only the page " +
  "that queued a run receives and steers it). This page shows the result when it is queued from here.";
let recheck = null;

/** The editor of the node a server event names (ids of nodes inside subgraphs are "a:b"). */
function editorFor(nodeId) {
  const id = String(nodeId ?? "");
  let suffix = null;
  for (const ed of editors) {
    const nid = String(ed.node.id);
    if (nid === id) return ed;
    if (id.endsWith(`:${nid}`)) suffix = ed;
  }
  return suffix;
}

/** Say which drag mode the node's run will use and why (or that the model takes no drags); clear it when
 *  there is nothing to say. Not while the node runs: the run's own status says it then. */
function showNoTracksNotice(node) {
  const ed = node?.motionstreamEditor;
  if (!ed || ed.isLive()) return;
  const notice = noTracksNotice(node);
  if (notice) ed.status(notice, dragModeOf(node).mode === "invalid" ? "error" : "info");
  else if (ed.dom?.status?.textContent === ed.lastNotice) ed.status("");
  ed.lastNotice = notice;
}

/** Typing in the node's `prompt` while it streams switches the prompt at the next chunk (once typing pauses). */
function linkPromptWidget(node, ed) {
  const widget = node.widgets?.find((w) => w.name === "prompt");
  if (!widget) return;
  const send = debounce(async (text) => {
    if (!ed.isLive() || !text.trim()) return;
    const res = await ed.live.post("/motionstream/prompt", { session: ed.stream.sessionId, prompt: text });
    const body = await res.json().catch(() => ({}));
    if (res.ok) ed.status(`New prompt from chunk ${body.chunk + 1} (the cached window is re-encoded under it)`);
    else ed.status(`Prompt not switched (${res.status}): ${body.error || res.statusText}`, "error");
  }, PROMPT_SETTLE_MS);
  const callback = widget.callback;
  widget.callback = function (value, ...rest) {
    if (ed.isLive()) send.call(String(value ?? ""));
    return callback?.call(this, value, ...rest);
  };
}

function liveEditors() {
  return [...editors].filter((ed) => ed.isLive());
}

function makeHost(node, getWidget) {
  return {
    fetchApi: (route, init) => api.fetchApi(route, init),
    apiURL: (route) => api.apiURL(route),
    backend: () => backend,
    clientId: () => api.clientId ?? api.initialClientId ?? null,
    forwardPointer(kind, e) {
      const c = app.canvas;
      if (!c) return;
      if (kind === "down") c.processMouseDown?.(e);
      else if (kind === "move") c.processMouseMove?.(e);
      else c.processMouseUp?.(e);
    },
    forwardWheel(e) {
      app.canvas?.processMouseWheel?.(e);
    },
    onChange(text) {
      const w = getWidget();
      w?.callback?.(text);
      node.setDirtyCanvas?.(true, false);
      // let the workflow's change tracker see the edit (modified flag, graph-level undo step)
      const c = app.canvas;
      if (c?.emitBeforeChange && c?.emitAfterChange) {
        c.emitBeforeChange();
        c.emitAfterChange();
      }
    },
  };
}

function createEditorWidget(node, inputName, inputData) {
  let widget = null;
  const ed = new MotionStreamEditor(makeHost(node, () => widget), node);
  widget = node.addDOMWidget(inputName, WIDGET_TYPE, ed.dom.root, {
    getValue: () => ed.getValue(),
    setValue: (v) => ed.setValue(v),
    getMinHeight: () => 300,
    onDraw: () => ed.onHostDraw(),
    hideOnZoom: true,
  });
  widget.options.socketless = true;
  widget.motionstream = ed;
  node.motionstreamEditor = ed;
  const def = inputData?.[1]?.default;
  if (typeof def === "string" && def.trim()) ed.setValue(def);
  editors.add(ed);
  ed.onBackend(backend);
  const prevRemoved = node.onRemoved;
  node.onRemoved = function (...args) {
    editors.delete(ed);
    ed.destroy();
    return prevRemoved?.apply(this, args);
  };
  return { widget, minWidth: 420, minHeight: 480 };
}

app.registerExtension({
  name: "MotionStream.Editor",

  async setup() {
    api.addEventListener("motionstream.session", (e) => editorFor(e.detail?.node)?.live.onSession(e.detail));
    api.addEventListener("motionstream.frames", (e) => editorFor(e.detail?.node)?.live.onFrames(e.detail));
    api.addEventListener("motionstream.done", (e) => {
      editorFor(e.detail?.node)?.live.onDone(e.detail);
    });
    // if a run dies without its done event, leave live mode anyway
    api.addEventListener("execution_interrupted", () => liveEditors().forEach((ed) => ed.live.end({ reason: "interrupted" })));
    api.addEventListener("execution_error", (e) => {
      const message = e.detail?.exception_message || "";
      const failed = editorFor(e.detail?.node_id);
      failed?.live.onError(message);
      liveEditors().forEach((ed) => ed !== failed && ed.live.end({ reason: "error", message }));
    });
    api.addEventListener("executing", (e) => {
      if (e.detail == null) liveEditors().forEach((ed) => ed.live.end({}));
      else editorFor(e.detail)?.live.onStarting();
    });
    // after every queue: the host's validation errors per node (a refused prompt never runs)
    api.addEventListener("promptQueued", () => {
      for (const ed of editors) ed.live.onQueued(app.lastNodeErrors || null);
    });
    await checkBackend();
  },

  beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData?.name !== NODE_CLASS) return;
    // The editor's canvas is where the stream plays: no second (progress) preview image under it.
    // Without the editor (it failed to start), the host's preview stays as the fallback.
    const drawBackground = nodeType.prototype.onDrawBackground;
    nodeType.prototype.onDrawBackground = function (...args) {
      if (!this.motionstreamEditor) return drawBackground?.apply(this, args);
      const i = this.widgets?.findIndex((w) => w.name === "$$canvas-image-preview") ?? -1;
      if (i >= 0) {
        this.widgets[i].onRemove?.();
        this.widgets.splice(i, 1);
      }
    };
    const connectionsChange = nodeType.prototype.onConnectionsChange;
    nodeType.prototype.onConnectionsChange = function (...args) {
      const result = connectionsChange?.apply(this, args);
      showNoTracksNotice(this);
      return result;
    };
    let found = false;
    for (const group of ["required", "optional"]) {
      const spec = nodeData.input?.[group]?.[WIDGET_NAME];
      if (!Array.isArray(spec)) continue;
      spec[1] = { ...(spec[1] || {}), widgetType: WIDGET_TYPE };
      found = true;
    }
    if (!found) console.warn(`[MotionStream] ${NODE_CLASS} has no '${WIDGET_NAME}' input; the trajectory editor is not shown`);
  },

  nodeCreated(node) {
    const ed = node.motionstreamEditor;
    if (!ed) return;
    ed.controls.linkFramesWidget(node.widgets?.find((w) => w.name === "frames"));
    linkPromptWidget(node, ed);
    const mode = node.widgets?.find((w) => w.name === "drag_mode");
    if (mode) {
      const callback = mode.callback;
      mode.callback = function (...args) {
        const result = callback?.apply(this, args);
        showNoTracksNotice(node);
        return result;
      };
    }
    // A new node replays what it streamed when re-queued: that needs the same seed, so its seed is
    // "fixed", not the host's "randomize" (a loaded workflow sets its own value after this).
    const control = node.widgets?.find((w) => w.name === "control_after_generate");
    if (control) control.value = "fixed";
  },

  loadedGraphNode(node) {
    showNoTracksNotice(node); // a loaded workflow's links exist only now
    if (node.motionstreamEditor && !recheck) {
      recheck = setTimeout(() => {
        recheck = null;
        checkBackend();
      }, 0);
    }
  },

  getCustomWidgets() {
    return { [WIDGET_TYPE]: createEditorWidget };
  },
});

// for the browser tests and for debugging from the console
window.MotionStream = { editors, backend, checkBackend, editorFor };
