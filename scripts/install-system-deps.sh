#!/usr/bin/env bash
# Install the Debian packages the test suite needs, only those missing. Needs root (CI runs as root);
# as another user it prints what to install and fails if anything is missing.
set -euo pipefail

# sqlite3: the tests' crash checks open the index with the sqlite3 CLI, independently of our code.
# chromium: the conference's browser tests (Playwright drives /usr/bin/chromium with fake media devices).
# fonts-noto-core: Vietnamese glyphs in the screenshots the browser tests take.
# GStreamer RTSP server + PyGObject (Debian's /usr/bin/python3 only): the camera simulator's real RTSP server;
# x264enc is in plugins-ugly; python3-numpy draws the simulator's scripted scenes.
# ffmpeg: the recording benchmark's baseline (`ffmpeg -c copy` recording the same RTSP streams); the
# server itself never runs it (PyAV links its own FFmpeg).
# coturn: the TURN relay test starts its own `turnserver` on 127.0.0.1 and a free port; the packaged system
# service is kept from starting (below), so nothing holds port 3478 afterwards.
# softhsm2: the signing tests' real PKCS#11 token; poppler-utils (`pdfsig`, trusting the test CA through an NSS
# database made with libnss3-tools' certutil) and openssl (`openssl cms`) check those signatures independently.
# systemd (only its systemd-analyze: a container has no running systemd) and shellcheck: tests/test_deploy.py
# verifies deploy/'s units and lints deploy/install.sh.
# postgresql: the storage tests run on a real PostgreSQL too (tests/pg.py starts a throwaway cluster with its
# initdb/postgres from /usr/lib/postgresql/<major>/bin; Debian puts no server binary on PATH). Its packaged
# cluster service is kept from starting (below), like coturn's.
PACKAGES=(sqlite3 chromium fonts-noto-core python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
          gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly python3-numpy ffmpeg coturn
          softhsm2 poppler-utils libnss3-tools openssl
          systemd shellcheck postgresql)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${missing[*]} (run: sudo apt-get install -y ${missing[*]})" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# No package's daemon starts while installing (coturn's would listen on 3478 for good): the standard
# policy-rc.d veto, in place only for this install unless the machine already has one.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# On systemd, deb-systemd-helper still enables coturn.service for the next boot: the tests run their own.
if [[ " ${missing[*]} " == *" coturn "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now coturn.service >/dev/null 2>&1 || true
fi
if [[ " ${missing[*]} " == *" postgresql "* ]] && [ -d /run/systemd/system ]; then
  systemctl disable --now postgresql.service >/dev/null 2>&1 || true
fi
