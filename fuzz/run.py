"""Run the fuzz targets: long runs under atheris (libFuzzer), or a replay of the corpus.

    python fuzz/run.py --list                    the targets
    python fuzz/run.py TARGET --time 300         fuzz TARGET for 300 s with atheris
    python fuzz/run.py TARGET --replay           run every committed input once (no atheris)
    python fuzz/run.py --write-seeds             regenerate fuzz/corpus/*/seed-* from the targets
    python fuzz/run.py TARGET --merge            add to fuzz/corpus/TARGET the inputs of
                                                 fuzz/.work/TARGET that bring new coverage
    python fuzz/run.py TARGET --time 60 -- -jobs=2   extra arguments go to libFuzzer

A run reads the committed seeds in ``fuzz/corpus/TARGET`` and the regression inputs in
``fuzz/crashes/TARGET``, writes the inputs it finds interesting to ``fuzz/.work/TARGET``
(not committed) and writes any input that breaks an invariant to
``fuzz/crashes/TARGET/crash-<sha1>``: fix the bug, then commit that file so every later
run and the test suite (``tests/fuzz``) replays it. atheris is the ``fuzz`` extra
(``pip install -e '.[fuzz]'``); the replay and the suite need only the standard library.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
INSTRUMENTED = ["commons", "tracker", "peer", "crypto", "fuzz"]

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.targets import TARGETS, load  # noqa: E402 (needs ROOT on the path)


def corpus_dir(name: str) -> Path:
    return FUZZ / "corpus" / name


def crashes_dir(name: str) -> Path:
    return FUZZ / "crashes" / name


def committed_inputs(name: str) -> list[Path]:
    """Every seed and regression input of ``name``, in a stable order."""
    return sorted(
        path
        for folder in (corpus_dir(name), crashes_dir(name))
        if folder.is_dir()
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".")
    )


def replay(name: str) -> int:
    target = load(name)
    inputs = committed_inputs(name)
    for path in inputs:
        target.fuzz_one(path.read_bytes())
    print(f"{name}: {len(inputs)} committed inputs replayed, no invariant broken")
    return 0


def write_seeds() -> int:
    for name in TARGETS:
        folder = corpus_dir(name)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("seed-*"):
            old.unlink()
        seeds = load(name).seeds()
        for index, seed in enumerate(seeds):
            (folder / f"seed-{index:02d}").write_bytes(seed)
        print(f"{name}: {len(seeds)} seeds in {folder.relative_to(ROOT)}")
    return 0


def _libfuzzer(name: str, arguments: Callable[[ModuleType], list[str]]) -> int:
    """Run atheris on target ``name`` with the libFuzzer arguments made for its module.

    The target (and through it the project) is imported under atheris' instrumentation,
    which only works for modules not imported yet: nothing here imports them before.
    libFuzzer starts child processes for ``-merge``, ``-fork`` and ``-jobs`` by running
    its ``argv[0]`` with its own arguments appended, so argv[0] is a command that comes
    back here for the same target, whatever the current folder.
    """
    try:
        import atheris
    except ImportError:
        print("atheris is not installed: pip install -e '.[fuzz]'", file=sys.stderr)
        return 2
    early = sorted(m for m in sys.modules if m.split(".")[0] in INSTRUMENTED[:-1])
    if early:
        raise RuntimeError(f"imported before instrumentation, so not fuzzed well: {early}")
    with atheris.instrument_imports(include=INSTRUMENTED):
        target = load(name)
    itself = f"{sys.executable} {Path(__file__).resolve()} {name} --libfuzzer"
    atheris.Setup([itself, *arguments(target)], target.fuzz_one)
    atheris.Fuzz()
    return 0


def fuzz(name: str, seconds: int, runs: int | None, merge: bool, extra: list[str]) -> int:
    work = FUZZ / ".work" / name
    work.mkdir(parents=True, exist_ok=True)
    crashes = crashes_dir(name)
    crashes.mkdir(parents=True, exist_ok=True)
    if merge:  # libFuzzer copies into the first folder what the others add
        folders = [corpus_dir(name), work]
        extra = ["-merge=1", *extra]
    else:
        folders = [work, corpus_dir(name), crashes]

    def arguments(target: ModuleType) -> list[str]:
        return [
            *map(str, folders),
            f"-max_total_time={seconds}",
            f"-max_len={target.MAX_LEN}",
            f"-artifact_prefix={crashes}/",
            "-timeout=10",
            "-rss_limit_mb=2048",
            "-print_final_stats=1",
            *([f"-runs={runs}"] if runs is not None else []),
            *extra,
        ]

    return _libfuzzer(name, arguments)


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in args_in:
        cut = args_in.index("--")
        args_in, extra = args_in[:cut], args_in[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("target", nargs="?", choices=sorted(TARGETS))
    parser.add_argument("--time", type=int, default=300, help="seconds to fuzz (default 300)")
    parser.add_argument("--runs", type=int, help="stop after this many executions")
    parser.add_argument("--replay", action="store_true", help="run the committed inputs once")
    parser.add_argument("--list", action="store_true", help="list the targets")
    parser.add_argument("--write-seeds", action="store_true", help="regenerate the seeds")
    parser.add_argument(
        "--merge", action="store_true", help="keep in fuzz/corpus what a run found that is new"
    )
    parser.add_argument("--libfuzzer", action="store_true", help=argparse.SUPPRESS)
    args, passthrough = parser.parse_known_args(args_in)
    if args.libfuzzer and args.target is not None:  # a child process libFuzzer started
        return _libfuzzer(args.target, lambda _target: passthrough + extra)
    if passthrough:
        parser.error(f"unrecognised arguments: {' '.join(passthrough)} (libFuzzer's go after --)")
    if args.list:
        print("\n".join(TARGETS))
        return 0
    if args.write_seeds:
        return write_seeds()
    if args.target is None:
        parser.error("name a target (--list shows them)")
    if args.replay:
        return replay(args.target)
    return fuzz(args.target, args.time, args.runs, args.merge, extra)


if __name__ == "__main__":
    sys.exit(main())
