"""The project's network as a scikit-learn classifier, so fairlearn's reductions can refit it.

fairlearn's ``ExponentiatedGradient`` and ``GridSearch`` solve a constrained problem by
refitting a classifier on reweighted labels (``fit(X, y, sample_weight=...)``) many times. This
wrapper makes each of those refits the project's own Lightning training
(:func:`pipeline.training.fit.fit`) on every row it is given, so the mitigated model is the
network trained under the constraint, not a stand-in.

Weights reach the loss as per-row sample weights (``arrays["train"]["sample_weight"]``) when the
training loop honours them; with ``weighting="resample"`` they are honoured in expectation
instead, by a seeded weighted draw of as many rows as given (for a loop without weights).

Each refit is seeded with the same seed, trains without a validation split (no early stopping:
the reduction, not the validation loss, chooses among fits), in a temporary checkpoint folder,
and prints nothing.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.config import TrainSettings
from pipeline.errors import BadInputError

WEIGHTINGS = ("loss", "resample")


class FitBudgetExhausted(RuntimeError):
    """Raised by a refit once the shared fit budget is spent, so a reduction stops at its bound."""


@dataclass
class FitBudget:
    """Fits allowed to all estimators sharing this object (one budget per mitigation stage), and the
    networks they already fitted.

    ``fitted`` maps a digest of a refit's whole input (rows, labels, weights, settings, seed) to its
    network. A refit is deterministic, so a reduction asking for the same fit again gets that
    network without training it twice and without spending budget; ExponentiatedGradient does
    ask, when its gap check multiplies a zero Lagrange vector (every multiple is the same problem).
    """

    limit: int
    used: int = 0
    seconds: list = field(default_factory=list)  # wall time of each fit, for the cost file
    fitted: dict = field(default_factory=dict)
    reused: int = 0  # refits answered from ``fitted``

    def __deepcopy__(self, memo):
        """Shared, never copied: fairlearn's GridSearch deep-copies its estimator for each fit."""
        return self

    def take(self) -> None:
        if self.used >= self.limit:
            raise FitBudgetExhausted(
                f"the mitigation fit budget (mitigation.max_fits = {self.limit}) is spent; "
                "raise it or lower mitigation.max_iter / mitigation.grid_size"
            )
        self.used += 1


def refit_settings(settings: TrainSettings) -> TrainSettings:
    """The training settings for one refit: one process, no early stopping, no resume, no energy meter.

    A reduction runs dozens of short fits in this process; DDP start-up, a validation split it
    cannot use and CodeCarbon's meter would each cost more than the fit.
    """
    return settings.model_copy(
        update={
            "patience": 0,
            "resume": False,
            "devices": 1,
            "strategy": "auto",
            "num_nodes": 1,
            "energy": settings.energy.model_copy(update={"enabled": False}),
        }
    )


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """Binary classifier (1 = favourable) trained by the project's Lightning loop.

    Parameters
    ----------
    settings : TrainSettings
        The network and optimiser settings of ``params.yaml``'s ``train`` section.
    seed : int
        Seed of every refit (same weights and data give the same network).
    weighting : {"loss", "resample"}
        How ``sample_weight`` is honoured (see the module docstring).
    budget : FitBudget or None
        Shared fit counter; ``None`` means unbounded.
    workdir : str or None
        Folder for each refit's temporary checkpoint folder (``None``: the system's temp
        folder). A stage passes one inside the project: the CLI refuses writes outside it.
    """

    def __init__(
        self,
        settings: TrainSettings | None = None,
        seed: int = 0,
        weighting: str = "loss",
        budget=None,
        workdir: str | None = None,
    ):
        self.settings = settings
        self.seed = seed
        self.weighting = weighting
        self.budget = budget
        self.workdir = workdir

    def __sklearn_clone__(self):
        """Clones share the fit budget (sklearn's clone would deep-copy it and lose the count)."""
        return type(self)(self.settings, self.seed, self.weighting, self.budget, self.workdir)

    def fit(self, X, y, sample_weight=None):
        from pipeline.training.fit import fit

        if self.weighting not in WEIGHTINGS:
            raise BadInputError(f"NetworkClassifier.weighting must be one of {WEIGHTINGS}, got {self.weighting!r}")
        X = np.ascontiguousarray(np.asarray(X, dtype=np.float32))
        y = np.asarray(y).astype(np.int64).ravel()
        if not set(np.unique(y)) <= {0, 1}:
            raise BadInputError(
                f"NetworkClassifier expects 0/1 labels (1 = favourable), got {sorted(set(np.unique(y)))[:5]}"
            )
        train = self._weighted_rows(X, y, sample_weight)
        key = self._digest(train)
        if self.budget is not None and key in self.budget.fitted:
            self.budget.reused += 1
            return self._fitted(self.budget.fitted[key], X.shape[1])
        if self.budget is not None:
            self.budget.take()
        # The loop wants a validation split; one training row keeps its per-epoch check negligible
        # (nothing reads it: patience is 0 here).
        val = {"X": X[:1], "y": y[:1]}
        settings = refit_settings(self.settings or TrainSettings())
        started = time.perf_counter()
        if self.workdir is not None:
            Path(self.workdir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="refit-", dir=self.workdir) as folder:
            result = fit(settings, self.seed, {"train": train, "val": val}, 2, checkpoint_dir=folder)
        if self.budget is not None:
            self.budget.seconds.append(time.perf_counter() - started)
            self.budget.fitted[key] = result.model
        return self._fitted(result.model, X.shape[1])

    def _fitted(self, model, n_features: int) -> NetworkClassifier:
        self.model_ = model
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = n_features
        return self

    def _digest(self, train: dict[str, np.ndarray]) -> str:
        """What determines a refit's network: its rows, labels and weights, the settings and the seed."""
        h = hashlib.blake2b(digest_size=20)
        for name in sorted(train):
            array = np.ascontiguousarray(train[name])
            h.update(f"{name}:{array.dtype}:{array.shape};".encode())
            h.update(array.tobytes())
        settings = (self.settings or TrainSettings()).model_dump_json()
        h.update(f"{settings};{self.seed};{self.weighting}".encode())
        return h.hexdigest()

    def _weighted_rows(self, X, y, sample_weight) -> dict[str, np.ndarray]:
        """The training split for one refit, carrying the weights as the chosen weighting needs."""
        if sample_weight is None:
            return {"X": X, "y": y}
        w = np.asarray(sample_weight, dtype=np.float64).ravel()
        if len(w) != len(y) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise BadInputError("sample_weight must hold one finite, non-negative weight per row, not all zero")
        if self.weighting == "loss":
            return {"X": X, "y": y, "sample_weight": (w * len(w) / w.sum()).astype(np.float32)}
        rows = np.random.default_rng(self.seed).choice(len(y), size=len(y), replace=True, p=w / w.sum())
        return {"X": X[rows], "y": y[rows]}

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, computed with as many threads as the fits use.

        A reduction alternates fits and predictions of this network on the training rows; with
        torch's default pool for the predictions and one thread for the small fits' steps, the
        predictions of the default network on Adult's training split took several times the
        CPU and wall time of one thread on a shared 2-core machine (benchmarks/MITIGATION.md).
        """
        from pipeline.models.predict import predict_proba
        from pipeline.training.threads import step_threads, thread_scope

        settings = self.settings or TrainSettings()
        threads = step_threads(self.model_.spec, settings.batch_size, "cpu", settings.num_threads)
        with thread_scope(threads):
            return predict_proba(self.model_, np.ascontiguousarray(np.asarray(X, dtype=np.float32)))

    def predict(self, X) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
