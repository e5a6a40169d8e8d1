"""The production install: systemd units that `systemd-analyze verify` accepts, their hardening, the install
script (run for real into temporary paths, twice), and why the server's unit has no MemoryDenyWriteExecute."""

from __future__ import annotations

import ctypes
import ctypes.util
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from cameras.simulator.rtsp import RtspServerProcess
from mediaserver.config import ServerConfig
from tests.conftest import ROOT
from tests.test_server_process import Server

DEPLOY = ROOT / "deploy"
UNITS = ("mediaserver.service", "mediaserver-backup.service", "mediaserver-backup.timer")
VENV_BIN = "/opt/mediaserver/venv/bin/mediaserver"
SHUTDOWN_MARGIN_S = 15  # after shutdown_timeout_s: meetings end, recorders close segments, WAL checkpoint
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def unit_directives(path: Path) -> dict[str, list[str]]:
    """Return the [Service] directives of a unit file (a key may repeat, as systemd allows)."""
    out: dict[str, list[str]] = {}
    section = ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_units_pass_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    # verify insists that ExecStart's program exists: point it at a stand-in with the same command line.
    fake = tmp_path / "venv" / "bin" / "mediaserver"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        assert unit.endswith(".timer") or VENV_BIN in text
        (tmp_path / unit).write_text(text.replace(VENV_BIN, str(fake)))
    proc = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / u) for u in UNITS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr
    # The check can fail: an unknown directive is reported (systemd only warns and skips it at run time).
    (tmp_path / "typo.service").write_text((tmp_path / UNITS[0]).read_text().replace(
        "ProtectHome=yes", "ProtectHomes=yes"))
    typo = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "typo.service")],
                          capture_output=True, text=True, timeout=60)
    assert "Unknown key" in typo.stderr and "ProtectHomes" in typo.stderr


def test_the_server_unit_is_hardened() -> None:
    d = {k: v[-1] for k, v in unit_directives(DEPLOY / "mediaserver.service").items()}
    assert d["User"] == d["Group"] == "mediaserver"
    assert d["ExecStart"] == f"{VENV_BIN} run -c /etc/mediaserver/config.yaml"
    assert (d["WorkingDirectory"], d["StateDirectory"], d["ConfigurationDirectory"]) == (
        "/var/lib/mediaserver", "mediaserver", "mediaserver")
    expected = {
        "Restart": "on-failure", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "LockPersonality": "yes", "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
        "CapabilityBoundingSet": "", "AmbientCapabilities": "", "StandardOutput": "journal",
    }
    assert {k: d.get(k) for k in expected} == expected
    assert "MemoryDenyWriteExecute" not in d  # see the test below
    assert int(d["LimitNOFILE"]) >= 65536
    default_shutdown_s = ServerConfig.model_fields["shutdown_timeout_s"].default
    assert float(d["TimeoutStopSec"].removesuffix("s")) >= default_shutdown_s + SHUTDOWN_MARGIN_S
    backup = {k: v[-1] for k, v in unit_directives(DEPLOY / "mediaserver-backup.service").items()}
    assert backup["User"] == "mediaserver" and backup["MemoryDenyWriteExecute"] == "yes"
    assert backup["ExecStart"].startswith(f"{VENV_BIN} backup -c /etc/mediaserver/config.yaml")


def _mdwe_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    pid = os.fork()
    if pid == 0:  # try it in a child: MDWE cannot be undone
        os._exit(0 if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) == 0 else 1)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0


def under_mdwe(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python code with the kernel's W^X rule (what MemoryDenyWriteExecute=yes enforces)."""
    wrapper = textwrap.dedent(f"""
        import ctypes, os, sys
        if ctypes.CDLL(None, use_errno=True).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0):
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")
        sys.argv = ["-", *sys.argv[1:]]
        exec(compile({code!r}, "<mdwe>", "exec"))
    """)
    return subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


DTLS_PAIR = """
import asyncio, sys
from aiortc import RTCPeerConnection
TICKS = int(sys.argv[1]) if len(sys.argv) > 1 else 150  # 0.1 s each
async def main():
    a, b = RTCPeerConnection(), RTCPeerConnection()
    a.createDataChannel("x")
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    for _ in range(TICKS):
        if {a.connectionState, b.connectionState} & {"connected", "failed"}:
            break
        await asyncio.sleep(0.1)
    print("state", a.connectionState)
    await a.close(); await b.close()
asyncio.run(main())
"""


@pytest.mark.slow
@pytest.mark.skipif(not _mdwe_supported(), reason="kernel without prctl(PR_SET_MDWE) (Linux < 6.3)")
def test_webrtc_needs_writable_executable_memory_but_the_backup_does_not(tmp_path: Path) -> None:
    control = subprocess.run([sys.executable, "-c", DTLS_PAIR], capture_output=True, text=True, timeout=60)
    assert "state connected" in control.stdout, control.stderr
    # aiortc's DTLS goes through pyOpenSSL, whose cffi verify callback needs W+X memory: under the kernel's
    # W^X rule no WebRTC peer ever connects. When this stops failing, MemoryDenyWriteExecute=yes can go in.
    denied = under_mdwe(DTLS_PAIR, "30")  # the error comes at once; the peers then wait forever
    assert "Cannot allocate write+execute memory" in denied.stderr, denied.stdout + denied.stderr
    # The backup unit does set it: the backup command works under it.
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["storage"]["data_dir"] = str(tmp_path / "data")
    cfg["cameras"] = {}
    cfg.pop("camera_groups", None)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, allow_unicode=True))
    cli = "from mediaserver.cli import main; raise SystemExit(main(sys.argv[1:]))"
    assert under_mdwe(cli, "migrate", "-c", str(tmp_path / "config.yaml")).returncode == 0
    backup = under_mdwe(cli, "backup", "-c", str(tmp_path / "config.yaml"), str(tmp_path))
    assert backup.returncode == 0 and "schema version" in backup.stdout, backup.stderr


def test_install_script_passes_bash_n_and_shellcheck() -> None:
    script = DEPLOY / "install.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True).returncode == 0
    assert shutil.which("shellcheck"), "shellcheck missing: run scripts/install-system-deps.sh"
    sc = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert sc.returncode == 0, sc.stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="the install script runs as root")
def test_install_script_installs_into_given_paths_and_is_idempotent(tmp_path: Path) -> None:
    user = "daemon"  # an existing system user and group: the test creates no account on this machine
    prefix, etc, state, backups, units = (tmp_path / n for n in ("opt", "etc", "state", "backups", "units"))
    venv_bin = prefix / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)  # the project's venv stands in for the pip install
    (venv_bin / "mediaserver").write_text(f"#!/bin/sh\nexec {sys.executable} -m mediaserver.cli \"$@\"\n")
    (venv_bin / "mediaserver").chmod(0o755)
    env = {**os.environ, "MEDIASERVER_USER": user, "MEDIASERVER_PREFIX": str(prefix), "MEDIASERVER_ETC": str(etc),
           "MEDIASERVER_STATE": str(state), "MEDIASERVER_BACKUPS": str(backups), "SYSTEMD_UNIT_DIR": str(units),
           "MEDIASERVER_SKIP_PIP": "1", "PYTHONPATH": str(ROOT)}

    def install() -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([str(DEPLOY / "install.sh")], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    first = install()
    assert "writing" in first.stdout and "OK" in first.stdout  # check-config accepted the generated config
    gid = grp.getgrnam(user).gr_gid
    uid = pwd.getpwnam(user).pw_uid

    def mode_owner(p: Path) -> tuple[int, int, int]:
        st = p.stat()
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    assert mode_owner(etc) == (0o750, 0, gid)
    assert mode_owner(etc / "config.yaml") == (0o640, 0, gid)
    assert mode_owner(state) == (0o750, uid, gid) and mode_owner(backups) == (0o750, uid, gid)
    for unit in UNITS:
        assert (units / unit).read_bytes() == (DEPLOY / unit).read_bytes()
    cfg = yaml.safe_load((etc / "config.yaml").read_text())
    assert cfg["storage"]["data_dir"] == str(state) and cfg["server"]["log_format"] == "json"
    assert not any("simulate" in c for c in (cfg.get("cameras") or {}).values())
    assert len(cfg["sites"]) == len(yaml.safe_load((ROOT / "config.yaml").read_text())["sites"])

    # The operator's edits survive a second run (an upgrade); loosened permissions are put back.
    edited = (etc / "config.yaml").read_text() + "# đã sửa / edited by the operator\n"
    (etc / "config.yaml").write_text(edited)
    (etc / "config.yaml").chmod(0o666)
    second = install()
    assert "keeping the existing" in second.stdout
    assert (etc / "config.yaml").read_text() == edited
    assert mode_owner(etc / "config.yaml") == (0o640, 0, gid)


# A stand-in for the unit's SystemCallFilter=@system-service and RestrictAddressFamilies= (systemd is not PID 1
# in a test container, so the unit itself cannot be started): the same lists, enforced with libseccomp.
SECCOMP_PRELUDE = """
import ctypes, os, socket, subprocess, sys

def expand(group, seen):
    out = set()
    text = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True,
                          check=True).stdout
    for word in (line.strip() for line in text.splitlines()[1:]):
        if word.startswith("@") and word not in seen:
            seen.add(word)
            out |= expand(word, seen)
        elif word and not word.startswith(("#", "@")):
            out.add(word)
    return out

class Cmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

ALLOW, DENY, CMP_EQ = 0x7FFF0000, 0x00050000 | 1, 4  # SCMP_ACT_ALLOW, SCMP_ACT_ERRNO(EPERM), SCMP_CMP_EQ
lib = ctypes.CDLL("libseccomp.so.2")
lib.seccomp_init.restype = ctypes.c_void_p
lib.seccomp_init.argtypes = [ctypes.c_uint32]
lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
lib.seccomp_load.argtypes = [ctypes.c_void_p]
ctx = lib.seccomp_init(DENY)
add = lib.seccomp_rule_add
for name in sorted(expand(sys.argv[1], set()) - {"socket"}):
    nr = lib.seccomp_syscall_resolve_name(name.encode())
    if nr >= 0:
        add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
        assert add(ctx, ALLOW, nr, 0) == 0, name
add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, Cmp]
for family in sys.argv[2].split():
    assert add(ctx, ALLOW, lib.seccomp_syscall_resolve_name(b"socket"), 1,
               Cmp(0, CMP_EQ, int(getattr(socket, family)), 0)) == 0, family
assert lib.seccomp_load(ctx) == 0
os.execv(sys.argv[3], sys.argv[3:])
"""


def seccomp_wrapper(tmp: Path) -> Path:
    """Write an executable that runs Python under the unit's syscall filter and address families."""
    d = {k: v for k, v in unit_directives(DEPLOY / "mediaserver.service").items()}
    prelude = tmp / "seccomp_prelude.py"
    prelude.write_text(SECCOMP_PRELUDE)
    wrapper = tmp / "python-sandboxed"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} {prelude} '{d['SystemCallFilter'][-1]}' "
                       f"'{d['RestrictAddressFamilies'][-1]}' {sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.skipif(ctypes.util.find_library("seccomp") is None, reason="libseccomp2 missing")
async def test_server_records_and_webrtc_connects_under_the_units_syscall_filter(
        tmp_path: Path, rtsp: RtspServerProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    # The camera simulator is its own process: this test's blocking waits do not hold it up.
    run_sandboxed(tmp_path, rtsp.url("/main"), monkeypatch)


def run_sandboxed(tmp_path: Path, rtsp_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run a WebRTC pair and a recording server under the filter; fail on anything it stops."""
    wrapper = seccomp_wrapper(tmp_path)
    probe = subprocess.run([str(wrapper), "-c", "import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)"],
                           capture_output=True, text=True, timeout=30)
    assert "Operation not permitted" in probe.stderr, "the filter is in force (AF_PACKET is not in the list)"
    dtls = subprocess.run([str(wrapper), "-c", DTLS_PAIR], capture_output=True, text=True, timeout=60)
    assert "state connected" in dtls.stdout, dtls.stderr  # ICE (netlink, UDP), DTLS, SRTP
    (tmp_path / "srv").mkdir()
    srv = Server(tmp_path / "srv")
    cfg = yaml.safe_load(srv.config.read_text())
    cfg["cameras"] = {"kho": {"name": "Kho", "streams": {"main_url": rtsp_url}}}
    cfg["recording"] = {"mode": "continuous", "segment_seconds": 2}
    srv.config.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    try:
        with monkeypatch.context() as m:
            m.setattr(sys, "executable", str(wrapper))  # Server starts `sys.executable -m mediaserver.cli run`
            srv.start()
        srv.login_admin()  # Argon2, SQLite, aiohttp
        deadline = time.monotonic() + 30
        while len(srv.request("GET", f"/api/v1/recordings?camera_id=kho&since=0&until={time.time() + 60}")[1]
                  ["items"]) < 2:  # RTSP in, PyAV remux, fsync'd segments, motion analysis
            assert time.monotonic() < deadline, srv.log.read_text()[-3000:]
            time.sleep(0.3)
        assert srv.stop() == 0  # a clean SIGTERM shutdown under the filter too
    finally:
        srv.kill()
    assert "Operation not permitted" not in srv.log.read_text()
