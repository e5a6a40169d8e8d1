"""Every error code the server can answer has a Vietnamese and an English text in the console's catalogue.

The server's code list is read from its source: every ``ApiError(status, "code", …)``, every coded refusal
(``AuthError("code", …)``, ``JoinRefused``, ``ViewError``, …), the codes the error middleware gives HTTP errors,
and the PTZ fault table. A real Chromium then loads the console's modules from the real app and checks, for each
code, a Vietnamese text (with Vietnamese letters, not the code or English) and a distinct English one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright import async_api as playwright_api

from cameras.onvif.ptz_errors import PTZ_CODES
from mediaserver.api.errors import _HTTP_CODES
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import Api

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mediaserver", "bridges", "cameras", "recordings")
CODE_PATTERNS = (
    re.compile(r'ApiError\(\s*\d{3},\s*"([a-z_]+)"'),
    re.compile(r'\b[A-Z][A-Za-z]*(?:Error|Refused)\(\s*(?:\d{3},\s*)?"([a-z_]+)"'),
    re.compile(r'"code":\s*"([a-z_]+)"'),
    re.compile(r'\bcode\s*=\s*"([a-z_]+)"'),
    re.compile(r'^[A-Z_]+_CODE\s*=\s*"([a-z_]+)"', re.M),
)
VIETNAMESE_LETTERS = re.compile(r"[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I)


def server_error_codes() -> set[str]:
    """Return every error code the server's code can answer with."""
    codes: set[str] = set(_HTTP_CODES.values()) | {"http_error", "internal"}
    codes |= set(PTZ_CODES)
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            src = f.read_text(encoding="utf-8")
            for pat in CODE_PATTERNS:
                codes.update(pat.findall(src))
    return codes


def test_the_code_list_is_read_from_the_server() -> None:
    codes = server_error_codes()
    assert {"bad_credentials", "locked_out", "room_locked", "camera_offline", "ptz_moving", "disk_full",
            "method_not_allowed"} <= codes
    assert len(codes) > 60


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_every_server_error_code_has_vietnamese_and_english_text(api: Api) -> None:
    codes = sorted(server_error_codes())
    async with playwright_api.async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(base_url=str(api.client.make_url("")).rstrip("/"))
            await page.goto("/")
            texts = await page.evaluate("""async (codes) => {
              const i18n = await import('/console/i18n.js');
              await import('/console/errors.js');
              const out = {};
              for (const l of ['vi', 'en']) {
                i18n.setLang(l);
                out[l] = Object.fromEntries(codes.map((c) => [c, i18n.t(`err.${c}`)]));
              }
              return out;
            }""", codes)
        finally:
            await browser.close()
    missing = [c for c in codes if texts["vi"][c] == f"err.{c}"]
    assert not missing, f"no Vietnamese text for: {', '.join(missing)}"
    not_vietnamese = [c for c in codes if not VIETNAMESE_LETTERS.search(texts["vi"][c])]
    assert not not_vietnamese, f"Vietnamese text without Vietnamese letters for: {', '.join(not_vietnamese)}"
    no_english = [c for c in codes if texts["en"][c] == texts["vi"][c] or VIETNAMESE_LETTERS.search(texts["en"][c])]
    assert not no_english, f"no English text for: {', '.join(no_english)}"
