"""House rules that keep the package's layout honest: private names stay in their module, every
Numba module is seen by the cache check, and tests do not reach into private seams."""

import ast
import os
import re
from pathlib import Path

from w2v_nce import numba_cache

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "w2v_nce"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _package_modules():
    return sorted(PACKAGE.rglob("*.py"))


def _imported_module_aliases(tree: ast.AST) -> set[str]:
    """Names bound to one of our modules: ``from . import kernels as kern``, ``import w2v_nce.x as y``."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("w2v_nce")):
            out |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.asname or a.name for a in node.names if a.name.startswith("w2v_nce")}
    return out


def private_crossings(path: Path) -> list[str]:
    """Every ``_name`` this file takes from another of our modules, as 'file:line name'."""
    tree = ast.parse(path.read_text())
    ours = _imported_module_aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("w2v_nce")):
            found += [f"{path.name}:{node.lineno} {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours:
            if _private(node.attr):
                found.append(f"{path.name}:{node.lineno} {node.value.id}.{node.attr}")
    return found


def test_the_check_sees_a_private_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .vocab import _secret\nfrom . import corpus as C\nx = C._hidden\nfrom .io import json_safe\n")
    assert private_crossings(bad) == ["bad.py:1 _secret", "bad.py:3 C._hidden"]


def test_no_module_takes_a_private_name_from_another():
    found = [hit for path in _package_modules() for hit in private_crossings(path)]
    assert found == []


def test_no_test_or_script_takes_a_private_name_from_the_package():
    files = sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "scripts").glob("*.py"))
    found = [hit for path in files for hit in private_crossings(path)]
    assert found == []


def test_no_test_patches_a_private_name():
    patch = re.compile(r"""monkeypatch\.setattr\(\s*[\w.]+\s*,\s*["'](_\w+)["']""")
    found = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = patch.search(line)
            if m and not m.group(1).startswith("__"):
                found.append(f"{path.name}:{lineno} {m.group(1)}")
    assert found == []


def test_every_numba_module_is_seen_by_the_cache_check():
    """A Numba module the check misses would load stale machine code after an upgrade."""
    uses_numba = {str(p) for p in _package_modules() if b"numba" in p.read_bytes()}
    assert uses_numba and uses_numba == set(numba_cache.numba_sources())
    deepest = max(len(Path(p).relative_to(PACKAGE).parts) for p in uses_numba)
    assert deepest >= 2  # the kernels are in a subpackage: the scan goes below the top level


def test_every_package_is_listed_for_installation():
    """pyproject.toml names packages by hand: a new folder missing there is missing from a wheel."""
    text = (REPO / "pyproject.toml").read_text()
    listed = set(re.search(r"packages\s*=\s*\[([^\]]*)\]", text).group(1).replace('"', "").replace(" ", "").split(","))
    found = {
        str(Path(d).relative_to(REPO)).replace(os.sep, ".")
        for d, _, files in os.walk(PACKAGE)
        if "__init__.py" in files
    }
    assert found == listed - {""}


def _functions():
    for path in _package_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def test_functions_are_short_enough_to_read_at_once():
    long = [f"{p.name}:{n.lineno} {n.name} {n.end_lineno - n.lineno + 1} lines" for p, n in _functions()
            if n.end_lineno - n.lineno + 1 > 80]
    assert long == []


def test_no_signature_over_twelve_parameters():
    def count(n):
        a = n.args
        names = [x.arg for x in a.posonlyargs + a.args + a.kwonlyargs]
        return len([x for x in names if x not in ("self", "cls")])

    wide = [f"{p.name}:{n.lineno} {n.name} {count(n)}" for p, n in _functions() if count(n) > 12]
    assert wide == []
