#!/usr/bin/env bash
# The test suite, with everything it needs: the test extras, a redis-server binary (tests start their
# own on a free port) and ruff. Extra arguments go to pytest.
XVH_TOOL=test
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
command -v redis-server >/dev/null || { say "installing redis-server (apt-get): the cluster tests start their own"; \
  apt_install redis-server; }
[ -x "${XVH_CHROMIUM:-/usr/bin/chromium}" ] || { say "installing Chromium (apt-get, a few hundred MB): the dashboard's browser tests \
drive it through Playwright"; apt_install chromium; }
say "installing the pinned packages and the test extras into .venv ..."
"$VENV_PY" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
say "ruff, mypy --strict hedge, then pytest"
"$VENV_PY" -m ruff check .
"$VENV_PY" -m mypy --strict hedge
# one worker per core (XVH_TEST_WORKERS=0 runs in this process); --dist loadfile keeps a file's tests, and its
# module fixtures such as test_report's 90-day run, on one worker
exec "$VENV_PY" -m pytest -n "${XVH_TEST_WORKERS:-auto}" --dist loadfile "$@"
