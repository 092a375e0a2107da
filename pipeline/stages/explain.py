"""Stage ``explain``: which original columns drive the favourable decision, for whom, and via what.

Writes ``reports/metrics/explain.json``: ``target_class``; one block per method
(``integrated_gradients``, ``deeplift``, ``feature_ablation``) with ``importance`` (mean
|attribution| per original column), ``interval`` (bootstrap) and ``share``; IG's convergence
summary; ``agreement`` between methods; ``by_group``; ``proxies`` (association, attribution share,
flip test); ``local`` (top columns of the most confident errors per group); ``seconds``.
"""

from __future__ import annotations

import time
import warnings

from pipeline import contracts, io, manifest, paths, splits
from pipeline.audit import explain_audit
from pipeline.config import Config


def every_row_on_ray(cfg: Config, meta, sample_result: dict) -> dict:
    """The ray engine: captum on every test row of the shards in Ray actors, summed attributions
    merged on the driver (:mod:`pipeline.scale.explain`); what needs rows together (the proxies'
    flip test, local examples) stays the sample's, and the result says so under ``scale``."""
    from pipeline import shards
    from pipeline.scale import explain as scaled
    from pipeline.scale import scoring
    from pipeline.scale.cluster import connected

    found = shards.verify(manifest.settings_of(cfg, "prepare"))
    model_dir = str(paths.MODEL_DIR.resolve())
    with connected(cfg.engine) as ray:
        files = scoring.split_files(found, "test")
        sums = scaled.shard_sums(ray, files, model_dir, meta, cfg.explain, cfg.seed, cfg.engine.block_rows)
    print(f"explain: engine ray, every test row of the shards ({sums.blocks} blocks)")
    return scaled.every_row(sample_result, sums, list(meta.feature_groups), cfg.explain)


def main(cfg: Config) -> None:
    from pipeline.models.predict import load_trained

    manifest.require(cfg, "prepare", "train", *(["evaluate"] if paths.PREDICTIONS.is_file() else []))
    inputs = explain_audit.Inputs(
        X=splits.arrays("test")["X"],
        meta=contracts.read(paths.PREPARED_META),
        groups=splits.groups("test"),
        predictions=io.read_csv(paths.PREDICTIONS) if paths.PREDICTIONS.is_file() else None,
        data_metrics=contracts.read_optional(paths.DATA_METRICS),
    )
    with warnings.catch_warnings():
        # captum's notices that it set requires_grad on the inputs and hooks on the activations
        # (DeepLift) describe its own mechanics; the user can do nothing about them
        warnings.filterwarnings("ignore", category=UserWarning, module=r"captum(\.|$)")
        result = explain_audit.audit(
            load_trained(), inputs, cfg.explain, threshold=cfg.evaluate.threshold, seed=cfg.seed
        )
    seconds = result.pop("seconds")  # wall-clock time varies run to run: kept out of the metrics file
    cost = {"seconds": seconds, "n_rows": result["n_rows"]}
    if cfg.engine.kind == "ray":
        start = time.perf_counter()
        result = every_row_on_ray(cfg, inputs.meta, result)
        cost["every_row"] = {"seconds": time.perf_counter() - start, "n_rows": result["n_rows"]}
    contracts.write(paths.EXPLAIN_METRICS, result)
    io.write_json(paths.EXPLAIN_COST, cost)
    ig = result.get("integrated_gradients", {})
    print(
        f"explain: {len(seconds)} methods in {sum(seconds.values()):.1f}s; "
        f"IG max |delta| {ig.get('convergence_delta_max_abs', float('nan')):.4f} (tol {cfg.explain.delta_tol})"
    )
