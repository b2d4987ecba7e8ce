"""Both commands: --version, and --help that names every default."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from commons.version import package_version
from peer.__main__ import build_parser as peer_parser
from tracker.__main__ import build_parser as tracker_parser
from tracker.storage.sqlite_file import DB_FILE_NAME

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("module", "prog"), [("tracker", "p2pchat-tracker"), ("peer", "p2pchat")])
def test_version(module: str, prog: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", module, "--version"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == f"{prog} {package_version()}"


@pytest.mark.parametrize("build", [tracker_parser, peer_parser])
def test_help_names_every_default(build: object) -> None:
    parser = build()  # type: ignore[operator]
    assert isinstance(parser, argparse.ArgumentParser)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue  # hidden on purpose (--allow-weak-argon2: tests and benchmarks only)
        assert action.help and "default" in action.help, action.option_strings
    text = parser.format_help()
    assert "%(default)" not in text


def test_tracker_help_names_the_real_database_file() -> None:
    assert DB_FILE_NAME == "tracker.sqlite3"
    assert DB_FILE_NAME in tracker_parser().format_help()


def test_the_tracker_banner_says_each_thing_once(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not (lines and lines[-1].startswith("data directory:")):
            line = proc.stdout.readline()
            assert line and len(lines) < 20, lines
            lines.append(line)
    finally:
        proc.terminate()
        rest, _ = proc.communicate(timeout=30)
    output = "".join(lines) + rest
    assert output.count("listening on") == 1
    assert output.count("fingerprint") == 1
    assert f"(database {DB_FILE_NAME})" in output
