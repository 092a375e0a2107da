"""The membership-inference attack against models that cannot, and that surely do, memorise."""

import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.audit import privacy
from pipeline.models.mlp import MLP, MlpSpec


def random_rows(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)).astype(np.float32), rng.integers(0, 2, n).astype(np.int64)


def memoriser(X: np.ndarray, y: np.ndarray, steps: int = 400) -> MLP:
    """A wide MLP trained to fit random labels: it can only do so by memorising the rows."""
    torch.manual_seed(0)
    model = MLP(MlpSpec(X.shape[1], (128, 128), 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, t = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), t).backward()
        opt.step()
    return model.eval()


def groups_for(n: int, seed: int) -> pd.DataFrame:
    return pd.DataFrame({"sex": np.where(np.random.default_rng(seed).random(n) < 0.5, "Female", "Male")})


def test_attack_is_a_coin_flip_against_an_untrained_model():
    torch.manual_seed(0)
    model = MLP(MlpSpec(8, (16,), 2)).eval()  # never saw any row
    members, non_members = random_rows(400, 1), random_rows(400, 2)
    result = privacy.membership_inference(model, members, non_members, max_rows=400, seed=0, n_boot=100)
    assert abs(result["auc"] - 0.5) < 0.08
    low, high = result["auc_interval"]
    assert low <= result["auc"] <= high


def test_attack_finds_the_rows_a_model_memorised():
    members, non_members = random_rows(64, 3), random_rows(64, 4)
    model = memoriser(*members)
    result = privacy.membership_inference(
        model,
        members,
        non_members,
        member_groups=groups_for(64, 5),
        non_member_groups=groups_for(64, 6),
        sensitive=["sex"],
        max_rows=1000,
        seed=0,
        min_group_size=40,
    )
    # a memoriser is also confident on the unseen rows whose random label it happens to guess right,
    # so the AUC stays below 1; it is still far above the coin flip, and so is the low-FPR regime
    assert result["auc"] > 0.75 and result["tpr_at_10pct_fpr"] > 0.1
    assert result["mean_loss_non_members"] > 10 * result["mean_loss_members"]
    by_sex = result["by_group"]["sex"]
    assert set(by_sex) == {"Female", "Male"}
    assert sum(g["members"] for g in by_sex.values()) == sum(g["non_members"] for g in by_sex.values()) == 64
    assert all(g["small"] for g in by_sex.values())  # about 32 rows a side, under 40
    assert all(g["auc"] > 0.65 for g in by_sex.values())


def test_members_and_non_members_are_balanced_and_seeded():
    a = privacy.balanced_sample(1000, 300, max_rows=500, seed=1)
    b = privacy.balanced_sample(1000, 300, max_rows=500, seed=1)
    assert len(a[0]) == len(a[1]) == 300
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_tpr_at_fpr_on_a_hand_checked_example():
    is_member = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    score = np.array([9, 8, 1, 7, 2, 2, 2, 2, 2, 2], dtype=float)
    # with no false positive allowed the best threshold (8) catches 2 of 3 members
    assert privacy.tpr_at_fpr(is_member, score, 0.0) == pytest.approx(2 / 3)
    assert privacy.attack_metrics(is_member, score)["auc"] == pytest.approx(
        np.mean([s > n for s in (9, 8, 1) for n in (7, 2, 2, 2, 2, 2, 2)])
    )
