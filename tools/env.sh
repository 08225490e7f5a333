# Sourced by tools/demo.sh and tools/test.sh: make a project virtualenv in .venv with Python >= 3.11.
# Installs Debian's python3-venv when venv is missing (fresh Debian images lack it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  command -v apt-get >/dev/null || { echo "error: $* is missing and apt-get is not available; install it and retry" >&2; exit 2; }
  if [ ! -f /tmp/.xvh-apt-updated ]; then as_root apt-get update -qq && touch /tmp/.xvh-apt-updated; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || {
  echo "error: Python >= 3.11 is required (found: $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2; exit 2; }

say() { echo "${XVH_TOOL:-setup}: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "making the virtualenv .venv (first run only)"
  "$PY" -m venv .venv 2>/dev/null || {
    rm -rf .venv; say "installing Debian's python3-venv (apt-get; needs root or sudo)"; apt_install python3-venv
    "$PY" -m venv .venv; }
fi
VENV_PY="$ROOT/.venv/bin/python"
