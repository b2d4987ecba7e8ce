"""The installed p2pchat version, for ``--version`` on both commands."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def package_version() -> str:
    """The version pip installed (``pyproject.toml``), or ``unknown`` from a bare checkout."""
    try:
        return version("p2pchat")
    except PackageNotFoundError:
        return "unknown (not installed)"
