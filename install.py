"""Run by ComfyUI-Manager (and comfy-cli) after ``requirements.txt``: installs OpenCV only when none is there.

Popular node packs each require a different OpenCV distribution -- ``opencv-python`` (comfyui_controlnet_aux,
ReActor, ultralytics for Impact-Subpack), ``opencv-python-headless`` (VideoHelperSuite, Impact-Pack, WAS),
``opencv-contrib-python`` (Frame-Interpolation, mediapipe) -- and all of them write the same ``cv2``
package: two installed together overwrite each other's files, and uninstalling one breaks the other.
So ``requirements.txt`` names none. This script uses whichever ``cv2`` is already importable and installs
``opencv-python-headless`` (no GUI libraries, the lightest) only on an environment without any.
ComfyUI never imports this file; the pack itself installs nothing.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

OPENCV = "opencv-python-headless>=4.8"


def main(find_spec=importlib.util.find_spec, run=subprocess.call) -> int:
    if find_spec("cv2") is not None:
        print("ComfyUI-MotionStream: using the OpenCV (cv2) already installed")
        return 0
    print(f"ComfyUI-MotionStream: no OpenCV (cv2) found; installing {OPENCV}")
    return run([sys.executable, "-m", "pip", "install", OPENCV])


if __name__ == "__main__":
    sys.exit(main())
