#!/usr/bin/env bash
# Install or upgrade the BMS edge agent on a small Debian box (Raspberry Pi OS bookworm, Debian 12+).
#
#   sudo ./deploy/install-agent.sh --portal-url https://bms.example.com [--token-file FILE] [--start]
#
# Run it from a checkout (or an unpacked release) of this repository. It:
#   - installs python3-venv if missing (apt-get), needs Python >= 3.11;
#   - creates the system user bms-agent, member of dialout (RS-485 adapters: /dev/ttyUSB*, ttyAMA*);
#   - creates /opt/bms-agent/.venv with ONLY the agent's dependencies (pymodbus, pyserial, orjson)
#     and copies the agent's code (acquisition/registermap.py + acquisition/agent/: no Django);
#   - writes /etc/bms-agent/agent.toml from deploy/agent.toml.example (never over an existing one)
#     and the token file (0640 root:bms-agent) when --token-file is given;
#   - installs deploy/systemd/bms-agent.service and enables it (--start also starts it).
# Re-running it upgrades the code and dependencies and keeps config, token and outbox.
# Variables for a staging run (tests, image builds): ROOT=/tmp/stage SKIP_SYSTEM=1 (no apt, user
# or systemctl), PIP_ARGS="--no-index --find-links DIR" (offline wheels).
set -euo pipefail

SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${ROOT:-}"
SKIP_SYSTEM="${SKIP_SYSTEM:-0}"
PIP_ARGS="${PIP_ARGS:-}"
PREFIX="$ROOT/opt/bms-agent"
ETC="$ROOT/etc/bms-agent"
UNIT_DIR="$ROOT/etc/systemd/system"
AGENT_USER=bms-agent
PORTAL_URL=""
TOKEN_FILE=""
START=0

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --portal-url) PORTAL_URL="$2"; shift 2 ;;
    --token-file) TOKEN_FILE="$2"; shift 2 ;;
    --start) START=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "install-agent: unknown argument $1" >&2; usage 2 ;;
  esac
done

say() { echo "install-agent: $*"; }
if [ "$SKIP_SYSTEM" != 1 ] && [ "$(id -u)" != 0 ]; then
  echo "install-agent: run as root (sudo)" >&2; exit 1
fi
case "$PORTAL_URL" in
  ""|http://*|https://*) ;;
  *) echo "install-agent: --portal-url must start with https:// (or http://)" >&2; exit 2 ;;
esac

PY=python3
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install-agent: Python >= 3.11 is required (Debian 12 / Raspberry Pi OS bookworm)" >&2
  exit 1
fi

if [ "$SKIP_SYSTEM" != 1 ]; then
  if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    say "installing python3-venv"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  fi
  if ! id "$AGENT_USER" >/dev/null 2>&1; then
    say "creating system user $AGENT_USER"
    adduser --system --group --no-create-home --home /var/lib/bms-agent "$AGENT_USER"
  fi
  usermod -a -G dialout "$AGENT_USER"   # serial adapters are root:dialout 0660
fi

say "virtualenv and dependencies in $PREFIX/.venv"
mkdir -p "$PREFIX"
[ -x "$PREFIX/.venv/bin/python" ] || "$PY" -m venv "$PREFIX/.venv"
# shellcheck disable=SC2086 # PIP_ARGS is a list of options
"$PREFIX/.venv/bin/pip" install --quiet --disable-pip-version-check $PIP_ARGS \
  "pymodbus[serial]>=3.16,<3.17" "pyserial>=3.5,<4" "orjson>=3.10,<4"

say "agent code (no Django) in $PREFIX/lib"
rm -rf "$PREFIX/lib.new" && mkdir -p "$PREFIX/lib.new/acquisition"
cp "$SRC/acquisition/registermap.py" "$PREFIX/lib.new/acquisition/"
: > "$PREFIX/lib.new/acquisition/__init__.py"
cp -r "$SRC/acquisition/agent" "$PREFIX/lib.new/acquisition/agent"
find "$PREFIX/lib.new" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$PREFIX/lib.old" && { [ ! -d "$PREFIX/lib" ] || mv "$PREFIX/lib" "$PREFIX/lib.old"; }
mv "$PREFIX/lib.new" "$PREFIX/lib" && rm -rf "$PREFIX/lib.old"
SITE=$("$PREFIX/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$PREFIX/lib" > "$SITE/bms_agent.pth"
cat > "$PREFIX/.venv/bin/bms-agent" <<SCRIPT
#!$PREFIX/.venv/bin/python
import sys
from acquisition.agent.__main__ import main
sys.exit(main())
SCRIPT
chmod 755 "$PREFIX/.venv/bin/bms-agent"
"$PREFIX/.venv/bin/python" -c 'import acquisition.agent.runtime' # imports resolve, no Django

say "configuration in $ETC"
mkdir -p "$ETC"
if [ ! -e "$ETC/agent.toml" ]; then
  sed -e "s|^portal_url = .*|portal_url = \"${PORTAL_URL:-https://bms.example.com}\"|" \
      -e "s|^token_file = .*|token_file = \"/etc/bms-agent/token\"|" \
      "$SRC/deploy/agent.toml.example" > "$ETC/agent.toml"
  say "wrote $ETC/agent.toml - check portal_url and the bus overrides"
else
  say "kept the existing $ETC/agent.toml"
fi
if [ -n "$TOKEN_FILE" ]; then
  install -m 0640 "$TOKEN_FILE" "$ETC/token"
fi
if [ "$SKIP_SYSTEM" != 1 ]; then
  chown -R root:"$AGENT_USER" "$ETC" && chmod 0750 "$ETC" && chmod 0640 "$ETC/agent.toml"
  [ ! -e "$ETC/token" ] || chmod 0640 "$ETC/token"
fi

say "systemd unit"
mkdir -p "$UNIT_DIR"
install -m 0644 "$SRC/deploy/systemd/bms-agent.service" "$UNIT_DIR/bms-agent.service"
if [ "$SKIP_SYSTEM" != 1 ]; then
  systemctl daemon-reload
  systemctl enable bms-agent.service >/dev/null
  if [ "$START" = 1 ] || systemctl is-active --quiet bms-agent.service; then
    [ -e "$ETC/token" ] || say "WARNING: no $ETC/token yet: the agent will exit until it exists"
    systemctl restart bms-agent.service
    say "started: journalctl -u bms-agent -f ; curl -s http://127.0.0.1:9105/healthz"
  else
    say "enabled, not started: put the token in $ETC/token, then systemctl start bms-agent"
  fi
fi
say "done"
