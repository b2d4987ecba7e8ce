"""The project's own standards, checked on every run: ruff clean, formatted, mypy --strict,
no merge-conflict markers left in any tracked text file (ruff and mypy never read the
docs, where one once landed), and no module of the peer or of the tracker grown past
its size limit.

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


#: Issue 8's rule for ``peer/`` (``peer/tui/`` included): one job per module, so none
#: grows past this; the ``ChatClient`` facade stays smaller still. A module over it is
#: split by responsibility, not by line ranges.
MAX_PEER_MODULE_LINES = 450
MAX_CLIENT_LINES = 400


def test_peer_modules_stay_within_their_size_limits() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "peer").rglob("*.py"))
    }
    assert "peer/client.py" in sizes
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_PEER_MODULE_LINES}
    assert not too_long, f"over {MAX_PEER_MODULE_LINES} lines: {too_long}"
    client = sizes["peer/client.py"]
    assert client <= MAX_CLIENT_LINES, f"peer/client.py has {client} lines"


#: The same rule for ``tracker/``: its asyncio shell (``server.py`` names the parts), its
#: sans-I/O core (``state.py`` names its rules) and the group's parts (``group.py``) are
#: split by job like ``peer/``.
def test_tracker_modules_stay_within_the_size_limit() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted((ROOT / "tracker").glob("*.py"))
    }
    assert "tracker/state.py" in sizes and "tracker/server.py" in sizes
    too_long = {name: lines for name, lines in sizes.items() if lines > MAX_PEER_MODULE_LINES}
    assert not too_long, f"over {MAX_PEER_MODULE_LINES} lines: {too_long}"
