"""The ray engine's pure parts, without Ray (issue 28): the hash split, statistics merged over blocks, the
encoding built from them, the Parquet shards and their manifest, and the guard against the `lightning`
package beside `pytorch_lightning`."""

from __future__ import annotations

import statistics
import sys
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import pandas as pd
import pytest

from pipeline import errors, paths, shards
from pipeline.data import encode, hash_split
from pipeline.scale import cluster as session
from pipeline.stats import blockwise

MASK = (1 << 64) - 1


def splitmix64(z: int) -> int:
    """SplitMix64's finaliser written with Python integers, independently of the numpy version."""
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_hash_uniform_matches_a_hand_computed_case():
    key = splitmix64(42 * 4 + hash_split.SPLIT_SALT)
    for row in (0, 1, 123_456_789, 2**40 + 7):
        expected = (splitmix64(splitmix64(row) ^ key) >> 11) * 2.0**-53
        assert hash_split.uniform(np.array([row]), 42, hash_split.SPLIT_SALT)[0] == expected


def test_hash_split_is_deterministic_and_independent_of_blocks_and_order():
    ids = np.arange(200_003, dtype=np.int64)
    whole = hash_split.assign(ids, 7, val_size=0.1, test_size=0.2)
    assert (hash_split.assign(ids, 7, val_size=0.1, test_size=0.2) == whole).all()
    for n_blocks in (2, 9, 64):
        parts = [hash_split.assign(p, 7, val_size=0.1, test_size=0.2) for p in np.array_split(ids, n_blocks)]
        assert (np.concatenate(parts) == whole).all()
    order = np.random.default_rng(0).permutation(len(ids))
    assert (hash_split.assign(ids[order], 7, val_size=0.1, test_size=0.2) == whole[order]).all()
    assert (hash_split.assign(ids, 8, val_size=0.1, test_size=0.2) != whole).mean() > 0.3  # the seed matters


def test_hash_split_shares_follow_the_settings_within_the_binomial_spread():
    ids = np.arange(200_000, dtype=np.int64)
    labels = hash_split.assign(ids, 3, val_size=0.1, test_size=0.2)
    for name, p in {"test": 0.2, "val": 0.8 * 0.1, "train": 0.8 * 0.9}.items():
        share = (labels == name).mean()
        assert abs(share - p) < 5 * np.sqrt(p * (1 - p) / len(ids)), (name, share)


def test_the_publishers_split_wins_and_val_comes_from_its_training_rows():
    ids = np.arange(100_000, dtype=np.int64)
    official = np.where(ids % 3 == 0, "test", "train")
    labels = hash_split.assign(ids, 3, val_size=0.1, test_size=0.2, official=official)
    assert (labels[official == "test"] == "test").all()
    val_share = (labels[official == "train"] == "val").mean()
    assert abs(val_share - 0.1) < 5 * np.sqrt(0.1 * 0.9 / (official == "train").sum())
    parts = [
        hash_split.assign(i, 3, val_size=0.1, test_size=0.2, official=o)
        for i, o in zip(np.array_split(ids, 7), np.array_split(official, 7))
    ]
    assert (np.concatenate(parts) == labels).all()


def test_sample_is_bounded_and_the_same_rows_for_any_order():
    ids = np.arange(10_000, dtype=np.int64) * 3
    picked = set(ids[hash_split.sample(ids, 5, 100)])
    assert len(picked) == 100
    shuffled = ids[np.random.default_rng(1).permutation(len(ids))]
    assert set(shuffled[hash_split.sample(shuffled, 5, 100)]) == picked
    assert len(hash_split.sample(ids[:50], 5, 100)) == 50  # fewer rows than asked: all of them


def test_the_stratified_sample_by_hand():
    """10 rows, stratum A = rows 0-7, B = rows 8-9, seed 3: the sample hashes are (3 decimals)
    A: .436 .505 .776 .175 .833 .010 .772 .274, B: .872 .975. The 3 smallest overall are rows 5, 3, 7;
    a floor of 1 adds B's smallest, row 8 (A's smallest, row 5, is in already). Worked by hand."""
    ids = np.arange(10)
    strata = np.array(["A"] * 8 + ["B"] * 2)
    np.testing.assert_allclose(
        hash_split.uniform(ids, 3, hash_split.SAMPLE_SALT),
        [0.436, 0.505, 0.776, 0.175, 0.833, 0.010, 0.772, 0.274, 0.872, 0.975],
        atol=5e-4,
    )
    assert hash_split.sample(ids, 3, 3).tolist() == [3, 5, 7]
    assert hash_split.stratified_sample(ids, strata, 3, 3, floor=1).tolist() == [3, 5, 7, 8]
    # a floor of 2 for 2 strata would exceed n = 3: it shrinks to 1 (stratum_floor)
    assert hash_split.stratified_sample(ids, strata, 3, 3, floor=2).tolist() == [3, 5, 7, 8]
    # n = 4: the 4 smallest are rows 5, 3, 7, 0; a floor of 2 adds both of B's rows
    assert hash_split.stratified_sample(ids, strata, 3, 4, floor=2).tolist() == [0, 3, 5, 7, 8, 9]
    assert hash_split.stratified_sample(ids, strata, 3, 20).tolist() == list(range(10))  # more asked than rows


def test_the_stratum_floor_shrinks_so_that_many_strata_stay_within_the_sample():
    assert hash_split.stratum_floor(100_000, 20) == hash_split.STRATUM_FLOOR
    assert hash_split.stratum_floor(100_000, 2_000) == 50
    assert hash_split.stratum_floor(100, 1_000) == 1  # never zero: every stratum keeps a row


def test_the_stratified_sample_is_the_same_for_any_order_and_partition():
    rng = np.random.default_rng(2)
    ids = np.arange(20_000, dtype=np.int64) * 7
    strata = rng.choice(["a", "b", "c", "rare"], size=len(ids), p=[0.6, 0.3, 0.0995, 0.0005])
    picked = set(ids[hash_split.stratified_sample(ids, strata, 9, 200, floor=50)])
    assert {i for i, s in zip(ids, strata) if s == "rare"} <= picked  # 10 rare rows: below the floor, all in
    assert sum(s == "c" for i, s in zip(ids, strata) if i in picked) >= 50
    order = rng.permutation(len(ids))
    assert set(ids[order][hash_split.stratified_sample(ids[order], strata[order], 9, 200, floor=50)]) == picked


def frame(n: int = 5_000, seed: int = 0) -> pd.DataFrame:
    """Adversarial columns: missing numbers, a constant, huge offsets, codes with leading zeros, tiny groups."""
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 12, n)
    age[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "age": age,
            "constant": np.full(n, 3.25),
            "offset": 1e9 + rng.normal(0, 1e-3, n),
            "code": rng.choice(["007", "07", "7", "0070"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "city": rng.choice([f"c{i}" for i in range(12)], n),
            "rare": np.where(rng.random(n) < 0.002, "tiny", "big"),
        }
    )


NUMERIC, CATEGORICAL = ["age", "constant", "offset"], ["code", "city", "rare"]


def cut(data: pd.DataFrame, n_blocks: int) -> list[pd.DataFrame]:
    return [data.iloc[rows] for rows in np.array_split(np.arange(len(data)), n_blocks)]


@pytest.mark.parametrize("n_blocks", [1, 3, 8])
def test_merged_statistics_equal_one_pandas_pass(n_blocks):
    data = frame()
    parts = [blockwise.summarise(p, NUMERIC, CATEGORICAL) for p in cut(data, n_blocks)]
    merged = blockwise.merge_all(parts)
    for i, column in enumerate(NUMERIC):
        assert merged.moments.n[i] == data[column].count()
        assert merged.moments.n.dtype == np.int64
        np.testing.assert_allclose(merged.moments.mean[i], data[column].mean(), rtol=1e-12)
        exact = statistics.pvariance(data[column].dropna().tolist())  # rational arithmetic: no rounding
        # ``offset`` (1e9 + noise of 1e-3) sits at float64's resolution: block means round at 1.2e-7, so the
        # merged variance is good to about 1e-5 there (scikit-learn's near-constant rule gives it scale 1).
        rtol = 1e-5 if column == "offset" else 1e-12
        np.testing.assert_allclose(merged.moments.var[i], exact, rtol=rtol, atol=0)
        np.testing.assert_allclose(data[column].var(ddof=0), exact, rtol=rtol, atol=0)
    for column in CATEGORICAL:
        expected = {str(k): int(v) for k, v in data[column].value_counts().items()}
        assert merged.counts[column] == dict(sorted(expected.items()))


def test_moments_merge_hand_worked():
    a = blockwise.moments(np.array([[1.0], [3.0]]))  # mean 2, m2 2
    b = blockwise.moments(np.array([[5.0], [np.nan]]))  # mean 5, m2 0, one value
    merged = blockwise.merge_moments(a, b)
    assert merged.n.tolist() == [3] and merged.mean.tolist() == [3.0]
    assert merged.m2.tolist() == [8.0]  # (1-3)^2 + (3-3)^2 + (5-3)^2


@pytest.mark.parametrize("max_categories", [None, 3, 4, 50])
def test_encoding_from_statistics_equals_the_local_fit(max_categories):
    data = frame()
    train, later = data.iloc[:4_000], data.iloc[4_000:].copy()
    later.loc[later.index[:5], "city"] = "never-seen"
    local = encode.fit(train, NUMERIC, CATEGORICAL, max_categories)
    stats = blockwise.merge_all(blockwise.summarise(p, NUMERIC, CATEGORICAL) for p in cut(train, 5))
    merged = encode.from_statistics(stats, NUMERIC, CATEGORICAL, max_categories)
    assert merged.feature_names == local.feature_names
    assert merged.feature_groups == local.feature_groups
    assert merged.state["categorical"] == local.state["categorical"]
    assert list(merged.capped) == list(local.capped)
    for column in NUMERIC:
        rtol = 1e-5 if column == "offset" else 1e-12  # at float64's resolution: see the moments test
        for key in ("mean", "scale"):
            np.testing.assert_allclose(
                merged.state["numeric"][column][key], local.state["numeric"][column][key], rtol=rtol
            )
    ours, theirs = encode.transform(merged, later), encode.transform(local, later)
    offset = NUMERIC.index("offset")
    np.testing.assert_allclose(ours[:, offset], theirs[:, offset], rtol=1e-4, atol=1e-4)
    others = np.arange(ours.shape[1]) != offset
    np.testing.assert_allclose(ours[:, others], theirs[:, others], rtol=1e-6, atol=1e-7)
    assert (ours[:, len(NUMERIC) :] == theirs[:, len(NUMERIC) :]).all()  # one-hot columns: identical


def test_cap_ties_keep_the_later_level_like_scikit_learn():
    counts = {"a": 5, "b": 5, "c": 5, "d": 1}
    levels, folded = encode._kept_levels(counts, 3)
    assert levels == ["b", "c", encode.OTHER_LEVEL] and folded == 2
    train = pd.DataFrame({"x": [k for k, n in counts.items() for _ in range(n)]})
    assert encode.fit(train, [], ["x"], 3).state["categorical"]["x"] == levels


def write_set(root, settings=None):
    rng = np.random.default_rng(0)
    files = {}
    for i, split in enumerate(("train", "train", "test")):
        rel = paths.shard_file(split, i)
        row_id = np.arange(i * 10, i * 10 + 10, dtype=np.int64)
        X = rng.normal(size=(10, 3)).astype(np.float32)
        entry = shards.write_shard(root / rel, row_id, row_id % 2, X, {"group:sex": np.array(["F", "M"] * 5)})
        files[rel.as_posix()] = {"split": split, **entry}
    return shards.finish(
        files, feature_names=["a", "b", "c"], text_columns=["group:sex"], settings=settings or {"seed": 1}
    )


def test_shards_round_trip_and_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = write_set(tmp_path)
    found = shards.verify({"seed": 1})
    assert found == written and found["rows"] == {"test": 10, "train": 20}
    frames = [pd.read_parquet(p) for p in shards.split_files(found, "train")]
    assert list(frames[0].columns) == ["row_id", "y", "f0000", "f0001", "f0002", "group:sex"]
    assert frames[0]["row_id"].dtype == np.int64 and frames[0]["f0000"].dtype == np.float32
    assert pd.concat(frames)["row_id"].tolist() == list(range(20))


@pytest.mark.parametrize("tear", ["edit", "remove", "stray", "no-manifest", "settings"])
def test_a_torn_or_stale_shard_set_is_refused_with_exit_2(tmp_path, monkeypatch, tear):
    monkeypatch.chdir(tmp_path)
    write_set(tmp_path)
    first = paths.shard_file("train", 0)
    if tear == "edit":
        first.write_bytes(first.read_bytes()[:-1] + b"\0")
    elif tear == "remove":
        first.unlink()
    elif tear == "stray":
        (paths.SHARDS_DIR / "train" / "part-00099.parquet").write_bytes(first.read_bytes())
    elif tear == "no-manifest":
        paths.SHARDS_MANIFEST.unlink()
    with pytest.raises(errors.BadInputError, match=r"python -m pipeline prepare") as caught:
        shards.verify({"seed": 2} if tear == "settings" else {"seed": 1})
    assert caught.value.exit_code == errors.EXIT_BAD_INPUT


def test_lightning_is_not_installed_beside_pytorch_lightning():
    """ray-project/ray#47089: Ray Train fails with both; the project depends on `pytorch_lightning` only."""
    assert version("pytorch_lightning")
    with pytest.raises(PackageNotFoundError):
        version("lightning")


def test_the_engine_names_both_packages_when_lightning_is_installed(tmp_path, monkeypatch):
    """A real (empty) `lightning` distribution on the path, as pip would leave its metadata."""
    info = tmp_path / "lightning-2.5.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lightning\nVersion: 2.5.0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(errors.BadInputError) as caught:
        session.check_packages()
    assert caught.value.exit_code == errors.EXIT_BAD_INPUT
    assert "`lightning` (2.5.0)" in str(caught.value) and "`pytorch_lightning`" in str(caught.value)
    assert "ray-project/ray#47089" in str(caught.value)


def shard_manifest(train_classes: dict, val_rows: int = 10) -> dict:
    files = {"a": {"split": "train", "rows": sum(train_classes.values()), "classes": train_classes}}
    files["b"] = {"split": "val", "rows": val_rows, "classes": {"0": val_rows}}
    return {"files": files, "feature_columns": ["f0000", "f0001"], "rows": {"val": val_rows}}


def test_ray_fit_plan_counts_steps_per_worker_and_weights_classes_from_the_manifest(cfg):
    from pipeline.scale import train as scaled

    settings = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"min_steps": 10, "batch_size": 50, "class_weights": True})}
    )
    config, notes = scaled.plan(settings, shard_manifest({"0": 300, "1": 100}), 2)
    # 400 rows on 2 workers: 200 each, 4 steps of 50 per epoch; 10 steps take 3 epochs
    assert config["epochs"] == 3 and config["n_train"] == 400
    assert config["class_weights"] == [400 / (2 * 300), 400 / (2 * 100)]
    assert "2 workers x 1 CPU" in notes[0]


def test_rank_segments_cut_the_training_rows_into_equal_runs_by_hand():
    """9 rows in files a (5) and b (4), 2 ranks: 4 rows each, a[0:4] and a[4:5] + b[0:3]; b's last row sits out."""
    from pipeline.scale.train import rank_segments

    assert rank_segments([("a", 5), ("b", 4)], 2) == [[("a", 0, 4)], [("a", 4, 5), ("b", 0, 3)]]
    assert rank_segments([("a", 3)], 1) == [[("a", 0, 3)]]


def test_shard_rows_give_every_rank_row_once_per_epoch_in_an_order_set_by_seed_and_epoch(tmp_path):
    """Each rank's batches: every row of its runs once per epoch, the same order when the epoch is
    read again (a rerun), another order in the next epoch, and equal batch counts on both ranks."""
    from pipeline import shards
    from pipeline.scale.train import ShardRows, rank_segments

    files = []
    for i, rows in enumerate((7, 5, 9)):
        start = sum((7, 5, 9)[:i])
        X = np.arange(start, start + rows, dtype=np.float32)[:, None] * np.ones((1, 2), dtype=np.float32)
        path = tmp_path / f"part-{i:05d}.parquet"
        shards.write_shard(path, np.arange(start, start + rows), np.arange(start, start + rows) % 2, X, {})
        files.append((str(path), rows))
    per_rank = rank_segments(files, 2)  # 21 rows: 10 each, row 20 sits out
    features = ["f0000", "f0001"]

    def epoch(rank: int, number: int) -> list:
        rows = ShardRows(per_rank[rank], features, size=4, seed=3, rank=rank)
        rows.set_epoch(number)
        return [x[:, 0].numpy().astype(int).tolist() for x, _ in rows]

    for rank, expected in ((0, set(range(10))), (1, set(range(10, 20)))):
        first = epoch(rank, 0)
        assert [len(b) for b in first] == [4, 4, 2]  # both ranks: 3 batches, 3 steps of the fit
        assert sorted(sum(first, [])) == sorted(expected)
        assert epoch(rank, 0) == first  # the same settings give the same order: a rerun is bitwise the same
        assert epoch(rank, 1) != first
    in_order = ShardRows([(files[0][0], 0, 7)], features, size=4)  # validation: no seed, file order
    assert [x[:, 0].numpy().astype(int).tolist() for x, _ in in_order] == [[0, 1, 2, 3], [4, 5, 6]]


def test_ray_fit_refuses_dp_sgd_before_ray_starts(cfg):
    from pipeline.scale import train as scaled

    dp = cfg.train.dp.model_copy(update={"enabled": True})
    settings = cfg.model_copy(update={"train": cfg.train.model_copy(update={"dp": dp})})
    with pytest.raises(errors.BadInputError, match="DP-SGD runs on the local engine only"):
        scaled.plan(settings, shard_manifest({"0": 10}), 2)


@pytest.mark.parametrize("stage", ["prepare", "train"])
def test_a_ray_stage_exits_2_naming_both_packages_before_any_work(project, tmp_path, monkeypatch, capsys, stage):
    import yaml

    from pipeline import cli

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["engine"]["kind"] = "ray"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    info = tmp_path / "lightning-2.5.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lightning\nVersion: 2.5.0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert cli.run([stage]) == errors.EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "`lightning` (2.5.0)" in err and "`pytorch_lightning`" in err
    assert not paths.PREPARED_DIR.exists()  # nothing read, nothing written


def test_the_report_says_what_the_ray_engine_covered():
    """The data section states what covers every row and what covers the sample; nothing without the engine."""
    from pipeline.report.sections_data import scale_paragraphs
    from pipeline.stages.prepare import scale_note

    text = " ".join(scale_paragraphs({"scale": scale_note({"test": 1200, "train": 4000, "val": 800})}))
    assert "Engine: ray" in text and "test 1200" in text and "train 4000" in text
    assert (
        "the fairness audit and the attribution importances cover every row" in text
        and "The local explanations and the proxies' flip test" in text
        and "the building of mitigation candidates (each then audited on every test row)" in text
    )
    assert scale_paragraphs({"rows": {}}) == []
