"""Stage ``fairness``: group metrics and disparities of the test decisions."""

from __future__ import annotations

import pandas as pd

from pipeline import io, paths
from pipeline.audit import fairness
from pipeline.config import Config


def main(cfg: Config) -> None:
    meta = io.read_json(paths.PREPARED_META)
    predictions = pd.read_csv(paths.PREDICTIONS)
    groups = pd.read_csv(paths.split_groups("test"), dtype=str, keep_default_na=False)
    result = fairness.audit(
        predictions["y_true"].to_numpy(),
        predictions["y_pred"].to_numpy(),
        meta["favourable_index"],
        groups,
        meta["sensitive"],
    )
    with io.atomic_path(paths.GROUP_RATES) as tmp:
        fairness.selection_rate_rows(result).to_csv(tmp, index=False, float_format="%.6g")
    io.write_json(paths.FAIRNESS_METRICS, {"favourable_class": meta["favourable"], "features": result})
    for name, block in result.items():
        print(f"fairness: {name}: DP difference {block['demographic_parity_difference']:.3f}")
