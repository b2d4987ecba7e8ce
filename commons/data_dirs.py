"""Default per-user data directories (XDG on Unix, %APPDATA% on Windows).

Kept tiny and dependency-free; ``--data-dir``/``--home`` always override it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "p2pchat"


def user_data_dir(component: str) -> Path:
    """Where ``component`` (``tracker`` or ``peer``) keeps its files by default."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / APP_NAME / component
