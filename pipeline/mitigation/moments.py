"""fairlearn constraints (moments) for the targets derived from the audit policy.

One target may need several of fairlearn's constraints at once (the default policy gates the
selection-rate ratio *and* equal opportunity: ``DemographicParity`` and
``TruePositiveRateParity``). fairlearn's reductions take one moment, but its ``Moment`` base class
is the documented extension point; :class:`AllOf` stacks several ``UtilityParity`` moments into
one, each keeping its own rows of the constraint vector, multipliers and bounds, so
``ExponentiatedGradient`` and ``GridSearch`` solve the problem with all constraints together.
"""

from __future__ import annotations

import pandas as pd
from fairlearn.reductions import ClassificationMoment, ErrorRate

from pipeline.mitigation.targets import Target


def build(target: Target):
    """The fairlearn moment of a target: the moment itself for one part, :class:`AllOf` for several."""
    from fairlearn import reductions as red

    parts = [getattr(red, p.moment)(**p.bound) for p in target.parts]
    if len(parts) == 1:
        return parts[0]
    return AllOf({f"{i}:{p.moment}": m for i, (p, m) in enumerate(zip(target.parts, parts))})


class AllOf(ClassificationMoment):
    """Several ``UtilityParity`` moments as one: constraint index ``(part, sign, event, group_id)``."""

    short_name = "AllOf"

    def __init__(self, parts: dict):
        super().__init__()
        self.parts = parts

    def load_data(self, X, y, *, sensitive_features, control_features=None) -> None:
        """Load the data into every part, then into this moment through ``Moment.load_data``.

        Public API only: each part validates and reformats the raw input with its own
        ``load_data``; the first part's public ``X`` and ``tags`` (its ``label`` and
        ``group_id`` columns) then go to the base class's ``load_data``, which sets what
        fairlearn's reductions read from any moment. ``pos_basis``, ``neg_basis``,
        ``neg_basis_present`` and ``default_objective_lambda_vec`` are the public attributes
        ``GridSearch`` reads.
        """
        for moment in self.parts.values():
            moment.load_data(X, y, sensitive_features=sensitive_features, control_features=control_features)
        first = next(iter(self.parts.values()))
        super().load_data(first.X, first.tags["label"], sensitive_features=first.tags["group_id"])
        self.default_objective_lambda_vec = None
        self._basis()

    def _stack(self, series: dict) -> pd.Series:
        return pd.concat(series, names=["part"])

    @property
    def index(self) -> pd.MultiIndex:
        return self._stack({k: pd.Series(0.0, index=m.index) for k, m in self.parts.items()}).index

    def gamma(self, predictor) -> pd.Series:
        return self._stack({k: m.gamma(predictor) for k, m in self.parts.items()})

    def bound(self) -> pd.Series:
        return self._stack({k: m.bound() for k, m in self.parts.items()})

    def project_lambda(self, lambda_vec: pd.Series) -> pd.Series:
        return self._stack({k: m.project_lambda(lambda_vec.loc[k]) for k, m in self.parts.items()})

    def signed_weights(self, lambda_vec: pd.Series) -> pd.Series:
        return sum(m.signed_weights(lambda_vec.loc[k]) for k, m in self.parts.items())

    def default_objective(self):
        return ErrorRate()

    def _basis(self) -> None:
        """GridSearch's lattice of multipliers: each part's basis, block-diagonally."""
        index = self.index
        pos, neg, present, offset = [], [], [], 0
        for key, m in self.parts.items():
            cols = len(m.pos_basis.columns)
            for name, out in (("pos_basis", pos), ("neg_basis", neg)):
                block = getattr(m, name).copy()
                block.index = pd.MultiIndex.from_tuples(
                    [(key, *i) for i in block.index], names=["part", *block.index.names]
                )
                block.columns = range(offset, offset + cols)
                out.append(block)
            present.append(pd.Series(m.neg_basis_present.to_numpy(), index=range(offset, offset + cols)))
            offset += cols
        self.pos_basis = pd.concat(pos).reindex(index).fillna(0.0)
        self.neg_basis = pd.concat(neg).reindex(index).fillna(0.0)
        self.neg_basis_present = pd.concat(present)
