"""Free-text review search: "người ở Cổng chính hôm qua 14:00–14:30" → label, camera, zone and time range.

Pure functions, no I/O: ``parse_query`` gets the cameras (id → display name), the zone names, the current time
and the time zone, and returns what it understood and which words it did not. Matching is accent-insensitive
(``fold``: Unicode NFD without combining marks, đ→d, lower case), so "cong chinh" finds "Cổng chính", and a
phrase of several words wins over its first word ("xe máy" is a motorcycle, not "xe" and "máy").

Understood: object words in Vietnamese and English (người, xe đạp, xe máy, ô tô/xe hơi, xe tải, xe buýt/xe
khách; person, bicycle, …), camera names and ids, zone names (``cong-sau`` is also "cổng sau"), "hôm nay",
"hôm qua", "hôm kia", today, yesterday, dates dd/mm[/yyyy] (and yyyy-mm-dd), times HH:MM, 14h30 or "3 giờ 30",
a time range "HH:MM–HH:MM" (en dash, hyphen, "đến", "tới", "to"), and parts of the day (sáng, trưa, chiều, tối,
đêm, "tối qua", "sáng nay", this morning, last night…; "3 giờ chiều" is 15:00, "10 giờ đêm" 22:00; a part's
word counts only as written or without accents, so "tôi" is not "tối"). Times are in the configured zone; a
range without a day is today's; a day without times is the whole day; a single time is the hour from it; a
range whose end is not after its start ends the next day (22:00–02:00). Only one object, camera and zone is
used (the first): a second one is reported as ignored, since the index answers one of each.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

HOUR_S = 3600.0
# Longest phrase (in words) a camera name, zone or object word is matched over.
MAX_PHRASE_WORDS = 8
# A day written without its year that would lie further ahead than this is last year's (searches are of the past).
FUTURE_SLACK = timedelta(days=1)

LABEL_WORDS: dict[str, tuple[str, ...]] = {
    "person": ("người", "người đi bộ", "person", "persons", "people", "pedestrian", "pedestrians", "man", "men",
               "woman", "women", "human", "humans"),
    "bicycle": ("xe đạp", "bicycle", "bicycles", "bike", "bikes", "cyclist", "cyclists"),
    "motorcycle": ("xe máy", "xe mô tô", "xe gắn máy", "mô tô", "motorcycle", "motorcycles", "motorbike",
                   "motorbikes", "scooter", "scooters"),
    "car": ("ô tô", "oto", "xe ô tô", "xe hơi", "xe con", "car", "cars"),
    "truck": ("xe tải", "truck", "trucks", "lorry", "lorries"),
    "bus": ("xe buýt", "xe bus", "xe khách", "bus", "buses"),
}
DAY_WORDS: dict[str, int] = {"hôm nay": 0, "today": 0, "hôm qua": -1, "yesterday": -1, "hôm kia": -2}
# Parts of the day: (first hour, end hour; an end not after the start is the next day's).
PARTS: dict[str, tuple[int, int]] = {"sáng": (6, 12), "trưa": (11, 14), "chiều": (12, 18), "tối": (18, 0),
                                     "đêm": (18, 6)}
PART_WORDS: dict[str, tuple[str, int | None]] = {  # phrase → (part, day offset; None: the day asked for or today)
    **{part: (part, None) for part in PARTS},
    **{f"{part} nay": (part, 0) for part in PARTS}, **{f"{part} qua": (part, -1) for part in PARTS},
    "buổi sáng": ("sáng", None), "buổi trưa": ("trưa", None), "buổi chiều": ("chiều", None),
    "buổi tối": ("tối", None), "ban đêm": ("đêm", None), "tối hôm qua": ("tối", -1), "đêm hôm qua": ("đêm", -1),
    "morning": ("sáng", None), "noon": ("trưa", None), "afternoon": ("chiều", None), "evening": ("tối", None),
    "night": ("đêm", None), "this morning": ("sáng", 0), "this afternoon": ("chiều", 0),
    "this evening": ("tối", 0), "tonight": ("tối", 0), "last night": ("đêm", -1),
}
RANGE_WORDS = frozenset({"đến", "tới", "to", "until", "till"})
# Joining words: understood as such, neither reported nor used.
FILLER_WORDS = frozenset({
    "ở", "tại", "lúc", "vào", "từ", "ngày", "trong", "khu", "vực", "có", "các", "những", "và", "camera", "cam",
    "tìm", "xem", "khoảng", "giờ", "phút", "buổi", "at", "in", "on", "the", "a", "an", "of", "from", "near", "and",
    "with", "find", "show", "for", "between", "by",
})

_TOKEN_RE = re.compile(
    r"(?P<iso>\d{4}-\d{1,2}-\d{1,2})"
    r"|(?P<date>\d{1,2}[/.]\d{1,2}(?:[/.]\d{2,4})?)(?![\w/.])"
    r"|(?P<time>\d{1,2}(?::\d{2}|h\d{2}|h)(?!\w))"
    r"|(?P<dash>[–—-])"
    r"|(?P<word>\w+)"
)
_TIME_RE = re.compile(r"^(\d{1,2})(?::(\d{2})|h(\d{2})?)$")


def fold(text: str) -> str:
    """Return ``text`` without diacritics, đ as d, in lower case ("Cổng chính" → "cong chinh")."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> tuple[str, ...]:
    """Return the folded words of a name ("cong-sau" and "Cổng sau" both → ("cong", "sau"))."""
    return tuple(fold(w) for w in re.findall(r"[^\W_]+", unicodedata.normalize("NFC", text)))


@dataclass(frozen=True, slots=True)
class ParsedQuery:
    """What a free-text search asks for; None where it does not say."""

    label: str | None = None
    camera_id: str | None = None
    zone: str | None = None
    since: float | None = None  # UTC epoch seconds
    until: float | None = None
    understood: list[str] = field(default_factory=list)  # "<the words> → <their meaning>", in order
    ignored: list[str] = field(default_factory=list)  # the words not understood, as written


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # as written (NFC)
    folded: str
    kind: str  # iso | date | time | dash | word


def _tokens(text: str) -> list[_Token]:
    nfc = unicodedata.normalize("NFC", text)
    out = []
    for m in _TOKEN_RE.finditer(nfc):
        kind = m.lastgroup
        assert kind is not None
        out.append(_Token(m.group(), fold(m.group()), kind))
    # A hyphen between words joins them ("cong-chinh" is the words of a camera id), it separates only times.
    out = [t for k, t in enumerate(out)
           if not (t.kind == "dash" and 0 < k < len(out) - 1 and out[k - 1].kind == out[k + 1].kind == "word")]
    # "3 giờ", "3 giờ 30", "3 giờ 30 phút": one time, as "3h30".
    merged: list[_Token] = []
    k = 0
    while k < len(out):
        t = out[k]
        if t.text.isdigit() and len(t.text) <= 2 and k + 1 < len(out) and out[k + 1].folded == "gio":
            span, minute = [t, out[k + 1]], ""
            if k + 2 < len(out) and out[k + 2].text.isdigit() and len(out[k + 2].text) <= 2:
                minute = out[k + 2].text.zfill(2)
                span.append(out[k + 2])
                if k + 3 < len(out) and out[k + 3].folded == "phut":
                    span.append(out[k + 3])
            merged.append(_Token(" ".join(x.text for x in span), f"{t.text}h{minute}", "time"))
            k += len(span)
            continue
        merged.append(t)
        k += 1
    return merged


def _phrases(cameras: Mapping[str, str], zones: Iterable[str]) -> dict[tuple[str, ...], list[tuple[str, str]]]:
    """Return folded word sequences → [(kind, value)], in priority order (object, camera, zone)."""
    table: dict[tuple[str, ...], list[tuple[str, str]]] = {}

    def add(key: tuple[str, ...], kind: str, value: str) -> None:
        if key and len(key) <= MAX_PHRASE_WORDS and (kind, value) not in table.get(key, []):
            table.setdefault(key, []).append((kind, value))

    for label, names in LABEL_WORDS.items():
        for name in names:
            add(words(name), "label", label)
    for name, offset in DAY_WORDS.items():
        add(words(name), "day", str(offset))
    for name, (part, part_offset) in PART_WORDS.items():
        add(words(name), "part", f"{part}|{'' if part_offset is None else part_offset}|{name}")
    for camera_id, name in cameras.items():
        add(words(name), "camera", camera_id)
        add(words(camera_id), "camera", camera_id)
    for zone in zones:
        add(words(zone), "zone", zone)
    return table


def _clock(token: str) -> time | None:
    m = _TIME_RE.match(token)
    if m is None:
        return None
    hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
    if hour == 24 and minute == 0:
        return time(23, 59, 59)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _as_written(meaning: tuple[str, str], span: list[_Token]) -> bool:
    """Return whether a part-of-day phrase was typed with its own accents or none ("tối", "toi"; not "tôi")."""
    if meaning[0] != "part":
        return True
    phrase = unicodedata.normalize("NFC", meaning[1].split("|")[2]).split()
    return all(t.text == t.folded or t.text == w for t, w in zip(span, phrase, strict=True))


def _pm(hour: int, part: str) -> int:
    """Return the 24-hour hour of "3 giờ chiều" (15), "10 giờ đêm" (22), "1 giờ trưa" (13), "2 giờ đêm" (2)."""
    if (part in ("chiều", "tối") and hour < 12) or (part == "đêm" and 6 <= hour < 12) or (part == "trưa" and hour < 6):
        return hour + 12
    return hour


def _in_part(clock_range: tuple[time, time | None] | None, part: str) -> tuple[time, time | None]:
    """Return the times asked for in a part of the day: its hours, or the given times read in it."""
    if clock_range is None:
        start_h, end_h = PARTS[part]
        return time(start_h), time(end_h)
    start, end = clock_range
    return (time(_pm(start.hour, part), start.minute),
            None if end is None else time(_pm(end.hour, part), end.minute))


def _date(token: _Token, today: date) -> date | None:
    try:
        if token.kind == "iso":
            y, mo, d = (int(p) for p in token.text.split("-"))
            return date(y, mo, d)
        parts = [int(p) for p in re.split(r"[/.]", token.text)]
        if len(parts) == 3:
            year = parts[2] + 2000 if parts[2] < 100 else parts[2]
            return date(year, parts[1], parts[0])
        day = date(today.year, parts[1], parts[0])
        if day - today > FUTURE_SLACK:
            day = date(today.year - 1, parts[1], parts[0])
        return day
    except ValueError:  # 31/02, month 13, year 0
        return None


def parse_query(text: str, *, cameras: Mapping[str, str], zones: Iterable[str], now: float,
                tz: str) -> ParsedQuery:
    """Return what a free-text review search asks for (see the module docstring for the grammar)."""
    zone_info = ZoneInfo(tz)
    today = datetime.fromtimestamp(now, zone_info).date()
    table = _phrases(cameras, zones)
    toks = _tokens(text)
    found: dict[str, str] = {}
    understood: list[str] = []
    ignored: list[str] = []
    day: date | None = None
    clock_range: tuple[time, time | None] | None = None
    part: str | None = None
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok.kind == "time":
            start = _clock(tok.folded)
            if start is None:
                ignored.append(tok.text)
                i += 1
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            end_tok = toks[i + 2] if i + 2 < len(toks) else None
            if (nxt is not None and end_tok is not None and end_tok.kind == "time"
                    and (nxt.kind == "dash" or nxt.folded in {fold(w) for w in RANGE_WORDS})
                    and _clock(end_tok.folded) is not None):
                piece, rng = f"{tok.text}–{end_tok.text}", (start, _clock(end_tok.folded))
                i += 3
            else:
                piece, rng = tok.text, (start, None)
                i += 1
            if clock_range is None:
                clock_range = rng
                end_txt = "+1 h" if rng[1] is None else f"{rng[1]:%H:%M}"
                understood.append(f"{piece} → {start:%H:%M}–{end_txt}")
            else:
                ignored.append(piece)
            continue
        if tok.kind in ("iso", "date"):
            d = _date(tok, today)
            if d is None or day is not None:
                ignored.append(tok.text)
            else:
                day = d
                understood.append(f"{tok.text} → {d.isoformat()}")
            i += 1
            continue
        if tok.kind == "dash":
            i += 1
            continue
        # The longest phrase starting here.
        for n in range(min(MAX_PHRASE_WORDS, len(toks) - i), 0, -1):
            span = toks[i:i + n]
            if any(t.kind != "word" for t in span):
                continue
            meanings = [m for m in table.get(tuple(t.folded for t in span), []) if _as_written(m, span)]
            if meanings:
                break
        else:
            span, meanings = [tok], None
        written = " ".join(t.text for t in span)
        i += len(span)
        if not meanings:
            if tok.text in FILLER_WORDS or tok.folded in {fold(w) for w in FILLER_WORDS}:
                continue
            ignored.append(tok.text)
            continue
        # A camera named like a zone: the camera first, the zone when a camera is already chosen.
        kind, value = next(((k, v) for k, v in meanings if k not in found), meanings[0])
        if kind == "part":
            part_name, part_offset, _ = value.split("|")
            if part is not None or (part_offset and day is not None):
                ignored.append(written)
                continue
            part = part_name
            if part_offset:
                day = today + timedelta(days=int(part_offset))
            start_h, end_h = PARTS[part]
            when = f" {day.isoformat()}" if part_offset and day is not None else ""
            understood.append(f"{written} → {start_h:02d}:00–{end_h:02d}:00{when}")
            continue
        if kind == "day":
            if day is not None:
                ignored.append(written)
                continue
            day = today + timedelta(days=int(value))
            understood.append(f"{written} → {day.isoformat()}")
            continue
        if kind in found:
            ignored.append(written)
            continue
        found[kind] = value
        understood.append(f"{written} → {kind} {value}")
    if part is not None:
        clock_range = _in_part(clock_range, part)
    since = until = None
    if day is not None or clock_range is not None:
        d = day or today
        if clock_range is None:
            start_dt = datetime.combine(d, time(0), zone_info)
            end_dt = datetime.combine(d + timedelta(days=1), time(0), zone_info)
        else:
            start_dt = datetime.combine(d, clock_range[0], zone_info)
            end_clock = clock_range[1]
            if end_clock is None:
                end_dt = start_dt + timedelta(hours=1)
            else:
                end_dt = datetime.combine(d, end_clock, zone_info)
                if end_dt <= start_dt:
                    end_dt += timedelta(days=1)
        since, until = start_dt.timestamp(), end_dt.timestamp()
    return ParsedQuery(label=found.get("label"), camera_id=found.get("camera"), zone=found.get("zone"),
                       since=since, until=until, understood=understood, ignored=ignored)
