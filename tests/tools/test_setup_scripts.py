"""Issue #22: demo.sh was silent for its first 46 s (installing), test.sh installed Chromium without a word.

The scripts run for real from a copy of tools/, with stand-ins for what would take minutes or need root:
a .venv/bin/python that records its arguments, and apt-get / redis-server earlier on PATH."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stub(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/usr/bin/env bash\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _project(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "tools", project / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    calls = tmp_path / "calls.log"
    _stub(project / ".venv" / "bin" / "python", f'echo "python $*" >> {calls}')
    bin_dir = tmp_path / "bin"
    _stub(bin_dir / "apt-get", f'echo "apt-get $*" >> {calls}')
    _stub(bin_dir / "sudo", '"$@"')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return project, calls, env


def test_demo_says_it_installs_then_runs(tmp_path):
    project, calls, env = _project(tmp_path)
    done = subprocess.run(["bash", str(project / "tools" / "demo.sh"), "--seed", "7"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    said = done.stderr.splitlines()
    assert said[0].startswith("demo: installing the pinned packages into .venv")
    assert said[1].startswith("demo: running a 7-day backtest on the simulator")
    ran = calls.read_text().splitlines()
    assert ran[0].startswith("python -m pip install") and ran[1].endswith("--seed 7")


def test_test_sh_says_it_installs_chromium(tmp_path):
    project, calls, env = _project(tmp_path)
    env["XVH_CHROMIUM"] = str(tmp_path / "no-chromium")  # a machine without it (test.sh checks that path)
    _stub(tmp_path / "bin" / "redis-server", "exit 0")
    flag = Path("/tmp/.xvh-apt-updated")
    had_flag = flag.exists()
    done = subprocess.run(["bash", str(project / "tools" / "test.sh"), "-k", "nothing"], env=env,
                          capture_output=True, text=True, timeout=60)
    if not had_flag:
        flag.unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr
    assert ("test: installing Chromium (apt-get, a few hundred MB): the dashboard's browser tests drive it "
            "through Playwright") in done.stderr
    installs = [line for line in calls.read_text().splitlines() if line.startswith("apt-get")]
    assert any("install" in line and "chromium" in line for line in installs)
    assert done.stderr.index("installing Chromium") < done.stderr.index("installing the pinned packages")
