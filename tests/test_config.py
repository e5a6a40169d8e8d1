"""Config loading: the shipped file is valid; every problem is reported with its path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mediaserver.config import ConfigError, SiteRole, load_config, parse_config, redacted
from tests.conftest import ROOT

CAMERA = "name: Cổng\n    streams: {main_url: 'rtsp://10.0.0.9/main'}"


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, env=env or {})
    return [str(p) for p in info.value.problems]


def test_shipped_config_models_the_district() -> None:
    cfg = load_config(ROOT / "config.yaml", env={})
    assert len(cfg.sites) == 21
    roles = [s.role for s in cfg.sites.values()]
    assert roles.count(SiteRole.HOST) == 1
    assert roles.count(SiteRole.COMMUNE) + roles.count(SiteRole.TOWN) == 17
    assert roles.count(SiteRole.PARTY) == 1
    assert cfg.timezone == "Asia/Ho_Chi_Minh"
    assert cfg.storage.data_dir == ROOT / "data"
    assert cfg.rooms["hop-huyen"].host_site == "ubnd-huyen"


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mediaserver.cli", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_check_config_accepts_the_shipped_file() -> None:
    r = run_check(ROOT / "config.yaml")
    assert r.returncode == 0, r.stderr
    assert "21 sites" in r.stdout


def test_check_config_names_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "server:\n  prot: 8080\n"
        "cameras:\n"
        f"  gate-1:\n    {CAMERA}\n    record:\n      retain_days: -1\n"
        f"  gate-2:\n    {CAMERA}\n"
        f"  gate-2:\n    {CAMERA}\n"
    )
    r = run_check(bad)
    assert r.returncode != 0
    assert "server.prot: unknown key" in r.stderr
    assert "cameras.gate-1.record.retain_days: must be >= 0" in r.stderr
    assert "cameras.gate-2: duplicate key" in r.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server: {port: 70000}", "server.port: must be <= 65535"),
        ("server: {rtp_port_min: 5000, rtp_port_max: 4000}", "server.rtp_port_max: must be >= server.rtp_port_min"),
        ("server: {tls: {mode: files}}", "server.tls.cert_file: required when mode is 'files'"),
        ("timezone: Mars/Olympus", "timezone: unknown time zone"),
        ("sites: {a: {name: A}, b: {name: B}}", "sites: exactly one site must have role 'host'"),
        ("sites: {h: {name: H, role: host}}\nrooms: {r: {name: R, host_site: nope}}",
         "rooms.r.host_site: unknown site 'nope'"),
        ("cameras: {Bad Id: {name: X}}", "cameras.Bad Id"),
        ("cameras: {c: {name: X}}", "cameras.c: needs 'onvif', 'streams.main_url' or 'simulate'"),
        ("schedules: {j: {action: room.start, kind: cron, cron: 'every day'}}", "schedules.j.cron: not a valid cron"),
        ("schedules: {j: {action: room.start, kind: once}}", "schedules.j.at: required when kind is 'once'"),
        ("auth: {token_secret: short}", "auth.token_secret: must be at least 32 characters"),
        ("storage: {database_url: 'postgresql://db:5432'}", "storage.database_url: names no database"),
        ("storage: {database_url: 'postgresql://db:port/ms'}", "storage.database_url: not a valid postgresql:// URL"),
        ("sites: {h: {name: H, role: host, email: 'van thu@ubnd'}}", "sites.h.email: must match"),
        ("sites: {h: {name: H, role: host, email: 'a@b.vn, c@d.vn'}}", "sites.h.email: must match"),
        ("mail: {port: 0}", "mail.port: must be >= 1"),
        ("mail: {timeout_s: 600}", "mail.timeout_s: must be <= 120"),
        ("mail: {security: ssl}", "mail.security"),
        ("mail: {sender: nobody}", "mail.sender: must match"),
        ("- just\n- a list", "the top level must be a mapping"),
        ("server: [unclosed", "not valid YAML"),
    ],
)
def test_each_rule_reports_its_path(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_environment_secrets_and_camera_defaults() -> None:
    cfg = parse_config(
        "recording: {mode: continuous, retain_days: 3}\n"
        "motion: {analysis_fps: 4}\n"
        "cameras:\n"
        "  gate-1:\n    name: Cổng\n    onvif: {host: 10.0.0.5, password: '${GATE_PW}'}\n"
        "    record: {retain_days: 14}\n"
        "  hall:\n    name: Hội trường\n    onvif: {host: 10.0.0.6, password: '${HALL_PW:-fallback-pw}'}\n",
        env={"GATE_PW": "s3cret-gate"},
    )
    gate, hall = cfg.cameras["gate-1"], cfg.cameras["hall"]
    assert gate.onvif is not None and gate.onvif.password.get_secret_value() == "s3cret-gate"
    assert hall.onvif is not None and hall.onvif.password.get_secret_value() == "fallback-pw"
    # Global defaults are merged into each camera once; a camera's own values win.
    assert (cfg.camera_record("gate-1").mode, cfg.camera_record("gate-1").retain_days) == ("continuous", 14)
    assert (cfg.camera_record("hall").mode, cfg.camera_record("hall").retain_days) == ("continuous", 3)
    assert cfg.camera_motion("hall").analysis_fps == 4
    shown = str(redacted(cfg)) + repr(cfg)
    assert "s3cret-gate" not in shown and "fallback-pw" not in shown


def test_missing_environment_variable_is_named() -> None:
    found = problems("cameras:\n  gate-1:\n    name: C\n    onvif: {host: h, password: '${NOPE}'}\n")
    assert "cameras.gate-1.onvif.password: environment variable NOPE is not set" in found


def test_mail_settings_and_site_addresses() -> None:
    cfg = parse_config(
        "sites: {h: {name: UBND huyện, role: host, email: vanthu@ubnd.example.vn}, x: {name: Xã}}\n"
        "mail: {enabled: true, host: smtp.example.vn, port: 587, security: starttls, username: hop,\n"
        "       password: '${SMTP_PW}', sender: hop@ubnd.example.vn}\n",
        env={"SMTP_PW": "s3cret-smtp"},
    )
    assert cfg.sites["h"].email == "vanthu@ubnd.example.vn" and cfg.sites["x"].email is None
    mail = cfg.mail
    assert (mail.enabled, mail.host, mail.port, mail.security) == (True, "smtp.example.vn", 587, "starttls")
    assert mail.password is not None and mail.password.get_secret_value() == "s3cret-smtp"
    assert (mail.sender_name, mail.timeout_s, mail.verify_tls, mail.ca_file) == ("Hội nghị truyền hình", 20, True, None)
    shown = str(redacted(cfg)) + repr(cfg)
    assert "s3cret-smtp" not in shown
    # Off by default: a fresh install never tries to reach a mail server.
    assert parse_config("", env={}).mail.enabled is False
