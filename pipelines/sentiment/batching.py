"""Length bucketing: group texts of similar token length so that dynamic padding wastes little."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def length_buckets(
    lengths: Sequence[int], *, batch_size: int, rng: np.random.Generator | None = None, window: int = 50
) -> list[np.ndarray]:
    """Split row indices into batches of similar length.

    Without ``rng`` rows are sorted by length (inference: least padding). With ``rng`` rows are
    shuffled, then sorted by length inside windows of ``window`` batches, and the batch order is
    shuffled (training: random but still cheap to pad).

    Parameters
    ----------
    lengths:
        Token length of each row.
    batch_size:
        Rows per batch (the last batch may be smaller).
    rng:
        Random generator for training order; ``None`` for deterministic inference order.
    window:
        Batches per sorting window when shuffling.

    Returns
    -------
    list[numpy.ndarray]
        Row indices of each batch; together they cover every row once.

    Examples
    --------
    >>> [b.tolist() for b in length_buckets([5, 1, 3, 2], batch_size=2)]
    [[1, 3], [2, 0]]
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    lens = np.asarray(lengths)
    if rng is None:
        order = np.argsort(lens, kind="stable")
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    order = rng.permutation(len(lens))
    span = batch_size * window
    batches: list[np.ndarray] = []
    for start in range(0, len(order), span):
        chunk = order[start:start + span]
        chunk = chunk[np.argsort(lens[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]
