"""The one bootstrap: resamples as row counts, reproducible and chunk-independent; statistics
under them against index resampling, scikit-learn and numpy; percentile intervals by hand."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from pipeline.stats import bootstrap


def test_counts_are_the_classic_index_bootstrap():
    """Each resample's counts are exactly the histogram of n indices drawn with replacement, in
    the generator's order, so an audit that used to draw indices keeps its draws."""
    counts = np.concatenate(list(bootstrap.resample_counts(50, 7, seed=11)))
    rng = np.random.default_rng(11)
    for row in counts:
        np.testing.assert_array_equal(row, np.bincount(rng.integers(0, 50, 50), minlength=50))


def test_counts_do_not_depend_on_the_chunk_size_and_are_compact():
    by_seven = np.concatenate(list(bootstrap.resample_counts(1_000, 53, seed=3, chunk=7)))
    at_once = np.concatenate(list(bootstrap.resample_counts(1_000, 53, seed=3, chunk=53)))
    assert by_seven.dtype == np.uint8
    np.testing.assert_array_equal(by_seven, at_once)
    assert (by_seven.sum(axis=1) == 1_000).all()


def test_same_seed_same_resamples_other_seed_other_resamples():
    a = np.concatenate(list(bootstrap.resample_counts(200, 5, seed=1)))
    b = np.concatenate(list(bootstrap.resample_counts(200, 5, seed=1)))
    c = np.concatenate(list(bootstrap.resample_counts(200, 5, seed=2)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_named_streams_are_stable_and_independent_of_each_other():
    a = bootstrap.bootstrap_means(np.arange(30.0), 20, bootstrap.stream_seed(0, "sex=Female"))
    again = bootstrap.bootstrap_means(np.arange(30.0), 20, bootstrap.stream_seed(0, "sex=Female"))
    other = bootstrap.bootstrap_means(np.arange(30.0), 20, bootstrap.stream_seed(0, "sex=Male"))
    np.testing.assert_array_equal(a, again)
    assert not np.array_equal(a, other)


def test_bootstrap_means_equal_means_of_the_drawn_rows():
    values = np.random.default_rng(0).normal(size=(40, 3))
    means = bootstrap.bootstrap_means(values, 6, seed=5)
    rng = np.random.default_rng(5)
    expected = np.stack([values[rng.integers(0, 40, 40)].mean(axis=0) for _ in range(6)])
    np.testing.assert_allclose(means, expected, rtol=1e-12)


def test_weighted_auc_equals_sklearn_on_the_resampled_rows_with_ties():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 120)
    score = np.round(rng.random(120), 1)  # many ties
    counts = np.concatenate(list(bootstrap.resample_counts(120, 8, seed=9)))
    auc = bootstrap.weighted_auc(y, score, counts)
    idx_rng = np.random.default_rng(9)
    for value in auc:
        idx = idx_rng.integers(0, 120, 120)
        assert value == pytest.approx(roc_auc_score(y[idx], score[idx]), abs=1e-12)


def test_a_one_class_resample_has_no_auc():
    assert np.isnan(bootstrap.weighted_auc(np.array([1, 1, 0]), np.array([0.2, 0.4, 0.9]), np.array([[1, 2, 0]])))[0]


def test_percentile_interval_by_hand_and_skips_undefined_resamples():
    samples = np.array([[0.0, np.nan], [1.0, np.nan], [2.0, np.nan], [3.0, np.nan], [4.0, np.nan], [np.nan, np.nan]])
    low, high = bootstrap.percentile_interval(samples, 0.5)
    # five defined values 0..4: the 25% and 75% linear quantiles are 1 and 3
    assert (low[0], high[0]) == (1.0, 3.0)
    assert np.isnan(low[1]) and np.isnan(high[1])
    np.testing.assert_allclose(
        bootstrap.percentile_interval(np.arange(101.0), 0.9), (np.quantile(np.arange(101.0), 0.05), 95.0)
    )


def test_percentile_interval_refuses_a_level_outside_zero_one():
    with pytest.raises(ValueError, match="level in"):
        bootstrap.percentile_interval(np.arange(5.0), 95)


def test_no_resamples_and_no_rows():
    assert bootstrap.bootstrap_means(np.zeros((10, 2)), 0, seed=0).shape == (0, 2)
    assert np.isnan(bootstrap.bootstrap_means(np.zeros((0, 2)), 3, seed=0)).all()
    low, high = bootstrap.percentile_interval(np.zeros((0, 2)), 0.9)
    assert np.isnan(low).all() and np.isnan(high).all()


def test_every_audit_calls_the_one_bootstrap():
    """No audit module draws its own resamples: the generator calls live in pipeline.stats."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1] / "pipeline" / "audit"
    for path in root.glob("*.py"):
        text = path.read_text()
        assert "multinomial(" not in text, path
        assert ".integers(0, len(" not in text, path
