#!/usr/bin/env bash
# The test suite, with everything it needs: the test extras, a redis-server binary (tests start their
# own on a free port) and ruff. Extra arguments go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
command -v redis-server >/dev/null || apt_install redis-server
[ -x /usr/bin/chromium ] || apt_install chromium  # the dashboard's browser tests (Playwright drives it)
"$VENV_PY" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
"$VENV_PY" -m ruff check .
exec "$VENV_PY" -m pytest "$@"
