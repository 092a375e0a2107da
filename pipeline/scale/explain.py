"""Explanations of every test row on Ray (``engine.kind: ray``): captum per block in the block-pass
actors (:func:`pipeline.scale.scoring.per_block`), summed attributions per column and per group
merged on the driver, then the local engine's own table builders
(:func:`pipeline.audit.explain.importance_from`, :func:`pipeline.audit.explain_groups.by_group_from`).

Each block sends back, per method, the sum of |attribution| per original column; for the first
method, the same per group of each sensitive attribute; and IG's convergence counts. Means are
those sums over the merged row counts, so they equal the local engine's on the same rows (to the
float sums' rounding, and to the float32 attributions' own last bits, which captum's kernels can
move with the number of rows per call).

Intervals cannot be the local engine's: its bootstrap draws resamples from one generator in row
order. Here every replicate weights each row by a Poisson(1) weight keyed by the row's ``row_id``
(:mod:`pipeline.stats.poisson`, as the fairness audit's AUC intervals), so a replicate's weighted
sums merge over blocks and the interval is the same for any partitioning. ``explain.json`` says so
under ``scale``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.config import ExplainSettings
from pipeline.errors import BadInputError
from pipeline.scale.scoring import GROUP_PREFIX, feature_columns, text_labels
from pipeline.stats import poisson

#: Replicates weighted at once: the weight matrix is this many rows by the block's rows (float64).
REPLICATES_PER_PRODUCT = 25


@dataclass
class WeightedSums:
    """Row count, sum of |attribution| per column, and per bootstrap replicate the total Poisson
    weight and the weighted sum per column, for one set of rows (all rows, or one group)."""

    rows: int
    total: np.ndarray  # columns
    boot_weight: np.ndarray  # replicates
    boot_total: np.ndarray  # replicates x columns

    @classmethod
    def of(cls, absolute: np.ndarray, weights: list[np.ndarray]) -> WeightedSums:
        """``absolute`` (rows x columns, float64); ``weights``: chunks of replicates x the same rows."""
        if weights:
            boot_weight = np.concatenate([w.sum(axis=1) for w in weights])
            boot_total = np.concatenate([w @ absolute for w in weights])
        else:
            boot_weight, boot_total = np.zeros(0), np.zeros((0, absolute.shape[1]))
        return cls(len(absolute), absolute.sum(axis=0), boot_weight, boot_total)

    def merge(self, other: WeightedSums) -> WeightedSums:
        return WeightedSums(
            self.rows + other.rows,
            self.total + other.total,
            self.boot_weight + other.boot_weight,
            self.boot_total + other.boot_total,
        )

    def mean(self) -> np.ndarray:
        return self.total / self.rows

    def boot_means(self) -> np.ndarray:
        """Replicate means (replicates x columns); a replicate that weighted no row is NaN, left out
        of the percentile interval."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.boot_total / self.boot_weight[:, None]


@dataclass
class AttributionSums:
    """One block's (or the merged blocks') sums: per method over every row; per sensitive
    attribute and group for the first method; IG's convergence counts."""

    blocks: int
    methods: dict[str, WeightedSums]
    groups: dict[str, dict[str, WeightedSums]]
    ig: dict = field(default_factory=dict)

    def merge(self, other: AttributionSums) -> AttributionSums:
        groups = {}
        for attribute in self.groups:
            mine, theirs = self.groups[attribute], other.groups[attribute]
            groups[attribute] = {
                g: mine[g].merge(theirs[g]) if g in mine and g in theirs else mine.get(g) or theirs[g]
                for g in sorted(set(mine) | set(theirs))
            }
        return AttributionSums(
            self.blocks + other.blocks,
            {m: self.methods[m].merge(other.methods[m]) for m in self.methods},
            groups,
            _merged_convergence(self.ig, other.ig),
        )


def _merged_convergence(a: dict, b: dict) -> dict:
    if not a or not b:
        return a or b
    return {
        "rows": a["rows"] + b["rows"],
        "n_steps_initial": a["n_steps_initial"],
        "n_steps_max_used": max(a["n_steps_max_used"], b["n_steps_max_used"]),
        "rows_refined": a["rows_refined"] + b["rows_refined"],
        "delta_tol": a["delta_tol"],
        "delta_max_abs": max(a["delta_max_abs"], b["delta_max_abs"]),
        "delta_sum_abs": a["delta_sum_abs"] + b["delta_sum_abs"],
        "rows_over_tol": a["rows_over_tol"] + b["rows_over_tol"],
    }


class ExplainBlock:
    """The reduce function of the explain pass: a block's :class:`AttributionSums`. Loads the
    trained network from ``model_dir`` on its first block (in the actor, once; one torch thread)."""

    def __init__(self, model_dir: str, meta, settings: ExplainSettings, seed: int):
        self.model_dir, self.settings, self.seed = model_dir, settings, seed
        self.target, self.feature_groups = meta.favourable_index, dict(meta.feature_groups)
        self.sensitive = list(meta.sensitive)
        self.model = None

    def __call__(self, batch: pd.DataFrame) -> AttributionSums:
        from pathlib import Path

        from pipeline.audit import explain

        missing = [c for c in ["row_id", *(GROUP_PREFIX + a for a in self.sensitive)] if c not in batch.columns]
        if missing:
            raise BadInputError(
                f"the test shards lack column(s) {missing} for explain; they have {list(batch.columns)}"
            )
        if self.model is None:
            import torch

            from pipeline.models.predict import load_trained

            torch.set_num_threads(1)
            self.model = load_trained(Path(self.model_dir))
        X = batch[feature_columns(batch.columns)].to_numpy(dtype=np.float32)
        s = self.settings
        weights = replicate_weights(batch["row_id"].to_numpy(dtype=np.int64), self.seed, s.n_boot)
        methods, groups, ig = {}, {}, {}
        for i, method in enumerate(s.methods):
            per_column, summary = explain.attribute(method, self.model, X, self.target, self.feature_groups, s)
            absolute = np.abs(per_column).astype(np.float64)
            methods[method] = WeightedSums.of(absolute, weights)
            if i == 0:
                groups = self._group_sums(batch, absolute, weights)
            if method == "integrated_gradients":
                ig = _block_convergence(summary, len(X))
        return AttributionSums(1, methods, groups, ig)

    def _group_sums(self, batch, absolute, weights) -> dict[str, dict[str, WeightedSums]]:
        out = {}
        for attribute in self.sensitive:
            labels = text_labels(batch[GROUP_PREFIX + attribute]).to_numpy()
            out[attribute] = {
                str(g): WeightedSums.of(absolute[labels == g], [w[:, labels == g] for w in weights])
                for g in sorted(set(labels.tolist()))
            }
        return out


def replicate_weights(row_id: np.ndarray, seed: int, replicates: int) -> list[np.ndarray]:
    """Row-keyed Poisson(1) weights in chunks of :data:`REPLICATES_PER_PRODUCT` replicates (float64)."""
    return [
        poisson.weights(row_id, seed, range(start, min(start + REPLICATES_PER_PRODUCT, replicates))).astype(np.float64)
        for start in range(0, replicates, REPLICATES_PER_PRODUCT)
    ]


def _block_convergence(summary: dict, rows: int) -> dict:
    return {
        "rows": rows,
        "n_steps_initial": summary["n_steps_initial"],
        "n_steps_max_used": summary["n_steps_max_used"],
        "rows_refined": summary["rows_refined"],
        "delta_tol": summary["delta_tol"],
        "delta_max_abs": summary["convergence_delta_max_abs"],
        "delta_sum_abs": summary["convergence_delta_mean_abs"] * rows,
        "rows_over_tol": summary["rows_over_tol"],
    }


def convergence(ig: dict) -> dict:
    """IG's convergence summary over every row, in the keys that
    :func:`pipeline.audit.explain.integrated_gradients` writes."""
    return {
        "n_steps_initial": ig["n_steps_initial"],
        "n_steps_max_used": ig["n_steps_max_used"],
        "rows_refined": ig["rows_refined"],
        "delta_tol": ig["delta_tol"],
        "convergence_delta_max_abs": ig["delta_max_abs"],
        "convergence_delta_mean_abs": ig["delta_sum_abs"] / ig["rows"] if ig["rows"] else 0.0,
        "rows_over_tol": ig["rows_over_tol"],
        "converged": ig["rows_over_tol"] == 0,
    }


def explained(sums: AttributionSums, columns: list[str], settings: ExplainSettings) -> dict:
    """The method blocks, ``agreement`` and ``by_group`` of ``explain.json`` from the merged sums,
    built by the local engine's own functions."""
    from pipeline.audit import explain, explain_groups

    out, importances = {}, {}
    for method, sums_of in sums.methods.items():
        mean = sums_of.mean()
        low, high = _interval(sums_of, settings)
        out[method] = explain.method_block(explain.importance_from(columns, mean, low, high))
        importances[method] = out[method]["importance"]
    if "integrated_gradients" in out:
        summary = convergence(sums.ig)
        out["integrated_gradients"].update(summary, n_steps=summary["n_steps_max_used"])
    out["agreement"] = explain.agreement(importances, settings.top_k)
    by_sensitive = {}
    for attribute, groups in sums.groups.items():
        sizes = {g: s.rows for g, s in groups.items()}
        reference = max(sorted(sizes), key=lambda g: sizes[g])  # the largest group; a tie goes to the first label
        boots = {g: s.boot_means() for g, s in groups.items()} if settings.n_boot else None
        means = {g: s.mean() for g, s in groups.items()}
        by_sensitive[attribute] = explain_groups.by_group_from(
            columns,
            sizes,
            means,
            boots,
            reference,
            k=settings.top_k,
            ci=settings.ci,
            min_group_size=settings.min_group_size,
        )
    out["by_group"] = {"method": settings.methods[0], "by_sensitive": by_sensitive}
    return out


def _interval(sums_of: WeightedSums, settings: ExplainSettings) -> tuple[np.ndarray, np.ndarray]:
    from pipeline.stats import bootstrap

    if not settings.n_boot:
        nan = np.full(len(sums_of.total), np.nan)
        return nan, nan
    return bootstrap.percentile_interval(sums_of.boot_means(), settings.ci)


def shard_sums(ray, files: list[str], model_dir: str, meta, settings: ExplainSettings, seed: int, block_rows: int):
    """:class:`AttributionSums` of every row of ``files``, merged in file order."""
    from pipeline.scale.scoring import per_block
    from pipeline.stats import counts

    reduce = ExplainBlock(model_dir, meta, settings, seed)
    return counts.merge_all(per_block(ray, files, reduce, block_rows=block_rows), "attribution sums")


def every_row(sample_result: dict, sums: AttributionSums, columns: list[str], settings: ExplainSettings) -> dict:
    """The explain stage's result on the sample (``sample_result``) with every figure that sums over
    rows replaced by the every-row one: the method blocks, ``agreement``, ``by_group`` and the
    proxies' attribution shares. The proxies' associations and flip test and the local examples
    stay the sample's; ``scale`` says which is which."""
    from pipeline.audit import proxies

    out = {**sample_result, **explained(sums, columns, settings)}
    importances = {m: out[m]["importance"] for m in settings.methods}
    block = out.get("proxies") or {}
    for entry in block.get("by_sensitive", {}).values():
        entry["attribution_share"] = {
            m: proxies.attribution_share(imp, entry["proxies"]) for m, imp in importances.items()
        }
    rows = sums.methods[settings.methods[0]].rows
    out["n_rows"] = rows
    out["scale"] = {
        "engine": "ray",
        "rows": rows,
        "blocks": sums.blocks,
        "sample_rows": sample_result["n_rows"],
        "every_row": "importance, shares, IG convergence, agreement between methods, importance by group, "
        "proxies' attribution shares",
        "sample": "proxies' associations and flip test, local explanations of errors",
        "intervals": f"Poisson bootstrap ({settings.n_boot} replicates) with weights keyed by row_id "
        "(mergeable over blocks), not the local engine's resampling of rows",
    }
    return out
