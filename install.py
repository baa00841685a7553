"""Run by ComfyUI-Manager (and comfy-cli) after ``requirements.txt``: installs OpenCV only when none is there.

Popular node packs each require a different OpenCV distribution -- ``opencv-python`` (comfyui_controlnet_aux,
ReActor, ultralytics for Impact-Subpack), ``opencv-python-headless`` (VideoHelperSuite, Impact-Pack, WAS),
``opencv-contrib-python`` (Frame-Interpolation, mediapipe) -- and all of them write the same ``cv2``
package: two installed together overwrite each other's files, and uninstalling one breaks the other.
So ``requirements.txt`` names none. This script uses whichever ``cv2`` is already importable and installs
``opencv-python-headless`` (no GUI libraries, the lightest) only on an environment without any.

It never changes torch, numpy or a CUDA package: it picks the OpenCV release line built for the installed
numpy (1.x or 2.x), bounded to the releases the pack is tested with, and hands pip a constraints file that
pins every installed torch, numpy, triton and nvidia-* distribution at its installed version.
Extra arguments go to ``pip install`` (``python install.py --dry-run --report out.json`` shows what it
would do). ComfyUI never imports this file; the pack itself installs nothing.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

# OpenCV's wheels are built against one numpy major version: 4.x against numpy 1, 5.x against numpy 2.
OPENCV_NUMPY1 = "opencv-python-headless>=4.8,<4.10"
OPENCV_NUMPY2 = "opencv-python-headless>=5.0,<5.2"
PINNED = re.compile(r"^(torch|torchvision|torchaudio|numpy|triton|pytorch-triton.*|nvidia-.*)$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def opencv_requirement(numpy_version: str | None) -> str:
    """The OpenCV to install next to ``numpy_version`` (None: no numpy yet, so numpy 2 comes with OpenCV)."""
    major = int(numpy_version.split(".")[0]) if numpy_version else 2
    return OPENCV_NUMPY1 if major < 2 else OPENCV_NUMPY2


def installed_pins(dists=None) -> list[str]:
    """``name==version`` for every installed torch, numpy, triton and nvidia-* distribution."""
    dists = importlib.metadata.distributions() if dists is None else dists
    pins = {}
    for d in dists:
        name = _canonical(d.metadata["Name"] or "")
        if PINNED.match(name):
            pins[name] = f"{name}=={d.version}"
    return sorted(pins.values())


def _numpy_version() -> str | None:
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv=(), find_spec=importlib.util.find_spec, run=subprocess.call) -> int:
    extra = list(argv)
    if find_spec("cv2") is not None:
        print("ComfyUI-MotionStream: using the OpenCV (cv2) already installed")
        return 0
    req = opencv_requirement(_numpy_version())
    pins = installed_pins()
    print(f"ComfyUI-MotionStream: no OpenCV (cv2) found; installing {req} "
          f"(kept as installed: {', '.join(pins) or 'no torch or numpy yet'})")
    fd, constraints = tempfile.mkstemp(prefix="motionstream-constraints-", suffix=".txt")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("".join(p + "\n" for p in pins))
        return run([sys.executable, "-m", "pip", "install", req, "-c", constraints, *extra])
    finally:
        os.unlink(constraints)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
