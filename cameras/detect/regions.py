"""Motion boxes to detection regions (as Frigate does): merged, padded, square, inside the frame."""

from __future__ import annotations

from collections.abc import Sequence

REGION_PAD = 0.25  # each motion box grows by this share of its size on every side before merging
MAX_REGIONS = 2  # a frame is cut into at most this many regions (the largest first)

PixelBox = tuple[int, int, int, int]  # left, top, width, height in frame pixels


def _square(cx: float, cy: float, side: float, fw: int, fh: int) -> PixelBox:
    """Return a square of ``side`` centred on (cx, cy), shifted (and shrunk if needed) to fit the frame."""
    s = int(min(max(side, 1.0), fw, fh))
    x = int(min(max(cx - s / 2, 0), fw - s))
    y = int(min(max(cy - s / 2, 0), fh - s))
    return x, y, s, s


def regions(boxes: Sequence[tuple[float, float, float, float]], fw: int, fh: int, *,
            min_side_px: int = 160) -> list[PixelBox]:
    """Return square crops covering relative motion boxes (x, y, w, h in 0..1) of a ``fw`` x ``fh`` frame."""
    rects: list[list[float]] = []
    for x, y, w, h in boxes:
        px, py = w * fw * REGION_PAD, h * fh * REGION_PAD
        rects.append([x * fw - px, y * fh - py, (x + w) * fw + px, (y + h) * fh + py])
    merged = True
    while merged:  # merge overlapping padded boxes until none overlap
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    rects[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    rects.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]), reverse=True)
    out = []
    for x0, y0, x1, y1 in rects[:MAX_REGIONS]:
        side = max(x1 - x0, y1 - y0, float(min_side_px))
        out.append(_square((x0 + x1) / 2, (y0 + y1) / 2, side, fw, fh))
    return out
