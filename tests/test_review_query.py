"""The free-text review search parser: Vietnamese and English words, names without accents, days and times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from mediaserver.review_query import fold, parse_query

TZ = "Asia/Ho_Chi_Minh"
ZONE = ZoneInfo(TZ)
NOW = datetime(2026, 12, 7, 10, 30, tzinfo=ZONE).timestamp()  # Monday 7 December 2026, 10:30 local
CAMERAS = {"cong-chinh": "Cổng chính", "nha-xe": "Nhà xe", "gate": "Gate", "kho-2": "Kho số 2"}
ZONES = ["cong-sau", "loi-vao", "san"]


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=ZONE).timestamp()


def parse(text: str) -> tuple[str | None, str | None, str | None, float | None, float | None, list[str]]:
    q = parse_query(text, cameras=CAMERAS, zones=ZONES, now=NOW, tz=TZ)
    return q.label, q.camera_id, q.zone, q.since, q.until, q.ignored


@pytest.mark.parametrize(("text", "expected"), [
    # The sentence, exactly (en dash).
    ("người ở Cổng chính hôm qua 14:00–14:30",
     ("person", "cong-chinh", None, at(2026, 12, 6, 14), at(2026, 12, 6, 14, 30), [])),
    ("xe máy cổng sau hôm nay", ("motorcycle", None, "cong-sau", at(2026, 12, 7), at(2026, 12, 8), [])),
    ("car at Gate 12/05 08:00-09:00", ("car", "gate", None, at(2026, 5, 12, 8), at(2026, 5, 12, 9), [])),
    ("ô tô 05/12/2026", ("car", None, None, at(2026, 12, 5), at(2026, 12, 6), [])),
    ("nguoi o cong chinh hom qua 14:00 den 14:30",  # typed without diacritics
     ("person", "cong-chinh", None, at(2026, 12, 6, 14), at(2026, 12, 6, 14, 30), [])),
    ("xe hơi nhà xe", ("car", "nha-xe", None, None, None, [])),
    ("xe khách lối vào 22:00–02:00",  # crosses midnight: ends the next day
     ("bus", None, "loi-vao", at(2026, 12, 7, 22), at(2026, 12, 8, 2), [])),
    ("xe tải kho số 2 lúc 14h30", ("truck", "kho-2", None, at(2026, 12, 7, 14, 30), at(2026, 12, 7, 15, 30), [])),
    ("xe đạp hôm kia", ("bicycle", None, None, at(2026, 12, 5), at(2026, 12, 6), [])),
    ("motorbike yesterday 9h to 10h", ("motorcycle", None, None, at(2026, 12, 6, 9), at(2026, 12, 6, 10), [])),
    ("people in san 2026-11-30", ("person", None, "san", at(2026, 11, 30), at(2026, 12, 1), [])),
    ("xe buýt 31/12", ("bus", None, None, at(2025, 12, 31), at(2026, 1, 1), [])),  # a date ahead is last year's
    ("người mặc áo đỏ", ("person", None, None, None, None, ["mặc", "áo", "đỏ"])),
    ("người và ô tô 31/02", ("person", None, None, None, None, ["ô tô", "31/02"])),  # one label; no 31 February
    ("CONG-CHINH 25:00", (None, "cong-chinh", None, None, None, ["25:00"])),
    ("", (None, None, None, None, None, [])),
    # Parts of the day, and hours said the Vietnamese way.
    ("người tối qua", ("person", None, None, at(2026, 12, 6, 18), at(2026, 12, 7), [])),
    ("người đêm qua", ("person", None, None, at(2026, 12, 6, 18), at(2026, 12, 7, 6), [])),
    ("xe máy 3 giờ chiều", ("motorcycle", None, None, at(2026, 12, 7, 15), at(2026, 12, 7, 16), [])),
    ("ô tô 7 giờ 30 phút đến 8 giờ sáng nay", ("car", None, None, at(2026, 12, 7, 7, 30), at(2026, 12, 7, 8), [])),
    ("2h-4h chiều hôm qua", (None, None, None, at(2026, 12, 6, 14), at(2026, 12, 6, 16), [])),
    ("car last night", ("car", None, None, at(2026, 12, 6, 18), at(2026, 12, 7, 6), [])),
    ("tôi cần xem người", ("person", None, None, None, None, ["tôi", "cần"])),  # "tôi" (I) is not "tối"
])
def test_parse(text: str, expected: tuple[object, ...]) -> None:
    assert parse(text) == expected


def test_understood_names_each_piece_as_written() -> None:
    q = parse_query("người ở Cổng chính hôm qua 14:00–14:30", cameras=CAMERAS, zones=ZONES, now=NOW, tz=TZ)
    assert q.understood == ["người → label person", "Cổng chính → camera cong-chinh", "hôm qua → 2026-12-06",
                            "14:00–14:30 → 14:00–14:30"]


def test_fold() -> None:
    assert fold("Cổng chính ĐƯỜNG đi") == "cong chinh duong di"
