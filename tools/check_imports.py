"""Check tcpchat's import rules: which part of the package may import what.

The rules (docs/architecture.md explains them):

- ``tcpchat.core`` is pure: no asyncio, socket, ssl, selectors, openai or
  prompt_toolkit, and no other part of tcpchat;
- ``tcpchat.irc`` (IRC's framing and vocabulary) is pure in the same way, and
  may import ``tcpchat.core`` only;
- ``tcpchat.net`` (asyncio plumbing) and ``tcpchat.tui`` (terminal front ends)
  serve both ends, so they import neither end, nor ``tcpchat.ai``;
- ``tcpchat.client`` and ``tcpchat.server`` never import each other, nor ``tcpchat.ai``
  (the command line hands the server its search service);
- ``tcpchat.store`` (room history) sits below the server: it imports ``tcpchat.core``,
  ``tcpchat.config`` and the standard library (asyncio and sqlite3 included), nothing else;
- ``tcpchat.config_file`` keeps ``tcpchat.config``'s rules, and ``tcpchat.logs``
  imports no other part of tcpchat;
- only ``tcpchat.ai.openai_edge`` imports ``openai`` (and ``httpx2`` and
  ``pydantic``, which come with it), so that they are loaded on the first
  ``/search`` and never at start-up;
- only ``tcpchat.store.redis`` and ``tcpchat.server.redis_hub`` import ``redis``
  (redis-py, the optional ``cluster`` extra), so that a server without Redis never
  needs it;
- only ``tcpchat.server.metrics`` imports ``prometheus_client``, which only
  ``--http-port`` loads;
- nothing imports ``tcpchat.cli``;
- no modules import each other, directly or round a longer cycle.

Every import counts, wherever it stands: at module level, inside a function,
or under ``if TYPE_CHECKING:``. ``make lint`` runs ``python tools/check_imports.py``,
which prints each broken rule and exits 1 if there is one; ``tests/test_layout.py``
checks the same on every ``make test``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "tcpchat"
SOURCE_ROOT = Path(__file__).resolve().parent.parent / "src"

#: What a part of the package may not import, by module prefix.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "tcpchat.core": (
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "openai",
        "prompt_toolkit",
        "tcpchat.ai",
        "tcpchat.cli",
        "tcpchat.client",
        "tcpchat.config",
        "tcpchat.config_file",
        "tcpchat.irc",
        "tcpchat.logs",
        "tcpchat.net",
        "tcpchat.server",
        "tcpchat.tui",
    ),
    # IRC's codec is pure like the core, and builds on it alone.
    "tcpchat.irc": (
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "openai",
        "prompt_toolkit",
        "tcpchat.ai",
        "tcpchat.cli",
        "tcpchat.client",
        "tcpchat.config",
        "tcpchat.config_file",
        "tcpchat.logs",
        "tcpchat.net",
        "tcpchat.server",
        "tcpchat.tui",
    ),
    "tcpchat.net": ("tcpchat.ai", "tcpchat.client", "tcpchat.server", "tcpchat.tui"),
    "tcpchat.tui": ("tcpchat.ai", "tcpchat.client", "tcpchat.server"),
    "tcpchat.client": ("tcpchat.ai", "tcpchat.server"),
    "tcpchat.server": ("tcpchat.ai", "tcpchat.client"),
    "tcpchat.ai": ("tcpchat.client", "tcpchat.server", "tcpchat.tui"),
    # Below the server, which will own a store: core and config only, and the stdlib.
    "tcpchat.store": (
        "tcpchat.ai",
        "tcpchat.client",
        "tcpchat.config_file",
        "tcpchat.net",
        "tcpchat.server",
        "tcpchat.tui",
    ),
    "tcpchat.config": ("tcpchat.ai", "tcpchat.client", "tcpchat.server", "tcpchat.tui"),
    "tcpchat.config_file": ("tcpchat.ai", "tcpchat.client", "tcpchat.server", "tcpchat.tui"),
    "tcpchat.logs": (
        "tcpchat.ai",
        "tcpchat.client",
        "tcpchat.config",
        "tcpchat.config_file",
        "tcpchat.net",
        "tcpchat.server",
        "tcpchat.tui",
    ),
}
#: Packages that only a few modules of tcpchat may import.
OWNED: dict[str, tuple[str, ...]] = {
    "openai": ("tcpchat.ai.openai_edge",),
    "httpx2": ("tcpchat.ai.openai_edge",),
    "pydantic": ("tcpchat.ai.openai_edge",),
    # redis-py is an optional extra (cluster): only the Redis backends load it.
    "redis": ("tcpchat.store.redis", "tcpchat.server.redis_hub"),
    # /metrics' exposition (--http-port only): one module keeps the registry and collectors.
    "prometheus_client": ("tcpchat.server.metrics",),
}
#: The module that nothing else may import.
ENTRY_POINTS = ("tcpchat.cli",)
#: Modules allowed to import an entry point (``python -m tcpchat``).
ENTRY_POINT_IMPORTERS = ("tcpchat.__main__",)


@dataclass(frozen=True, slots=True)
class Import:
    """One import statement: who imports what, and where."""

    importer: str
    imported: str
    path: Path
    line: int


def module_name(path: Path, root: Path = SOURCE_ROOT) -> str:
    """``tcpchat.core.session`` for ``src/tcpchat/core/session.py``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path = SOURCE_ROOT) -> list[Import]:
    """Every import in one source file, relative imports resolved, each module once a line."""
    seen: dict[tuple[str, int], Import] = {}
    for item in _imports_in(path, root):
        seen.setdefault((item.imported, item.line), item)
    return list(seen.values())


def _imports_in(path: Path, root: Path) -> Iterator[Import]:
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.module, node.level)
            # ``from tcpchat.core import session`` imports the submodule ``session``.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                module = candidate if _is_module(candidate, root) else base
                yield Import(name, module, path, node.lineno)


def _resolve(importer: str, is_package: bool, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = importer.split(".")
    if not is_package:
        parts.pop()
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


def _is_module(name: str, root: Path) -> bool:
    path = root.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def broken_rules(imports: list[Import]) -> list[str]:
    """Each import that breaks a rule, and each import cycle, as one line of text."""
    problems: list[str] = []
    for item in imports:
        where = f"{item.path}:{item.line}: {item.importer} imports {item.imported}"
        for part, forbidden in FORBIDDEN.items():
            if _within(item.importer, part):
                for prefix in forbidden:
                    if _within(item.imported, prefix):
                        problems.append(f"{where}, which {part} may not import")
        for package, owners in OWNED.items():
            if _within(item.imported, package) and not any(
                _within(item.importer, owner) for owner in owners
            ):
                problems.append(f"{where}: only {' and '.join(owners)} may import {package}")
        for entry in ENTRY_POINTS:
            if _within(item.imported, entry) and item.importer not in ENTRY_POINT_IMPORTERS:
                problems.append(f"{where}: nothing imports {entry}")
    problems += [f"import cycle among {', '.join(cycle)}" for cycle in import_cycles(imports)]
    return problems


def import_cycles(imports: list[Import]) -> list[list[str]]:
    """The cycles among tcpchat's own modules, each once (Tarjan's components)."""
    graph: dict[str, set[str]] = {}
    for item in imports:
        if _within(item.imported, PACKAGE) and item.imported != item.importer:
            # A package's __init__ is not an edge to its own submodules' importers.
            if _within(item.importer, item.imported):
                continue
            graph.setdefault(item.importer, set()).add(item.imported)
            graph.setdefault(item.imported, set())
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                lowlink[node] = min(lowlink[node], lowlink[successor])
            elif successor in on_stack:
                lowlink[node] = min(lowlink[node], index[successor])
        if lowlink[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def all_imports(root: Path = SOURCE_ROOT) -> list[Import]:
    """The imports of every module of the package under ``root``."""
    paths = sorted((root / PACKAGE).rglob("*.py"))
    return [item for path in paths for item in imports_of(path, root)]


def main() -> int:
    problems = broken_rules(all_imports())
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} broken import rule(s); see docs/architecture.md", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
