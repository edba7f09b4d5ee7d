"""Word analogies: questions-words.txt accuracy with gensim 4.4's
``KeyedVectors.evaluate_word_analogies`` semantics (3CosAdd), or 3CosMul.
"""

from __future__ import annotations

import os

import numpy as np

from ..artifact.embeddings import COSMUL_EPSILON, METHODS, RESTRICT_VOCAB, Embeddings
from ..errors import FormatError
from .datasets import read_lines, vocab_lookup


def read_analogies(path: str | os.PathLike) -> tuple[list[tuple[str, list[tuple[str, str, str, str]]]], int]:
    """Parse a questions-words.txt-style file: ``: section`` headers, then ``a b c d`` lines.

    Returns ``([(section, [(a, b, c, d), ...]), ...], invalid)``, where ``invalid`` counts
    non-blank lines without exactly 4 words (skipped, as gensim does). A question before the first
    header, or a file without questions, raises FormatError.
    """
    name = os.fspath(path)
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    invalid = 0
    for line_no, line in enumerate(read_lines(path), start=1):
        if line.startswith(": "):
            sections.append((line.lstrip(": ").strip(), []))
            continue
        fields = line.split()
        if not fields:
            continue
        if not sections:
            raise FormatError(f"{name}: line {line_no}: question before the first ': section' header")
        if len(fields) != 4:
            invalid += 1
            continue
        sections[-1][1].append(tuple(fields))
    if not any(questions for _, questions in sections):
        raise FormatError(f"{name}: no analogy questions found (expected ': section' headers and 'a b c d' lines)")
    return sections, invalid


def is_syntactic(section: str) -> bool:
    """questions-words.txt convention: ``gram*`` sections are syntactic, the others semantic."""
    return section.startswith("gram")


# gensim's evaluate_word_analogies looks at this many most_similar answers per question.
_GENSIM_TOPN = 5


def _gensim_pick(candidates: np.ndarray, question: tuple[int, int, int], key_of_row: np.ndarray) -> int:
    """gensim's answer from the best rows (question rows already excluded, best first, -1 = none):
    the first whose key is not a question key (a case variant of a, b or c is passed over), else
    the last of them; -1 when there is no candidate at all."""
    top = candidates[candidates >= 0]
    for row in top:
        if key_of_row[row] not in question:
            return int(row)
    return int(top[-1]) if top.size else -1


def evaluate_analogies(
    words: list[str],
    vectors: np.ndarray,
    path: str | os.PathLike,
    restrict_vocab: int | None = RESTRICT_VOCAB,
    case_insensitive: bool = True,
    method: str = "3cosadd",
    cosmul_epsilon: float = COSMUL_EPSILON,
) -> dict:
    """Analogy accuracy (a : b :: c : ?) with gensim 4.4 ``evaluate_word_analogies`` semantics.

    words: V strings in frequency order; vectors: float32 [V, D]; path: questions-words.txt style.
    * Only the first ``restrict_vocab`` words are used, for the questions and as answers.
    * ``case_insensitive``: words and questions compared upper-cased (``str.upper``); a question
      word maps to the first (most frequent) row with that key.
    * A question with a word outside that vocabulary is skipped (``skipped``), not answered.
    * The answer is the best-scoring row other than the rows of a, b, c; as in gensim, if that row
      is another case variant of a, b or c, the next of the 5 best is taken. Correct when the
      answer's key equals d's key. Scores: ``3cosadd`` = cos(v, b̂ − â + ĉ) over unit vectors
      (gensim's ``most_similar``); ``3cosmul`` = Levy & Goldberg (2014)'s
      cos'(v,b)·cos'(v,c) / (cos'(v,a) + ε) with cos' = (cos + 1)/2 and ε = ``cosmul_epsilon``
      (``embeddings.COSMUL_EPSILON``: their 1e-3, for every command).
    Zero vectors have cosine 0 with everything (gensim would produce NaN).
    Scored by ``Embeddings.nearest_rows`` (the package's one nearest-neighbour routine), all
    questions in one call: 3cosadd through the cosines of the distinct question words, 3cosmul in
    blocks of float32 scores.

    Returns a dict: ``accuracy`` (correct / answered over all sections), ``semantic``,
    ``syntactic`` (the same per group; ``gram*`` sections are syntactic), ``answered``,
    ``skipped``, ``correct``, ``questions`` (answered + skipped), ``invalid_lines``, ``method``,
    ``restrict_vocab``, ``case_insensitive`` and ``sections``: a list of dicts with ``section``,
    ``kind`` ('semantic' | 'syntactic'), ``correct``, ``answered``, ``skipped``, ``accuracy``.
    Accuracies with nothing answered are NaN. Raises FormatError for a malformed file.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise ValueError(f"{len(words)} words but vectors have shape {vectors.shape}")
    sections, invalid = read_analogies(path)
    index, keys = vocab_lookup(words, restrict_vocab, case_insensitive)
    r = len(keys)
    embeddings = Embeddings(words[:r], vectors[:r])  # the restricted rows: questions and answers
    key_of_row = np.array([index[k] for k in keys], dtype=np.int64)  # row -> canonical row of its key

    # Questions fully in vocabulary, as canonical rows, with their section number.
    fold = str.upper if case_insensitive else (lambda w: w)
    question_rows, question_section = [], []
    skipped = np.zeros(len(sections), dtype=np.int64)
    for s, (_, questions) in enumerate(sections):
        for question in questions:
            rows = [index.get(fold(w), -1) for w in question]
            if min(rows) < 0:
                skipped[s] += 1
            else:
                question_rows.append(rows)
                question_section.append(s)
    q = np.array(question_rows, dtype=np.int64).reshape(-1, 4)
    q_section = np.array(question_section, dtype=np.int64)
    # the parsed questions go before the search (peak RSS of a training job's outputs: ~5 MB)
    sections = [(name, ()) for name, _ in sections]
    del question_rows, question_section
    qa, qb, qc, qd = q.T
    queries = [([b, c], [a]) for a, b, c in zip(qa.tolist(), qb.tolist(), qc.tolist())]
    # gensim asks most_similar for 5 answers, then passes over case variants of a, b, c.
    best, _ = embeddings.nearest_rows(queries, _GENSIM_TOPN, None, method, cosmul_epsilon)
    answer = best[:, 0].copy() if best.shape[1] else np.full(len(best), -1, np.int64)  # no rows: no answers
    first_key = key_of_row[np.maximum(answer, 0)]
    variant = (answer < 0) | (first_key == qa) | (first_key == qb) | (first_key == qc)
    for i in np.flatnonzero(variant):  # rare: only with case variants in the vocabulary
        answer[i] = _gensim_pick(best[i], (qa[i], qb[i], qc[i]), key_of_row)
    hit = (answer >= 0) & (key_of_row[np.maximum(answer, 0)] == qd)
    return _analogy_report(sections, q_section, hit, skipped, invalid, method, restrict_vocab, case_insensitive)


def _accuracy(correct: int, answered: int) -> float:
    return correct / answered if answered else float("nan")


def _analogy_report(sections, q_section, hit, skipped, invalid, method, restrict_vocab, case_insensitive) -> dict:
    n_sections = len(sections)
    answered = np.bincount(q_section, minlength=n_sections)
    correct = np.bincount(q_section, weights=hit, minlength=n_sections).astype(np.int64)
    per_section = []
    group = {"semantic": [0, 0], "syntactic": [0, 0]}
    for s, (name, _) in enumerate(sections):
        kind = "syntactic" if is_syntactic(name) else "semantic"
        group[kind][0] += int(correct[s])
        group[kind][1] += int(answered[s])
        per_section.append({
            "section": name, "kind": kind, "correct": int(correct[s]), "answered": int(answered[s]),
            "skipped": int(skipped[s]), "accuracy": _accuracy(int(correct[s]), int(answered[s])),
        })
    total_correct, total_answered = int(correct.sum()), int(answered.sum())
    return {
        "accuracy": _accuracy(total_correct, total_answered),
        "semantic": _accuracy(*group["semantic"]),
        "syntactic": _accuracy(*group["syntactic"]),
        "answered": total_answered,
        "skipped": int(skipped.sum()),
        "correct": total_correct,
        "questions": total_answered + int(skipped.sum()),
        "invalid_lines": invalid,
        "method": method,
        "restrict_vocab": restrict_vocab,
        "case_insensitive": case_insensitive,
        "sections": per_section,
    }
