"""Stage ``mitigate``: fairlearn candidates of the network, each audited like the original.

What is mitigated follows ``audit.policy`` by default (:mod:`pipeline.mitigation.targets`):
the fairlearn constraint of each gating criterion, on the policy's attributes jointly. The
threshold optimizer gives one candidate per constraint; the reductions one under all of them at
once (``mitigation.combine``). When none passes, ``obstacles`` in ``mitigation.json`` names the
closest candidate, each check it does not pass, and the checks no model could pass on this test
split (:func:`pipeline.mitigation.candidates.at_equality`).

With ``engine.kind: ray`` the candidates are still built on the prepared split files (the
hash-stratified sample: fairlearn needs its rows in memory), and each is audited on every test row of
the shards instead (:func:`every_row_on_ray`); ``audited_on`` in ``mitigation.json`` says so.

Reads the trained network and the prepared splits; writes each deployable candidate to
``models/candidates/<name>/`` (weights and rule, see :mod:`pipeline.models.postprocessed`), its
test decisions to ``outputs/mitigation_decisions_test.csv``, the audit of every candidate to
``reports/metrics/mitigation.json`` and the measured cost to ``reports/compute/``. The ``log``
stage registers the candidates and gives the ``audited`` alias to the best passing one.
"""

from __future__ import annotations

import shutil
import time

import pandas as pd

from pipeline import contracts, io, manifest, paths
from pipeline.config import Config
from pipeline.mitigation import build

#: What the log stage reads as one set (listed in models/mitigate.manifest.json).
OUTPUTS = (paths.CANDIDATES_DIR, paths.CANDIDATE_DECISIONS, paths.MITIGATION_METRICS)


def ray_preflight(cfg: Config) -> dict:
    """The ray engine's checks before any candidate is built: an install Ray runs in, and a whole,
    current set of shards (exit 2 naming what to do otherwise). Returns the shard manifest."""
    from pipeline import shards
    from pipeline.scale.cluster import check_packages

    check_packages()
    return shards.verify(manifest.settings_of(cfg, "prepare"))


def every_row_on_ray(cfg: Config, meta, built: list, splits: dict, staging, found: dict) -> tuple[dict, dict]:
    """The ray engine: each built candidate, staged (not yet published), audited on every test row
    of the shards (``found``: their verified manifest): loaded once in a Ray actor, count tables per
    block merged on the driver (:mod:`pipeline.scale.mitigate`). Returns the tables by candidate
    name and what ``mitigation.json`` says about the rows (``audited_on``)."""
    from pipeline.audit.fairness import settings_from_config, table_spec
    from pipeline.scale import mitigate as scaled
    from pipeline.scale.cluster import connected

    folders = {c.name: staging / paths.candidate_slug(c.name) for c in built}
    spec = table_spec(settings_from_config(cfg))
    with connected(cfg.engine) as ray:
        tables = scaled.candidate_tables(
            ray, found, folders, list(meta.sensitive), spec, meta.favourable_index, cfg.engine.block_rows
        )
    first = next(iter(tables.values()))
    audited_on = {
        "engine": "ray",
        "test_rows": first.rows,
        "blocks": first.blocks,
        "built_on": {split: len(splits[split]["y01"]) for split in ("train", "val")},
        "sample_test_rows": len(splits["test"]["y01"]),
    }
    print(f"mitigate: engine ray, {len(tables)} candidate(s) audited on every test row of the shards ({first.rows})")
    return tables, audited_on


def main(cfg: Config) -> None:
    from pipeline.mitigation.estimator import FitBudget

    started = time.perf_counter()
    m, meta = cfg.mitigation, contracts.read(paths.PREPARED_META)
    fav, sensitive = meta.favourable_index, meta.sensitive
    upstream = manifest.require(cfg, "prepare", "train")
    found = ray_preflight(cfg) if cfg.engine.kind == "ray" else None
    splits = {s: build.read_split(s, fav) for s in paths.SPLITS}
    planned = build.plan(cfg, meta, float(splits["train"]["y01"].mean()))
    budget = FitBudget(m.max_fits)
    built, errors = build.build_candidates(cfg, meta, splits, planned, budget) if m.enabled else ([], {})
    built_s = time.perf_counter() - started
    data = contracts.read_optional(paths.DATA_METRICS)
    tables = audited_on = staging = None
    if found is not None and built:
        staging = build.stage_candidates(built)  # the actors load them; published only once all is audited
        try:
            tables, audited_on = every_row_on_ray(cfg, meta, built, splits, staging, found)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    rows, decided = build.audit_all(cfg, built, splits, sensitive, planned, data, tables)
    manifest.begin("mitigate", OUTPUTS)
    folders = build.save_candidates(built) if staging is None else build.publish_candidates(built, staging)
    for name, folder in folders.items():
        rows[name]["folder"] = folder
    io.write_csv(paths.CANDIDATE_DECISIONS, pd.DataFrame({paths.candidate_slug(k): v for k, v in decided.items()}))
    if tables:  # model-independent: any candidate's tables hold every test row's truth per group
        denominators = build.denominators_from_tables(next(iter(tables.values())), sensitive)
    else:
        denominators = build.denominators(splits["test"], sensitive)
    result = build.result(cfg, planned, rows, errors, budget.used, denominators, audited_on)
    contracts.write(paths.MITIGATION_METRICS, result)
    manifest.finish("mitigate", OUTPUTS, cfg, upstream=upstream)
    io.write_json(
        paths.MITIGATION_COST,
        {
            "stage_wall_s": time.perf_counter() - started,
            "build_wall_s": built_s,
            "fits": budget.used,
            "fits_reused": budget.reused,
            "fit_wall_s": budget.seconds,
        },
    )
    best = result["best_passing"]
    print(
        f"mitigate: {len(rows)} candidate(s) audited, {budget.used} network fit(s); best passing: {best or 'none'}"
        + (f"; not built: {', '.join(errors)}" if errors else "")
    )
