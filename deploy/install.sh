#!/usr/bin/env bash
# Install (or upgrade) mediaserver as a systemd service on Debian 12 / Ubuntu 22.04+. Run as root from a
# checkout:   sudo deploy/install.sh [--start]
# Idempotent: a second run upgrades the program in the venv and re-installs the units, but never overwrites
# /etc/mediaserver/config.yaml or anything in /var/lib/mediaserver.
#
# Paths can be moved for a staged or test install (tests/test_deploy.py does):
#   MEDIASERVER_USER (mediaserver)  MEDIASERVER_PREFIX (/opt/mediaserver)  MEDIASERVER_ETC (/etc/mediaserver)
#   MEDIASERVER_STATE (/var/lib/mediaserver)  MEDIASERVER_BACKUPS (/var/backups/mediaserver)
#   SYSTEMD_UNIT_DIR (/etc/systemd/system)    MEDIASERVER_SKIP_PIP=1 (do not pip install; the venv exists)
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SVC_USER="${MEDIASERVER_USER:-mediaserver}"
PREFIX="${MEDIASERVER_PREFIX:-/opt/mediaserver}"
ETC="${MEDIASERVER_ETC:-/etc/mediaserver}"
STATE="${MEDIASERVER_STATE:-/var/lib/mediaserver}"
BACKUPS="${MEDIASERVER_BACKUPS:-/var/backups/mediaserver}"
UNIT_DIR="${SYSTEMD_UNIT_DIR:-/etc/systemd/system}"
VENV="$PREFIX/venv"
START=0

for arg in "$@"; do
  case "$arg" in
    --start) START=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "run as root (sudo $0)" >&2
  exit 1
fi

say() { printf '==> %s\n' "$*"; }

# 1. Python with venv (Debian splits it out); nothing else: PyAV, aiortc and OpenCV come as wheels.
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  if command -v apt-get >/dev/null; then
    say "installing python3 and python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv
  else
    echo "need Python >= 3.11 with the venv module" >&2
    exit 1
  fi
fi

# 2. The system user: no login, no home outside the state dir.
if ! getent group "$SVC_USER" >/dev/null; then
  say "creating group $SVC_USER"
  groupadd --system "$SVC_USER"
fi
if ! getent passwd "$SVC_USER" >/dev/null; then
  say "creating system user $SVC_USER"
  useradd --system --gid "$SVC_USER" --home-dir "$STATE" --no-create-home --shell /usr/sbin/nologin \
    --comment "mediaserver service" "$SVC_USER"
fi

# 3. The program: a venv owned by root (the service cannot modify its own code).
install -d -m 0755 -o root -g root "$PREFIX"
if [ "${MEDIASERVER_SKIP_PIP:-0}" != 1 ]; then
  [ -x "$VENV/bin/python" ] || { say "creating $VENV"; python3 -m venv "$VENV"; }
  say "installing mediaserver from $SRC into $VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet --upgrade "$SRC"
fi
install -m 0644 -o root -g root "$SRC/README.md" "$PREFIX/README.md"

# 4. Config (root:group 0750/0640: the service reads it, cannot change it) and state (the service's own).
install -d -m 0750 -o root -g "$SVC_USER" "$ETC"
if [ ! -e "$ETC/config.yaml" ]; then
  say "writing $ETC/config.yaml from the shipped config (data in $STATE, JSON logs, no simulated cameras)"
  tmp="$(mktemp)"
  "$VENV/bin/python" - "$SRC/config.yaml" "$STATE" >"$tmp" <<'PY'
import sys

import yaml

cfg = yaml.safe_load(open(sys.argv[1], encoding="utf-8"))
cfg["storage"]["data_dir"] = sys.argv[2]
cfg["server"]["log_format"] = "json"
cfg["auth"].pop("token_secret", None)  # a key is generated into the data dir once
cfg["cameras"] = {k: v for k, v in (cfg.get("cameras") or {}).items() if "simulate" not in v}
cfg.pop("camera_groups", None)  # the shipped groups name the simulated cameras
print("# mediaserver production config: every key is documented in mediaserver/config.py.")
print("# Check after editing:  /opt/mediaserver/venv/bin/mediaserver check-config /etc/mediaserver/config.yaml")
print(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), end="")
PY
  install -m 0640 -o root -g "$SVC_USER" "$tmp" "$ETC/config.yaml"
  rm -f "$tmp"
else
  say "keeping the existing $ETC/config.yaml"
  chown root:"$SVC_USER" "$ETC/config.yaml"
  chmod 0640 "$ETC/config.yaml"
fi
if [ -e "$ETC/environment" ]; then
  chown root:"$SVC_USER" "$ETC/environment"
  chmod 0640 "$ETC/environment"
fi
install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$STATE"
install -d -m 0750 -o "$SVC_USER" -g "$SVC_USER" "$BACKUPS"

# 5. The units.
install -d -m 0755 "$UNIT_DIR"
for unit in mediaserver.service mediaserver-backup.service mediaserver-backup.timer; do
  install -m 0644 -o root -g root "$SRC/deploy/$unit" "$UNIT_DIR/$unit"
done

if [ -x "$VENV/bin/mediaserver" ]; then
  say "checking $ETC/config.yaml"
  "$VENV/bin/mediaserver" check-config "$ETC/config.yaml"
fi

if [ -d /run/systemd/system ] && [ "$UNIT_DIR" = /etc/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable mediaserver.service mediaserver-backup.timer
  if [ "$START" = 1 ]; then
    systemctl restart mediaserver.service
    systemctl start mediaserver-backup.timer
    say "started: journalctl -u mediaserver -f"
  else
    say "installed; start with: systemctl start mediaserver mediaserver-backup.timer"
  fi
else
  say "units installed in $UNIT_DIR (systemd is not running here: not enabled)"
fi
