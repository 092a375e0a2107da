"""Gather what the report shows from the stage outputs on disk. Missing outputs stay ``None``,
so their sections say 'not run' instead of vanishing.

Everything here is a function of files: no clock, no random ids. That is why the MLflow run id
cannot appear in the report (the run is created after it, by ``log``); instead the report carries
``pipeline_state``, the hash the ``log`` stage tags its run with. The ``report`` stage computes it
with the rest of the run's origin (:func:`pipeline.provenance.record`) and passes it in, so the
report itself never runs git nor hashes files.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from pipeline import contracts, io, paths


def _json_or_none(path: Path):
    """The whole file as written (the report shows every block), checked against its contract."""
    return contracts.read_dict_optional(path)


def _csv_or_none(path: Path):
    return io.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None


def collect(cfg, provenance: dict | None = None) -> dict:
    """Everything the templates need, as plain data.

    ``provenance`` is :func:`pipeline.provenance.record` (git commit, packages, dvc.lock hashes,
    pipeline_state); without it the manifest says the run's origin was not recorded."""
    return {
        "cfg": cfg.model_dump(mode="json"),
        "meta": _json_or_none(paths.PREPARED_META),
        "data": _json_or_none(paths.DATA_METRICS),
        "train": _json_or_none(paths.TRAIN_METRICS),
        "train_cost": _json_or_none(paths.TRAIN_COST),
        "curves": _csv_or_none(paths.TRAIN_CURVES),
        "evaluate": _json_or_none(paths.EVALUATE_METRICS),
        "roc": _csv_or_none(paths.ROC_CURVE),
        "calibration": _csv_or_none(paths.CALIBRATION_CURVE),
        "group_rates": _csv_or_none(paths.GROUP_RATES),
        "fairness": _json_or_none(paths.FAIRNESS_METRICS),
        "mitigation": _json_or_none(paths.MITIGATION_METRICS),
        "explain": _json_or_none(paths.EXPLAIN_METRICS),
        "privacy": _json_or_none(paths.PRIVACY_METRICS),
        "manifest": {
            "seed": cfg.seed,
            "params_yaml": yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=True),
            "experiment": cfg.tracking.experiment,
            "model_name": cfg.tracking.model_name,
            **(provenance or {}),
        },
    }
