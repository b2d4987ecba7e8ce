"""The tree keeps the shape docs and README promise: no import cycle, layers in order,
no class cut across modules, and no reference in a docstring or a doc that points nowhere.

Why: the layout (packages by job, each with a face) only holds while nothing imports
against it. Python runs a cycle as long as one import is deferred, so the cycle check
reads every import statement, function-level and ``TYPE_CHECKING`` ones included, and
counts the package faces (``__init__.py``) an import runs on its way.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("commons", "crypto", "tracker", "peer")


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def _name_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def load_modules(root: Path = ROOT) -> dict[str, Module]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            name = _name_of(path, root)
            modules[name] = Module(name, path, ast.parse(path.read_text(encoding="utf-8")))
    return modules


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def imported_modules(module: Module, known: set[str]) -> set[str]:
    """Every project module ``module`` can run by importing, at any depth of its code.

    ``from a.b import c`` names ``a.b.c`` when that is a module, else ``a.b``; either way
    the faces of ``a`` and ``a.b`` run first, so they count, except the faces the
    importer already sits inside (its own package is initialised before it).
    """
    own = set(_ancestors(module.name))
    if module.is_package:
        own.add(module.name)
    found: set[str] = set()
    for node in ast.walk(module.tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                targets.append(full if full in known else node.module)
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if not target:
                continue
            found.update(a for a in [*_ancestors(target), target] if a in known)
    return found - own - {module.name}


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    known = set(modules)
    return {name: imported_modules(module, known) for name, module in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules() -> None:
    found = cycles(import_graph(load_modules()))
    assert found == [], f"import cycles: {found}"


def test_the_cycle_check_sees_a_deferred_import(tmp_path: Path) -> None:
    """The check must fail on a cycle closed by a ``TYPE_CHECKING`` or function-level import."""
    package = tmp_path / "peer"
    (package / "core").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("from peer.core.a import A\n")
    (package / "core" / "a.py").write_text("from peer.config import X\nclass A: ...\n")
    (package / "config.py").write_text(
        "from typing import TYPE_CHECKING\nX = 1\n"
        "if TYPE_CHECKING:\n    from peer.core.b import B\n"
    )
    (package / "core" / "b.py").write_text("def f():\n    from peer.core import a\n")
    for top in PACKAGES[:-1]:
        (tmp_path / top).mkdir()
    found = cycles(import_graph(load_modules(tmp_path)))
    assert found == [["peer.config", "peer.core", "peer.core.a", "peer.core.b"]]


#: Each package's layer, bottom first: a module may import from its own group and from
#: groups of a lower rank, never upward nor sideways, except the pairs in ``SIDEWAYS``.
#: This is the order README's "Layout" gives.
LAYERS: dict[str, int] = {
    "commons": 0,
    "crypto": 1,
    # tracker
    "tracker": 2,
    "tracker.data_dir": 2,
    "tracker.limits": 2,
    "tracker.network": 3,
    "tracker.state": 3,
    "tracker.storage": 4,
    "tracker.accounts": 5,
    "tracker.group": 5,
    "tracker.config": 6,
    "tracker.server": 7,
    "tracker.admin": 8,
    "tracker.__main__": 9,
    # peer
    "peer": 2,
    "peer.events": 2,
    "peer.errors": 2,
    "peer.supervisor": 2,
    "peer.history": 2,
    "peer.core": 3,
    "peer.config": 4,
    "peer.session": 5,
    "peer.channels": 5,
    "peer.client": 6,
    "peer.commands": 6,
    "peer.user_settings": 7,
    "peer.tui": 8,
    "peer.batch": 8,
    "peer.__main__": 9,
}
#: Imports between groups of one rank that the layout allows, importer first.
SIDEWAYS: set[tuple[str, str]] = {
    ("peer.channels", "peer.session"),
    ("peer.commands", "peer.client"),
    ("tracker.group", "tracker.accounts"),
    ("peer.tui", "peer.batch"),
}


def group_of(name: str) -> str:
    """The longest key of ``LAYERS`` that ``name`` sits in."""
    parts = name.split(".")
    for size in range(len(parts), 0, -1):
        candidate = ".".join(parts[:size])
        if candidate in LAYERS:
            return candidate
    raise KeyError(name)


def layering_violations(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for importer, targets in sorted(graph.items()):
        top = importer.split(".")[0]
        low = group_of(importer)
        for target in sorted(targets):
            high = group_of(target)
            if high == low or (target.split(".")[0] in ("peer", "tracker") and target == top):
                continue
            crossing = {top, target.split(".")[0]} == {"peer", "tracker"}
            if crossing or LAYERS[high] > LAYERS[low]:
                wrong.append(f"{importer} -> {target}")
            elif LAYERS[high] == LAYERS[low] and (low, high) not in SIDEWAYS:
                wrong.append(f"{importer} -> {target} (same layer)")
    return wrong


def test_every_module_has_a_layer() -> None:
    missing = []
    for name in load_modules():
        try:
            group_of(name)
        except KeyError:
            missing.append(name)
    assert missing == []


def test_no_import_goes_against_the_layers() -> None:
    assert layering_violations(import_graph(load_modules())) == []


def test_the_layer_check_refuses_an_upward_import() -> None:
    graph = {"peer.core.room": {"peer.client.driver"}, "tracker.state.rooms": {"peer.events"}}
    assert layering_violations(graph) == [
        "peer.core.room -> peer.client.driver",
        "tracker.state.rooms -> peer.events",
    ]


#: Bases a class may take from another module: the kinds whose whole point is to be
#: extended. Everything else is composed, not inherited.
EXTENSIBLE_ROOTS = {
    "Protocol",
    "Exception",
    "BaseException",
    "Enum",
    "IntEnum",
    "StrEnum",
    "Flag",
    "IntFlag",
    "NamedTuple",
    "TypedDict",
}
#: The one declared extension point between project classes of two modules.
DECLARED_EXTENSIONS = {("tracker.group.replica", "ReplicaState", "TrackerState")}


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def cross_module_inheritance(modules: dict[str, Module]) -> list[str]:
    """Classes that inherit a project class defined in another module (mixin towers)."""
    bases: dict[str, list[str]] = {}
    home: dict[str, set[str]] = {}
    for module in modules.values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, []).extend(_base_name(b) for b in node.bases)
                home.setdefault(node.name, set()).add(module.name)

    def extensible(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in EXTENSIBLE_ROOTS or isinstance(getattr(builtins, name, None), type):
            return name in EXTENSIBLE_ROOTS or issubclass(getattr(builtins, name), BaseException)
        if name in seen or name not in bases:
            return False
        return any(extensible(b, seen | {name}) for b in bases[name])

    wrong = []
    for module in modules.values():
        local = {n.name for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)}
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            for base in map(_base_name, node.bases):
                if base not in home or base in local or extensible(base):
                    continue
                if (module.name, node.name, base) not in DECLARED_EXTENSIONS:
                    wrong.append(f"{module.name}.{node.name}({base})")
    return wrong


def test_no_class_inherits_a_project_class_from_another_module() -> None:
    assert cross_module_inheritance(load_modules()) == []


ROLE = re.compile(r":(?:mod|class|func|meth|attr|data|exc|obj):`~?([\w.]+)`")


def _docstrings(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            text = ast.get_docstring(node, clean=False)
            if text:
                yield text


def _resolves(target: str, module: object) -> bool:
    """``target`` as Sphinx would find it: dotted from a package, or from the module's scope."""
    parts = target.split(".")
    if parts[0] in PACKAGES or parts[0] not in vars(module):
        for size in range(len(parts), 0, -1):
            try:
                found: object = importlib.import_module(".".join(parts[:size]))
            except ImportError:
                continue
            return _walk(found, parts[size:])
    scopes = [module, *[v for v in vars(module).values() if isinstance(v, type)]]
    return any(_walk(scope, parts) for scope in scopes) or hasattr(builtins, parts[0])


def _instance_attributes(cls: type) -> set[str]:
    """Names a class's methods assign on ``self``: attributes Sphinx documents too."""
    names: set[str] = set()
    for klass in cls.__mro__:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "self"
                and isinstance(node.ctx, ast.Store)
            ):
                names.add(node.attr)
    return names


def _walk(found: object, names: list[str]) -> bool:
    for name in names:
        if hasattr(found, name):
            found = getattr(found, name)
        else:
            return isinstance(found, type) and (
                name in getattr(found, "__annotations__", {}) or name in _instance_attributes(found)
            )
    return True


def test_every_docstring_reference_resolves() -> None:
    pytest.importorskip("textual")
    broken = []
    for name, module in sorted(load_modules().items()):
        if name.endswith("__main__"):
            continue
        imported = importlib.import_module(name)
        for text in _docstrings(module.tree):
            for target in ROLE.findall(text):
                if not _resolves(target, imported):
                    broken.append(f"{name}: {target}")
    assert broken == []


PATH_MENTION = re.compile(
    r"(?<![\w/.-])((?:commons|crypto|tracker|peer|tools|bench|fuzz)/[\w/]+\.py)"
)


def test_every_path_the_docs_name_exists() -> None:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [
        f"{doc.name}: {mention}"
        for doc in docs
        for mention in PATH_MENTION.findall(doc.read_text(encoding="utf-8"))
        if not (ROOT / mention).exists() and not (ROOT / "tests" / mention).exists()
    ]
    assert missing == []
