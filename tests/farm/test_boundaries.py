"""Design rules of the farm that import-linter cannot see."""

from __future__ import annotations

import ast
from pathlib import Path

import anyarch

SRC = Path(anyarch.__file__).resolve().parent


def _starts_ssh(tree: ast.AST) -> list[int]:
    """Lines that look up or launch the ssh binary: which("ssh"), ["ssh", ...], ssh_binary()."""
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = (
                fn.attr
                if isinstance(fn, ast.Attribute)
                else fn.id
                if isinstance(fn, ast.Name)
                else ""
            )
            if name == "ssh_binary":
                hits.append(node.lineno)
            if (
                name == "which"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and node.args[0].value == "ssh"
            ):
                hits.append(node.lineno)
        if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
            first = node.elts[0]
            if isinstance(first, ast.Constant) and first.value in ("ssh", "/usr/bin/ssh"):
                hits.append(node.lineno)
    return hits


def test_only_farm_ssh_starts_ssh() -> None:
    offenders = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel == "farm/ssh.py":
            assert _starts_ssh(ast.parse(path.read_text())), (
                "farm/ssh.py should be where ssh starts"
            )
            continue
        lines = _starts_ssh(ast.parse(path.read_text()))
        if lines:
            offenders[rel] = lines
    assert offenders == {}


def test_the_detector_sees_a_launch() -> None:
    assert _starts_ssh(
        ast.parse('import subprocess\nsubprocess.run(["ssh", "host", "true"])\n')
    ) == [2]
    assert _starts_ssh(ast.parse('import shutil\nshutil.which("ssh")\n')) == [2]


def test_farm_never_imports_the_solver_or_the_cli() -> None:
    for path in (SRC / "farm").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            else:
                continue
            for mod in mods:
                assert not mod.startswith(
                    ("anyarch.build", "anyarch.cli", "anyarch.api", "click", "rich")
                ), (path.name, mod)
