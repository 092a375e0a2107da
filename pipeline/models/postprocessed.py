"""A mitigation candidate as one deployable model: network(s) plus the fairlearn decision rule.

Three shapes cover every candidate the ``mitigate`` stage makes:

- one network and a cut-off (the unmitigated network; a ``GridSearch`` winner);
- a weighted mixture of networks (``ExponentiatedGradient``): a row is favourable with
  probability ``sum_i w_i [score_i >= cutoff_i]``, fairlearn's ``_pmf_predict``;
- one network and group-specific interpolated thresholds (``ThresholdOptimizer``): its input
  must carry the sensitive attribute(s), because the decision depends on it; with several
  columns the thresholds are keyed by their joint value ("Female,Black").

fairlearn decides a randomised rule with a fresh random draw per call, so the same person can
get different decisions in two calls, or depending on who else is in the batch. Here the draw is
a hash of the seed and the row itself (:func:`row_uniforms`): the rule keeps fairlearn's
probabilities, and a given row always gets the same decision, which is what was audited.

Saved as ``candidate.json`` (the rule: numbers only) and one weights-only ``net_<i>.pt`` per
network, so loading never unpickles code. Rebuilding the probability from the saved numbers is
tested against fairlearn's own ``_pmf_predict`` (tests/test_mitigation_models.py).
"""

from __future__ import annotations

import hashlib
import io as _io
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.errors import BadInputError

DESCRIPTION_NAME = "candidate.json"


def row_uniforms(X: np.ndarray, sensitive: np.ndarray | None, seed: int) -> np.ndarray:
    """One number in [0, 1) per row, a function of the seed and the row's values only."""
    X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
    key = int(seed).to_bytes(8, "little", signed=True)
    out = np.empty(len(X), dtype=np.float64)
    for i in range(len(X)):
        h = hashlib.blake2b(X[i].tobytes(), digest_size=8, key=key)
        if sensitive is not None:
            h.update(str(sensitive[i]).encode())
        out[i] = int.from_bytes(h.digest(), "little") / 2.0**64
    return out


def threshold_rule(optimizer) -> dict[str, dict]:
    """The per-group interpolated thresholds of a fitted fairlearn ``ThresholdOptimizer``, as plain numbers."""
    thresholder = getattr(optimizer, "interpolated_thresholder_", optimizer)
    rule = {}
    for group, bunch in thresholder.interpolation_dict.items():
        entry = {
            "p0": float(bunch.p0),
            "operation0": [bunch.operation0.operator, _plain_threshold(bunch.operation0.threshold)],
            "p1": float(bunch.p1),
            "operation1": [bunch.operation1.operator, _plain_threshold(bunch.operation1.threshold)],
        }
        if "p_ignore" in bunch:
            entry["p_ignore"] = float(bunch.p_ignore)
            entry["prediction_constant"] = float(bunch.prediction_constant)
        rule[str(group)] = entry
    return rule


def _plain_threshold(value) -> float | str:
    """fairlearn uses -inf/inf for 'everyone'/'no one'; JSON has no infinity, so those are strings."""
    value = float(value)
    return value if np.isfinite(value) else ("inf" if value > 0 else "-inf")


def _apply(operation: list, scores: np.ndarray) -> np.ndarray:
    operator, threshold = operation[0], float(operation[1])
    return scores > threshold if operator == ">" else scores < threshold


class PostProcessedNetwork:
    """Networks plus a decision rule; ``predict(frame)`` gives the audited decisions.

    ``description`` keys: ``feature_names``; ``networks`` (each ``spec``, ``favourable_index``,
    ``weight``, ``cutoff``); ``sensitive`` (column name or ``None``); ``thresholds`` (group ->
    rule, or ``None``); ``seed``; plus free-form lineage (``method``, ``constraint``, ...).
    """

    def __init__(self, description: dict, networks: list):
        if len(networks) != len(description["networks"]) or not networks:
            raise BadInputError("a candidate needs one network per entry of description['networks']")
        if description.get("thresholds") and (len(networks) != 1 or not description.get("sensitive")):
            raise BadInputError("group thresholds apply to exactly one network and need a sensitive column")
        self.description = description
        self.networks = networks

    @property
    def feature_names(self) -> list[str]:
        return list(self.description["feature_names"])

    @property
    def sensitive(self) -> str | list[str] | None:
        """The column (or columns, whose joint value keys the thresholds) a group-threshold rule reads."""
        return self.description.get("sensitive") if self.description.get("thresholds") else None

    @property
    def sensitive_columns(self) -> list[str]:
        s = self.sensitive
        return [] if s is None else [s] if isinstance(s, str) else list(s)

    # --- the rule -------------------------------------------------------------------------------

    def network_scores(self, X: np.ndarray) -> np.ndarray:
        """Each network's favourable probability, shape (networks, rows)."""
        from pipeline.models.predict import predict_proba

        X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        return np.stack(
            [
                predict_proba(net, X)[:, entry["favourable_index"]]
                for net, entry in zip(self.networks, self.description["networks"])
            ]
        )

    def favourable_probability(self, X: np.ndarray, groups=None) -> np.ndarray:
        """Probability that the rule decides 'favourable' for each row (fairlearn's pmf)."""
        return self._probability(self.network_scores(X), groups)

    def _probability(self, scores: np.ndarray, groups) -> np.ndarray:
        entries = self.description["networks"]
        if self.description.get("thresholds"):
            return self._thresholded(scores[0], self._groups(groups, scores.shape[1]))
        votes = np.stack([scores[i] >= e["cutoff"] for i, e in enumerate(entries)]).astype(np.float64)
        weights = np.array([e["weight"] for e in entries], dtype=np.float64)
        return weights @ votes

    def _thresholded(self, scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
        rule = self.description["thresholds"]
        unknown = sorted({str(g) for g in groups} - set(rule))
        if unknown:
            raise BadInputError(
                f"sensitive column '{self.description['sensitive']}': value(s) {unknown[:5]} were not seen when the "
                f"thresholds were fitted (known: {sorted(rule)})"
            )
        out = np.zeros(len(scores), dtype=np.float64)
        for group, r in rule.items():
            rows = groups == group
            p = r["p0"] * _apply(r["operation0"], scores[rows]) + r["p1"] * _apply(r["operation1"], scores[rows])
            if "p_ignore" in r:
                p = r["p_ignore"] * r["prediction_constant"] + (1 - r["p_ignore"]) * p
            out[rows] = p
        return out

    def score(self, X: np.ndarray, groups=None) -> np.ndarray:
        """A ranking score for ROC AUC: the rule's probability with group thresholds, else the
        weighted mean of the networks' probabilities."""
        scores = self.network_scores(X)
        if self.description.get("thresholds"):
            return self._probability(scores, groups)
        return self._mean_score(scores)

    def _mean_score(self, scores: np.ndarray) -> np.ndarray:
        weights = np.array([e["weight"] for e in self.description["networks"]], dtype=np.float64)
        return weights @ scores

    def decide(self, X: np.ndarray, groups=None) -> np.ndarray:
        """0/1 decisions (1 = favourable); deterministic per row (see :func:`row_uniforms`)."""
        return self._decide(self.favourable_probability(X, groups), X, groups)

    def _decide(self, p: np.ndarray, X: np.ndarray, groups) -> np.ndarray:
        if np.all((p == 0) | (p == 1)):
            return p.astype(np.int64)
        g = self._groups(groups, len(X)) if self.sensitive else None
        return (row_uniforms(X, g, self.description["seed"]) < p).astype(np.int64)

    def decide_and_score(self, X: np.ndarray, groups=None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`decide` and :meth:`score` from one pass of the networks (the ray engine's audit
        scores every test row once per candidate)."""
        scores = self.network_scores(X)
        p = self._probability(scores, groups)
        return self._decide(p, X, groups), (p if self.description.get("thresholds") else self._mean_score(scores))

    def _groups(self, groups, n: int) -> np.ndarray:
        if groups is None:
            raise BadInputError(
                f"this candidate applies group-specific thresholds: its input needs the sensitive column "
                f"'{self.description['sensitive']}'"
            )
        groups = np.asarray(groups).astype(str)
        if len(groups) != n:
            raise BadInputError(f"sensitive values: {len(groups)} rows for {n} feature rows")
        return groups

    # --- the served form --------------------------------------------------------------------------

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The serving entry point: encoded feature columns (``feature_names``), plus the sensitive
        column(s) for a group-threshold candidate; returns columns ``decision`` (1 = favourable) and ``score``."""
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise BadInputError(f"model input lacks {len(missing)} feature column(s), e.g. {missing[:3]}")
        X = frame[self.feature_names].to_numpy(dtype=np.float32)
        groups = None
        if self.sensitive:
            if any(c not in frame.columns for c in self.sensitive_columns):
                self._groups(None, len(X))
            from pipeline.stats.groups import joint_groups

            groups = joint_groups(frame, self.sensitive_columns)
        return pd.DataFrame({"decision": self.decide(X, groups), "score": self.score(X, groups)}, index=frame.index)

    def save(self, folder: Path) -> None:
        import torch

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for i, net in enumerate(self.networks):
            # Saved through a buffer: torch.save names its archive after the file it is given, and
            # the atomic write's temporary name is random, so the bytes would differ run to run.
            buffer = _io.BytesIO()
            torch.save(net.state_dict(), buffer)
            io.write_bytes(folder / f"net_{i}.pt", buffer.getvalue())
        io.write_json(folder / DESCRIPTION_NAME, self.description)

    @classmethod
    def load(cls, folder: Path) -> PostProcessedNetwork:
        from pipeline.models.mlp import MlpSpec, load_weights

        folder = Path(folder)
        description = io.read_json(folder / DESCRIPTION_NAME)
        networks = [
            load_weights(folder / f"net_{i}.pt", MlpSpec.from_dict(entry["spec"]))
            for i, entry in enumerate(description["networks"])
        ]
        return cls(description, networks)


def network_entry(model, favourable_index: int, weight: float = 1.0, cutoff: float = 0.5) -> dict:
    """The description of one network in a candidate."""
    return {
        "spec": model.spec.to_dict(),
        "favourable_index": int(favourable_index),
        "weight": float(weight),
        "cutoff": float(cutoff),
    }
