"""The thread rule: small training steps on one CPU thread, large ones on torch's default."""

from __future__ import annotations

import torch

from pipeline.models.mlp import MlpSpec
from pipeline.training.threads import SMALL_STEP_MACS, forward_macs, step_threads, thread_scope


def test_small_steps_run_on_one_thread_large_ones_on_the_default():
    adult = MlpSpec(101, (64, 64), 2)
    assert forward_macs(adult, 64) < SMALL_STEP_MACS
    assert step_threads(adult, 64, "cpu", None) == 1
    assert step_threads(MlpSpec(101, (1024, 1024), 2), 256, "cpu", None) is None
    assert step_threads(adult, 64, "cuda", None) is None
    assert step_threads(adult, 64, "cpu", 3) == 3


def test_thread_scope_restores_the_count():
    before = torch.get_num_threads()
    other = 2 if before == 1 else 1  # a count that differs from the current one, so both checks bite
    with thread_scope(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
