"""Wide categoricals: three free-text-like columns of 2,000+ distinct strings are capped by
scikit-learn's OneHotEncoder(max_categories=...), named in data.json, and a table that would not
fit is refused before encoding with exit 2 naming the widest columns."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline import io, paths
from pipeline.data import encode, preflight
from pipeline.errors import BadInputError
from tests.conftest import REPO
from tests.data_helpers import csv_config, table, write

WIDE = ("note", "comment", "charge_desc")


def wide_table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = table(n=n, seed=seed)
    for i, column in enumerate(WIDE):
        # a few frequent values and a long tail: 2,000+ distinct strings
        tail = [f"{column}-{k:05d}-x{i}" for k in rng.integers(0, 40_000, n)]
        frequent = rng.choice([f"{column}-common-{j}" for j in range(8)], n)
        frame[column] = np.where(rng.random(n) < 0.3, frequent, tail)
    return frame


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_wide_columns_are_capped_and_named(workdir):
    from pipeline.stages import prepare

    frame = wide_table(3000)
    assert all(frame[c].nunique() > 2000 for c in WIDE)
    path = write(frame, workdir / "wide.csv")
    prepare.main(csv_config(path, max_categories=20, pii={"exclude": False, "quasi_identifiers": ["age", "sex"]}))
    data, meta = io.read_json(paths.DATA_METRICS), io.read_json(paths.PREPARED_META)
    capped = {c["column"]: c for c in data["capped_columns"]}
    assert set(capped) == set(WIDE)
    for column in WIDE:
        assert capped[column]["kept"] <= 19 and capped[column]["folded_into_other"] > 1000
        assert f"{column}=<other>" in meta["feature_names"]
        assert len(meta["feature_groups"][column]) == capped[column]["kept"] + 1
    assert len(meta["feature_names"]) < 100
    assert data["memory_estimate"]["features"] == len(meta["feature_names"])


def test_unseen_and_rare_levels_encode_as_other():
    train = pd.DataFrame({"c": ["a"] * 50 + ["b"] * 40 + [f"r{i}" for i in range(30)]})
    encoding = encode.fit(train, [], ["c"], max_categories=3)
    assert encoding.feature_names == ["c=a", "c=b", "c=<other>"]
    X = encode.transform(encoding, pd.DataFrame({"c": ["a", "r7", "never-seen"]}))
    assert X.tolist() == [[1, 0, 0], [0, 0, 1], [0, 0, 1]]


def test_preflight_refuses_naming_the_widest_columns():
    groups = {"age": [0], "note": list(range(1, 5001)), "street": list(range(5001, 8001))}
    with pytest.raises(BadInputError, match=r"'note' \(5000 columns\), 'street' \(3000 columns\)") as info:
        preflight.check(100_000, groups, explain_batch=4096, limit_mb=512)
    assert info.value.exit_code == 2 and "data.max_categories" in str(info.value)
    fine = preflight.check(1000, {"age": [0]}, explain_batch=4096, limit_mb=512)
    assert fine["peak_mb"] < 1 and fine["limit_from"] == "data.memory_limit_mb"


def test_uncapped_wide_table_is_refused_by_the_preflight_in_prepare(workdir):
    from pipeline.stages import prepare

    path = write(wide_table(3000), workdir / "wide.csv")
    cfg = csv_config(
        path, max_categories=None, memory_limit_mb=50, pii={"exclude": False, "quasi_identifiers": ["age", "sex"]}
    )
    with pytest.raises(
        BadInputError,
        match=r"encoded table would need about .* MiB.*widest columns are '(note|comment|charge_desc)' \(\d+ columns\)",
    ):
        prepare.main(cfg)
    assert not paths.DATA_METRICS.exists()


PEAK_SCRIPT = """
import json, resource, sys
from pipeline import config
from pipeline.stages import prepare
raw = json.loads(sys.argv[1])
prepare.main(config.from_dict(raw))
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.slow
def test_seven_thousand_rows_with_three_wide_columns_prepare_in_bounded_memory(workdir):
    """Peak RSS of the whole prepare process, measured in a subprocess (not a timing assertion)."""
    path = write(wide_table(7000, seed=3), workdir / "wide.csv")
    raw = {
        "data": {
            "source": "csv",
            "dep": str(path),
            "sensitive": ["sex"],
            "pii": {"exclude": False, "quasi_identifiers": ["age", "sex"]},
            "csv": {"path": str(path), "target": "label"},
        }
    }
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, json.dumps(raw)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    peak_mib = json.loads(done.stdout.strip().splitlines()[-1])["peak_kib"] / 1024
    data = io.read_json(workdir / paths.DATA_METRICS)
    assert {c["column"] for c in data["capped_columns"]} == set(WIDE)
    assert peak_mib < 1024, f"prepare peaked at {peak_mib:.0f} MiB"
