"""MotionStream core: the real-time, motion-controlled video engine (imports torch, never ComfyUI)."""

__version__ = "0.1.0"
