"""Mergeable count tables and row-keyed Poisson bootstrap weights (pure numpy, no Ray)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.audit.fairness import FairnessSettings, audit_decisions, audit_tables, table_spec
from pipeline.stats import counts, poisson
from pipeline.stats.groups import sensitive_views
from tests.audit_helpers import assert_same_audit, assert_same_tables, audit_data


def _reference_splitmix64(x: int) -> int:
    """splitmix64 written from the published algorithm with Python integers (an independent copy)."""
    mask = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def test_splitmix64_and_the_poisson_quantile_by_hand():
    # splitmix64 seeded with 0: its first output is the published test vector
    assert int(poisson.splitmix64(np.uint64(0))) == 0xE220A8397B1DCDAF
    # row 7, seed 3, replicate 2, through the Python-integer copy
    mask = (1 << 64) - 1
    key = _reference_splitmix64(3) ^ 7
    h = _reference_splitmix64((_reference_splitmix64(key) + 2 * 0x9E3779B97F4A7C15) & mask)
    assert poisson.uniforms(np.array([7]), 3, 2)[0] == (h >> 11) / 2**53
    # Poisson(1): P(X<=0) = 1/e = 0.3679, P(X<=1) = 2/e = 0.7358, P(X<=2) = 2.5/e = 0.9197, P(X<=3) = 0.9810
    assert poisson.POISSON1_CDF[:4] == pytest.approx([1 / math.e, 2 / math.e, 2.5 / math.e, (8 / 3) / math.e])
    u = np.array([0.0, 0.3, 0.36, 0.37, 0.5, 0.8, 0.95, 0.99])
    assert poisson.poisson1(u).tolist() == [0, 0, 0, 1, 1, 2, 3, 4]


def test_weights_are_drawn_once_per_rows_seed_and_replicates(monkeypatch):
    """A repeated request is served from memory, equal to a fresh draw; other rows, another seed or
    other replicates are drawn anew; the memory stays within its bound."""
    poisson._memo.clear()
    ids = np.arange(1_000, dtype=np.int64) * 31
    first = poisson.weights(ids, 7, range(5))
    assert len(poisson._memo) == 1
    again = poisson.weights(ids, 7, range(5))
    np.testing.assert_array_equal(first, again)
    assert again.dtype == np.int64 and again is not first  # a caller may modify its copy
    poisson.weights(ids + 1, 7, range(5))
    poisson.weights(ids, 8, range(5))
    poisson.weights(ids, 7, range(5, 10))
    assert len(poisson._memo) == 4
    monkeypatch.setattr(poisson, "MEMO_BYTES", 2 * 5 * 1_000)  # room for two of these (uint8)
    poisson.weights(ids, 9, range(5))
    assert len(poisson._memo) == 2
    poisson._memo.clear()
    np.testing.assert_array_equal(poisson.weights(ids, 7, range(5)), first)


def test_weights_do_not_depend_on_the_partitioning():
    ids = np.arange(10_000, dtype=np.int64) * 7919 + 13  # sparse, unordered ids like a real row_id
    whole = poisson.weights(ids, 42, range(20))
    order = np.random.default_rng(0).permutation(len(ids))
    pieces = np.array_split(order, 8)
    rebuilt = np.empty_like(whole)
    for piece in reversed(pieces):  # any block order
        rebuilt[:, piece] = poisson.weights(ids[piece], 42, range(20))
    np.testing.assert_array_equal(whole, rebuilt)
    assert not np.array_equal(whole, poisson.weights(ids, 43, range(20)))  # the seed matters
    assert not np.array_equal(whole[0], whole[1])  # so does the replicate


def test_weights_have_poisson1_moments():
    """200,000 draws: the mean's standard error is 1/sqrt(N) = 0.0022 and the variance's is
    sqrt((mu4 - 1) / N) = sqrt(3 / N) = 0.0039 (Poisson(1): mu4 = 4); tolerance 5 standard errors.
    P(0) = 1/e, standard error sqrt(p(1-p)/N) = 0.0011."""
    w = poisson.weights(np.arange(2_000), 7, range(100)).ravel()
    assert w.mean() == pytest.approx(1.0, abs=5 * 0.0022)
    assert w.var() == pytest.approx(1.0, abs=5 * 0.0039)
    assert (w == 0).mean() == pytest.approx(1 / math.e, abs=5 * 0.0011)
    assert w.dtype == np.int64


def test_histogram_auc_by_hand():
    # negatives: 2 in bin 0, 1 in bin 1; positives: 1 in bin 1, 2 in bin 2.
    # wins: the bin-1 positive beats 2 negatives and ties 1 (2.5); each bin-2 positive beats 3 (6): 8.5 / 9
    hist = np.array([[2, 1, 0], [0, 1, 2]])
    assert counts.histogram_auc(hist) == pytest.approx(8.5 / 9, abs=1e-15)
    assert np.isnan(counts.histogram_auc(np.array([[0, 0, 0], [1, 2, 0]])))


def _blocks(y, p, score, groups, row_id, spec, n_blocks, seed=1):
    views = {k: v.to_numpy() for k, v in sensitive_views(groups, ["sex", "race"]).items()}
    order = np.random.default_rng(seed).permutation(len(y))
    out = []
    for part in np.array_split(order, n_blocks):
        part_views = {k: v[part] for k, v in views.items()}
        out.append(counts.block_tables(y[part], p[part], score[part], part_views, spec, row_id[part]))
    return counts.merge_all(out[::-1])


def test_one_block_and_eight_shuffled_blocks_give_the_same_tables_and_audit():
    y, p, score, groups, row_id = audit_data()
    settings = FairnessSettings(n_boot=40, seed=3, min_group_size=20)
    spec = table_spec(settings)
    one, eight = _blocks(y, p, score, groups, row_id, spec, 1), _blocks(y, p, score, groups, row_id, spec, 8)
    assert_same_tables(one, eight)
    a = audit_tables(one, ["sex", "race"], settings)
    assert_same_audit(a, audit_tables(eight, ["sex", "race"], settings))
    # and the local entry point is the one-block case (rows in their own order)
    assert_same_audit(a, audit_decisions(y, p, score, groups, ["sex", "race"], settings, row_id=row_id))


def test_a_group_missing_from_some_blocks_is_merged_as_absent_there():
    y, p, score, groups, row_id = audit_data(n=400)
    spec = counts.TableSpec(n_boot=0)
    rare = np.flatnonzero(groups["race"].to_numpy() == "tiny")
    assert 0 < len(rare) < 20
    merged = _blocks(y, p, score, groups, row_id, spec, 40)
    assert counts.cells(merged, "race")["tp"].sum() + counts.cells(merged, "race")["fn"].sum() == y.sum()
    assert int(merged.views["race"]["tiny"].cells.sum()) == len(rare)


def test_counts_stay_exact_past_float32s_limit():
    """float32 stops counting at 2**24; merged int64 cells do not."""
    table = counts.block_tables([1], [1], None, {"all": ["x"]}, counts.TableSpec())
    for _ in range(25):
        table = table.merge(table)
    tp = counts.cells(table, "all")["tp"][0]
    assert tp == 2**25 and tp.dtype == np.int64
    assert np.float32(2**24) + np.float32(1) == np.float32(2**24)  # what float32 sums would have done


def test_tables_of_different_audits_are_not_merged():
    a = counts.block_tables([1], [1], None, {"all": ["x"]}, counts.TableSpec(n_boot=0))
    b = counts.block_tables([1], [1], None, {"all": ["x"]}, counts.TableSpec(n_boot=5))
    with pytest.raises(ValueError, match="cannot be merged"):
        a.merge(b)
    with pytest.raises(ValueError, match="coded 0/1"):
        counts.block_tables([2], [1], None, {"all": ["x"]}, counts.TableSpec())
    with pytest.raises(ValueError, match="row_id"):
        counts.block_tables([1], [1], [0.5], {"all": ["x"]}, counts.TableSpec(n_boot=5))


def test_coarse_bootstrap_bins_nest_exactly_in_the_fine_ones():
    """auc_replicates sums 512 fine bins into one coarse bin: that must be the bin the coarse rule gives."""
    from pipeline.stats import calibration

    rng = np.random.default_rng(4)
    edges = np.arange(counts.BOOT_AUC_BINS + 1) / counts.BOOT_AUC_BINS
    score = np.concatenate([rng.random(5_000), edges, np.nextafter(edges, 2), np.nextafter(edges, -1)])
    score = np.clip(score, 0, 1)
    ratio = counts.AUC_BINS // counts.BOOT_AUC_BINS
    fine = calibration.bin_index(score, counts.AUC_BINS)
    np.testing.assert_array_equal(fine // ratio, calibration.bin_index(score, counts.BOOT_AUC_BINS))


def test_replicates_centre_on_the_reported_auc():
    y, p, score, groups, row_id = audit_data(n=3_000)
    spec = counts.TableSpec(n_boot=200, seed=9)
    tables = counts.block_tables(y, p, score, {"all": np.full(len(y), "x")}, spec, row_id)
    point, replicates = counts.auc(tables, "all")[0], counts.auc_replicates(tables, "all")[:, 0]
    # the AUC's standard error here is about 0.01; the replicates' median sits on the point
    assert abs(np.median(replicates) - point) < 0.005
    assert 0.003 < replicates.std() < 0.03
