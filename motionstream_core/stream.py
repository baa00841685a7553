"""The streaming generator: inputs -> chunks of frames, steering in, constant cost per chunk.

Per chunk of ``chunk_frames`` latent frames (12 video frames):

1. tracks for the chunk's pixel frames (planned + live, recorded) -> track latent (track head);
2. ``steps`` denoising passes at warped sigmas (shift 5): predict x0, re-noise to the next sigma (a refining
   stream, ``StreamConfig.start_sigma`` < 1, starts from its image slot noised to the scaled first sigma);
3. one clean pass at t = 0 writes the chunk's keys/values into the sink / rolling window;
4. the codec decodes the chunk's latents (carried decoder state) -> frames, yielded at once.

    session = MotionStream(model, codec).session(image, text, tracks=..., steering=..., seed=0)
    for chunk in session:          # chunk.frames [F, H, W, 3] float in [0, 1], on the CPU
        show(chunk.frames)
    session.recorded_tracks()      # what was used, live drags included: replays exactly

Same seed and inputs -> identical output. ``num_frames=None`` streams until stopped. Closing the
session (or breaking out of the loop) frees the cache.

Text-to-video causal students (Self-Forcing family, ``config.track_head is None``) take no tracks:
``image=None`` streams from the prompt alone at ``size`` (default the model's native size); a start
image is encoded and *prefills* the cache as chunk 0 (its latent repeated over the chunk's latent
frames, since the cache and sink take whole chunks), which is also the first chunk of the video.

Prompt switch (LongLive's KV re-cache): a new prompt posted with ``Steering.switch_prompt`` (or a
``PromptSwitch`` replayed via ``prompts=``) takes effect at the next chunk boundary; the chunks in the
rolling window are re-encoded under the new prompt (clean pass at t = 0, oldest first, the sink kept
as it is, like LongLive's ``global_sink``), so the scene moves on without a hard cut. Every switch is
recorded in ``session.prompt_switches``: passing them as ``prompts=`` with the same seed replays the
video exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .dit import ContextKV
from .denoise import chunk_start, clean_pass, denoise_chunk, denoising_sigmas, new_cache
from .kv_cache import RollingKVCache
from .model import MotionStreamModel
from .drag_mode import WARP_MAX_TRACKS, DragMode, resolve_drag
from .reference import DEFAULT_RADIUS, ReferenceBuilder, decode_start, warp_radius
from .steering import ControlPlan, Steering
from .track_head import AppearanceMemory, TrackAnchors, assign_track_ids, pixel_range
from .stream_parts import (ChunkTiming, PromptSwitch, StreamChunk, StreamInputs, TextCondition,  # noqa: F401
                           _check_tracks_fit, _prompt_schedule, frames_to_chunks, start_image, stream_inputs)
from .tracks import Tracks

log = logging.getLogger("motionstream")


@dataclass
class _CleanPass:
    """The inputs of one chunk's cache-writing pass (t = 0), kept while the chunk is in the window."""

    latents: Tensor  # [1, C, F, h, w]
    track_latent: Tensor | None
    image_slot: Tensor | None


@dataclass
class _RunState:
    """What one iteration of a session works with, made by ``_setup`` and freed when it ends."""

    ctx: ContextKV  # the text's cross-attention keys/values (replaced by a prompt switch)
    image_latent: Tensor | None  # [1, C, 1, h, w] model-space start image (None: text only)
    cache: RollingKVCache
    gen: torch.Generator  # the session's noise, seeded
    ids: Tensor | None  # the track IDs of the track slots (None: a model without track head)
    latent_hw: tuple[int, int]
    window: deque  # the clean-pass inputs of the chunks now in the rolling window, for a re-cache
    anchors: TrackAnchors | None = None  # per-slot track starts (models with a track head)
    appearance: AppearanceMemory | None = None  # per-slot track appearance at the anchors (appearance_channels)
    reference: ReferenceBuilder | None = None  # the chunks' references (models whose image slot is one)


class MotionStream:
    """A model + a codec, ready to stream. One instance can run many sessions, one at a time."""

    def __init__(self, model: MotionStreamModel, codec, steps: int | None = None, drag: DragMode | None = None):
        self.model = model.eval()
        self.codec = codec
        self.config = model.config
        self.sigmas = denoising_sigmas(self.config.stream, steps)
        self.steps = len(self.sigmas)
        # how drags become motion (``drag_mode``): by default the track head, or the dual clock for a model without
        self.drag = resolve_drag(self.config, self.sigmas) if drag is None else drag.validate()
        if self.drag.mode == "model" and not self.config.takes_tracks:
            raise ValueError(f"model {self.config.name!r} has no track head: it takes drags in warp mode only")

    def session(self, image: Tensor | np.ndarray | None, text: TextCondition | str, tracks: Tracks | None = None,
                steering: Steering | None = None, num_frames: int | None = None, seed: int = 0,
                on_pause=None, size: tuple[int, int] | None = None,
                prompts: tuple[PromptSwitch, ...] | list[PromptSwitch] = ()) -> "StreamSession":
        """``size`` (width, height): for ``image=None`` (text-to-video models). ``prompts``: switches to
        replay (e.g. a previous session's ``prompt_switches``). The inputs are checked by ``stream_inputs``."""
        inputs = stream_inputs(self.config, self.drag.warp, image, text, tracks, num_frames, seed, size, prompts)
        return self.open(inputs, steering, on_pause)

    def open(self, inputs: StreamInputs, steering: Steering | None = None, on_pause=None) -> "StreamSession":
        """A session over checked inputs (``stream_inputs``; ``pipeline.Pipeline.prepare`` makes them)."""
        return StreamSession(self, inputs, steering, on_pause)


class StreamSession:
    def __init__(self, stream: MotionStream, inputs: StreamInputs, steering: Steering | None = None, on_pause=None):
        if not isinstance(inputs, StreamInputs):
            raise TypeError(f"a stream session takes StreamInputs (stream_inputs checks them), got "
                            f"{type(inputs).__name__}")
        cfg = stream.config
        self.stream, self.model, self.cfg = stream, stream.model, cfg
        self.takes_tracks = cfg.takes_tracks
        self.drag = stream.drag
        self.inputs = inputs
        self.image = None if inputs.image is None else inputs.image.permute(2, 0, 1)[None].contiguous()
        self.width, self.height = inputs.width, inputs.height
        self.prompts = _prompt_schedule(inputs.prompts)
        self.prompt_switches: list[PromptSwitch] = []  # what this session used: replays it with the same seed
        self.text = inputs.text
        self.steering = steering or Steering()
        self.num_frames = inputs.num_frames
        self.seed = inputs.seed
        self.plan = ControlPlan(inputs.tracks, self.width, self.height, cfg.stream.fps)
        self.on_pause = on_pause
        self.on_step = None  # called (chunk, step, sigma, x, reference) before each denoising pass (tests, probes)
        self.frames_out = 0
        self._closed = False

    # -- setup -------------------------------------------------------------------------------------

    def _setup(self) -> _RunState:
        model, cfg = self.model, self.cfg
        dev, dtype = model.device, model.dtype
        s = cfg.spatial_stride
        h, w = self.height // s, self.width // s
        ctx = self._context(self.text)
        self.codec = self.stream.codec
        self.codec.reset()
        image_latent = None if self.image is None else self.codec.encode_image(self.image.to(dev)).to(dev, dtype)
        cache = new_cache(model, 1, h, w)
        self.cache_nbytes = cache.nbytes()
        gen = torch.Generator(device=dev).manual_seed(self.seed)
        ids = assign_track_ids(cfg.track_head.max_tracks, self.seed, cfg.track_head.max_id) if self.takes_tracks else None
        anchors = TrackAnchors(len(ids) if self.takes_tracks else WARP_MAX_TRACKS, dev) if self.drags else None
        appearance = None
        if self.takes_tracks and cfg.track_head.appearance_channels:
            appearance = AppearanceMemory(image_latent[0, :, 0], len(ids), self.height, self.width, anchors)
        reference = None
        if self.drag.warp and self.image is not None:  # the reference is cut from the start image itself
            radius = warp_radius(cfg, self.height, self.width) if cfg.parameterisation.warps else \
                DEFAULT_RADIUS * min(self.height, self.width)
            reference = ReferenceBuilder(self.codec, self.image.to(dev), image_latent, radius)
        elif cfg.parameterisation.warps:
            # the start image as the run's codec reconstructs it: what the model's slots were built from in training
            # (its clips hold latents); the image itself moves the frames by ~1e-2 from what the model learned
            start = decode_start(self.codec, image_latent)
            reference = ReferenceBuilder(self.codec, start, image_latent, warp_radius(cfg, self.height, self.width))
        return _RunState(ctx, image_latent, cache, gen, ids, (h, w), deque(maxlen=cfg.stream.window_chunks),
                         anchors, appearance, reference)

    def _context(self, text: TextCondition | str) -> ContextKV:
        model = self.model
        if isinstance(text, str):
            text = TextCondition(model.encode_text([text]))
        dev, dtype = model.device, model.dtype
        # a MotionStream model streams without CLIP image tokens: no training stage feeds them (teacher, ODE and DMD
        # run its image cross-attention branch empty), so its student was never distilled with them
        clip = None if text.clip is None or self.takes_tracks else text.clip.to(dev, dtype)
        return model.dit.context_kv(text.context.to(dev, dtype), clip)

    # -- iteration ---------------------------------------------------------------------------------

    def __iter__(self):
        if self._closed:
            raise RuntimeError("this stream session has ended; start a new one")
        state = self._setup()
        C = self.cfg.stream.chunk_frames
        total = None if self.num_frames is None else frames_to_chunks(self.num_frames, C)
        try:
            index = 0
            while total is None or index < total:
                while not self.steering.wait_while_paused(0.1):
                    if self.on_pause is not None:
                        self.on_pause()  # e.g. raise if the host was interrupted while paused
                snap = self.steering.snapshot()
                if snap.stopped:
                    break
                if self.drags:
                    if snap.tracks is not None:
                        _check_tracks_fit(snap.tracks, self.width, self.height, self.cfg.stream.fps)
                        self.plan.replace_plan(snap.tracks)
                    self.plan.apply_live(snap.points)
                elif snap.points or snap.tracks is not None:
                    log.warning("MotionStream: model %r takes no tracks; the drags are not used", self.cfg.name)
                self.steering.chunk = index
                text = snap.text if snap.text is not None else self.prompts.get(index)
                recache_s = None
                if text is not None:
                    t0 = time.perf_counter()
                    state.ctx = self._context(text)
                    self.prompt_switches.append(PromptSwitch(index, text))
                    self._recache(state)
                    recache_s = time.perf_counter() - t0
                if state.image_latent is not None and not self.takes_tracks and index == 0:
                    if self.drag.warp:  # the drags' first frames pass under the image start: the reference follows
                        self._chunk_tracks(index, state)
                    chunk = self._prefix_chunk(state)
                else:
                    chunk = self._chunk(index, state)
                if recache_s:
                    chunk.timing = dataclasses.replace(chunk.timing, recache_s=recache_s)
                if self.num_frames is not None:
                    keep = self.num_frames - chunk.start_frame
                    chunk.frames = chunk.frames[:keep]
                self.frames_out = chunk.start_frame + chunk.frames.shape[0]
                yield chunk
                index += 1
        finally:
            state.cache.free()
            self._closed = True

    @torch.no_grad()
    def _chunk(self, index: int, state: _RunState) -> StreamChunk:
        t0 = time.perf_counter()
        ctx, cache, gen, ids = state.ctx, state.cache, state.gen, state.ids
        model, cfg = self.model, self.cfg
        C, pack = cfg.stream.chunk_frames, cfg.temporal_stride
        dev, dtype = model.device, model.dtype
        first_latent = index * C
        # 1. tracks -> track latent (models with a track head) and the chunk's reference (warp mode)
        p0, p1 = pixel_range(first_latent, C, pack)
        track_latent = image_slot = None
        path, vis, anchors, ref = self._chunk_tracks(index, state)
        if self.takes_tracks:
            app = None if state.appearance is None else state.appearance.update(path, vis)
            track_latent = model.track_head.encode(path, vis, ids[:path.shape[1]], self.height, self.width,
                                                   starts_video=index == 0, appearance=app).to(dtype)
            slot = None
            if cfg.parameterisation.warps:  # the model's slot is its start image moved along the tracks
                slot = ref.latents if ref is not None else \
                    state.reference.kernel(path[None], vis[None], tuple(a[None] for a in anchors))
            image_slot = model.image_slot(state.image_latent, C, first_latent, slot)
        # 2. denoising steps (warp mode, once a drag has started: the dual clock, ``drag_mode``)
        cache.begin_chunk(C)
        shape = (1, cfg.latent_channels, C, *state.latent_hw)
        ref = ref if ref is not None and bool(anchors[1].any()) else None
        sigmas = self.stream.sigmas if ref is None else self.drag.sigmas(self.stream.sigmas)
        def noise() -> Tensor:
            return torch.randn(shape, generator=gen, device=dev, dtype=torch.float32).to(dtype)

        start_noise = noise()
        if ref is None:
            x = chunk_start(cfg.stream, start_noise, image_slot, sigmas[0])
        else:
            x = self.drag.start(ref.latents, start_noise, sigmas)

        def before_step(k: int, sigma: float, x: Tensor) -> Tensor:
            if ref is not None and k > 0:  # the dragged cells: the reference, re-noised with the start noise
                x = self.drag.hold(x, ref.latents, ref.held, start_noise, sigma)
            if self.on_step is not None:
                self.on_step(index, k, sigma, x, ref)
            return x

        x0 = denoise_chunk(model, x, sigmas, track_latent, image_slot, ctx, cache, noise, before_step=before_step)
        # 3. clean pass writes the cache
        if clean_pass(model, x0, track_latent, image_slot, ctx, cache) == "window":
            state.window.append(_CleanPass(x0, track_latent, image_slot))
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t1 = time.perf_counter()
        # 4. decode
        frames = self.codec.decode_chunk(x0)[0].float().cpu()
        t2 = time.perf_counter()
        return StreamChunk(index, p0, frames, x0, ChunkTiming(t1 - t0, t2 - t1))

    def _chunk_tracks(self, index: int, state: _RunState):
        """The tracks of chunk ``index``'s pixel frames (planned + live, recorded) -> (path [T, N, 2], visible [T, N],
        anchors (xy [N, 2], seen [N]), the chunk's ``Reference`` in warp mode else None); (None,) * 4 without drags."""
        if not self.drags:
            return None, None, None, None
        p0, p1 = pixel_range(index * self.cfg.stream.chunk_frames, self.cfg.stream.chunk_frames,
                             self.cfg.temporal_stride)
        path, vis = self.plan.frames(p0, p1)
        if path.shape[1] > len(state.anchors.seen):
            raise ValueError(f"{path.shape[1]} tracks exceed this model's limit of {len(state.anchors.seen)}")
        path, vis = torch.from_numpy(path), torch.from_numpy(vis)
        anchors = state.anchors.update(path, vis)  # [N, 2], [N]
        ref = None
        if self.drag.warp:
            camera = torch.tensor([k == "camera" for k in self.plan.kinds], dtype=torch.bool)
            ref = state.reference.warp(path, vis, anchors, self.plan.regions, camera)
        return path, vis, anchors, ref

    @property
    def drags(self) -> bool:
        """Whether this run reads tracks: a model with a track head, or warp mode with a start image."""
        return self.takes_tracks or (self.drag.warp and self.image is not None)

    @torch.no_grad()
    def _write_cache(self, inputs: _CleanPass, state: _RunState, remember: bool) -> None:
        """One clean pass (t = 0) that writes ``inputs.latents`` into the cache as the next chunk; ``remember``:
        keep the inputs while the chunk is in the rolling window, for a re-cache (which itself does not)."""
        state.cache.begin_chunk(inputs.latents.shape[2])
        went = clean_pass(self.model, inputs.latents, inputs.track_latent, inputs.image_slot, state.ctx, state.cache)
        if went == "window" and remember:
            state.window.append(inputs)

    def _recache(self, state: _RunState) -> None:
        """Re-encode the rolling window's chunks under a new prompt, oldest first (the sink is kept)."""
        if not state.window:
            return
        state.cache.restart_window()
        for inputs in list(state.window):
            self._write_cache(inputs, state, remember=False)

    @torch.no_grad()
    def _prefix_chunk(self, state: _RunState) -> StreamChunk:
        """Image start of a text-to-video student: the image latent, repeated over a whole chunk, is written
        into the cache (Self-Forcing's ``initial_latent`` prefill) and decoded as the video's first chunk."""
        t0 = time.perf_counter()
        latents = state.image_latent.expand(-1, -1, self.cfg.stream.chunk_frames, -1, -1).contiguous()
        self._write_cache(_CleanPass(latents, None, None), state, remember=True)
        t1 = time.perf_counter()
        frames = self.codec.decode_chunk(latents)[0].float().cpu()
        t2 = time.perf_counter()
        return StreamChunk(0, 0, frames, latents, ChunkTiming(t1 - t0, t2 - t1))

    # -- results -----------------------------------------------------------------------------------

    def recorded_tracks(self, trim: bool = False) -> Tracks:
        """The tracks actually handed to the model (planned + live).

        By default every frame of every generated chunk, also those cut from a trimmed last chunk:
        that is what replays the run exactly. ``trim=True`` cuts the record to the output frames.
        """
        return self.plan.recorded(self.frames_out if trim else None)
