"""The one reader of the prepared splits: ``data/prepared/<split>.npz`` and ``groups_<split>.csv``.

Every stage that reads a split reads it here, so the details that matter are written once:
group labels stay strings exactly as written (``dtype=str``; "NA", "None" or "007" are group
names, not missing values or numbers), and arrays come through :func:`pipeline.io.read_npz`
(no pickles).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline import io, paths

if TYPE_CHECKING:  # pandas is imported by io.read_csv when a stage reads the groups (train does not)
    import pandas as pd


def arrays(split: str) -> dict[str, np.ndarray]:
    """The split's encoded features ``X`` and labels ``y``."""
    return io.read_npz(paths.split_arrays(split))


def groups(split: str) -> pd.DataFrame:
    """The split's sensitive (and other audited) columns, one row per row of ``X``, as strings."""
    return io.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)
