"""Labelled test clips: scene scripts whose ground truth is the script itself (which object is visible when).

A clip is a scene (``cameras/simulator/scene.py``) plus its length; ``truth(clip)`` lists the photo objects
with their label and visible interval, and ``frames(clip, fps)`` renders it offline (no RTSP) as BGR frames
with their luma, exactly as the simulator draws them (before x264). The same scenes play through the GStreamer
simulator in the end-to-end test and in the shipped demo cameras.

- ``objects_clip(seed)``: people and motorbikes crossing a photographed courtyard one at a time (varied
  backdrop, size, path, speed), with lighting changes and tree gusts in the gaps between them;
- ``distractor_clip(seconds, seed)``: only lighting changes (switches and slow ramps) and swaying foliage —
  no object at all, so every alert on it is a false alert;
- ``share_clip(seconds, share)``: an object in view ``share`` of the time (the cost per camera at that share).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cameras.simulator.photos import scene_assets
from cameras.simulator.scene import Scene

VEHICLES = frozenset({"bicycle", "motorcycle", "car", "truck", "bus"})
PHOTO_SIZES = {"person": (0.38, 0.55), "motorcycle": (0.36, 0.48)}  # height share of the frame, min..max
TREE = {"region": [0.64, 0.0, 0.34, 0.5], "texture": "grass", "sway": 0.04, "period_s": 1.6}


@dataclass(frozen=True, slots=True)
class Truth:
    """One object of a clip: its label and when it is in view (scene seconds)."""

    label: str
    start: float
    end: float

    @property
    def kind(self) -> str:
        """Return "vehicle" for every vehicle label, else the label."""
        return "vehicle" if self.label in VEHICLES else self.label


@dataclass
class Clip:
    """A scripted scene and how long it plays."""

    name: str
    seconds: float
    scene: dict[str, Any] = field(default_factory=dict)


def truth(clip: Clip) -> list[Truth]:
    """Return the clip's photo objects, in order of appearance (the ground truth)."""
    out = []
    for obj in clip.scene.get("objects", []):
        if obj.get("photo"):
            out.append(Truth(str(obj["photo"]), float(obj["start_s"]), min(float(obj["end_s"]), clip.seconds)))
    return sorted(out, key=lambda t: t.start)


def _crossing(rng: random.Random, photo: str, start: float, duration: float) -> dict[str, Any]:
    lo, hi = PHOTO_SIZES[photo]
    size = rng.uniform(lo, hi)
    y0 = rng.uniform(0.5, 0.72)
    y1 = min(0.75, max(0.45, y0 + rng.uniform(-0.12, 0.12)))
    x0, x1 = (0.08, 0.92) if rng.random() < 0.5 else (0.92, 0.08)
    return {"start_s": round(start, 2), "end_s": round(start + duration, 2), "size": round(size, 3),
            "from": [x0, round(y0, 3)], "to": [x1, round(y1, 3)], "photo": photo}


def objects_clip(seed: int, objects: int = 8) -> Clip:
    """Return a clip of ``objects`` people/motorbikes crossing one at a time, distractors in the gaps."""
    rng = random.Random(seed)
    t = 3.0
    objs, lighting, gusts = [], [], []
    level = 90
    for i in range(objects):
        photo = "person" if (i + seed) % 2 == 0 else "motorcycle"
        duration = rng.uniform(5.0, 8.0)
        objs.append(_crossing(rng, photo, t, duration))
        t += duration
        gap = rng.uniform(7.0, 9.0)
        # In the gap, after the object has left (and the event has ended): a light change or a gust.
        if rng.random() < 0.5:
            level = 120 if level == 90 else 90
            lighting.append({"at_s": round(t + 3.0, 2), "level": level, "ramp_s": rng.choice([0.0, 2.0])})
        else:
            gusts.append([round(t + 2.5, 2), round(t + gap - 2.0, 2)])
        t += gap
    return Clip(f"objects-{seed}", round(t, 2), {
        "kind": "scene", "noise": 4, "background": 90, "backdrop": rng.choice(["brick", "gravel"]),
        "objects": objs, "lighting": lighting, "trees": [dict(TREE, active=gusts)]})


def distractor_clip(seconds: float, seed: int = 7) -> Clip:
    """Return a clip with only lighting changes and swaying foliage for ``seconds``."""
    rng = random.Random(seed)
    lighting, gusts = [], []
    t, level = 5.0, 90
    while t < seconds:
        level = rng.choice([60, 75, 90, 110, 130])
        lighting.append({"at_s": round(t, 2), "level": level, "ramp_s": rng.choice([0.0, 0.0, 3.0, 20.0])})
        g0 = t + rng.uniform(2.0, 10.0)
        gusts.append([round(g0, 2), round(g0 + rng.uniform(4.0, 15.0), 2)])
        t += rng.uniform(20.0, 40.0)
    return Clip(f"distractors-{seed}", seconds, {
        "kind": "scene", "noise": 4, "background": 90, "backdrop": "gravel", "objects": [],
        "lighting": lighting, "trees": [dict(TREE, active=gusts), dict(TREE, region=[0.0, 0.0, 0.3, 0.45],
                                                                         period_s=2.3, active=gusts)]})


def share_clip(seconds: float, share: float = 0.2, seed: int = 3) -> Clip:
    """Return a clip where people and motorbikes are in view ``share`` of the time (one at a time)."""
    rng = random.Random(seed)
    objs = []
    period = 30.0  # one crossing every 30 s
    t = 2.0
    i = 0
    while t + period * share <= seconds:
        objs.append(_crossing(rng, "person" if i % 2 == 0 else "motorcycle", t, period * share))
        t += period
        i += 1
    return Clip(f"share-{share:g}", seconds, {"kind": "scene", "noise": 4, "background": 90, "backdrop": "brick",
                                               "objects": objs})


def frames(clip: Clip, fps: float, width: int = 640, height: int = 360) -> Iterator[tuple[float, Any, Any]]:
    """Yield (scene time, BGR frame, luma) for the whole clip at ``fps``, rendered as the simulator draws it."""
    import cv2

    scene = Scene(clip.scene, width, height, scene_assets(clip.scene))
    n = int(clip.seconds * fps)
    for k in range(n):
        t = k / fps
        y, u, v = scene.planes(t)
        i420 = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(height * 3 // 2, width)
        yield t, cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), y


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Per-event precision and per-object recall of one class ("person" or "vehicle") on a clip."""

    events: int  # events labelled with the class
    true_events: int  # ... of which overlap an object of the class
    objects: int  # objects of the class in the clip
    found: int  # ... of which overlap an event labelled with the class

    @property
    def precision(self) -> float:
        """Return true_events / events (1.0 when nothing was labelled)."""
        return self.true_events / self.events if self.events else 1.0

    @property
    def recall(self) -> float:
        """Return found / objects (1.0 when the clip has none)."""
        return self.found / self.objects if self.objects else 1.0


def kinds(labels: list[str]) -> set[str]:
    """Return the classes ("person", "vehicle") of a list of detector labels."""
    return {"vehicle" if label in VEHICLES else label for label in labels}


def score(events: list[tuple[float, float, list[str]]], objects: list[Truth], kind: str,
          slack_s: float = 1.0) -> ClassScore:
    """Score labelled events (start, end, labels) against the truth for one class; overlap in time matches."""
    def overlaps(e: tuple[float, float, list[str]], t: Truth) -> bool:
        return e[0] <= t.end + slack_s and t.start - slack_s <= e[1]

    labelled = [e for e in events if kind in kinds(e[2])]
    of_kind = [t for t in objects if t.kind == kind]
    return ClassScore(len(labelled), sum(1 for e in labelled if any(overlaps(e, t) for t in of_kind)),
                      len(of_kind), sum(1 for t in of_kind if any(overlaps(e, t) for e in labelled)))
