"""The project's own standards, checked on every run: ruff clean, formatted, mypy --strict,
no merge-conflict markers left in any tracked text file (ruff and mypy never read the
docs, where one once landed), and no module grown past the size tripwire.

These run the real tools on the real tree, so CI fails the moment a change slips below
the bar the README promises. Each takes a few seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff comes with the test extra")
def test_ruff_lint_is_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff comes with the test extra")
def test_ruff_format_is_clean() -> None:
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    pytest.importorskip("mypy")
    result = run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


_CONFLICT_MARKERS = ("<<<<<<< ", ">>>>>>> ", "=======\n")


def test_no_merge_conflict_markers_are_committed() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=60
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in listed.stdout.decode().split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or path.suffix in {".svg", ".rsp", ".json"}:
            continue
        try:
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(lines, 1):
            if line.startswith(_CONFLICT_MARKERS[:2]) or line == _CONFLICT_MARKERS[2]:
                offenders.append(f"{name}:{number}")
    assert not offenders, f"conflict markers at {offenders}"


#: A tripwire against giant files, not a design tool: modules are sized by cohesion, and
#: one past this is a sign that two jobs share it.
MAX_MODULE_LINES = 800
PACKAGES = ("commons", "crypto", "tracker", "peer")


def test_no_module_grows_past_the_tripwire() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }
    assert "tracker/state/tracker_state.py" in sizes and "peer/tui/model/controller.py" in sizes
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not too_long, f"over {MAX_MODULE_LINES} lines: {too_long}"
