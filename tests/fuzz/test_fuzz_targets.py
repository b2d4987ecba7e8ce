"""The fuzz targets of ``fuzz/`` in the suite: a short hypothesis run of each, and a
replay of every committed seed and past crash (the long runs use atheris, see
docs/FUZZING.md). Needs no atheris.

Each target raises only when one of its invariants breaks, so a failure here names
the input (hypothesis prints it) that breaks a parser's contract.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz.run import committed_inputs
from fuzz.targets import TARGETS, load

#: Examples per target: seconds for all of them together, not minutes.
EXAMPLES = 150


def inputs_for(name: str) -> st.SearchStrategy[bytes]:
    """Random bytes, and committed inputs with bytes spliced in (closer to real ones)."""
    target = load(name)
    starts = [path.read_bytes() for path in committed_inputs(name)] or [b""]
    mutated = st.tuples(
        st.sampled_from(starts), st.integers(0, 4096), st.integers(0, 8), st.binary(max_size=16)
    ).map(lambda t: t[0][: t[1]] + t[3] + t[0][t[1] + t[2] :])
    return st.binary(max_size=min(target.MAX_LEN, 2048)) | mutated


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_committed_inputs_hold_every_invariant(name: str) -> None:
    paths = committed_inputs(name)
    assert paths, f"fuzz/corpus/{name} has no seeds: python fuzz/run.py --write-seeds"
    target = load(name)
    for path in paths:
        target.fuzz_one(path.read_bytes())


@pytest.mark.parametrize("name", sorted(TARGETS))
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=False,
)
@given(data=st.data())
def test_short_fuzz_run(name: str, data: st.DataObject) -> None:
    load(name).fuzz_one(data.draw(inputs_for(name)))


def test_seeds_on_disk_are_the_targets_seeds() -> None:
    """``fuzz/corpus/*/seed-*`` are written by ``python fuzz/run.py --write-seeds``."""
    for name in TARGETS:
        on_disk = sorted(p for p in committed_inputs(name) if p.name.startswith("seed-"))
        assert [p.read_bytes() for p in on_disk] == load(name).seeds(), name
