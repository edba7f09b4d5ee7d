"""The README and docs/ stay usable: the README fits 15 KB, every relative link resolves, and every
file path or module they cite exists (a moved module breaks this test, not a reader)."""

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", REPO / "CONTRIBUTING.md"] + sorted((REPO / "docs").glob("*.md"))


def test_the_readme_is_at_most_15_kb():
    assert (REPO / "README.md").stat().st_size <= 15_000  # 15 kB, read strictly


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_resolve(doc):
    text = doc.read_text(encoding="utf-8")
    targets = [m.group(1) for m in re.finditer(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) if not m.group(1).startswith("http")]
    assert [t for t in targets if not (doc.parent / t).exists()] == []


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_cited_paths_and_modules_exist(doc):
    text = doc.read_text(encoding="utf-8")
    paths = {m.group(1) for m in re.finditer(r"\b((?:w2v_nce|scripts|tests|configs)/[\w/.-]*\.(?:py|yaml))", text)}
    missing = sorted(p for p in paths if not (REPO / p).exists())
    dotted = {m.group(0) for m in re.finditer(r"\bw2v_nce(?:\.\w+)+", text)}
    for name in sorted(dotted):
        parts = name.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                obj = getattr(obj, attr, None)
            if obj is None:
                missing.append(name)
            break
    assert missing == []
