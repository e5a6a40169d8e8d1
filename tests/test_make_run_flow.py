"""Issue 15's acceptance from the shipped config.yaml, as `make run` starts it: a real `mediaserver run` process
with its simulated cameras and its demo signer. Attach a document, hold the meeting with two sites on the real
signalling WebSocket, vote, end it, issue signed minutes, export signed CCTV evidence, verify both."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.test_cluster import wait_for
from tests.test_documents import tiny_pdf
from tests.test_server_process import Server

pytestmark = pytest.mark.slow

ROOM, HOST, SITE = "hop-huyen", "ubnd-huyen", "xa-an-binh"
CAMERA = "cong-chinh"
WAIT_S = 60.0


def iso(offset_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_s))


async def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    """Run a command in a thread (the sites' sockets keep being read meanwhile)."""
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=60)


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    """Read the site's socket until a message of ``kind`` arrives."""
    async with asyncio.timeout(WAIT_S):
        while True:
            msg = json.loads((await ws.receive()).data)
            if msg["type"] == kind:
                return dict(msg)
            assert msg["type"] != "error", msg


async def test_document_vote_signed_minutes_and_signed_evidence_from_the_shipped_config(tmp_path: Path) -> None:
    srv = Server(tmp_path, with_cameras=True)
    srv.start()
    try:
        await asyncio.to_thread(srv.login_admin)
        base = f"http://127.0.0.1:{srv.port}"
        status, m = srv.request("POST", "/api/v1/scheduled-meetings", {
            "title": "Giao ban tháng 12", "room_id": ROOM, "invited_sites": [HOST, SITE],
            "starts_at": iso(30), "ends_at": iso(3600)})
        assert status == 201, m
        meeting_id = m["id"]
        pdf = tiny_pdf(2, "Báo cáo")
        tokens = {}
        for site in (HOST, SITE):
            status, body = srv.request("POST", f"/api/v1/rooms/{ROOM}/join-tokens", {"site_id": site})
            assert status == 201 or status == 200, body
            tokens[site] = body["token"]
        staff = {"Authorization": f"Bearer {srv.token}"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/api/v1/scheduled-meetings/{meeting_id}/documents",
                                 params={"filename": "bao-cao.pdf", "title": "Báo cáo tháng 12"}, data=pdf,
                                 headers={**staff, "Content-Type": "application/pdf"}) as r:
                assert r.status == 201, await r.text()
                doc = await r.json()
            socks = {}
            for site in (HOST, SITE):
                ws = await http.ws_connect(f"{base}/api/v1/rooms/{ROOM}/signal", origin=base)
                await ws.send_json({"type": "join", "v": 1, "token": tokens[site]})
                await next_of(ws, "offer")
                socks[site] = ws
            # The commune opens the meeting's document with its own join token.
            async with http.get(f"{base}/api/v1/documents/{doc['id']}/content",
                                headers={"Authorization": f"Bearer {tokens[SITE]}"}) as r:
                assert r.status == 200 and await r.read() == pdf
            await socks[HOST].send_json({"type": "vote_open", "text": "Thông qua kế hoạch năm 2027"})
            question = (await next_of(socks[SITE], "vote_opened"))["question"]
            for site, choice in ((HOST, "yes"), (SITE, "no")):
                await socks[site].send_json({"type": "vote_cast", "question": question["id"], "choice": choice})
                await next_of(socks[site], "vote_recorded")
            await socks[HOST].send_json({"type": "vote_close", "question": question["id"]})
            result = await next_of(socks[SITE], "vote_result")
            assert (result["yes"], result["no"], result["ballots"]) == (1, 1, {HOST: "yes", SITE: "no"}), result
            status, body = srv.request("POST", f"/api/v1/rooms/{ROOM}/end", {})
            assert status in (200, 202, 204), body
            for ws in socks.values():
                await ws.close()

        status, body = srv.request("PUT", f"/api/v1/scheduled-meetings/{meeting_id}/minutes",
                                   {"conclusions": "Thống nhất trình UBND huyện.", "include_chat": False})
        assert status == 200, body
        status, body = srv.request("POST", f"/api/v1/scheduled-meetings/{meeting_id}/minutes/issue", {})
        assert status == 202, body

        def issued() -> list[Any]:
            return list(srv.request("GET", f"/api/v1/scheduled-meetings/{meeting_id}/minutes")[1]["versions"])

        version = (await wait_for("the minutes to be issued", issued, WAIT_S))[0]
        assert version["signed"] and version["signer_kind"] == "demo", version
        status, check = srv.request("GET", f"/api/v1/scheduled-meetings/{meeting_id}/minutes/verify")
        assert status == 200 and check["valid"] and check["intact"], check
        minutes_pdf = next((tmp_path / "data" / "minutes").rglob("*.pdf"))
        text = " ".join((await run("pdftotext", "-layout", str(minutes_pdf), "-")).stdout.split())
        for expected in ("BIÊN BẢN", "Giao ban tháng 12", "Thông qua kế hoạch năm 2027", "Báo cáo tháng 12",
                         "Thống nhất trình UBND huyện."):
            assert expected in text, (expected, text[:2000])

        def exported() -> dict[str, Any] | None:
            now = time.time()
            status, e = srv.request("POST", "/api/v1/exports", {
                "camera_id": CAMERA, "start": now - 14, "end": now - 4, "reason": "Kiểm tra bằng chứng"})
            if status != 202 and status != 201:
                return None
            for _ in range(60):
                e = srv.request("GET", f"/api/v1/exports/{e['id']}")[1]
                if e["status"] in ("done", "failed"):
                    return e if e["status"] == "done" else None
                time.sleep(0.5)
            return None

        export = await wait_for("a done export of the simulated camera", exported, 90.0)
        status, check = srv.request("GET", f"/api/v1/exports/{export['id']}/verify")
        assert status == 200 and check["valid"] and check["intact"], check
        manifest = next((tmp_path / "data" / "exports").rglob("*.manifest.json"))
        for path in (minutes_pdf, manifest):
            done = await run(sys.executable, "-m", "mediaserver.cli", "verify", "-c", str(srv.config), str(path))
            assert done.returncode == 0, done.stdout + done.stderr
    finally:
        srv.kill()
