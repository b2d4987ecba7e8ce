"""Fuzz targets for every parser that untrusted bytes reach (see docs/FUZZING.md).

Each module of :mod:`fuzz.targets` has ``fuzz_one(data: bytes) -> None``, which raises
only when an invariant breaks; ``fuzz/run.py`` drives them with atheris for long runs
and ``tests/fuzz`` with hypothesis for a short run in the suite.
"""
