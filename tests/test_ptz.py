"""PTZ presets read from, set on and removed from the camera: the real onvif-zeep-async client against the ONVIF
simulator, and the API routes (plain error codes, never the camera's SOAP text) against a real app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cameras.onvif import OnvifProtocolError, get_presets, goto_preset, probe_camera, remove_preset, set_preset
from cameras.onvif.ptz_errors import PTZ_CODES, PTZ_FAULTS, ptz_problem
from cameras.simulator.onvif_service import SimCameraSpec, SimOnvifCamera
from mediaserver.app_keys import CAMERAS_KEY, STORE_KEY
from mediaserver.config import parse_config
from tests.browser import until
from tests.conftest import ApiFactory

USER, PASSWORD = "admin", "Ptz-Secret-1"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def camera() -> AsyncIterator[SimOnvifCamera]:
    """A simulated ONVIF PTZ camera with room for three presets."""
    async with SimOnvifCamera(SimCameraSpec(name="PTZ", user=USER, password=PASSWORD, max_presets=3)) as cam:
        yield cam


async def test_presets_round_trip_with_the_camera_s_own_faults(camera: SimOnvifCamera) -> None:
    info = await probe_camera("127.0.0.1", camera.port, USER, PASSWORD, name="PTZ")
    assert await get_presets(info, USER, PASSWORD) == {}  # a new camera has none: nothing is invented
    gate = await set_preset(info, USER, PASSWORD, "Cổng chính")
    camera.state.ptz.pan = 0.5
    yard = await set_preset(info, USER, PASSWORD, "Sân trường")
    assert await get_presets(info, USER, PASSWORD) == {gate: "Cổng chính", yard: "Sân trường"}
    await goto_preset(info, USER, PASSWORD, gate)
    assert camera.state.ptz.position()[0] == 0.0

    async def fault_of(coro: object) -> str | None:
        with pytest.raises(OnvifProtocolError) as got:
            await coro  # type: ignore[misc]
        return got.value.fault

    assert await fault_of(set_preset(info, USER, PASSWORD, "Cổng chính")) == "PresetExist"
    await set_preset(info, USER, PASSWORD, "Nhà xe")
    assert await fault_of(set_preset(info, USER, PASSWORD, "Hàng rào")) == "TooManyPresets"
    await remove_preset(info, USER, PASSWORD, yard)
    assert yard not in await get_presets(info, USER, PASSWORD)
    assert await fault_of(remove_preset(info, USER, PASSWORD, yard)) == "NoToken"
    assert await fault_of(goto_preset(info, USER, PASSWORD, yard)) == "NoToken"
    camera.state.ptz.start_move(0.3, 0.0, 0.0)
    moving = await fault_of(set_preset(info, USER, PASSWORD, "Đang quay"))
    assert moving == "MovingPTZ"
    assert ptz_problem(OnvifProtocolError("x", camera="PTZ", operation="SetPreset", fault=moving)).code == "ptz_moving"
    assert camera.state.calls.count("RemovePreset") == 2


def test_every_ptz_error_code_has_vietnamese_and_english_text_in_the_console() -> None:
    js = (ROOT / "mediaserver/web/ptz.js").read_text(encoding="utf-8")
    for lang in ("vi", "en"):
        block = re.search(rf"PTZ_ERROR_TEXTS = {{.*?{lang}: {{(.*?)}},", js, re.S)
        assert block, lang
        codes = set(re.findall(r"(\w+): '", block.group(1)))
        assert codes == set(PTZ_CODES), (lang, set(PTZ_CODES) ^ codes)
    assert "NoToken" in PTZ_FAULTS and "TooManyPresets" in PTZ_FAULTS


async def test_preset_routes_answer_plain_codes_and_audit(make_api: ApiFactory, camera: SimOnvifCamera,
                                                          tmp_path: Path) -> None:
    cfg = parse_config(f"cameras:\n  ptz-cam:\n    name: Camera PTZ\n    onvif: {{host: 127.0.0.1, port: {camera.port},"
                       f" username: {USER}, password: {PASSWORD}}}\n", env={})
    cfg.storage.data_dir = tmp_path / "data"
    api = await make_api(cfg)
    manager = api.app[CAMERAS_KEY]

    async def onboarded() -> bool:
        cam = manager.get("ptz-cam")
        return cam is not None and cam.info is not None

    await until(onboarded, "the PTZ camera to be onboarded", wait_s=20)
    headers = api.auth(await api.token_for("security"))
    url = "/api/v1/cameras/ptz-cam/presets"
    r = await api.client.get(url, headers=headers)
    assert r.status == 200 and await r.json() == {"items": []}
    r = await api.client.post(url, headers=headers, json={"name": "  Cổng chính "})
    assert r.status == 201, await r.text()
    gate = await r.json()
    assert gate["name"] == "Cổng chính"
    r = await api.client.post(url, headers=headers, json={"name": "Cổng chính"})
    body = await r.json()
    assert r.status == 409 and body["error"]["code"] == "ptz_preset_exists"
    assert "ter:" not in body["error"]["message"] and "Preset" not in body["error"]["message"]
    r = await api.client.post(url, headers=headers, json={"name": "   "})
    assert r.status == 422
    r = await api.client.post(f"{url}/{gate['token']}/goto", headers=headers)
    assert r.status == 200
    r = await api.client.delete(f"{url}/{gate['token']}", headers=headers)
    assert r.status == 204
    r = await api.client.delete(f"{url}/{gate['token']}", headers=headers)
    assert r.status == 404 and (await r.json())["error"]["code"] == "ptz_preset_not_found"
    r = await api.client.post("/api/v1/cameras/ptz-cam/ptz", headers=headers,
                              json={"action": "goto_preset", "preset": gate["token"]})
    assert r.status == 404 and (await r.json())["error"]["code"] == "ptz_preset_not_found"
    r = await api.client.get("/api/v1/cameras/nope/presets", headers=headers)
    assert r.status == 404
    operator = api.auth(await api.token_for("operator"))
    assert (await api.client.get(url, headers=operator)).status == 403
    audit = [e.action for e in await api.app[STORE_KEY].audit.all(limit=20)]
    assert {"camera.preset_set", "camera.preset_remove", "camera.ptz_goto_preset"} <= set(audit)
