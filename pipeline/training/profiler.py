"""The Trainer's profiler when none is wanted: Lightning's pass-through one, without its cost.

Lightning wraps every hook call in ``trainer.profiler.profile(name)``, six per optimiser step
under manual optimisation. Its default ``PassThroughProfiler`` records nothing, yet its
``profile`` is a generator-based context manager, built, entered and closed on every call: a
visible share of a small model's step (benchmarks/TRAINING.md). :class:`NoProfiler` is handed
to the Trainer through its public ``profiler=`` argument and returns one shared no-op context
instead; like the pass-through profiler it records and reports nothing.
"""

from __future__ import annotations

from contextlib import nullcontext

from pytorch_lightning.profilers import PassThroughProfiler

_NOTHING = nullcontext()


class NoProfiler(PassThroughProfiler):
    """Profiles nothing, at the cost of one method call per profiled action."""

    def profile(self, action_name: str) -> nullcontext:
        return _NOTHING
