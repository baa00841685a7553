"""A folder of training photos and cut-outs for ``photo_clips`` (natural-image variety).

Layout of a photo folder (``PhotoClipConfig.photo_dir``)::

    <root>/photos/**.{jpg,jpeg,png,webp}   opaque photos: backgrounds, and crops for the blob-masked layers
    <root>/cutouts/**.png                  RGBA objects (alpha = their silhouette): moving layers with real outlines
    <root>/SOURCES.tsv                     where each file came from and its licence (written by the maker below)

A folder without ``photos/`` and ``cutouts/`` is read as photos only (every image under it).
Photos are read as uint8 RGB [H, W, 3] with their short side brought down to at most ``MAX_SHORT_SIDE``
(a clip's background covers at most 2x the frame); cut-outs as (uint8 RGB [h, w, 3], float32 alpha
[h, w] in [0, 1]) cropped to their alpha's bounding box. Both are cached per process (bounded).

``make_debian_photo_folder`` builds such a folder from Debian's archive (the package registries are
the only network these machines reach): photographs from three wallpaper packages, chosen by eye from
their contact sheets, and the photographic stamps of ``tuxpaint-stamps-default`` (the stamps' line art,
letters and flat cartoons are left out by ``is_photographic``). Every file's licence is free (CC0,
CC-BY, CC-BY-SA, GPL, LGPL; per file in SOURCES.tsv). A fourth package, ``mate-backgrounds`` (12 nature
photographs), is held out of training: ``--held-out`` writes it as an evaluation folder for
``motionstream eval --photos <folder>/photos`` (``photo_clips.eval_photos``, the built-in evaluation
photos, come from scikit-learn's and matplotlib's samples, also never read in training).

    python -m motionstream_core.train.photo_folder --out runs/photos
    python -m motionstream_core.train.photo_folder --out runs/eval_photos --held-out
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
MAX_SHORT_SIDE = 512  # photos are kept at most this size (short side) in memory
CUTOUT_SIDE = 192  # cut-outs are written at most this size (long side)
PHOTO_SIDE = 384  # photos are written at most this size (short side)


@dataclass(frozen=True)
class PhotoFolder:
    """The images of a photo folder: ``photos`` and ``cutouts`` are paths relative to ``root``, sorted."""

    root: Path
    photos: tuple[str, ...]
    cutouts: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        """A short hash of the file names and sizes: a latent cache records it, so a cache made from another
        folder is never silently reused."""
        h = hashlib.sha1()
        for rel in self.photos + ("|",) + self.cutouts:
            h.update(f"{rel}:{(self.root / rel).stat().st_size if rel != '|' else ''};".encode())
        return h.hexdigest()[:16]

    def photo(self, i: int) -> np.ndarray:
        return load_photo(str(self.root / self.photos[i]))

    def cutout(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return load_cutout(str(self.root / self.cutouts[i]))


def _images(root: Path, under: Path) -> tuple[str, ...]:
    """The images below ``under``, as paths relative to ``root``, sorted."""
    return tuple(sorted(str(p.relative_to(root)) for p in under.rglob("*")
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))


@lru_cache(maxsize=8)
def open_photo_folder(root: str) -> PhotoFolder:
    """Scan ``root`` (the layout in the module docstring); errors name the folder and what is missing."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"photo folder {root!r} does not exist (make one with "
                                f"`python -m motionstream_core.train.photo_folder --out {root}`)")
    split = (path / "photos").is_dir() or (path / "cutouts").is_dir()
    photos = _images(path, path / "photos") if (path / "photos").is_dir() else (() if split else _images(path, path))
    cutouts = tuple(c for c in (_images(path, path / "cutouts") if (path / "cutouts").is_dir() else ())
                    if c.lower().endswith(".png"))
    if not photos and not cutouts:
        raise ValueError(f"photo folder {root!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return PhotoFolder(path, photos, cutouts)


@lru_cache(maxsize=256)
def load_photo(path: str) -> np.ndarray:
    """uint8 RGB [H, W, 3], short side at most ``MAX_SHORT_SIDE`` (area-downscaled)."""
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read photo {path!r}")
    h, w = img.shape[:2]
    s = MAX_SHORT_SIDE / min(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


@lru_cache(maxsize=512)
def load_cutout(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 RGB [h, w, 3], float32 alpha [h, w] in [0, 1]) cropped to the alpha's bounding box."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot read cut-out {path!r}")
    if img.ndim != 3 or img.shape[2] != 4:
        raise ValueError(f"cut-out {path!r} has no alpha channel (a cut-out is an RGBA PNG)")
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    alpha = img[..., 3].astype(np.float32) / 255.0
    ys, xs = np.nonzero(alpha > 0.5)
    if len(ys) == 0:
        raise ValueError(f"cut-out {path!r} is fully transparent")
    img, alpha = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1], alpha[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.ascontiguousarray(cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)), np.ascontiguousarray(alpha)


def is_photographic(rgba: np.ndarray, min_colours: int = 120, min_pixels: int = 48 * 48) -> bool:
    """True for an RGBA image that looks like a photographed object: enough opaque pixels, some transparency,
    and at least ``min_colours`` distinct colours (4 bits a channel) where it is opaque (letters, line art and
    flat cartoons have far fewer)."""
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return False
    opaque = rgba[..., 3] > 230
    if opaque.sum() < min_pixels or opaque.mean() > 0.97:
        return False
    q = (rgba[..., :3][opaque] // 16).astype(np.int32)
    return len(np.unique(q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2])) >= min_colours


# -- a folder made from Debian's archive ---------------------------------------------------------------

@dataclass(frozen=True)
class DebianImages:
    """Files of one Debian package: ``patterns`` are globs inside the unpacked package; ``largest_per_folder``
    keeps one file per folder (a wallpaper shipped at several resolutions)."""

    package: str
    patterns: tuple[str, ...]
    licence: str
    kind: str = "photos"  # "photos" or "cutouts"
    largest_per_folder: bool = False


_PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
                  "OneStandsOut", "Path", "Volna", "summer_1am")
DEBIAN_IMAGES: tuple[DebianImages, ...] = (
    DebianImages("lomiri-wallpapers-16.04", ("usr/share/backgrounds/*.jpg",),
                 "CC-BY-4.0, CC-BY-SA-4.0 or CC0-1.0 (per file: the package's copyright file)"),
    DebianImages("lomiri-wallpapers-20.04", ("usr/share/backgrounds/Kleiber_by_Lukas_Baubkus.jpg",), "CC-BY-SA-3.0"),
    DebianImages("plasma-workspace-wallpapers",
                 tuple(f"usr/share/wallpapers/{n}/contents/images/*" for n in _PLASMA_PHOTOS),
                 "LGPL-3 (Volna: CC-BY-SA-4.0; the wallpaper's metadata.json)", largest_per_folder=True),
    DebianImages("tuxpaint-stamps-default", ("usr/share/tuxpaint/stamps/**/*.png",), "GPL-2", kind="cutouts"),
)
# held out of training: photographs of another package, for evaluation only
DEBIAN_EVAL_IMAGES: tuple[DebianImages, ...] = (
    DebianImages("mate-backgrounds", ("usr/share/backgrounds/mate/nature/*.jpg",), "GPL-2+"),
)


def _unpack(package: str, work: Path) -> Path:
    """``apt-get download`` + ``dpkg-deb -x`` into ``work/<package>`` (kept: a second call reuses it)."""
    dest = work / package
    if dest.is_dir():
        return dest
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"making the Debian photo folder needs {tool} (a Debian or Ubuntu machine)")
    subprocess.run(["apt-get", "download", package], cwd=work, check=True, capture_output=True)
    deb = max(work.glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    tmp = work / f".{package}.tmp"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
    tmp.replace(dest)
    return dest


def _select(unpacked: Path, spec: DebianImages) -> list[Path]:
    files = sorted({p for pat in spec.patterns for p in unpacked.glob(pat) if p.is_file()})
    if spec.largest_per_folder:
        best: dict[Path, Path] = {}
        for f in files:
            if f.parent not in best or f.stat().st_size > best[f.parent].stat().st_size:
                best[f.parent] = f
        files = sorted(best.values())
    return files


def make_debian_photo_folder(out: str | Path, work: str | Path | None = None,
                             sources: tuple[DebianImages, ...] = DEBIAN_IMAGES, say=print) -> PhotoFolder:
    """Write ``out/photos``, ``out/cutouts`` and ``out/SOURCES.tsv`` from ``sources`` (the training set downloads
    ~240 MB of packages into ``work``, a temporary folder by default). Photos are written with their short side at
    most ``PHOTO_SIDE``, cut-outs with their long side at most ``CUTOUT_SIDE``; existing files are kept."""
    out = Path(out)
    rows = ["file\tpackage\tsource path\tlicence"]
    with tempfile.TemporaryDirectory() as tmp:
        work_dir = Path(work) if work else Path(tmp)
        work_dir.mkdir(parents=True, exist_ok=True)
        for spec in sources:
            unpacked = _unpack(spec.package, work_dir)
            kept = 0
            for f in _select(unpacked, spec):
                name = f"{spec.package}__{'_'.join(f.relative_to(unpacked).parts[3:])}"
                if spec.kind == "cutouts":
                    img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                    if img is None or not is_photographic(img):
                        continue
                    target, side, longest = out / "cutouts" / Path(name).with_suffix(".png").name, CUTOUT_SIDE, True
                else:
                    img = cv2.imread(str(f), cv2.IMREAD_COLOR)
                    if img is None:
                        continue
                    target, side, longest = out / "photos" / Path(name).with_suffix(".jpg").name, PHOTO_SIDE, False
                h, w = img.shape[:2]
                s = side / (max(h, w) if longest else min(h, w))
                if s < 1:
                    img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.is_file():
                    cv2.imwrite(str(target), img, [cv2.IMWRITE_JPEG_QUALITY, 95] if target.suffix == ".jpg" else [])
                rows.append(f"{target.relative_to(out)}\t{spec.package}\t/{f.relative_to(unpacked)}\t{spec.licence}")
                kept += 1
            say(f"{spec.package}: {kept} {spec.kind}")
    (out / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    open_photo_folder.cache_clear()
    folder = open_photo_folder(str(out))
    say(f"{out}: {len(folder.photos)} photos, {len(folder.cutouts)} cut-outs (fingerprint {folder.fingerprint})")
    return folder


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m motionstream_core.train.photo_folder",
                                description="Make a folder of training photos and cut-outs from Debian's archive.")
    p.add_argument("--out", required=True, help="the folder to write (photos/, cutouts/, SOURCES.tsv)")
    p.add_argument("--work", default=None, help="where to download and unpack the packages (default: a temp folder)")
    p.add_argument("--held-out", dest="held_out", action="store_true",
                   help="write the evaluation photos (a package training never reads) instead of the training set")
    args = p.parse_args(argv)
    make_debian_photo_folder(args.out, args.work, DEBIAN_EVAL_IMAGES if args.held_out else DEBIAN_IMAGES)
    return 0


if __name__ == "__main__":
    sys.exit(main())
