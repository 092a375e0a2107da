"""Stage ``mitigate``: fairlearn candidates of the network, each audited like the original.

What is mitigated follows ``audit.policy`` by default (:mod:`pipeline.mitigation.targets`):
the fairlearn constraint of each gating criterion, on the policy's attributes jointly. The
threshold optimizer gives one candidate per constraint; the reductions one under all of them at
once (``mitigation.combine``). When none passes, ``obstacles`` in ``mitigation.json`` names the
closest candidate, each check it does not pass, and the checks no model could pass on this test
split (:func:`pipeline.mitigation.candidates.at_equality`).

Reads the trained network and the prepared splits; writes each deployable candidate to
``models/candidates/<name>/`` (weights and rule, see :mod:`pipeline.models.postprocessed`), its
test decisions to ``outputs/mitigation_decisions_test.csv``, the audit of every candidate to
``reports/metrics/mitigation.json`` and the measured cost to ``reports/compute/``. The ``log``
stage registers the candidates and gives the ``audited`` alias to the best passing one.
"""

from __future__ import annotations

import time

import pandas as pd

from pipeline import contracts, io, manifest, paths
from pipeline.config import Config
from pipeline.mitigation import build

#: What the log stage reads as one set (listed in models/mitigate.manifest.json).
OUTPUTS = (paths.CANDIDATES_DIR, paths.CANDIDATE_DECISIONS, paths.MITIGATION_METRICS)


def main(cfg: Config) -> None:
    from pipeline.mitigation.estimator import FitBudget

    started = time.perf_counter()
    m, meta = cfg.mitigation, contracts.read(paths.PREPARED_META)
    fav, sensitive = meta.favourable_index, meta.sensitive
    upstream = manifest.require(cfg, "prepare", "train")
    splits = {s: build.read_split(s, fav) for s in paths.SPLITS}
    planned = build.plan(cfg, meta, float(splits["train"]["y01"].mean()))
    budget = FitBudget(m.max_fits)
    built, errors = build.build_candidates(cfg, meta, splits, planned, budget) if m.enabled else ([], {})
    built_s = time.perf_counter() - started
    data = contracts.read_optional(paths.DATA_METRICS)
    rows, decided = build.audit_all(cfg, built, splits, sensitive, planned, data)
    manifest.begin("mitigate", OUTPUTS)
    for name, folder in build.save_candidates(built).items():
        rows[name]["folder"] = folder
    io.write_csv(paths.CANDIDATE_DECISIONS, pd.DataFrame({paths.candidate_slug(k): v for k, v in decided.items()}))
    denominators = build.denominators(splits["test"], sensitive)
    result = build.result(cfg, planned, rows, errors, budget.used, denominators)
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
