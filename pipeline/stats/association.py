"""Association between two columns: the one Cramér's V every audit prints.

The data audit's proxy table, the explain stage's proxy list and flip test, and the leakage check
all call :func:`cramers_v` on columns turned into categories by :func:`as_categories`, so one
report can never show two values for the same pair. The measure is the *bias-corrected* Cramér's
V (Bergsma 2013): the plain one grows with the number of levels, so a case-number column (one
level per row) reached V 0.993 against race and topped the proxy list while saying nothing. The
correction subtracts the chi-squared a table of that shape has under independence and shrinks
the degrees of freedom alike; a column with a level per row scores 0. Beside it the proxy table
gives scikit-learn's *adjusted* mutual information (chance-corrected for the same reason).

Numeric columns with few distinct values (0/1 flags, codes) are categories, not quantiles: a
0/1 column cut into quantile bins collapses into one bin and looks independent of everything,
which hid a column that was the exact complement of a sensitive attribute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A numeric column with at most this many distinct values is treated as categorical.
MAX_NUMERIC_LEVELS = 10
#: Quantile bins for a numeric column with more distinct values than that.
NUMERIC_BINS = 5


def as_categories(values: pd.Series | np.ndarray, numeric: bool | None = None) -> pd.Series:
    """The column as categories: few-valued numerics as their values, other numerics as quantile-bin
    numbers, anything else as strings. Only equality matters to the measures below.

    ``numeric=None`` decides from the dtype.
    """
    series = pd.Series(values).reset_index(drop=True)
    if numeric is None:
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if not numeric:
        return series.astype(str)
    as_float = series.astype("float64")
    if as_float.nunique(dropna=False) <= MAX_NUMERIC_LEVELS:
        return as_float
    return pd.Series(pd.qcut(as_float, q=NUMERIC_BINS, labels=False, duplicates="drop"), dtype="float64")


def contingency(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> np.ndarray:
    """Counts of each (a, b) pair via factorised codes (much faster than ``pd.crosstab``)."""
    codes_a, levels_a = pd.factorize(np.asarray(a), use_na_sentinel=False)  # a missing value is a level
    codes_b, levels_b = pd.factorize(np.asarray(b), use_na_sentinel=False)
    flat = np.bincount(codes_a * len(levels_b) + codes_b, minlength=len(levels_a) * len(levels_b))
    return flat.reshape(len(levels_a), len(levels_b))


def bias_corrected_v(table: np.ndarray) -> float:
    """Bergsma's (2013) bias-corrected Cramér's V of a contingency table, in [0, 1].

    ``phi2 = chi2 / n`` loses its expectation under independence, ``(r-1)(c-1)/(n-1)``, and each
    dimension ``k`` becomes ``k - (k-1)^2/(n-1)``. A dimension that corrects to 1 or less (about
    one level per row) leaves nothing to measure: 0.
    """
    from scipy.stats import chi2_contingency

    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    r, c = table.shape
    n = float(table.sum())
    if min(r, c) < 2 or n < 2:
        return 0.0
    chi2 = chi2_contingency(table, correction=False)[0]
    phi2 = max(0.0, chi2 / n - (r - 1) * (c - 1) / (n - 1))
    r_corr = r - (r - 1) ** 2 / (n - 1)
    c_corr = c - (c - 1) ** 2 / (n - 1)
    denominator = min(r_corr - 1, c_corr - 1)
    if denominator <= 0:
        return 0.0
    return float(min(1.0, np.sqrt(phi2 / denominator)))


def cramers_v(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """Bias-corrected Cramér's V (:func:`bias_corrected_v`) of two categorical columns; 0 when
    either has a single level."""
    return bias_corrected_v(contingency(a, b))


def normalized_mutual_info(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """scikit-learn's normalised mutual information of two categorical columns."""
    from sklearn.metrics import normalized_mutual_info_score

    codes_a = pd.factorize(np.asarray(a), use_na_sentinel=False)[0]
    codes_b = pd.factorize(np.asarray(b), use_na_sentinel=False)[0]
    return float(normalized_mutual_info_score(codes_a, codes_b))


def adjusted_mutual_info(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """scikit-learn's adjusted mutual information, floored at 0 (below 0 means "less than chance")."""
    from sklearn.metrics import adjusted_mutual_info_score

    codes_a = pd.factorize(np.asarray(a), use_na_sentinel=False)[0]
    codes_b = pd.factorize(np.asarray(b), use_na_sentinel=False)[0]
    return max(0.0, float(adjusted_mutual_info_score(codes_a, codes_b)))


def determines(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> bool:
    """Whether every value of ``a`` maps to exactly one value of ``b`` (``b`` is a function of ``a``)."""
    table = contingency(a, b)
    return bool(((table > 0).sum(axis=1) <= 1).all())
