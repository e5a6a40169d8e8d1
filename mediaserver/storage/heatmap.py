"""The motion heatmap format: a contract between the motion analyser, the index and region search.

A heatmap is a grid of ``HEATMAP_W`` x ``HEATMAP_H`` (32 x 18) cells over the picture, row-major (row 0 at
the top, cell 0 at the left), one unsigned byte per cell: the share of analysed frames in which that cell
moved, scaled 0..255. It is stored as those raw 576 bytes (``recording_segments.heatmap``), so answering
"motion in this region between T1 and T2" reads bytes and never re-decodes video.

Region coordinates are relative (0..1, origin top left, x to the right, y down), like masks and zones.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

HEATMAP_W = 32
HEATMAP_H = 18
HEATMAP_CELLS = HEATMAP_W * HEATMAP_H
HEATMAP_BYTES = HEATMAP_CELLS  # one byte per cell
HEATMAP_MAX = 255

CellMask = npt.NDArray[np.bool_]  # (HEATMAP_H, HEATMAP_W): which cells moved in one frame


def empty_cells() -> CellMask:
    """Return a cell mask in which nothing moved."""
    return np.zeros((HEATMAP_H, HEATMAP_W), dtype=np.bool_)


def encode(counts: npt.NDArray[np.integer], frames: int) -> bytes:
    """Return the heatmap of per-cell motion ``counts`` over ``frames`` analysed frames."""
    if counts.shape != (HEATMAP_H, HEATMAP_W) and counts.shape != (HEATMAP_CELLS,):
        raise ValueError(f"heatmap counts must be {HEATMAP_H}x{HEATMAP_W}, got shape {counts.shape}")
    if frames <= 0:
        return bytes(HEATMAP_BYTES)
    scaled = np.rint(counts.reshape(-1).astype(np.float64) * (HEATMAP_MAX / frames))
    return bytes(np.clip(scaled, 0, HEATMAP_MAX).astype(np.uint8))


def decode(heatmap: bytes) -> npt.NDArray[np.float64]:
    """Return a heatmap as a (HEATMAP_H, HEATMAP_W) array of shares 0..1."""
    _check(heatmap)
    return np.frombuffer(heatmap, dtype=np.uint8).reshape(HEATMAP_H, HEATMAP_W) / HEATMAP_MAX


def merge(heatmaps: list[tuple[bytes, float]]) -> bytes:
    """Return the weighted mean of heatmaps given as (heatmap, weight) pairs, e.g. weighted by duration."""
    total = sum(w for _, w in heatmaps if w > 0)
    if total <= 0:
        return bytes(HEATMAP_BYTES)
    acc = np.zeros(HEATMAP_CELLS, dtype=np.float64)
    for hm, w in heatmaps:
        _check(hm)
        if w > 0:
            acc += np.frombuffer(hm, dtype=np.uint8) * w
    return bytes(np.clip(np.rint(acc / total), 0, HEATMAP_MAX).astype(np.uint8))


class HeatmapAccumulator:
    """Counts, per cell, the analysed frames in which it moved; ``heatmap()`` encodes the result."""

    def __init__(self) -> None:
        self.counts = np.zeros((HEATMAP_H, HEATMAP_W), dtype=np.uint32)
        self.frames = 0

    def add(self, cells: CellMask | None) -> None:
        """Count one analysed frame (``cells``: what moved in it; None: nothing moved)."""
        self.frames += 1
        if cells is not None:
            self.counts += cells

    def heatmap(self) -> bytes:
        """Return the encoded heatmap of the frames counted so far."""
        return encode(self.counts, self.frames)


def region_cells(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
    """Return the cell range (col0, row0, col1, row1), ends exclusive, that a relative region overlaps."""
    for name, v in (("x0", x0), ("y0", y0), ("x1", x1), ("y1", y1)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"region {name} must be within 0..1, got {v}")
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"region must have x0 < x1 and y0 < y1, got ({x0}, {y0}, {x1}, {y1})")
    c0, r0 = min(int(x0 * HEATMAP_W), HEATMAP_W - 1), min(int(y0 * HEATMAP_H), HEATMAP_H - 1)
    # A region edge exactly on a cell boundary does not reach into the next cell.
    c1 = max(c0 + 1, min(HEATMAP_W, math.ceil(x1 * HEATMAP_W)))
    r1 = max(r0 + 1, min(HEATMAP_H, math.ceil(y1 * HEATMAP_H)))
    return c0, r0, c1, r1


def region_activity(heatmap: bytes, x0: float, y0: float, x1: float, y1: float) -> float:
    """Return the most active cell's share (0..1) of a relative region of the picture."""
    _check(heatmap)
    c0, r0, c1, r1 = region_cells(x0, y0, x1, y1)
    peak = max(max(heatmap[r * HEATMAP_W + c0:r * HEATMAP_W + c1]) for r in range(r0, r1))
    return peak / HEATMAP_MAX


def _check(heatmap: bytes) -> None:
    if len(heatmap) != HEATMAP_BYTES:
        raise ValueError(f"a heatmap has {HEATMAP_BYTES} bytes ({HEATMAP_W}x{HEATMAP_H}), got {len(heatmap)}")
