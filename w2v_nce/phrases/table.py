"""The phrase table: the settings it was built with, each pass's totals, and its phrases.

On disk (``phrases.tsv``), UTF-8:

    # w2v-nce phrases 1
    # settings {"connectors": [...], "delimiter": "_", "lowercase": false, "min_count": 5, ...}
    # pass 1 {"words": 17005207, "entries": 9123456, "phrases": 4321}
    pass<TAB>phrase<TAB>count<TAB>score
    1<TAB>new york<TAB>1234<TAB>567.8

A phrase is its tokens separated by single spaces (tokens never hold whitespace); joined in
the text they become one token, the tokens separated by the delimiter. Pass p's tokens are
pass p - 1's output (``new_york times`` in pass 2). ``words`` is the token total the pass
counted (connectors included), ``entries`` the distinct words and candidates it counted.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field

from ..errors import ConfigError, FormatError
from ..io import atomic_output, json_value
from ..text.corpus import WHITESPACE
from .kernels import SCORINGS

MAGIC = "# w2v-nce phrases 1"
COLUMNS = "pass\tphrase\tcount\tscore"
# The threshold each scoring uses unless one is given: word2phrase's 100, gensim's 10.0, and
# an NPMI of 0.5 (NPMI lies in [-1, 1]).
DEFAULT_THRESHOLDS = {"word2vec": 100.0, "gensim": 10.0, "npmi": 0.5}
# gensim 4's ENGLISH_CONNECTOR_WORDS: words that may sit inside a phrase (bank_of_america)
# but never start or end one.
CONNECTOR_SETS = {
    "none": (),
    "english": ("a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with", "without"),
}
MAX_PASSES = 8
_SEPARATORS = frozenset(WHITESPACE.decode("ascii"))


def is_token(text: str) -> bool:
    """Whether ``text`` is one token of our reader (non-empty, none of its separators)."""
    return bool(text) and not any(c in _SEPARATORS for c in text)


@dataclass(frozen=True)
class PhraseSettings:
    """How a table is built and applied (the header's ``settings``)."""

    min_count: int = 5
    threshold: float = DEFAULT_THRESHOLDS["word2vec"]
    scoring: str = "word2vec"
    connectors: tuple[str, ...] = ()
    passes: int = 1
    delimiter: str = "_"
    lowercase: bool = False

    def check(self, where: str = "phrases") -> None:
        """ConfigError naming the setting when one is out of range."""
        if self.scoring not in SCORINGS:
            raise ConfigError(f"{where}: scoring must be one of {', '.join(SCORINGS)}, got {self.scoring!r}")
        if not isinstance(self.min_count, int) or self.min_count < 1:
            raise ConfigError(f"{where}: min_count must be an integer >= 1, got {self.min_count!r}")
        if not 1 <= self.passes <= MAX_PASSES:
            raise ConfigError(f"{where}: passes must be in [1, {MAX_PASSES}], got {self.passes!r}")
        t = self.threshold
        if not isinstance(t, (int, float)) or not math.isfinite(t):
            raise ConfigError(f"{where}: threshold must be a finite number, got {t!r}")
        if self.scoring == "npmi" and not -1 <= t <= 1:
            raise ConfigError(f"{where}: an npmi threshold must be in [-1, 1], got {t}")
        if self.scoring != "npmi" and t <= 0:
            raise ConfigError(f"{where}: a {self.scoring} threshold must be > 0, got {t}")
        if not is_token(self.delimiter):
            raise ConfigError(f"{where}: the delimiter must be non-empty and hold no whitespace, got {self.delimiter!r}")
        for word in self.connectors:
            if not is_token(word):
                raise ConfigError(f"{where}: connector words must be single tokens, got {word!r}")


@dataclass(frozen=True)
class Phrase:
    pass_no: int  # 1-based
    tokens: tuple[str, ...]  # at least two
    count: int
    score: float


@dataclass
class PhraseTable:
    settings: PhraseSettings
    passes: list[dict] = field(default_factory=list)  # per pass: words, entries, phrases
    phrases: list[Phrase] = field(default_factory=list)  # by pass, then score (highest first)

    def of_pass(self, pass_no: int) -> list[Phrase]:
        return [p for p in self.phrases if p.pass_no == pass_no]

    def write(self, path: str) -> None:
        """Write the table atomically (a reader never sees half of it)."""
        with atomic_output(path, "w") as fh:
            fh.write(MAGIC + "\n")
            fh.write("# settings " + json.dumps(asdict(self.settings), sort_keys=True, ensure_ascii=False) + "\n")
            for i, totals in enumerate(self.passes, 1):
                fh.write(f"# pass {i} " + json.dumps(totals, sort_keys=True) + "\n")
            fh.write(COLUMNS + "\n")
            for p in self.phrases:
                fh.write(f"{p.pass_no}\t{' '.join(p.tokens)}\t{p.count}\t{p.score!r}\n")

    @classmethod
    def read(cls, path: str) -> "PhraseTable":
        """The table in ``path``; FormatError naming the file and line when it is malformed."""
        try:
            with open(path, encoding="utf-8", newline="\n") as fh:
                lines = fh.read().split("\n")
        except OSError as exc:
            raise FormatError(f"{path}: cannot read the phrase table ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise FormatError(f"{path}: not UTF-8 text; is it a phrase table from w2v-nce phrases?") from None
        if lines and lines[-1] == "":
            lines.pop()
        return _parse(path, lines)


def _bad(path: str, line: int, what: str) -> FormatError:
    return FormatError(f"{path} line {line}: {what}; rebuild the table with w2v-nce phrases")


def _parse(path: str, lines: list[str]) -> PhraseTable:
    if not lines or lines[0] != MAGIC:
        raise FormatError(f"{path}: not a phrase table (its first line is not {MAGIC!r}); build one with "
                          "w2v-nce phrases")
    settings = _parse_settings(path, lines[1] if len(lines) > 1 else "")
    table = PhraseTable(settings)
    n = 2
    while n < len(lines) and lines[n].startswith("# pass "):
        table.passes.append(_parse_pass(path, n + 1, lines[n], len(table.passes) + 1))
        n += 1
    if len(table.passes) != settings.passes:
        raise _bad(path, n + 1, f"{len(table.passes)} '# pass' lines for passes={settings.passes}")
    if n >= len(lines) or lines[n] != COLUMNS:
        raise _bad(path, n + 1, f"expected the column line {COLUMNS!r}")
    seen: set[tuple] = set()
    for i, line in enumerate(lines[n + 1:], n + 2):
        p = _parse_row(path, i, line, settings.passes)
        if (p.pass_no, p.tokens) in seen:
            raise _bad(path, i, f"phrase {' '.join(p.tokens)!r} listed twice in pass {p.pass_no}")
        seen.add((p.pass_no, p.tokens))
        table.phrases.append(p)
    for i, totals in enumerate(table.passes, 1):
        if totals["phrases"] != len(table.of_pass(i)):
            raise FormatError(f"{path}: pass {i} should hold {totals['phrases']} phrases but holds "
                              f"{len(table.of_pass(i))}; is the file cut short? Rebuild it with w2v-nce phrases")
    return table


def _parse_settings(path: str, line: str) -> PhraseSettings:
    if not line.startswith("# settings "):
        raise _bad(path, 2, "expected '# settings {...}'")
    try:
        raw = json_value(line[len("# settings "):])
        known = set(PhraseSettings.__dataclass_fields__)
        if not isinstance(raw, dict) or set(raw) != known:
            raise ValueError(f"keys must be {sorted(known)}")
        raw["connectors"] = tuple(raw["connectors"])
        settings = PhraseSettings(**raw)
        settings.check(f"{path} line 2")
    except (ValueError, TypeError) as exc:
        raise _bad(path, 2, f"bad settings ({exc})") from None
    except ConfigError as exc:
        raise FormatError(f"{exc}; rebuild the table with w2v-nce phrases") from None
    return settings


def _parse_pass(path: str, line_no: int, line: str, expect: int) -> dict:
    head, _, body = line[len("# pass "):].partition(" ")
    try:
        totals = json_value(body)
        ok = head == str(expect) and isinstance(totals, dict) and set(totals) == {"words", "entries", "phrases"}
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in totals.values()):
            raise ValueError
    except ValueError:
        raise _bad(path, line_no, f"expected '# pass {expect} {{\"words\": N, \"entries\": N, \"phrases\": N}}'") from None
    return totals


def _parse_row(path: str, line_no: int, line: str, passes: int) -> Phrase:
    fields = line.split("\t")
    if len(fields) != 4:
        raise _bad(path, line_no, "expected 4 tab-separated fields (pass, phrase, count, score)")
    tokens = tuple(fields[1].split(" "))
    try:
        pass_no, count, score = int(fields[0]), int(fields[2]), float(fields[3])
    except ValueError:
        raise _bad(path, line_no, "pass and count must be integers and score a number") from None
    if not 1 <= pass_no <= passes:
        raise _bad(path, line_no, f"pass {pass_no} is not in [1, {passes}]")
    if len(tokens) < 2 or not all(is_token(t) for t in tokens):
        raise _bad(path, line_no, "a phrase is two or more tokens separated by single spaces")
    if count < 1 or not math.isfinite(score):
        raise _bad(path, line_no, "count must be >= 1 and score finite")
    return Phrase(pass_no, tokens, count, score)
