"""The ``prepare`` stage on a synthetic Adult-like CSV, for when ``data.source: csv`` is missing.

It parses the CSV the way ``pipeline.data.adult`` parses the bundled files, builds the same
:class:`RawTable` (without an official split, as a user's table would have), then calls the
pipeline's own ``prepare()``, ``stages.prepare.write()`` and ``split_counts()``: the encoding,
splitting and writing measured are the pipeline's, only the loader is this file's.

    cd <workdir> && PYTHONPATH=<repo> python <repo>/benchmarks/synth_prepare.py FILE.csv
"""

from __future__ import annotations

import sys

import pandas as pd

from pipeline import config, io
from pipeline.data import adult
from pipeline.data.prepare import prepare
from pipeline.data.table import RawTable
from pipeline.stages import prepare as prepare_stage


def load_csv(path: str) -> RawTable:
    categorical = [c for c in adult.COLUMNS if c not in adult.NUMERIC and c != adult.TARGET]
    frame = pd.read_csv(path, dtype={c: "string" for c in categorical + [adult.TARGET]}, keep_default_na=False)
    for column in categorical:
        frame[column] = frame[column].astype(str)
    for column in adult.NUMERIC:
        frame[column] = frame[column].astype("float64")
    return RawTable(
        features=frame[adult.NUMERIC + categorical],
        target=frame[adult.TARGET].astype(str),
        classes=list(adult.CLASSES),
        favourable=adult.FAVOURABLE,
        numeric=list(adult.NUMERIC),
        categorical=categorical,
        official_split=None,
        provenance={path.rsplit("/", 1)[-1]: io.sha256_file(path)},
        notes=["synthetic rows resampled from Adult (benchmarks/synth.py)"],
    )


def main(path: str) -> int:
    cfg = config.load("params.yaml")
    prepared = prepare(load_csv(path), cfg.data, seed=cfg.seed)
    prepare_stage.write(prepared, cfg, prepare_stage.split_counts(prepared))
    print(f"prepare (synthetic): {prepared.meta['rows']} rows, {len(prepared.meta['feature_names'])} features")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
