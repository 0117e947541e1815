"""Checks that keep the structure of ``src/actconf`` honest, read from the source with ``ast``.

Nothing here imports actconf or a heavy package: each check parses the files and
lists every offence as ``path:line``. The rules (docs/architecture.md, "Conventions"):

- a function or method has at most ``MAX_FUNCTION_LINES`` lines of code;
- a private name (``_x``) is used only inside its own subpackage (directory);
- every public module says in a docstring what it owns.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "actconf"
MAX_FUNCTION_LINES = 100


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@functools.cache
def _parse(path: Path, source: str | None = None) -> ast.Module:
    text = path.read_text(encoding="utf-8") if source is None else source
    return ast.parse(text, filename=str(path))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC.parent)}:{line}"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_file(dotted: str) -> Path | None:
    """The file of module ``dotted`` (``actconf.x.y``) in src, or None when it is not a module."""
    base = SRC.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------- (a) function length
def _code_lines(func: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """Lines from ``def`` to the function's last line that hold code: not blank, not only a
    comment, not the docstring. Decorators do not count; nested functions count in their
    enclosing function (and are checked on their own as well)."""
    skip: set[int] = set()
    body = func.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        skip.update(range(body[0].lineno, body[0].end_lineno + 1))
    count = 0
    for number in range(func.lineno, func.end_lineno + 1):
        text = lines[number - 1].strip()
        if number in skip or not text or text.startswith("#"):
            continue
        count += 1
    return count


def test_no_function_is_longer_than_100_lines_of_code():
    """No function or method in src/actconf has more than 100 lines of code.

    Counted from the ``def`` line to the function's last line, leaving out blank lines,
    lines holding only a comment, and the docstring: the part a reader has to take in.
    """
    long = []
    for path in _modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = _code_lines(node, lines)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{_where(path, node.lineno)} {node.name}: {n} lines")
    assert not long, "Functions over 100 lines of code (split them into named parts):\n" + "\n".join(long)


# --------------------------------------------------------------------------- (b) private names
def _resolve_from(path: Path, node: ast.ImportFrom) -> str | None:
    """The absolute dotted module an ``ImportFrom`` reads from, or None outside actconf."""
    if node.level == 0:
        return node.module if node.module and node.module.split(".")[0] == "actconf" else None
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr}"
    return None


def _private_uses(path: Path, source: str | None = None) -> list[tuple[int, str, str]]:
    """``(line, private name, module)`` for every private name this file takes from an actconf
    module in another directory: ``from m import _x`` and ``m._x`` on an imported module ``m``."""
    tree = _parse(path, source)
    uses = []
    modules: dict[str, str] = {}  # local name -> actconf module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "actconf":
                    if alias.asname:
                        modules[alias.asname] = alias.name
                    else:
                        modules["actconf"] = "actconf"
        elif isinstance(node, ast.ImportFrom):
            origin = _resolve_from(path, node)
            if origin is None:
                continue
            for alias in node.names:
                if _module_file(f"{origin}.{alias.name}") is not None:
                    modules[alias.asname or alias.name] = f"{origin}.{alias.name}"
                if _is_private(alias.name):
                    uses.append((node.lineno, alias.name, origin))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            dotted = _dotted(node.value)
            if dotted is None:
                continue
            head, _, rest = dotted.partition(".")
            if head in modules:
                module = modules[head] + (f".{rest}" if rest else "")
                uses.append((node.lineno, node.attr, module))
    return [(line, name, module) for line, name, module in uses
            if (origin := _module_file(module)) is not None and origin.parent != path.parent]


def test_no_private_name_is_imported_across_subpackages():
    """A private name (``_x``, not dunder) of an actconf module is used only in the same directory.

    Covers ``from .mod import _x``, ``from ..pkg.mod import _x``, ``from actconf.mod import _x``,
    ``from . import _mod`` and attribute access ``mod._x`` on an imported actconf module
    ``mod``. Allowed when the module the name comes from (for a package: its
    ``__init__.py``) sits in the importer's directory, i.e. inside one subpackage.
    Shared helpers become a named internal API (no underscore) or go to ``_validation``.
    """
    offences = [f"{_where(path, line)} uses {module}.{name}"
                for path in _modules() for line, name, module in _private_uses(path)]
    assert not offences, "Private names used across subpackages:\n" + "\n".join(sorted(set(offences)))


# --------------------------------------------------------------------------- (c) docstrings
def _public(path: Path) -> bool:
    parts = path.relative_to(PACKAGE).parts
    return not any(_is_private(Path(p).stem) for p in parts)


def test_every_public_module_has_a_docstring():
    """Every public module (no ``_`` in its path; a public package's ``__init__.py``) has a docstring."""
    missing = [_where(path, 1) for path in _modules() if _public(path) and ast.get_docstring(_parse(path)) is None]
    assert not missing, "Public modules without a docstring saying what they own:\n" + "\n".join(missing)


@pytest.mark.parametrize(("source", "expected"), [
    ("from .page import _x\nfrom . import _y\n", []),  # same directory: report/
    ("from .._validation import param_error\n", []),  # public name of a private module
    ("from ..store import _x\n", [(1, "_x", "actconf.store")]),
    ("from actconf.layout import _compute\n", [(1, "_compute", "actconf.layout")]),
    ("import actconf.store as s\ns._x\n", [(2, "_x", "actconf.store")]),
    ("import actconf.store\nactconf.store._x\n", [(2, "_x", "actconf.store")]),
    ("from .. import store\nstore.__all__\nstore._x\n", [(3, "_x", "actconf.store")]),
    ("def f(self):\n    return self._x\n", []),
])
def test_private_name_finder(source, expected):
    """The finder itself, on source text placed in ``actconf/report/``."""
    assert _private_uses(PACKAGE / "report" / "build.py", source) == expected
