"""Every test docs/SECURITY.md names exists, so no claim points at a test that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(?:tests/)?((?:[\w/]+/)?test_\w+\.py)::(\w+)`")


def _test_file(relative: str) -> Path | None:
    """``crypto/test_x.py``, or a bare ``test_x.py`` as the channel sections write it."""
    direct = ROOT / "tests" / relative
    if direct.exists():
        return direct
    found = sorted((ROOT / "tests").rglob(Path(relative).name))
    return found[0] if len(found) == 1 else None


def test_every_test_named_in_security_md_exists() -> None:
    text = (ROOT / "docs" / "SECURITY.md").read_text()
    references = REFERENCE.findall(text)
    assert len(references) > 50
    missing = []
    for relative, name in references:
        path = _test_file(relative)
        if path is None or not re.search(rf"^(async )?def {name}\(", path.read_text(), re.M):
            missing.append(f"{relative}::{name}")
    assert missing == []
