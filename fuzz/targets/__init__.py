"""The fuzz targets by name. Nothing of the project is imported here, so that
``fuzz/run.py`` can import a target under atheris' coverage instrumentation."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

#: Target name -> module under ``fuzz.targets``.
TARGETS: dict[str, str] = {
    "framing": "framing",
    "codec": "codec",
    "tracker": "tracker",
    "p2p_frames": "p2p_frames",
    "batch_commands": "batch_commands",
    "noise": "noise",
    "rendering": "rendering",
}

FuzzOne = Callable[[bytes], None]


def load(name: str) -> ModuleType:
    """The module of target ``name`` (``fuzz_one``, ``MAX_LEN``, ``seeds``)."""
    if name not in TARGETS:
        raise KeyError(f"unknown fuzz target {name!r}; known: {', '.join(TARGETS)}")
    return importlib.import_module(f"fuzz.targets.{TARGETS[name]}")
