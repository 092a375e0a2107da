"""Connect to Ray for one stage: refuse a broken install first, start or join a cluster, always leave.

A minimal private helper of the ray engine's ``prepare`` and ``train`` (the cluster module of the audit
half may replace it). ``engine.address`` joins an existing cluster; null starts a local one with
``engine.num_cpus`` CPUs and no dashboard, shut down when the stage ends. Either way this package is
shipped to the workers (``py_modules``), so they run the driver's code. A caller that already connected
(a test's module-wide cluster) is reused, not shut down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.config import EngineSettings
from pipeline.errors import BadInputError

#: ray-project/ray#47089: with the unified ``lightning`` package beside ``pytorch_lightning``, Ray Train's
#: Lightning pieces check one package's classes against the other's and the fit fails.
CONFLICTING = ("lightning", "pytorch_lightning")
INSTALL = "pip install -c constraints.txt -e '.[scale]'"


def installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def check_packages() -> None:
    """Refuse (exit 2) an environment the ray engine cannot run in, naming what to change."""
    both = {name: installed(name.replace("_", "-")) for name in CONFLICTING}
    if all(both.values()):
        raise BadInputError(
            f"engine.kind is 'ray' but both `lightning` ({both['lightning']}) and `pytorch_lightning` "
            f"({both['pytorch_lightning']}) are installed: Ray Train then fails (ray-project/ray#47089). "
            "This project uses `pytorch_lightning`: `pip uninstall lightning`"
        )
    if installed("ray") is None:
        raise BadInputError(f"engine.kind is 'ray' but Ray is not installed (the optional `scale` extra): {INSTALL}")


@contextmanager
def connected(engine: EngineSettings) -> Iterator[object]:
    """The ``ray`` module, connected for the duration of the block."""
    check_packages()
    import ray

    if ray.is_initialized():
        yield ray
        return
    import pipeline

    # Workers import this very package (shipped with the job), never another copy installed on their path.
    common = {
        "runtime_env": {"py_modules": [str(Path(pipeline.__file__).parent)]},
        "log_to_driver": False,
        "logging_level": logging.WARNING,  # the stage's own lines stay readable
    }
    if engine.address:
        ray.init(address=engine.address, **common)
    else:
        ray.init(address="local", num_cpus=engine.num_cpus, include_dashboard=False, **common)
    try:
        yield ray
    finally:
        ray.shutdown()


def gather(ray, refs: list) -> list:
    """``ray.get`` that raises a task's own project error (exit codes intact) instead of Ray's wrapper."""
    from pipeline.errors import PipelineError

    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, PipelineError):
            raise cause from None
        raise
