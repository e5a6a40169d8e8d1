"""The object detector on real photographs bundled in scikit-image's wheel (no synthetic rectangles)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from cameras.detect.darknet import parse_cfg
from cameras.detect.model import ObjectModel

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def model() -> ObjectModel:
    cv2.setNumThreads(1)
    return ObjectModel()


def _bgr(name: str) -> Any:
    if name == "motorcycle_left":
        img = cv2.imread(f"{skimage_data.data_dir}/motorcycle_left.png")
        assert img is not None
        return img
    rgb = getattr(skimage_data, name)()
    if rgb.ndim == 2:
        return cv2.cvtColor(rgb, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def test_finds_the_person_in_the_cameraman_photo(model: ObjectModel) -> None:
    found = model.detect(_bgr("camera"))
    assert found and found[0].label == "person" and found[0].score >= 0.8
    best = found[0]
    assert 20 <= best.x <= 80 and best.h >= 300  # the man and his tripod, not a corner of the sky


def test_finds_the_motorcycle(model: ObjectModel) -> None:
    found = model.detect(_bgr("motorcycle_left"))
    assert found[0].label == "motorcycle" and found[0].score >= 0.7


@pytest.mark.parametrize("name", ["grass", "gravel", "coffee"])
def test_textures_and_objects_that_are_not_people_or_vehicles_give_nothing(model: ObjectModel, name: str) -> None:
    assert [d for d in model.detect(_bgr(name)) if d.score >= 0.5] == []


def test_boxes_are_in_the_pictures_pixels_whatever_its_shape(model: ObjectModel) -> None:
    img = _bgr("camera")
    wide = np.full((512, 1024, 3), 90, dtype=np.uint8)
    wide[:, 400:912] = img
    found = model.detect(wide)
    assert found[0].label == "person"
    assert 420 <= found[0].x <= 480  # shifted by the 400 px the photo was moved right


def test_bad_input_size_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        ObjectModel(300)


def test_cfg_without_net_section_is_refused() -> None:
    with pytest.raises(ValueError, match=r"\[net\]"):
        parse_cfg("[convolutional]\nfilters=1\n")
