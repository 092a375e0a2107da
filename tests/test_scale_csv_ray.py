"""``prepare`` with ``engine: ray`` on a user's CSV read block-wise by Ray tasks: the same shards as when the
driver reads the file whole with the local loader, in 1 block and in 4 (leading-zero codes, a column
numeric in early blocks and text later, missing numbers and tokens, tiny groups). Needs the `scale` extra."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from pipeline import config, manifest, paths, shards  # noqa: E402
from pipeline.config import EngineSettings  # noqa: E402
from tests.conftest import make_project  # noqa: E402
from tests.test_scale_csv_blocks import ROWS, adversarial, write  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.scale]


@pytest.fixture(scope="module")
def cluster():
    from pipeline.scale.cluster import connected

    with connected(EngineSettings(kind="ray", num_cpus=2)) as connected_ray:
        yield connected_ray


def run_prepare(root, block_rows: int, whole: bool, capsys) -> tuple[dict, dict, str]:
    from pipeline.stages import prepare

    data = {
        "source": "csv",
        "sensitive": ["sex", "race"],
        "max_rows": None,
        "dep": "data/people.csv",
        "csv": {
            "path": "data/people.csv",
            "target": "label",
            "score": "score",
            "score_direction": "higher_is_favourable",
        },
    }
    make_project(root, {"data": data, "engine": {"kind": "ray", "block_rows": block_rows, "num_cpus": 2}})
    write(adversarial(), root / "data" / "people.csv")
    mp = pytest.MonkeyPatch()
    try:
        mp.chdir(root)
        if whole:  # the driver reads the file with the local loader (the path bundled sources take)
            mp.setattr(prepare, "blockwise_csv", lambda settings: "compared in a test")
        cfg = config.load(root / "params.yaml")
        prepare.main(cfg)
        found = shards.verify(manifest.settings_of(cfg, "prepare"))
        frames = {
            s: pd.concat([pd.read_parquet(root / f) for f in shards.split_files(found, s)], ignore_index=True)
            for s in paths.SPLITS
        }
    finally:
        mp.undo()
    return found, frames, capsys.readouterr().out


def test_blockwise_csv_shards_equal_the_whole_file_ones(cluster, tmp_path, capsys):
    whole, whole_frames, said = run_prepare(tmp_path / "whole", 1_000, True, capsys)
    assert "read whole on the driver" in said
    for block_rows, parts in ((10_000, 1), (1_000, 4)):
        found, frames, said = run_prepare(tmp_path / f"b{block_rows}", block_rows, False, capsys)
        assert f"{ROWS} rows read block-wise (byte ranges" in said
        assert found["feature_names"] == whole["feature_names"] and found["rows"] == whole["rows"]
        assert found["text_columns"] == whole["text_columns"] == ["group:sex", "group:race", "extra:score"]
        assert len({name.rsplit("/", 1)[1] for name in found["files"]}) == parts
        for split in paths.SPLITS:
            a = frames[split].sort_values("row_id", ignore_index=True)
            b = whole_frames[split].sort_values("row_id", ignore_index=True)
            for column in ["row_id", "y", *found["text_columns"]]:
                assert a[column].tolist() == b[column].tolist(), (block_rows, split, column)
            np.testing.assert_allclose(a[found["feature_columns"]], b[whole["feature_columns"]], rtol=1e-6, atol=1e-6)
    groups = set(whole_frames["train"]["group:race"]) | set(whole_frames["test"]["group:race"])
    assert {"01", "1", "1.0"} <= groups  # codes kept apart, not read as one number
    assert any(name.startswith("code=") for name in whole["feature_names"])  # text in a late block: categorical
