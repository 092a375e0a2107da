"""Stage ``prepare``: load, validate, split and encode the data; write the data summary."""

from __future__ import annotations

import pandas as pd

from pipeline import io, paths
from pipeline.config import Config
from pipeline.data.prepare import Prepared, prepare
from pipeline.data.sources import load_source


def summarise(prepared: Prepared) -> dict:
    """Rows, class balance and group sizes per split (the data audit builds on this)."""
    summary: dict = {"rows": prepared.meta["rows"], "classes": prepared.meta["classes"], "splits": {}}
    for name, part in prepared.splits.items():
        counts = pd.Series(part.y).value_counts().sort_index()
        summary["splits"][name] = {
            "class_counts": {prepared.meta["classes"][i]: int(n) for i, n in counts.items()},
            "groups": {
                col: {str(k): int(v) for k, v in part.groups[col].value_counts().sort_index().items()}
                for col in prepared.meta["sensitive"]
            },
        }
    return summary


def write(prepared: Prepared) -> None:
    for name, part in prepared.splits.items():
        io.write_npz(paths.split_arrays(name), X=part.X, y=part.y)
        with io.atomic_path(paths.split_groups(name)) as tmp:
            part.groups.to_csv(tmp, index=False)
    io.write_json(paths.PREPARED_META, prepared.meta)


def main(cfg: Config) -> None:
    table = load_source(cfg.data)
    prepared = prepare(table, cfg.data, seed=cfg.seed)
    write(prepared)
    io.write_json(paths.DATA_METRICS, summarise(prepared))
    print(f"prepare: {prepared.meta['rows']} rows, {len(prepared.meta['feature_names'])} encoded features")
