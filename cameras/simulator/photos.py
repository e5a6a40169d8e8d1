"""The simulator's real pictures: sprites and textures cut from photographs that ship inside installed packages.

All come from scikit-image's bundled sample data (``skimage/data``, installed with scikit-image; BSD-licensed
package, the photographs' own terms in ``skimage/data/README.txt``):

- ``person``: the photographer of ``camera.png`` (standing, with his camera on a tripod), cut out as a rectangle;
- ``motorcycle``: the motorbike of ``motorcycle_left.png`` (a Middlebury stereo photograph) with a little of its room;
- ``gravel``, ``brick``, ``grass``: textures (grey photographs, tinted here) for backdrops and the swaying "tree".

Decoding PNGs needs OpenCV, which the simulator's Python (Debian's) does not have: the venv side writes each
picture once as an RGB ``.npy`` into a per-user cache directory, and the scene spec carries their paths
(``scene["assets"]``). ``load(name)`` returns one for offline rendering (benchmarks, tests).
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ASSET_VERSION = 1  # bump when the way pictures are made changes (cuts and tints are in the cache name already)
# name -> (file in skimage's data dir, crop box left, top, right, bottom in its pixels, or None: whole picture)
SPRITES: dict[str, tuple[str, tuple[int, int, int, int] | None]] = {
    "person": ("camera.png", (30, 40, 275, 512)),
    "motorcycle": ("motorcycle_left.png", (60, 40, 741, 480)),
}
# name -> (file, RGB tint applied to the grey photograph)
TEXTURES: dict[str, tuple[str, tuple[float, float, float]]] = {
    "gravel": ("gravel.png", (0.80, 0.74, 0.64)),
    "brick": ("brick.png", (0.95, 0.58, 0.46)),
    "grass": ("grass.png", (0.42, 0.78, 0.30)),
}
NAMES = tuple(SPRITES) + tuple(TEXTURES)
# Backdrops are stored at this size so that every mount (up to 1080p) only ever downscales them.
BACKDROP_SIZE = (1920, 1080)

RGB = npt.NDArray[Any]


class AssetError(ValueError):
    """A scene names a picture that does not exist or cannot be read."""


def _data_dir() -> Path:
    try:
        from skimage import data
    except ImportError as exc:
        raise AssetError("the simulator's photographs come with scikit-image, which is not installed") from exc
    return Path(data.data_dir)


def _read(file: str) -> RGB:
    import cv2

    path = _data_dir() / file
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise AssetError(f"cannot read {path} (is scikit-image installed with its data?)")
    out: RGB = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return out


def load(name: str) -> RGB:
    """Return the RGB pixels of one named picture (see the module doc)."""
    import cv2

    if name in SPRITES:
        file, box = SPRITES[name]
        img = _read(file)
        if box is not None:
            x0, y0, x1, y1 = box
            img = img[y0:y1, x0:x1]
        return np.ascontiguousarray(img)
    if name in TEXTURES:
        file, tint = TEXTURES[name]
        grey = _read(file)[..., 0].astype(np.float32)
        rgb = np.clip(grey[..., None] * np.array(tint, dtype=np.float32), 0, 255).astype(np.uint8)
        if name == "grass":  # the tree's texture stays at its own scale
            return rgb
        w, h = BACKDROP_SIZE
        side = max(w, h)  # square texture → cover the 16:9 frame, cropped by the scene
        big: RGB = cv2.resize(rgb, (side, side), interpolation=cv2.INTER_CUBIC)
        return big
    raise AssetError(f"unknown picture {name!r} (known: {', '.join(NAMES)})")


def cache_dir() -> Path:
    """Return the directory holding the ``.npy`` pictures (made once per user and asset version)."""
    # The name carries a digest of the cuts and tints, so a changed definition never reads a stale picture.
    digest = hashlib.sha1(repr((ASSET_VERSION, SPRITES, TEXTURES, BACKDROP_SIZE)).encode()).hexdigest()[:10]
    d = Path(tempfile.gettempdir()) / f"mediaserver-sim-assets-{os.getuid()}-{digest}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def path_of(name: str) -> Path:
    """Return the cached ``.npy`` file of a named picture, writing it first if needed."""
    path = cache_dir() / f"{name}.npy"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, load(name))
        os.replace(tmp, path)  # atomic: a concurrent simulator never reads half a file
    return path


def names_in(scene: dict[str, Any]) -> set[str]:
    """Return the pictures a scene uses (backdrop, photo objects, tree textures)."""
    names = {str(o["photo"]) for o in scene.get("objects", []) if o.get("photo")}
    if scene.get("backdrop"):
        names.add(str(scene["backdrop"]))
    names.update(str(t.get("texture", "grass")) for t in scene.get("trees", []))
    return names


def with_assets(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of an RTSP server spec whose scenes carry the paths of the pictures they use."""
    out = copy.deepcopy(spec)
    for mount in out.get("mounts", []):
        scene = mount.get("scene") or {}
        names = names_in(scene)
        if names:
            scene["assets"] = {n: str(path_of(n)) for n in sorted(names)}
    return out


def scene_assets(scene: dict[str, Any]) -> dict[str, RGB]:
    """Return the pictures a scene uses, in memory (for rendering it offline)."""
    return {n: load(n) for n in sorted(names_in(scene))}
