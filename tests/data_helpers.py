"""Small seeded CSV tables for the data tests (real files on disk, read by the real loader)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import config

FIRST = ["Anna", "Ben", "Carla", "David", "Eva", "Felix", "Greta", "Hans", "Ida", "Jonas", "Karin", "Lars"]
LAST = ["Schmidt", "Miller", "Garcia", "Okafor", "Nguyen", "Rossi", "Kowalski", "Larsen", "Meyer"]


def table(n: int = 120, seed: int = 0, n_classes: int = 2) -> pd.DataFrame:
    """A credit-like table whose label depends on income and age, with two sensitive columns."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, n)
    income = rng.normal(40_000, 12_000, n).round(2)
    score = (income - 40_000) / 12_000 + (age - 45) / 30 + rng.normal(0, 0.5, n)
    if n_classes == 2:
        label = np.where(score > 0, "approved", "denied")
    else:
        label = pd.qcut(score, n_classes, labels=False).astype(str)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "sex": rng.choice(["female", "male"], n),
            "region": rng.choice(["north", "south", "east", "NA"], n),
            "occupation": rng.choice(["clerk", "nurse", "engineer", "driver"], n),
            "label": label,
        }
    )


def write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index=False, **kwargs)
    return path


def csv_config(path: Path, **data):
    """A config for ``path`` with small splits; ``data`` overrides data/csv keys."""
    csv = {"path": str(path), "target": "label", **data.pop("csv", {})}
    raw = {
        "data": {"source": "csv", "dep": str(path), "sensitive": ["sex"], "csv": csv, **data},
        "train": {"epochs": 1, "batch_size": 64},
        "audit": {"n_boot": 20},
        "explain": {"n_steps": 8, "batch_size": 256},
    }
    return config.from_dict(raw)


def load(path: Path, **data):
    from pipeline.data.sources import load_source

    cfg = csv_config(path, **data)
    return load_source(cfg.data)


def rows_with_cells(spec: dict[str, tuple[int, int, int, int]]):
    """(truth, decision, groups) rows with exact confusion counts per group: (TP, FP, FN, TN)."""
    import numpy as np
    import pandas as pd

    y, p, g = [], [], []
    for group, (tp, fp, fn, tn) in spec.items():
        for truth, pred, n in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn)):
            y += [truth] * n
            p += [pred] * n
            g += [group] * n
    return np.array(y), np.array(p), pd.DataFrame({"g": g})
