"""Motion detection on one camera's decoded pictures: which parts of the picture changed, and how much.

The detector works on the luma (Y) plane exactly as the decoder left it — a 2-D uint8 view with the
decoder's line stride, no RGB conversion, no copy — because detection must stay cheap next to decoding.
Per analysed frame (a "frame" below):

1. Downscale to ``ANALYSIS_W`` wide by repeated 2x area averaging (OpenCV's fast path): averaging 16 pixels
   into one also averages sensor noise away, so no separate blur is needed.
2. Compare with a running-average background (``BACKGROUND_TAU_S``); pixels that changed by more than the
   camera's ``threshold`` are candidates; masked polygons are cleared.
3. A global change is lighting, not motion: when a large share of the picture changed and the picture's
   median brightness moved as a whole (a light switched on, IR cut-over, auto-exposure), or when nearly
   all of it changed, the background is re-baselined and nothing is reported for ``SETTLE_S`` (encoders
   need a few frames to settle after such a jump).
4. Dilate (join the fragments of one object), find external contours, keep those at least ``min_area_pct``
   of the picture: their bounding boxes, the changed-area share (the score), the zones their changed
   pixels overlap, and the coarse 32x18 heatmap cells their boxes cover.
5. Update the background: at the normal rate where nothing moves, and where something moves only on every
   ``MOVING_UPDATE_EVERY``-th moving frame (a passing object barely imprints on it; a parked car is still
   absorbed after a while instead of being motion forever).

Frames with little change take a short path (step 4 skipped) — most frames of most cameras. Each step is
one OpenCV call on a 160x90 picture: what costs is touching memory (the decoded plane once, in step 1), not
arithmetic, so the steps are few and the intermediate pictures small (``benchmarks/bench_motion.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from mediaserver.config import MotionSettings
from mediaserver.storage.heatmap import HEATMAP_H, HEATMAP_W, CellMask

if TYPE_CHECKING:
    from cv2.typing import MatLike

Luma = npt.NDArray[np.uint8]  # a (height, width) view of a frame's Y plane; rows may be strided

ANALYSIS_W = 160  # analysis picture width, pixels (height follows the aspect ratio): 160x90 for 16:9
BACKGROUND_TAU_S = 3.0  # time constant of the running-average background
MOVING_UPDATE_EVERY = 4  # where motion is, the background learns only on every 4th moving frame
DILATE_ITERATIONS = 2  # 3x3 dilations joining an object's fragments (2 px at 160 wide = 8 px at 640)
# Lighting: a frame where at least this share of the picture changed is checked for a global change...
LIGHTING_CHECK_SHARE = 0.25
# ... which it is when the median brightness moved by at least this share of the threshold ...
LIGHTING_MEDIAN_FACTOR = 0.5
# ... or, whatever the median says, when at least this share changed (too much to be an object).
GLOBAL_CHANGE_SHARE = 0.6
SETTLE_S = 1.0  # after a lighting change, re-baseline for this long and report nothing
LIGHTING_SAMPLE_STEP = 4  # median estimated on every 4th analysis pixel each way (40x23 at 160x90)
CELL_MIN_SHARE = 0.2  # a box marks the heatmap cells it covers by at least this share of their width/height
ZONE_MIN_SHARE_OF_MIN_AREA = 0.25  # a zone is touched by at least this share of the minimum area


class Box(NamedTuple):
    """A motion bounding box in relative (0..1) picture coordinates (left, top, width, height)."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class MotionResult:
    """What one analysed frame showed."""

    score: float  # changed share of the analysed (unmasked) picture, 0..1
    boxes: tuple[Box, ...] = ()
    zones: frozenset[str] = frozenset()
    cells: CellMask | None = None  # which heatmap cells moved; None when nothing did
    lighting_change: bool = False  # a global change: the background was re-baselined

    @property
    def moving(self) -> bool:
        """Return whether the frame showed motion."""
        return bool(self.boxes)


NO_MOTION = MotionResult(0.0)
LIGHTING = MotionResult(0.0, lighting_change=True)


class Detector(Protocol):
    """A motion detector for one camera: fed its analysed frames' luma in order."""

    def detect(self, luma: Luma) -> MotionResult:
        """Return the motion in the next analysed frame."""

    def reset(self) -> None:
        """Forget the background (the stream restarted)."""


def polygon_problems(field: str, points: Sequence[tuple[float, float]]) -> list[str]:
    """Return what is wrong with a relative polygon (empty when it is usable)."""
    problems = []
    if len(points) < 3:
        problems.append(f"{field}: a polygon needs at least 3 points, got {len(points)}")
    for i, (x, y) in enumerate(points):
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            problems.append(f"{field}[{i}]: ({x}, {y}) is outside the picture (coordinates are 0..1)")
    return problems


def settings_problems(settings: MotionSettings) -> list[str]:
    """Return every problem with a camera's masks and zones, each naming its field."""
    problems = []
    for i, mask in enumerate(settings.masks):
        problems += polygon_problems(f"motion.masks[{i}]", mask)
    for name, zone in settings.zones.items():
        problems += polygon_problems(f"motion.zones.{name}", zone)
    return problems


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """Return the analysis picture size for a frame size (never larger than the frame)."""
    w = min(ANALYSIS_W, width)
    return w, max(1, round(w * height / width))


def downscale(luma: Luma, size: tuple[int, int]) -> MatLike:
    """Return ``luma`` area-averaged down to ``size`` (width, height), halving while it can."""
    out_w, out_h = size
    img: MatLike = luma
    while img.shape[1] >= 2 * out_w and img.shape[0] >= 2 * out_h:
        img = cv2.resize(img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if img.shape[1] != out_w or img.shape[0] != out_h:
        img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)
    elif img is luma:
        img = np.ascontiguousarray(img)
    return img


def _polygon_mask(size: tuple[int, int], polygons: Sequence[Sequence[tuple[float, float]]]) -> MatLike:
    """Return a mask (255 inside any polygon) at ``size`` from relative polygons."""
    w, h = size
    mask = np.zeros((h, w), dtype=np.uint8)
    for poly in polygons:
        pts = np.array([[round(x * w), round(y * h)] for x, y in poly], dtype=np.int32)
        cv2.fillPoly(mask, [pts], 255)
    return mask


def _cell_span(a: float, b: float, n: int) -> tuple[int, int]:
    """Return the cells [start, end) a span [a, b) in cell units covers by at least CELL_MIN_SHARE of a cell."""
    start, end = math.floor(a + CELL_MIN_SHARE), math.floor(b - CELL_MIN_SHARE) + 1
    if end <= start:  # a sliver across a cell border: the cell holding its middle
        start = min(n - 1, math.floor((a + b) / 2))
        end = start + 1
    return max(0, start), min(n, end)


class BackgroundDetector:
    """The default detector: running-average background, threshold, dilate, contours (see the module doc)."""

    def __init__(self, settings: MotionSettings, *, analysis_fps: float | None = None, name: str = "camera") -> None:
        problems = settings_problems(settings)
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems))
        self.settings = settings
        fps = analysis_fps or settings.analysis_fps
        self.alpha = 1.0 - math.exp(-1.0 / (fps * BACKGROUND_TAU_S))
        self._moving_frames = 0
        self.settle_frames = max(1, math.ceil(SETTLE_S * fps))
        self.threshold = settings.threshold
        self.lighting_changes = 0
        self._frame_shape: tuple[int, int] | None = None
        # Rasters for the current frame size (built by _configure on the first frame and on a size change).
        self.size = (0, 0)
        self.include: MatLike | None = None
        self.analysable_px = 0
        self.min_area_px = self.fast_path_px = self.zone_min_px = 0.0
        self.zones: list[tuple[str, MatLike]] = []
        self._samples: npt.NDArray[np.bool_] | None = None
        self._bg: npt.NDArray[np.float32] | None = None
        self._settle = 0
        self._kernel = np.ones((3, 3), dtype=np.uint8)

    def reset(self) -> None:
        """Forget the background (the next frame becomes it)."""
        self._bg = None
        self._settle = 0

    def _configure(self, shape: tuple[int, int]) -> None:
        """Build the analysis size and the mask/zone rasters for a frame size."""
        self._frame_shape = shape
        self.size = analysis_size(shape[1], shape[0])
        w, h = self.size
        self.include = None
        if self.settings.masks:
            self.include = cv2.bitwise_not(_polygon_mask(self.size, self.settings.masks))
        self.analysable_px = cv2.countNonZero(self.include) if self.include is not None else w * h
        self.min_area_px = self.settings.min_area_pct / 100.0 * w * h
        self.fast_path_px = self.min_area_px / 9.0  # a 3x3 dilation grows a blob at most ninefold
        self.zone_min_px = max(1.0, self.min_area_px * ZONE_MIN_SHARE_OF_MIN_AREA)
        self.zones = []
        for zone_name, poly in self.settings.zones.items():
            zmask = _polygon_mask(self.size, [poly])
            if self.include is not None:
                zmask = cv2.bitwise_and(zmask, self.include)
            self.zones.append((zone_name, zmask))
        step = LIGHTING_SAMPLE_STEP
        self._samples = (self.include[::step, ::step] > 0) if self.include is not None else None
        self.reset()

    def detect(self, luma: Luma) -> MotionResult:
        """Return the motion in the next analysed frame (see the module doc)."""
        shape = (int(luma.shape[0]), int(luma.shape[1]))
        if shape != self._frame_shape:
            self._configure(shape)
        small = downscale(luma, self.size)
        bg = self._bg
        if bg is None:
            self._bg = small.astype(np.float32)
            return NO_MOTION
        if self._settle:
            self._settle -= 1
            self._bg = small.astype(np.float32)
            return LIGHTING
        if self.analysable_px == 0:
            return NO_MOTION
        bg8 = cv2.convertScaleAbs(bg)
        diff = cv2.absdiff(small, bg8)
        _, changed = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        if self.include is not None:
            changed = cv2.bitwise_and(changed, self.include)
        n_changed = cv2.countNonZero(changed)
        if n_changed < self.fast_path_px:
            cv2.accumulateWeighted(small, bg, self.alpha)
            return NO_MOTION
        if n_changed >= LIGHTING_CHECK_SHARE * self.analysable_px and self._is_global_change(small, bg8, n_changed):
            self.lighting_changes += 1
            self._settle = self.settle_frames - 1
            self._bg = small.astype(np.float32)
            return LIGHTING
        return self._objects(small, bg, changed)

    def _is_global_change(self, small: MatLike, bg8: MatLike, n_changed: int) -> bool:
        """Return whether a big change is the whole picture's brightness (lighting) rather than objects."""
        if n_changed >= GLOBAL_CHANGE_SHARE * self.analysable_px:
            return True
        step = LIGHTING_SAMPLE_STEP
        signed = small[::step, ::step].astype(np.int16) - bg8[::step, ::step].astype(np.int16)
        if self._samples is not None:
            signed = signed[self._samples]
        return bool(signed.size) and abs(float(np.median(signed))) >= LIGHTING_MEDIAN_FACTOR * self.threshold

    def _objects(self, small: MatLike, bg: npt.NDArray[np.float32], changed: MatLike) -> MotionResult:
        """Group changed pixels into objects; return their boxes, score, zones and cells."""
        w, h = self.size
        grown = cv2.dilate(changed, self._kernel, iterations=DILATE_ITERATIONS)
        contours, _ = cv2.findContours(grown, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        kept = [c for c in contours if cv2.contourArea(c) >= self.min_area_px]
        if not kept:
            cv2.accumulateWeighted(small, bg, self.alpha)
            return NO_MOTION
        if len(kept) == len(contours):  # the usual case: every blob counts, so all changed pixels move
            region, moving = grown, changed
        else:
            region = np.zeros_like(changed)
            cv2.drawContours(region, kept, -1, 255, thickness=cv2.FILLED)
            moving = cv2.bitwise_and(changed, region)
        score = cv2.countNonZero(moving) / self.analysable_px
        pad = DILATE_ITERATIONS  # the dilation grew each box by this much on every side
        boxes = []
        cells = np.zeros((HEATMAP_H, HEATMAP_W), dtype=np.bool_)
        for c in kept:
            x, y, bw, bh = cv2.boundingRect(c)
            x0, y0 = min(x + pad, w - 1), min(y + pad, h - 1)
            x1, y1 = max(x0 + 1, x + bw - pad), max(y0 + 1, y + bh - pad)
            boxes.append(Box(round(x0 / w, 4), round(y0 / h, 4), round((x1 - x0) / w, 4), round((y1 - y0) / h, 4)))
            r0, r1 = _cell_span(y0 * HEATMAP_H / h, y1 * HEATMAP_H / h, HEATMAP_H)
            c0, c1 = _cell_span(x0 * HEATMAP_W / w, x1 * HEATMAP_W / w, HEATMAP_W)
            cells[r0:r1, c0:c1] = True
        zones = frozenset(name for name, zmask in self.zones
                          if cv2.countNonZero(cv2.bitwise_and(moving, zmask)) >= self.zone_min_px)
        # Learn at the normal rate where nothing moves, and where something moves only every
        # MOVING_UPDATE_EVERY-th moving frame (a passing object barely imprints; a parked one is absorbed).
        self._moving_frames += 1
        if self._moving_frames % MOVING_UPDATE_EVERY:
            cv2.accumulateWeighted(small, bg, self.alpha, mask=cv2.bitwise_not(region))
        else:
            cv2.accumulateWeighted(small, bg, self.alpha)
        return MotionResult(score, tuple(boxes), zones, cells)
