"""Draw a simulated camera's pictures (I420) from a scene script: numpy and the standard library only.

Imported by ``rtsp_server.py`` (Debian's Python, no OpenCV) and by the venv (benchmarks, tests render the
same frames offline). A scene (JSON)::

    {"kind": "scene", "noise": 4, "background": 90,
     "backdrop": "gravel",                        (optional: a photo/texture background instead of flat grey)
     "objects": [{"start_s": 5, "end_s": 9, "size": 0.4, "from": [0.1, 0.7], "to": [0.9, 0.7],
                  "photo": "person"}],           (photo: a sprite cut from a photograph; none: a grey square)
     "trees": [{"region": [0.6, 0.05, 0.3, 0.5], "texture": "grass", "sway": 0.04, "period_s": 1.6,
                "active": [[20, 30]]}],           (a swaying textured region; active: when it moves; [] always)
     "lighting": [{"at_s": 12, "level": 140, "ramp_s": 0}],
     "assets": {"gravel": "/path/gravel.npy", "person": "/path/person.npy", ...},  (RGB uint8 arrays)
     "loop_s": 60}

Without a backdrop the picture is flat grey at ``background`` (lighting sets that level) with neutral chroma,
as before. With one, ``level / background`` is the brightness gain. An object's ``size`` is its side (square)
or its height (photo) as a share of the frame height; ``from``/``to`` are its centre's path.

Everything a frame needs (resized photos in YUV, noisy backgrounds, the tree's sway phases) is computed once
when a mount's ``Scene`` is made; a frame is then copies of precomputed planes and a few small pastes.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

NOISE_FRAMES = 6  # precomputed noise patterns, cycled
DEFAULT_BACKGROUND = 64
TREE_PHASES = 16  # precomputed sway positions per period
LEVEL_CACHE = 4  # noisy backgrounds kept for this many light levels (a ramp passes through many)

Plane = np.ndarray[Any, Any]


def resize_area(img: Plane, width: int, height: int) -> Plane:
    """Return ``img`` (H x W or H x W x C) resized by area averaging (down) or nearest pixel (up), as float32."""
    out = np.asarray(img, dtype=np.float32)
    for axis, n in ((0, height), (1, width)):
        m = out.shape[axis]
        if n == m:
            continue
        if n < m:
            edges = (np.arange(n) * m) // n
            sums = np.add.reduceat(out, edges, axis=axis)
            counts = np.diff(np.append(edges, m)).astype(np.float32)
            shape = [1] * out.ndim
            shape[axis] = n
            out = (sums / counts.reshape(shape)).astype(np.float32)
        else:
            out = np.take(out, (np.arange(n) * m) // n, axis=axis)
    return out


def rgb_to_yuv(rgb: Plane) -> tuple[Plane, Plane, Plane]:
    """Return the BT.601 (limited range) Y, U, V planes of an RGB picture, all full size, float32."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 16.0 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128.0 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128.0 + 0.439 * r - 0.368 * g - 0.071 * b
    return y, u, v


def _u8(a: Plane) -> Plane:
    out: Plane = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return out


def _cover(rgb: Plane, width: int, height: int) -> Plane:
    """Return ``rgb`` cropped to the frame's aspect ratio (centred) and resized to it."""
    h, w = rgb.shape[:2]
    if w * height > h * width:  # too wide: crop the sides
        cw = max(1, h * width // height)
        x0 = (w - cw) // 2
        rgb = rgb[:, x0:x0 + cw]
    else:
        ch = max(1, w * height // width)
        y0 = (h - ch) // 2
        rgb = rgb[y0:y0 + ch]
    return resize_area(rgb, width, height)


class _Sprite:
    """One moving object, its pixels precomputed for the mount: Y full size, U/V half size."""

    def __init__(self, obj: dict[str, Any], rgb: Plane | None, width: int, height: int) -> None:
        self.start = float(obj.get("start_s", 0.0))
        self.end = float(obj.get("end_s", 1e18))
        self.p0 = tuple(obj.get("from", [0.5, 0.5]))
        self.p1 = tuple(obj.get("to", obj.get("from", [0.5, 0.5])))
        self.label = obj.get("photo")
        side = max(2, int(float(obj.get("size", 0.1)) * height))
        self.color: int | None = None
        self.y: Plane | None = None
        self.u: Plane | None = None
        self.v: Plane | None = None
        if rgb is None:  # the classic grey square
            self.color = int(obj.get("color", 220))
            self.h = self.w = side
            return
        sh = side + side % 2
        sw = max(2, round(rgb.shape[1] * sh / rgb.shape[0] / 2) * 2)
        y, u, v = rgb_to_yuv(resize_area(rgb, sw, sh))
        self.h, self.w = sh, sw
        self.y = y  # float: the light level scales it per frame
        self.u, self.v = _u8(resize_area(u, sw // 2, sh // 2)), _u8(resize_area(v, sw // 2, sh // 2))

    def place(self, t: float, width: int, height: int) -> tuple[int, int] | None:
        """Return the top-left corner (even pixels) at scene time ``t``, or None when not visible."""
        if not self.start <= t < self.end:
            return None
        frac = (t - self.start) / (self.end - self.start) if self.end > self.start else 0.0
        cx = (self.p0[0] + (self.p1[0] - self.p0[0]) * frac) * width
        cy = (self.p0[1] + (self.p1[1] - self.p0[1]) * frac) * height
        return int(cx - self.w / 2) & ~1, int(cy - self.h / 2) & ~1


class _Tree:
    """A textured region that sways (rows shifted sideways, more at the top) while active."""

    def __init__(self, spec: dict[str, Any], rgb: Plane, width: int, height: int) -> None:
        rx, ry, rw, rh = (float(v) for v in spec.get("region", [0.6, 0.05, 0.3, 0.5]))
        self.x, self.y = int(rx * width) & ~1, int(ry * height) & ~1
        self.w = max(2, min(width - self.x, int(rw * width)) & ~1)
        self.h = max(2, min(height - self.y, int(rh * height)) & ~1)
        self.period = max(0.2, float(spec.get("period_s", 1.6)))
        self.active = [(float(a), float(b)) for a, b in spec.get("active", [])]
        amp = float(spec.get("sway", 0.04)) * width
        pad = math.ceil(amp) + 2
        tex = resize_area(rgb, self.w + 2 * pad, self.h)
        ty, tu, tv = rgb_to_yuv(tex)
        rows = np.arange(self.h, dtype=np.float32)
        lean = 1.0 - rows / self.h  # the top sways, the bottom (the trunk) barely moves
        cols = np.arange(self.w)
        self.phases: list[tuple[Plane, Plane, Plane]] = []
        for k in range(TREE_PHASES):
            a = 2 * math.pi * k / TREE_PHASES
            shift = amp * lean * math.sin(a) + 0.3 * amp * np.sin(rows / 9.0 + 2 * a)  # sway + leaf ripple
            idx = np.clip(cols[None, :] + pad + np.rint(shift)[:, None].astype(np.int64), 0, self.w + 2 * pad - 1)
            r = rows.astype(np.int64)[:, None]
            self.phases.append((ty[r, idx], _u8(resize_area(tu[r, idx], self.w // 2, self.h // 2)),
                                _u8(resize_area(tv[r, idx], self.w // 2, self.h // 2))))

    def phase(self, t: float) -> int:
        """Return the sway phase shown at ``t`` (0 while the tree is still)."""
        if self.active and not any(a <= t < b for a, b in self.active):
            return 0
        return int((t % self.period) / self.period * TREE_PHASES) % TREE_PHASES


class Scene:
    """Draws a mount's I420 frames for a given scene time (see the module doc)."""

    def __init__(self, spec: dict[str, Any], width: int, height: int,
                 assets: dict[str, Plane] | None = None) -> None:
        self.width, self.height = width, height
        self.background = int(spec.get("background", DEFAULT_BACKGROUND))
        self.noise = max(0, min(40, int(spec.get("noise", 0))))
        self.lighting = sorted(spec.get("lighting", []), key=lambda c: float(c["at_s"]))
        # Repeat the script every loop_s seconds (demos keep moving); None plays it once.
        self.loop_s = float(spec["loop_s"]) if spec.get("loop_s") else None
        assets = dict(assets or {})
        for name, path in (spec.get("assets") or {}).items():
            if name not in assets:
                assets[name] = np.load(path)

        def asset(name: str) -> Plane:
            if name not in assets:
                raise ValueError(f"scene asset {name!r} is missing (known: {sorted(assets)})")
            return assets[name]

        rng = np.random.default_rng(1234)
        self._noise = [rng.integers(-self.noise, self.noise + 1, (height, width), dtype=np.int16)
                       for _ in range(NOISE_FRAMES)] if self.noise else []
        cw, ch = width // 2, height // 2
        self._base_y: Plane | None = None  # float luma of the backdrop (None: flat grey)
        if spec.get("backdrop"):
            y, u, v = rgb_to_yuv(_cover(asset(str(spec["backdrop"])), width, height))
            self._base_y = y
            self._u, self._v = _u8(resize_area(u, cw, ch)), _u8(resize_area(v, cw, ch))
        else:
            self._u = self._v = np.full((ch, cw), 128, dtype=np.uint8)  # neutral chroma: a grey scene
        self.sprites = [_Sprite(o, asset(str(o["photo"])) if o.get("photo") else None, width, height)
                        for o in spec.get("objects", [])]
        self.trees = [_Tree(tr, asset(str(tr.get("texture", "grass"))), width, height)
                      for tr in spec.get("trees", [])]
        self._backgrounds: OrderedDict[int, list[Plane]] = OrderedDict()
        self._index = 0

    def level(self, t: float) -> int:
        """Return the light level at scene time ``t`` (ramps interpolate from the previous level)."""
        level = float(self.background)
        for change in self.lighting:
            at, ramp = float(change["at_s"]), float(change.get("ramp_s", 0.0))
            if t < at:
                break
            target = float(change["level"])
            level = target if ramp <= 0 or t >= at + ramp else level + (target - level) * (t - at) / ramp
        return max(0, min(255, round(level)))

    def _gain(self, level: int) -> float:
        return level / max(1, self.background)

    def _noisy_backgrounds(self, level: int) -> list[Plane]:
        frames = self._backgrounds.get(level)
        if frames is not None:
            self._backgrounds.move_to_end(level)
            return frames
        if self._base_y is None:
            base = np.full((self.height, self.width), level, dtype=np.int16)
        else:
            base = np.rint(self._base_y * self._gain(level)).astype(np.int16)
        if self._noise:
            frames = [np.clip(n + base, 0, 255).astype(np.uint8) for n in self._noise]
        else:
            frames = [np.clip(base, 0, 255).astype(np.uint8)]
        self._backgrounds[level] = frames
        while len(self._backgrounds) > LEVEL_CACHE:
            self._backgrounds.popitem(last=False)
        return frames

    def frame(self, t: float) -> bytes:
        """Return one I420 frame for scene time ``t`` (wrapped into the loop, when there is one)."""
        if self.loop_s:
            t %= self.loop_s
        y, u, v = self.planes(t)
        return y.tobytes() + u.tobytes() + v.tobytes()

    def planes(self, t: float) -> tuple[Plane, Plane, Plane]:
        """Return the Y, U, V planes (uint8) for scene time ``t`` (no loop wrapping)."""
        level = self.level(t)
        backgrounds = self._noisy_backgrounds(level)
        i = self._index % len(backgrounds)
        self._index += 1
        y = backgrounds[i].copy()
        u, v = self._u, self._v
        gain = self._gain(level)
        if self.trees or any(s.y is not None for s in self.sprites):
            u, v = u.copy(), v.copy()
        for tree in self.trees:
            ty, tu, tv = tree.phases[tree.phase(t)]
            self._paste(y, u, v, tree.x, tree.y, ty, tu, tv, gain, i)
        for s in self.sprites:
            at = s.place(t, self.width, self.height)
            if at is None:
                continue
            if s.y is None:
                self._square(y, i, at, s)
            else:
                assert s.u is not None and s.v is not None
                self._paste(y, u, v, at[0], at[1], s.y, s.u, s.v, gain, i)
        return y, u, v

    def _paste(self, y: Plane, u: Plane, v: Plane, left: int, top: int, py: Plane, pu: Plane, pv: Plane,
               gain: float, i: int) -> None:
        """Paste a picture's planes at (left, top) (even), clipped to the frame, lit by ``gain``, with noise."""
        h, w = py.shape
        r0, r1 = max(0, top), min(self.height, top + h)
        c0, c1 = max(0, left), min(self.width, left + w)
        if r0 >= r1 or c0 >= c1:
            return
        patch = py[r0 - top:r1 - top, c0 - left:c1 - left] * gain
        if self._noise:
            patch = patch + self._noise[i][r0:r1, c0:c1]
        y[r0:r1, c0:c1] = _u8(patch)
        hr0, hr1, hc0, hc1 = r0 // 2, (r1 + 1) // 2, c0 // 2, (c1 + 1) // 2
        hr1, hc1 = min(hr1, u.shape[0]), min(hc1, u.shape[1])
        ot, ol = top // 2, left // 2
        u[hr0:hr1, hc0:hc1] = pu[hr0 - ot:hr1 - ot, hc0 - ol:hc1 - ol]
        v[hr0:hr1, hc0:hc1] = pv[hr0 - ot:hr1 - ot, hc0 - ol:hc1 - ol]

    def _square(self, y: Plane, i: int, at: tuple[int, int], s: _Sprite) -> None:
        left, top = at
        r0, r1 = max(0, top), min(self.height, top + s.h)
        c0, c1 = max(0, left), min(self.width, left + s.w)
        if r0 >= r1 or c0 >= c1:
            return
        assert s.color is not None
        if self._noise:
            y[r0:r1, c0:c1] = np.clip(self._noise[i][r0:r1, c0:c1] + s.color, 0, 255).astype(np.uint8)
        else:
            y[r0:r1, c0:c1] = s.color

    def truth(self, t: float) -> list[tuple[str, tuple[float, float, float, float]]]:
        """Return the photo objects visible at scene time ``t``: (label, relative box x, y, w, h) — ground truth."""
        if self.loop_s:
            t %= self.loop_s
        out = []
        for s in self.sprites:
            at = s.place(t, self.width, self.height) if s.label else None
            if at is None:
                continue
            x0, y0 = max(0, at[0]), max(0, at[1])
            x1, y1 = min(self.width, at[0] + s.w), min(self.height, at[1] + s.h)
            if x1 > x0 and y1 > y0:
                out.append((str(s.label), (x0 / self.width, y0 / self.height, (x1 - x0) / self.width,
                                           (y1 - y0) / self.height)))
        return out
