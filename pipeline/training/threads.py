"""How many CPU threads one training step gets: one for small steps, torch's default otherwise.

Why: torch splits each matrix product over its intra-op threads. For the default MLP on
Adult a step is a dozen products of a few hundred thousand multiply-adds each, too small to
share: on a 2-core machine two threads took no less wall time than one while burning twice
the CPU time, and only steps of several million multiply-adds per forward pass ran faster on
two. So below :data:`SMALL_STEP_MACS` a step runs on one thread, above it on torch's default.
``python benchmarks/bench_training.py --threads N`` measures the fit at a chosen thread count
(its figures go to benchmarks/TRAINING.md).

``train.num_threads`` overrides the choice. The count is restored after the fit, so code
that runs next in the same process (tests, benchmarks) is unaffected.
"""

from __future__ import annotations

from contextlib import contextmanager

from pipeline.models.mlp import MlpSpec, flops_per_sample

#: Forward multiply-adds per mini-batch below which one thread is faster (see the module doc).
SMALL_STEP_MACS = 4_000_000


def forward_macs(spec: MlpSpec, batch_size: int) -> int:
    """Multiply-adds of the linear layers in one mini-batch's forward pass."""
    return batch_size * flops_per_sample(spec) // 2


def step_threads(spec: MlpSpec, batch_size: int, device_type: str, requested: int | None) -> int | None:
    """The intra-op thread count for training, or None for torch's default.

    ``requested`` (``train.num_threads``) wins. On an accelerator the CPU threads only feed
    it, so the default stands.
    """
    if requested:
        return requested
    if device_type == "cpu" and forward_macs(spec, batch_size) < SMALL_STEP_MACS:
        return 1
    return None


@contextmanager
def thread_scope(threads: int | None):
    """Run the body with ``threads`` intra-op threads (None: leave as is), then restore."""
    import torch

    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != saved:
            torch.set_num_threads(saved)
