"""The trained artifact: vocabulary + matrices, stored as plain npz (never pickle); loading the
vectors of a model or a word2vec file for queries (``load_embeddings``)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass

import numpy as np

from .embeddings import Embeddings
from .errors import FormatError, UsageError
from .formats import atomic_output, load_word2vec, select_vectors

MODEL_FILE = "model.npz"


@dataclass
class Model:
    """words [V] str, counts int64[V], w_in/w_out float32[V, D], bias float32[V], config dict."""

    words: list[str]
    counts: np.ndarray
    w_in: np.ndarray
    w_out: np.ndarray
    bias: np.ndarray
    config: dict

    @property
    def dim(self) -> int:
        return int(self.w_in.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def initial(cls, words: list[str], counts: np.ndarray, dim: int, seed: int, config: dict) -> "Model":
        """word2vec.c's initialisation: w_in uniform in [-0.5/D, 0.5/D), w_out and bias zero."""
        rng = np.random.default_rng(seed)
        V = len(words)
        w_in = rng.random((V, dim), dtype=np.float32)
        w_in -= np.float32(0.5)  # in place: no temporary V x D copies
        w_in /= np.float32(dim)
        return cls(list(words), np.asarray(counts, np.int64), w_in, np.zeros((V, dim), np.float32),
                   np.zeros(V, np.float32), dict(config))

    def save(self, path: str) -> None:
        """model.npz: w_in, w_out, bias, words (str), counts, config (JSON string). Atomic."""
        with atomic_output(path, "wb") as fh:
            np.savez(fh, w_in=self.w_in, w_out=self.w_out, bias=self.bias,
                     words=np.array(self.words, dtype=str), counts=self.counts,
                     config=np.array(json.dumps(self.config)))

    @classmethod
    def load(cls, path: str) -> "Model":
        """Load model.npz, or MODEL_DIR/model.npz when given a directory."""
        if os.path.isdir(path):
            path = os.path.join(path, MODEL_FILE)
        if not os.path.exists(path):
            raise FormatError(f"{path}: no model here (expected a training output directory or model.npz)")
        try:
            with np.load(path, allow_pickle=False) as z:
                words = [str(w) for w in z["words"].tolist()]
                m = cls(words, z["counts"].astype(np.int64), z["w_in"], z["w_out"], z["bias"],
                        json.loads(str(z["config"])))
        except (KeyError, ValueError, OSError, zipfile.BadZipFile) as exc:
            raise FormatError(f"{path}: not a w2v-nce model ({exc})") from None
        if m.w_in.shape != m.w_out.shape or m.w_in.shape[0] != len(words) or m.bias.shape != (len(words),):
            raise FormatError(f"{path}: inconsistent shapes in model")
        return m

    def nearest(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """Cosine nearest neighbours of ``word`` among input embeddings (itself excluded);
        ``UnknownWordError`` (a KeyError) when it has no row."""
        return Embeddings(self.words, self.w_in).most_similar([word], topn=topn)


def load_embeddings(source: str | os.PathLike, which: str = "in") -> Embeddings:
    """The vectors to query from ``source``: a training output directory or ``model.npz``
    (``which``: in | out | sum | avg, as ``formats.select_vectors``), or a word2vec text/binary
    file (``formats.load_word2vec``; it holds one matrix, so only ``which="in"``).

    Raises ``FormatError`` naming the path when there is nothing readable there, ``UsageError``
    for ``which != "in"`` with a word2vec file.
    """
    path = os.fspath(source)
    if os.path.isdir(path) or path.endswith(".npz"):
        model = Model.load(path)
        return Embeddings(model.words, select_vectors(model.w_in, model.w_out, which))
    if not os.path.exists(path):
        raise FormatError(f"{path}: not found (give a training output directory, model.npz, "
                          "or a word2vec .txt/.bin file)")
    if which != "in":
        raise UsageError(f"{path}: a word2vec file holds one matrix; --vectors {which} needs a model "
                         "(a training output directory or model.npz)")
    words, vectors = load_word2vec(path)
    return Embeddings(words, vectors)
