"""Mitigation candidates of every saved shape on small synthetic rows, and the comparison that says
two candidate audits are the same (the local engine's test split vs count tables merged over blocks)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.audit.fairness import FairnessSettings
from tests.audit_helpers import _close, assert_same_audit

SENSITIVE = ["sex", "race"]
SETTINGS = FairnessSettings(n_boot=40, seed=3, min_group_size=20)
N_FEATURES = 5
NAMES = [f"x{i}" for i in range(N_FEATURES)]


def candidate_rows(n: int = 2_500, seed: int = 0):
    """Features (float32), 0/1 labels and two sensitive columns whose joint groups all hold both labels."""
    rng = np.random.default_rng(seed)
    groups = pd.DataFrame(
        {
            "sex": rng.choice(["F", "M"], size=n, p=[0.35, 0.65]),
            "race": rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    X[:, 0] += (groups["sex"] == "M").to_numpy() * 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-(X[:, 0] + X[:, 1])))).astype(np.int64)
    return X, y, groups


def _network(seed: int):
    """A small untrained MLP (random weights: its scores still rank the rows)."""
    import torch

    from pipeline.models.mlp import MLP, MlpSpec

    torch.manual_seed(seed)
    return MLP(MlpSpec(N_FEATURES, (8,), 2)).eval()


def candidates() -> dict:
    """Every shape a saved candidate takes: the network at a cut-off, one that accepts everyone
    (degenerate), a two-network mixture (randomised decisions) and group thresholds fitted on the
    joint label of two columns (randomised and group-dependent)."""
    from pipeline.mitigation import candidates as mitigation
    from pipeline.models.postprocessed import PostProcessedNetwork, network_entry
    from pipeline.stats.groups import joint_groups

    first, second = _network(0), _network(1)
    mixture = [network_entry(first, 1, weight=0.6, cutoff=0.5), network_entry(second, 1, weight=0.4, cutoff=0.45)]
    val_x, val_y, val_groups = candidate_rows(n=1_200, seed=9)
    threshold = mitigation.threshold_optimizer(
        "demographic_parity", first, 1, val_x, val_y, joint_groups(val_groups, SENSITIVE), NAMES, SENSITIVE, seed=0
    )
    return {
        "network": mitigation.original(first, 1, 0.5, NAMES, seed=0).model,
        "everyone": mitigation.original(first, 1, 0.0, NAMES, seed=0).model,
        "mixture": PostProcessedNetwork(
            mitigation.describe(NAMES, "exponentiated_gradient", "demographic_parity", 7, mixture), [first, second]
        ),
        "thresholds": threshold.model,
    }


def shard_frame(X, y, groups, row_id) -> pd.DataFrame:
    """Rows as the ray engine's shards hold them: ``row_id``, ``y``, ``f0000 ...``, ``group:<attr>``."""
    frame = pd.DataFrame({"row_id": row_id, "y": y})
    for i in range(X.shape[1]):
        frame[f"f{i:04d}"] = X[:, i]
    for a in SENSITIVE:
        frame[f"group:{a}"] = groups[a].to_numpy()
    return frame


def assert_same_candidate_audit(a: dict, b: dict) -> None:
    """Overall figures, degeneracy, gate and the group audit identical to 1e-12 (float sums to 1e-9)."""
    for key in ("accuracy", "roc_auc", "selection_rate", "degenerate"):
        assert _close(a[key], b[key]), key
    for key in ("passed", "failed_checks", "check_counts"):
        assert a[key] == b[key], key
    assert_same_audit(a["audit"], b["audit"])
