"""The trained artifact: vocabulary + matrices, stored as plain npz (never pickle); loading the
vectors of a model or a word2vec file for queries (``load_embeddings``)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import FormatError, UsageError
from ..io import NPZ_PIECE_BYTES, atomic_output, checked_npz, json_value, write_npz
from ..subwords import SubwordSettings, subword_rows, unseen_vector, word_vectors
from .embeddings import Embeddings
from .export import select_vectors
from .word2vec import load_word2vec, require_finite
from .words import pack_words, unpack_words

MODEL_FILE = "model.npz"

_NPZ_OVERHEAD = 16 << 10  # zip and .npy headers of the 7 members, plus the config JSON (bytes)


def model_file_bytes(V: int, D: int, word_bytes: int) -> int:
    """Size of model.npz (bytes) for V words of ``word_bytes`` total UTF-8 bytes and D dims:
    w_in, w_out float32[V, D], bias float32[V], counts int64[V], word_offsets int64[V+1], the words."""
    return 8 * V * D + 4 * V + 8 * V + 8 * (V + 1) + word_bytes + _NPZ_OVERHEAD


def model_save_bytes(V: int, D: int, word_bytes: int) -> int:
    """Peak memory (bytes) that ``Model.save`` (or a checkpoint built on ``npz_arrays``) allocates
    on top of the model itself: the words joined as one str and its UTF-8 (2 x ``word_bytes`` at
    most), lengths and offsets (16 bytes a word), and a piece of the npz writer (``io.write_npz``).
    Independent of the longest word (``Model.save`` used to need V x longest x 4 bytes)."""
    return 2 * word_bytes + 16 * (V + 1) + NPZ_PIECE_BYTES + (1 << 20)


def npz_problem(exc: BaseException) -> str:
    """What is wrong with a file ``np.load`` refused, in words for a user (NumPy's own message
    for random bytes advises unpickling them, and an empty file raises EOFError)."""
    if isinstance(exc, EOFError):
        return "the file is empty"
    if "pickle" in str(exc):
        return "not a .npz archive of arrays"
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


@dataclass
class Model:
    """words [V] str, counts int64[V], w_in/w_out float32[V, D], bias float32[V], config dict.

    A subword model (config ``subwords``) also has ``table`` float32[V + buckets, D], the input
    table the kernels train: w_in is its first V rows (a view), its n-gram buckets the rest; a
    word's vector is then the mean of its rows (``word_vectors``), not its w_in row. In the
    compact layout (``hash_count`` >= 1) the table is float32[buckets, D] and w_in is None."""

    words: list[str]
    counts: np.ndarray
    w_in: np.ndarray | None
    w_out: np.ndarray
    bias: np.ndarray
    config: dict
    table: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return int(self.w_out.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    @property
    def subwords(self) -> SubwordSettings | None:
        return SubwordSettings.from_config(self.config)

    def input_table(self) -> np.ndarray:
        """The matrix the kernels' w_in is: ``table`` for a subword model, else w_in."""
        return self.table if self.table is not None else self.w_in

    def word_vectors(self, out: np.ndarray | None = None) -> np.ndarray:
        """float32[V, D]: the words' input vectors (w_in, or each word's mean of its subword rows,
        written into ``out`` when given)."""
        if self.table is None:
            return self.w_in
        return word_vectors(self.table, subword_rows(self.words, self.subwords), out)

    def unseen_vectors(self) -> Callable[[str], np.ndarray] | None:
        """A subword model's vector for a word outside its vocabulary (its n-grams' mean), else None."""
        if self.table is None:
            return None
        table, V, settings = self.table, len(self.words), self.subwords
        return lambda word: unseen_vector(table, V, word, settings)

    @classmethod
    def from_arrays(cls, words: list[str], counts: np.ndarray, inputs: np.ndarray, w_out: np.ndarray,
                    bias: np.ndarray, config: dict) -> "Model":
        """A model of trained matrices: ``inputs`` is w_in, or a subword model's table (``input_table``)."""
        sub = SubwordSettings.from_config(config)
        w_in = inputs[:len(words)] if sub is None or sub.word_rows else None
        return cls(words, counts, w_in, w_out, bias, config, inputs if sub else None)

    @classmethod
    def initial(cls, words: list[str], counts: np.ndarray, dim: int, seed: int, config: dict) -> "Model":
        """word2vec.c's initialisation: w_in (and a subword model's n-gram rows) uniform in
        [-0.5/D, 0.5/D), w_out and bias zero."""
        rng = np.random.default_rng(seed)
        V = len(words)
        sub = SubwordSettings.from_config(config)
        table = rng.random((sub.table_rows(V) if sub else V, dim), dtype=np.float32)
        table -= np.float32(0.5)  # in place: no temporary copies of the table
        table /= np.float32(dim)
        return cls.from_arrays(list(words), np.asarray(counts, np.int64), table, np.zeros((V, dim), np.float32),
                               np.zeros(V, np.float32), dict(config))

    def npz_arrays(self) -> dict[str, np.ndarray]:
        """What model.npz holds (a checkpoint adds its own keys): w_in, w_out float32[V, D], bias
        float32[V], word_bytes uint8[N] + word_offsets int64[V+1] (see ``formats.pack_words``),
        counts int64[V], config (0-d str, JSON); a subword model's n-gram rows ``ngrams``
        float32[buckets, D] (compact: no w_in)."""
        word_bytes, word_offsets = pack_words(self.words)
        arrays = {"w_in": self.w_in, "w_out": self.w_out, "bias": self.bias, "word_bytes": word_bytes,
                  "word_offsets": word_offsets, "counts": self.counts, "config": np.array(json.dumps(self.config))}
        if self.table is not None:
            arrays["ngrams"] = self.table[len(self.table) - self.subwords.buckets:]
        if self.w_in is None:
            del arrays["w_in"]
        return arrays

    @classmethod
    def from_npz(cls, z: "np.lib.npyio.NpzFile", path: str) -> "Model":
        """The model in a loaded npz (model.npz or a checkpoint); ``path`` names it in errors.

        Reads the words from word_bytes + word_offsets, or from the fixed-width ``words`` str
        array of files written before them. Raises ``FormatError`` (one line) if a key is
        missing, the words are not valid UTF-8, or the shapes disagree.
        """
        try:
            if "word_bytes" in z.files:
                words = unpack_words(z["word_bytes"], z["word_offsets"])
            else:
                words = [str(w) for w in z["words"].tolist()]
            m = cls(words, z["counts"].astype(np.int64), None, z["w_out"], z["bias"], json_value(str(z["config"])))
        except (KeyError, ValueError, OSError) as exc:
            raise FormatError(f"{path}: not a w2v-nce model ({exc})") from None
        try:
            settings = m.subwords
        except (KeyError, ValueError, TypeError, AttributeError):
            raise FormatError(f"{path}: a subword model without valid minn/maxn/buckets/hash_count in its config") from None
        if settings is None or settings.word_rows:
            try:
                m.w_in = z["w_in"]
            except (KeyError, ValueError, OSError) as exc:
                raise FormatError(f"{path}: not a w2v-nce model ({exc})") from None
        V = len(words)
        w_in_shape = m.w_out.shape if m.w_in is None else m.w_in.shape
        if w_in_shape != m.w_out.shape or m.w_out.ndim != 2 or m.w_out.shape[0] != V or m.bias.shape != (V,) or m.counts.shape != (V,):
            raise FormatError(f"{path}: inconsistent shapes in model")
        if settings is not None:
            m.table = _subword_table(z, m, path)
            m.w_in = m.table[:V] if settings.word_rows else None
        _check_values(m, path)
        return m

    def save(self, path: str) -> None:
        """Write model.npz (``npz_arrays``), atomically."""
        with atomic_output(path, "wb") as fh:
            write_npz(fh, self.npz_arrays())

    @classmethod
    def load(cls, path: str) -> "Model":
        """Load model.npz, or MODEL_DIR/model.npz when given a directory (old files too)."""
        if os.path.isdir(path):
            path = os.path.join(path, MODEL_FILE)
        if not os.path.exists(path):
            raise FormatError(f"{path}: no model here (expected a training output directory or model.npz)")
        try:
            with checked_npz(path) as z:
                return cls.from_npz(z, path)
        except (ValueError, OverflowError, OSError, EOFError, zipfile.BadZipFile) as exc:  # not a zip/npz at all
            raise FormatError(f"{path}: not a w2v-nce model ({npz_problem(exc)})") from None

    def nearest(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """Cosine nearest neighbours of ``word`` among input embeddings (itself excluded);
        ``UnknownWordError`` (a KeyError) when it has no row."""
        return Embeddings(self.words, self.word_vectors()).most_similar([word], topn=topn)


def _check_values(m: Model, path: str) -> None:
    """float32 matrices (a kernel given another type fails in Numba's typing, not in a message),
    every value finite (a NaN row makes every cosine NaN)."""
    matrices = {"input table": m.input_table(), "w_out": m.w_out, "bias": m.bias}
    for name, a in matrices.items():
        if a.dtype != np.float32:
            raise FormatError(f"{path}: {name} is {a.dtype}, not float32; this is not a w2v-nce model (regenerate it)")
    for name, a in matrices.items():
        require_finite(f"{path} ({name})", a)


def _subword_table(z, m: Model, path: str) -> np.ndarray:
    """A subword model's input table: its w_in (none in the compact layout), then its ``ngrams``
    rows float32[buckets, D]."""
    try:
        ngrams = z["ngrams"]
    except KeyError:
        raise FormatError(f"{path}: a subword model without its n-gram rows (ngrams)") from None
    V, D = m.w_out.shape
    if ngrams.shape != (m.subwords.buckets, D):
        raise FormatError(f"{path}: inconsistent shapes in model (ngrams {ngrams.shape}, "
                          f"buckets {m.subwords.buckets}, dim {D})")
    if m.w_in is None:
        return np.ascontiguousarray(ngrams, np.float32)
    table = np.empty((V + ngrams.shape[0], D), np.float32)
    table[:V], table[V:] = m.w_in, ngrams
    return table


def load_embeddings(source: str | os.PathLike, which: str = "in", unicode_errors: str = "strict") -> Embeddings:
    """The vectors to query from ``source``: a training output directory or ``model.npz``
    (``which``: in | out | sum | avg, as ``formats.select_vectors``), or a word2vec text/binary
    file (``word2vec.load_word2vec``, decoding words with ``unicode_errors``; it holds one matrix,
    so only ``which="in"``).

    Raises ``FormatError`` naming the path when there is nothing readable there, ``UsageError``
    for ``which != "in"`` with a word2vec file.
    """
    path = os.fspath(source)
    if os.path.isdir(path) or path.endswith(".npz"):
        model = Model.load(path)
        return Embeddings(model.words, select_vectors(model.word_vectors(), model.w_out, which),
                          model.unseen_vectors() if which == "in" else None)
    if not os.path.exists(path):
        raise FormatError(f"{path}: not found (give a training output directory, model.npz, "
                          "or a word2vec .txt/.bin file)")
    if which != "in":
        raise UsageError(f"{path}: a word2vec file holds one matrix; --vectors {which} needs a model "
                         "(a training output directory or model.npz)")
    words, vectors = load_word2vec(path, unicode_errors=unicode_errors)
    return Embeddings(words, vectors)
