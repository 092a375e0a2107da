"""Mergeable audit statistics: the count tables every fairness figure is computed from.

A block of rows (the whole test split locally, one Ray block at scale) becomes, per sensitive view
and group: the confusion cells (truth x decision, int64), the calibration bins (rows and
favourable labels per bin, int64; the sum of scores per bin, float64), the sums of the calibration
residual ``label - score`` and of its square (float64), a score histogram per truth (int64) for the
ROC AUC, and, for the AUC's bootstrap, the same histogram under each replicate's row-keyed
Poisson weights (:mod:`pipeline.stats.poisson`). Tables are keyed by view and group name, so
blocks can arrive in any order and a group missing from a block is simply absent; :meth:`merge`
adds them. Integer cells are exact at any scale and in any order (float32 sums stop counting at
2**24); the float sums agree to rounding (about 1e-16 relative per merge).

The ROC AUC comes from the score histogram: a Mann-Whitney count with the pairs in one bin
counted as ties. With :data:`AUC_BINS` bins it is close to the exact AUC (the difference on
Adult is in benchmarks/SCALE.md); its numerator is an exact int64, so it is bitwise identical
for any partitioning. The bootstrap replicates use :data:`BOOT_AUC_BINS` bins (each coarse bin
is exactly 512 fine ones: the edges ``k / B`` are the same doubles for powers of two) to keep
the replicate tables at ``n_boot x groups x 2 x BOOT_AUC_BINS`` integers per block whatever the
block size; their percentile interval is moved by the coarse binning's own offset (fine point
minus coarse point) so that it is an interval for the reported AUC.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from pipeline.errors import BadInputError
from pipeline.stats import calibration, poisson

#: Score histogram bins for the ROC AUC (2**16: scores crowd near 0, where 1,000 bins tie too many pairs).
AUC_BINS = 2**16
#: Score histogram bins of the bootstrap replicates (divides AUC_BINS; powers of two nest exactly).
BOOT_AUC_BINS = 2**7
#: Replicates hashed at once (a chunk is ``chunk x rows`` int64 weights).
BOOT_CHUNK = 25
#: float64 adds integers exactly below this; a block's weighted counts stay far below it.
_EXACT_FLOAT_INT = 2**53


@dataclass(frozen=True)
class TableSpec:
    """What a block computes: calibration bins, and the AUC bootstrap's replicates and seed."""

    calibration_bins: int = 10
    n_boot: int = 0
    seed: int = 0
    auc_bins: int = AUC_BINS
    boot_auc_bins: int = BOOT_AUC_BINS

    def __post_init__(self):
        if self.auc_bins % self.boot_auc_bins:
            raise ValueError(f"boot_auc_bins ({self.boot_auc_bins}) must divide auc_bins ({self.auc_bins})")


@dataclass
class GroupTable:
    """One group's tables; the score-based ones are None when the audit has no scores."""

    cells: np.ndarray  # int64 (2, 2): [truth 0/1, decision 0/1]
    bin_rows: np.ndarray | None = None  # int64 (calibration_bins,)
    bin_labels: np.ndarray | None = None  # int64 (calibration_bins,): favourable labels per bin
    bin_scores: np.ndarray | None = None  # float64 (calibration_bins,): sum of scores per bin
    residual: np.ndarray | None = None  # float64 (2,): sum of (label - score) and of its square
    auc: np.ndarray | None = None  # int64 (2, auc_bins): rows per score bin, by truth
    boot: np.ndarray | None = None  # int64 (n_boot, 2, boot_auc_bins): Poisson-weighted rows

    def __add__(self, other: GroupTable) -> GroupTable:
        def add(a, b):
            return None if a is None else a + b

        return GroupTable(*(add(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)))


@dataclass
class CountTables:
    """``views[view][group]`` tables of some rows, how many rows they hold and from how many blocks."""

    spec: TableSpec
    scored: bool
    rows: int = 0
    views: dict[str, dict[str, GroupTable]] = field(default_factory=dict)
    blocks: int = 1

    def merge(self, other: CountTables) -> CountTables:
        """The tables of both sets of rows (a new object; neither input is changed)."""
        if other.spec != self.spec or other.scored != self.scored or set(other.views) != set(self.views):
            raise ValueError(
                "count tables of different audits cannot be merged: "
                f"{self.spec}, scored={self.scored}, views {sorted(self.views)} vs "
                f"{other.spec}, scored={other.scored}, views {sorted(other.views)}"
            )
        views = merge_views(self.views, other.views)
        return CountTables(self.spec, self.scored, self.rows + other.rows, views, self.blocks + other.blocks)

    def names(self, view: str) -> list[str]:
        """The view's group names, sorted as ``numpy.unique`` sorts them (code point order)."""
        return sorted(self.views[view])


def merge_views(ours: dict, theirs: dict) -> dict:
    """Per view, per group arrays added (a group only one side saw is taken as it is): the
    group-keyed part of merging two blocks' tables, for the fairness and the evaluate tables alike."""
    merged_views = {}
    for view, groups in ours.items():
        merged = dict(groups)
        for group, table in theirs[view].items():
            merged[group] = merged[group] + table if group in merged else table
        merged_views[view] = merged
    return merged_views


def pooled(tables: CountTables, view: str, name: str, group: str) -> CountTables:
    """The tables of one view ``name`` with one group ``group`` holding every row: ``view``'s groups
    added. Each view partitions the same rows, so the int64 tables (cells, bins, histograms,
    replicates) are exactly those of one group built from the rows; the float sums are added group
    by group (equal to rounding)."""
    groups = [tables.views[view][g] for g in tables.names(view)]
    if not groups:
        raise ValueError(f"view {view!r} has no groups to pool")
    total = groups[0]
    for table in groups[1:]:
        total = total + table
    return CountTables(tables.spec, tables.scored, tables.rows, {name: {group: total}}, tables.blocks)


def merge_all(tables, what: str = "count tables"):
    """Merge an iterable of tables (at least one; anything with ``merge``), in the order given."""
    it = iter(tables)
    try:
        out = next(it)
    except StopIteration:
        raise BadInputError(f"no {what} to merge: the data set has no rows (no block came back)") from None
    for t in it:
        out = out.merge(t)
    return out


def _bincount(slot: np.ndarray, size: int, weights=None) -> np.ndarray:
    return np.bincount(slot, weights=weights, minlength=size)


def _view_tables(y, decision, score, codes, n_groups, spec, boot) -> list[GroupTable]:
    g2 = codes * 2 + y
    cells = _bincount(g2 * 2 + decision, n_groups * 4).reshape(n_groups, 2, 2)
    if score is None:
        return [GroupTable(cells[g]) for g in range(n_groups)]
    clipped = calibration.check_scores(score)
    bins = spec.calibration_bins
    slot = codes * bins + calibration.bin_index(clipped, bins)
    bin_rows = _bincount(slot, n_groups * bins).reshape(n_groups, bins)
    bin_labels = _bincount(slot[y == 1], n_groups * bins).reshape(n_groups, bins)
    bin_scores = _bincount(slot, n_groups * bins, clipped).reshape(n_groups, bins)
    auc = _bincount(g2 * spec.auc_bins + calibration.bin_index(clipped, spec.auc_bins), n_groups * 2 * spec.auc_bins)
    auc = auc.reshape(n_groups, 2, spec.auc_bins)
    resid = y.astype(np.float64) - score
    out = []
    for g in range(n_groups):
        r = resid[codes == g]  # numpy's pairwise sum over the group's rows, as the audit always summed
        out.append(
            GroupTable(
                cells[g],
                bin_rows[g],
                bin_labels[g],
                bin_scores[g],
                np.array([r.sum(), (r**2).sum()]),
                auc[g],
                None if boot is None else boot[:, g],
            )
        )
    return out


def _boot_histograms(y, score, coded: dict, spec: TableSpec, row_id) -> dict[str, np.ndarray]:
    """Per view, ``(n_boot, groups, 2, boot_auc_bins)`` Poisson-weighted score histograms. Weights
    are hashed :data:`BOOT_CHUNK` replicates at a time and shared by every view, so a block never
    holds more than ``BOOT_CHUNK x rows`` of them."""
    bins = calibration.bin_index(calibration.check_scores(score), spec.boot_auc_bins)
    slots = {
        name: ((codes * 2 + y) * spec.boot_auc_bins + bins, n * 2 * spec.boot_auc_bins)
        for name, (n, codes) in coded.items()
    }
    out = {name: np.empty((spec.n_boot, size), dtype=np.int64) for name, (_, size) in slots.items()}
    for start in range(0, spec.n_boot, BOOT_CHUNK):
        w = poisson.weights(row_id, spec.seed, range(start, min(spec.n_boot, start + BOOT_CHUNK)))
        flat, c = w.ravel().astype(np.float64), len(w)
        for name, (slot, size) in slots.items():
            idx = (np.arange(c)[:, None] * size + slot[None, :]).ravel()
            # float64 adds these integers exactly (block_tables bounds their total below 2**53)
            out[name][start : start + c] = np.rint(_bincount(idx, c * size, flat)).reshape(c, size)
    return {name: out[name].reshape(spec.n_boot, n, 2, spec.boot_auc_bins) for name, (n, _) in coded.items()}


def block_tables(y01, decision01, score, views: dict, spec: TableSpec, row_id=None) -> CountTables:
    """The tables of one block. ``views`` maps each view name to the group label of every row;
    ``score`` (probability of the favourable outcome) may be None (decisions only); ``row_id``
    keys the bootstrap weights and is needed when ``spec.n_boot`` and scores are given."""
    y = np.asarray(y01, dtype=np.int64)
    decision = np.asarray(decision01, dtype=np.int64)
    for name, values in (("truth", y), ("decision", decision)):
        if len(values) and not np.isin(values, (0, 1)).all():
            raise ValueError(f"count tables need {name} coded 0/1; got values {sorted(set(values.tolist()))[:5]}")
    score = None if score is None else np.asarray(score, dtype=np.float64)
    labelled, coded = {}, {}
    for name, labels in views.items():
        names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
        labelled[name], coded[name] = [str(n) for n in names], (len(names), codes.astype(np.int64))
    boots = {}
    if score is not None and spec.n_boot:
        if row_id is None:
            raise ValueError("the AUC bootstrap needs a row_id per row (its weights are keyed by it)")
        if len(y) * poisson.MAX_WEIGHT >= _EXACT_FLOAT_INT:
            raise ValueError(f"a block of {len(y)} rows is too large for exact weighted counts")
        boots = _boot_histograms(y, score, coded, spec, row_id)
    out = CountTables(spec, score is not None, len(y))
    for name, (n, codes) in coded.items():
        out.views[name] = dict(zip(labelled[name], _view_tables(y, decision, score, codes, n, spec, boots.get(name))))
    return out


# --- figures from merged tables (arrays in the order of CountTables.names) -------------------


def cells(tables: CountTables, view: str) -> dict[str, np.ndarray]:
    """TP, FP, FN, TN per group (int64)."""
    c = np.stack([tables.views[view][g].cells for g in tables.names(view)]).reshape(-1, 2, 2)
    return {"tp": c[:, 1, 1], "fp": c[:, 0, 1], "fn": c[:, 1, 0], "tn": c[:, 0, 0]}


def calibration_sums(tables: CountTables, view: str) -> list[dict]:
    """Per group ``{n, events, sum, sumsq}`` of the residual ``label - score`` (the policy's evidence)."""
    out = []
    for g in tables.names(view):
        t = tables.views[view][g]
        out.append(
            {
                "n": int(t.cells.sum()),
                "events": int(t.cells[1].sum()),
                "sum": float(t.residual[0]),
                "sumsq": float(t.residual[1]),
            }
        )
    return out


def ece(tables: CountTables, view: str) -> np.ndarray:
    """ECE per group from the calibration bins (:func:`pipeline.stats.calibration.ece_from_sums`)."""
    groups = [tables.views[view][g] for g in tables.names(view)]
    sums = (np.stack([getattr(t, f) for t in groups]) for f in ("bin_rows", "bin_labels", "bin_scores"))
    return calibration.ece_from_sums(*sums)


def histogram_auc(hist: np.ndarray) -> np.ndarray:
    """ROC AUC from score histograms ``(..., 2, bins)`` (truth 0, truth 1), pairs in one bin
    counted half: an exact int64 numerator over ``2 x positives x negatives``; NaN for one class."""
    neg, pos = hist[..., 0, :].astype(np.int64), hist[..., 1, :].astype(np.int64)
    below = np.cumsum(neg, axis=-1) - neg
    twice_wins = (pos * (2 * below + neg)).sum(axis=-1)
    den = 2 * pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, twice_wins / np.where(den > 0, den, 1), np.nan)


def auc(tables: CountTables, view: str) -> np.ndarray:
    """ROC AUC per group from the :data:`AUC_BINS` histogram."""
    return histogram_auc(np.stack([tables.views[view][g].auc for g in tables.names(view)]))


def auc_replicates(tables: CountTables, view: str) -> np.ndarray:
    """Bootstrap replicates of each group's AUC, shape ``(n_boot, groups)``, moved by the coarse
    binning's offset (fine-bin point minus coarse-bin point) so they centre on :func:`auc`."""
    groups = [tables.views[view][g] for g in tables.names(view)]
    spec = tables.spec
    fine = np.stack([t.auc for t in groups])
    coarse = fine.reshape(len(groups), 2, spec.boot_auc_bins, -1).sum(axis=-1)
    offset = histogram_auc(fine) - histogram_auc(coarse)
    return np.stack([histogram_auc(t.boot) for t in groups], axis=1) + offset[None, :]  # one group at a time
