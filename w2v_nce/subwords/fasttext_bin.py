"""A subword model as a fastText 0.9.2 ``.bin``, so fastText's own tools and gensim's
``load_facebook_model`` read our vectors (for vocabulary words and for unseen ones) unchanged.

Our subword table already has fastText's input-matrix layout (row w < V: word w, row V + b:
n-gram bucket b) and our n-gram buckets are fastText's, so the file is the table written as it
is. The format is fastText's ``FastText::saveModel``, little-endian, packed (no padding):

1. signature: magic int32 793712314, version int32 12;
2. ``Args::save``: int32 dim, ws, epoch, minCount, neg, wordNgrams (1), loss (2 = ns), model
   (1 = cbow, 2 = sg), bucket, minn, maxn, lrUpdateRate (100); float64 t;
3. ``Dictionary::save``: int32 size, nwords (= size), nlabels (0); int64 ntokens (the sum of
   the counts), pruneidx_size (-1: not pruned; a loader of an unquantized model rejects any
   other value); then per word its UTF-8 bytes, a NUL, int64 count, int8 type (0 = word);
4. bool quant_input (0), ``DenseMatrix::save`` of the input table: int64 rows (V + bucket),
   int64 cols (dim), float32 row-major data;
5. bool qout (0), the output matrix the same way (V rows).

Caveats. nce/sampled_softmax train a bias per output class; fastText's format has no place for
it, so it is dropped (the loss is recorded as ns). No word vector uses the output side, so every
word vector reads back the same. fastText splits text at ASCII whitespace and NUL and ends a
stored word at its NUL, so a word holding one of those cannot be written (``FormatError``). A
vocabulary word spelled ``</s>`` (fastText's end-of-line token) gets no n-grams in fastText: its
vector there is its own row alone, where ours (and gensim's) is the mean with its n-grams.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import numpy as np

from ..errors import FormatError
from ..io import atomic_output
from .table import SubwordSettings

MAGIC = 793712314  # FASTTEXT_FILEFORMAT_MAGIC_INT32
VERSION = 12  # FASTTEXT_VERSION of 0.9.2
LOSS_NS = 2  # loss_name: hs = 1, ns, softmax, ova
MODEL_CBOW, MODEL_SG = 1, 2  # model_name: cbow = 1, sg, sup
WORD_NGRAMS = 1
LR_UPDATE_RATE = 100
NOT_PRUNED = -1
ENTRY_WORD = 0  # entry_type: word = 0, label = 1
BLOCK_BYTES = 16 << 20  # matrix rows (and dictionary entries) written per piece

_SIGNATURE = struct.Struct("<ii")
_ARGS = struct.Struct("<12id")
_DICTIONARY = struct.Struct("<iiiqq")
_ENTRY_TAIL = struct.Struct("<xqb")  # the word's terminating NUL, its count, its type
_MATRIX = struct.Struct("<?qq")  # the quantized flag before the matrix, rows, cols
_UNSTORABLE = re.compile("[ \t\n\r\v\f\0]")  # fastText's Dictionary::readWord separators
_INT32_MAX = 2**31 - 1


def export_fasttext(path: str, model, force: bool) -> None:
    """``w2v-nce export --format fasttext``: a subword model (``artifact.model.Model``) as a
    fastText .bin; ``UsageError`` for a word-only model, ``OutputError`` for an existing file
    without ``force``."""
    from ..config import from_saved
    from ..errors import UsageError
    from ..io import check_output_file

    if model.table is None:
        raise UsageError(f"{path}: --format fasttext needs a model trained with --subwords")
    if not model.subwords.word_rows:
        raise UsageError(f"{path}: --format fasttext needs fastText's layout; a --hash-count model has no word rows "
                         "(export its vectors with --format text or binary, and --words for words outside the vocabulary)")
    check_output_file(path, force)
    cfg = from_saved(model.config)
    write_fasttext_bin(path, model.words, model.counts, model.table, model.w_out, model.subwords,
                       skipgram=cfg.arch == "skipgram", window=cfg.window, epochs=cfg.epochs, min_count=cfg.min_count,
                       num_sampled=cfg.num_sampled, sample=cfg.sample)


def fasttext_bin_bytes(V: int, D: int, buckets: int, word_bytes: int) -> int:
    """Size in bytes of the .bin of ``V`` words (``word_bytes``: their UTF-8 lengths summed),
    ``D`` dimensions and ``buckets`` n-gram rows: header, dictionary and both matrices."""
    header = _SIGNATURE.size + _ARGS.size + _DICTIONARY.size
    dictionary = word_bytes + V * _ENTRY_TAIL.size
    matrices = 2 * _MATRIX.size + 4 * D * ((V + buckets) + V)
    return header + dictionary + matrices


def _shown(word: str) -> str:
    """A word for a one-line message: its repr, cut to 40 characters."""
    return repr(word[:40]) + ("..." if len(word) > 40 else "")


def _encoded_words(path: str, words: Sequence[str]) -> list[bytes]:
    """The words as UTF-8, or a ``FormatError`` naming the first that fastText cannot store."""
    out = []
    for word in words:
        if _UNSTORABLE.search(word):
            raise FormatError(f"{path}: the word {_shown(word)} holds whitespace or NUL, which fastText's "
                              f"format cannot store; export this model in another format")
        try:
            out.append(word.encode("utf-8"))
        except UnicodeEncodeError:
            raise FormatError(f"{path}: the word {_shown(word)} is not valid Unicode (a lone surrogate); "
                              f"export this model in another format") from None
    return out


def _check_shapes(V: int, counts, table, w_out, settings: SubwordSettings) -> None:
    if table.ndim != 2 or table.shape[0] != V + settings.buckets:
        raise ValueError(f"input table has shape {table.shape}, expected ({V} + {settings.buckets}, D)")
    if w_out.shape != (V, table.shape[1]) or len(counts) != V:
        raise ValueError(f"output matrix {w_out.shape} / counts ({len(counts)}) do not match {V} words, "
                         f"{table.shape[1]} dimensions")
    if max(V, table.shape[1], settings.buckets) > _INT32_MAX:
        raise ValueError("fastText stores the vocabulary size, dimension and buckets as int32: too large")


def _write_dictionary(fh, encoded: list[bytes], counts) -> None:
    V = len(encoded)
    fh.write(_DICTIONARY.pack(V, V, 0, int(np.sum(counts, dtype=np.int64)), NOT_PRUNED))
    buf = bytearray()
    for word, count in zip(encoded, np.asarray(counts, dtype=np.int64).tolist()):
        buf += word
        buf += _ENTRY_TAIL.pack(count, ENTRY_WORD)
        if len(buf) >= BLOCK_BYTES:
            fh.write(buf)
            buf.clear()
    fh.write(buf)


def _write_matrix(fh, matrix) -> None:
    """The quantized flag (0) and a DenseMatrix, in pieces of ``BLOCK_BYTES`` of rows."""
    rows, cols = matrix.shape
    fh.write(_MATRIX.pack(False, rows, cols))
    step = max(1, BLOCK_BYTES // max(1, 4 * cols))
    for a in range(0, rows, step):
        block = np.ascontiguousarray(matrix[a:a + step], dtype="<f4")
        fh.write(memoryview(block).cast("B"))


def write_fasttext_bin(path: str, words: Sequence[str], counts, table, w_out, settings: SubwordSettings, *,
                       skipgram: bool, window: int, epochs: int, min_count: int, num_sampled: int,
                       sample: float) -> None:
    """Write the subword model (``table`` float32[V + buckets, D], ``w_out`` float32[V, D],
    ``words``, ``counts`` int64[V]) to ``path`` as a fastText 0.9.2 .bin, atomically.

    ``FormatError`` (nothing written) if a word holds whitespace or NUL; ``ValueError`` if the
    shapes disagree. The training settings fill fastText's Args (it reads them, never needs them
    to give vectors); an nce/sampled_softmax model is recorded as ns with ``num_sampled`` negatives.
    """
    V = len(words)
    _check_shapes(V, counts, table, w_out, settings)
    encoded = _encoded_words(path, words)
    args = (table.shape[1], window, epochs, min_count, num_sampled, WORD_NGRAMS, LOSS_NS,
            MODEL_SG if skipgram else MODEL_CBOW, settings.buckets, settings.minn, settings.maxn,
            LR_UPDATE_RATE, float(sample))
    with atomic_output(path, "wb") as fh:
        fh.write(_SIGNATURE.pack(MAGIC, VERSION))
        fh.write(_ARGS.pack(*args))
        _write_dictionary(fh, encoded, counts)
        _write_matrix(fh, table)
        _write_matrix(fh, w_out)
