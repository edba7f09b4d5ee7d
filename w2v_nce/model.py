"""The trained artifact: vocabulary + matrices, stored as plain npz (never pickle)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .errors import FormatError
from .formats import atomic_output

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
        except (KeyError, ValueError, OSError) as exc:
            raise FormatError(f"{path}: not a w2v-nce model ({exc})") from None
        if m.w_in.shape != m.w_out.shape or m.w_in.shape[0] != len(words) or m.bias.shape != (len(words),):
            raise FormatError(f"{path}: inconsistent shapes in model")
        return m

    def normalized(self, which: str = "in") -> np.ndarray:
        vec = self.w_in if which == "in" else self.w_out
        norms = np.linalg.norm(vec, axis=1, keepdims=True)
        return vec / np.where(norms > 0, norms, 1)

    def nearest(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """Cosine nearest neighbours of ``word`` among input embeddings (itself excluded)."""
        index = {w: i for i, w in enumerate(self.words)}
        if word not in index:
            raise KeyError(word)
        unit = self.normalized()
        sims = unit @ unit[index[word]]
        sims[index[word]] = -np.inf
        best = np.argsort(-sims)[:topn]
        return [(self.words[i], float(sims[i])) for i in best]
