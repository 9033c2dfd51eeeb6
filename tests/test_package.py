"""The package's shape: no import cycle among its modules (lazy imports included), and no
function over 60 lines outside the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "textwgan"


def imports() -> dict[str, set[str]]:
    found = {}
    for path in PACKAGE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps |= {node.module.split(".")[0]} if node.module else \
                    {a.name for a in node.names}
        found[path.stem] = deps
    return found


def test_no_import_cycle():
    graph = imports()
    cycles = []

    def walk(start: str, node: str, path: list[str]) -> None:
        for dep in sorted(graph.get(node, ())):
            if dep == start:
                cycles.append(path + [dep])
            elif dep not in path and dep in graph:
                walk(start, dep, path + [dep])

    for module in graph:
        walk(module, module, [module])
    assert not cycles, cycles[:5]


def test_checkpoints_know_nothing_of_training():
    assert "training" not in imports()["checkpoint"]


def long_functions(path: Path, limit: int = 60) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > limit]


def test_no_function_over_60_lines():
    too_long = [f for path in sorted(PACKAGE.glob("*.py")) for f in long_functions(path)]
    assert not too_long, too_long


def test_no_public_name_is_also_a_module():
    # Importing textwgan.X binds the module to the package's attribute X, which would hide a
    # function of that name (`textwgan.bench(...)` would call a module).
    import textwgan

    modules = {p.stem for p in Path(textwgan.__file__).parent.glob("*.py")}
    assert not modules & set(textwgan._EXPORTS)


def test_no_function_takes_more_than_eight_parameters():
    """Option groups travel as one value (ScoringOptions, SamplingSpec, Runtime, Request);
    only the CLI's commands, whose parameters are their options, take more."""
    crowded = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            a = node.args
            names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
            count = len(names) - (names[:1] in (["self"], ["cls"])) + bool(a.vararg) \
                + bool(a.kwarg)
            commands = {c.callback.__name__ for c in _commands()}
            if count > 8 and not (path.name == "cli.py" and node.name in commands):
                crowded.append(f"{path.name}:{node.name} ({count})")
    assert not crowded, crowded


def _commands():
    from textwgan.cli import app

    return app.registered_commands
