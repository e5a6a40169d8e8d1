"""Deleting exports: DELETE /api/v1/exports/{id} against a real server, real SQLite index and real segment files,
and the exports page's delete button in a real headless Chromium.

An export under an active evidence hold is refused (409 export_held); once the hold is released the file and
the record go, with an audit entry. A running export is stopped (its remux thread sees the cancel flag, no file
or partial file is left) and a queued one never runs.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import recordings.export as export_mod
from mediaserver.app_keys import STORE_KEY
from mediaserver.config import Config
from recordings.export import EXPORTS_DIR
from tests.browser import console_login, console_page, until
from tests.conftest import STRONG_PASSWORD, Api, ApiFactory
from tests.test_export import CAMERA, T0, footage_api, wait_done


async def _export(api: Api, token: str, start: float, end: float) -> dict[str, Any]:
    r = await api.client.post("/api/v1/exports", headers=api.auth(token),
                              json={"camera_id": CAMERA, "start": start, "end": end, "reason": "vụ việc 07/12"})
    assert r.status == 202, await r.text()
    body: dict[str, Any] = await r.json()
    return body


async def _release(api: Api, token: str, hold_id: int) -> None:
    r = await api.client.delete(f"/api/v1/holds/{hold_id}", headers=api.auth(token))
    assert r.status == 200, await r.text()


def _files(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / EXPORTS_DIR).glob("*"))


async def test_a_held_export_is_refused_then_deleted_with_its_file_and_an_audit_entry(
        make_api: ApiFactory, config: Config) -> None:
    api, _ = await footage_api(make_api, config)
    sec = await api.token_for("security")
    op = await api.token_for("operator")
    x = await _export(api, sec, T0 + 1, T0 + 9)
    done = await wait_done(api, sec, x["id"])
    assert done["status"] == "done"
    data_dir = config.storage.data_dir
    # The shipped config signs exports (signing.backend demo): the video, its manifest and the manifest's .p7s.
    name = done["file_name"]
    signed = [name, f"{name}.manifest.json", f"{name}.manifest.json.p7s"]
    assert _files(data_dir) == signed

    r = await api.client.delete(f"/api/v1/exports/{x['id']}", headers=api.auth(sec))
    assert r.status == 409 and (await r.json())["error"]["code"] == "export_held"
    assert _files(data_dir) == signed
    r = await api.client.delete(f"/api/v1/exports/{x['id']}", headers=api.auth(op))
    assert r.status == 403  # footage is the security staff's

    await _release(api, sec, x["hold_id"])
    r = await api.client.delete(f"/api/v1/exports/{x['id']}", headers=api.auth(sec))
    assert r.status == 204, await r.text()
    assert _files(data_dir) == []
    assert (await api.client.get(f"/api/v1/exports/{x['id']}", headers=api.auth(sec))).status == 404
    r = await api.client.delete(f"/api/v1/exports/{x['id']}", headers=api.auth(sec))
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    [entry] = [a for a in await api.app[STORE_KEY].audit.all() if a.action == "export.delete"]
    assert entry.actor == "security-user" and entry.target == x["id"]
    assert entry.detail["sha256"] == done["sha256"] and entry.detail["stopped"] is False


async def test_deleting_a_running_export_stops_it_and_a_queued_one_never_runs(
        make_api: ApiFactory, config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    real_remux = export_mod.remux_range

    def held_remux(*args: Any, **kwargs: Any) -> Any:
        # Keep the worker in "running" until the cancel flag is raised, then run the real remux, which stops
        # at its first cancel check: the route's cancel is what ends it.
        started.set()
        cancel: threading.Event = kwargs["cancel"]
        cancel.wait(20.0)
        return real_remux(*args, **kwargs)

    monkeypatch.setattr(export_mod, "remux_range", held_remux)
    api, _ = await footage_api(make_api, config)
    sec = await api.token_for("security")
    running = await _export(api, sec, T0 + 1, T0 + 19)  # 18 s at 25 fps: past the first cancel check
    queued = await _export(api, sec, T0 + 2, T0 + 8)
    assert await asyncio.to_thread(started.wait, 10.0)
    got = await (await api.client.get(f"/api/v1/exports/{running['id']}", headers=api.auth(sec))).json()
    assert got["status"] == "running"

    await _release(api, sec, queued["hold_id"])
    r = await api.client.delete(f"/api/v1/exports/{queued['id']}", headers=api.auth(sec))
    assert r.status == 204
    await _release(api, sec, running["hold_id"])
    r = await api.client.delete(f"/api/v1/exports/{running['id']}", headers=api.auth(sec))
    assert r.status == 204
    listed = await (await api.client.get("/api/v1/exports", headers=api.auth(sec))).json()
    assert listed["items"] == []
    assert _files(config.storage.data_dir) == []  # neither a file nor a partial file
    details = {a.target: a.detail for a in await api.app[STORE_KEY].audit.all() if a.action == "export.delete"}
    assert details[running["id"]]["stopped"] is True and details[running["id"]]["status"] in ("running", "failed")
    assert details[queued["id"]]["stopped"] is True and details[queued["id"]]["status"] == "queued"

    # The worker lives on: the next export runs to the end.
    monkeypatch.setattr(export_mod, "remux_range", real_remux)
    after = await _export(api, sec, T0 + 1, T0 + 5)
    assert (await wait_done(api, sec, after["id"]))["status"] == "done"


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_the_exports_page_deletes_an_export_after_a_confirm(make_api: ApiFactory, config: Config) -> None:
    api, _ = await footage_api(make_api, config)
    await api.add_user("bao-ve", "security")
    sec = await api.login("bao-ve")
    held = await _export(api, sec, T0 + 1, T0 + 7)
    free = await _export(api, sec, T0 + 8, T0 + 14)
    for x in (held, free):
        assert (await wait_done(api, sec, x["id"]))["status"] == "done"
    await _release(api, sec, free["hold_id"])
    base = str(api.client.make_url("")).rstrip("/")
    dialogs: list[str] = []
    answer = {"accept": False}

    async def on_dialog(d: Any) -> None:
        dialogs.append(d.message)
        await (d.accept() if answer["accept"] else d.dismiss())

    async with console_page(base, width=390, height=844) as page:
        page.on("dialog", on_dialog)
        await console_login(page, "#/exports", "bao-ve", STRONG_PASSWORD)
        rows = page.locator("#exports-table tbody tr")
        await until(lambda: _eq(rows.count(), 2), "both exports listed")
        assert (await page.locator("#nav .nav-link.active").inner_text()).strip() == "Bản xuất video"

        # Dismissed: nothing is deleted. Accepted: the free export goes, file and row.
        button = page.locator(f"tr[data-export-id='{free['id']}'] .exp-delete")
        assert (await button.inner_text()).strip() == "Xóa"
        await button.click()
        await until(lambda: _true(len(dialogs) == 1), "the confirm")
        assert dialogs[0].startswith("Xóa vĩnh viễn bản xuất này")
        assert await rows.count() == 2
        answer["accept"] = True
        await button.click()
        await until(lambda: _eq(rows.count(), 1), "the deleted export's row gone")

        # The held export's confirm names the hold; accepted, the hold is released and the export deleted.
        await page.locator(f"tr[data-export-id='{held['id']}'] .exp-delete").click()
        await until(lambda: _true(len(dialogs) == 3), "the held export's confirm")
        assert "lưu giữ làm chứng cứ" in dialogs[2]
        await page.locator("#exports-empty").wait_for(timeout=10_000)
        assert page.errors == []
    assert _files(config.storage.data_dir) == []
    actions = [a.action for a in await api.app[STORE_KEY].audit.all()]
    assert actions.count("export.delete") == 2 and "hold.release" in actions


async def _eq(got: Any, want: Any) -> bool:
    return bool(await got == want)


async def _true(value: bool) -> bool:
    return value
