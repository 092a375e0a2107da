"""Connect to Ray for one stage: refuse a broken install first, start or join a cluster, always leave.

``engine.address`` joins an existing cluster (and only disconnects afterwards); null starts a local
one with ``engine.num_cpus`` CPUs and no dashboard, shut down when the stage is done, also on an
error. Either way this package is shipped to the workers (``py_modules``), so they run the
driver's code, never another copy on their path (an editable install of a second checkout). A
Ray session already open in this process (a test's module-wide cluster, a notebook) is used as it
is and left open: whoever started it stops it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from pipeline.errors import BadInputError

#: ray-project/ray#47089: with the unified ``lightning`` package beside ``pytorch_lightning``, Ray Train's
#: Lightning pieces check one package's classes against the other's and the fit fails.
CONFLICTING = ("lightning", "pytorch_lightning")
#: What to install when ``engine.kind: ray`` is asked for without Ray.
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


def init_kwargs(engine) -> dict:
    """``ray.init`` arguments for ``engine`` (an :class:`pipeline.config.EngineSettings`)."""
    common = {
        "runtime_env": {"py_modules": [str(Path(__file__).resolve().parents[1])]},  # this very package
        "log_to_driver": False,
        "logging_level": logging.WARNING,  # the stage's own lines stay readable
    }
    if engine.address:
        return {"address": engine.address, **common}
    return {"address": "local", "num_cpus": engine.num_cpus, "include_dashboard": False, **common}


@contextmanager
def connected(engine) -> Iterator[object]:
    """The ``ray`` module, connected as ``engine`` says for the duration of the block; shuts down
    only what it started."""
    check_packages()
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(**init_kwargs(engine))
    try:
        yield ray
    finally:
        ray.shutdown()


@contextmanager
def project_errors(ray) -> Iterator[None]:
    """Inside the block, a Ray task or actor call that failed with one of the project's errors
    raises that error itself (exit codes intact) instead of Ray's wrapper."""
    from pipeline.errors import PipelineError

    try:
        yield
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        if isinstance(cause, PipelineError):
            raise cause from None
        raise


def gather(ray, refs: list) -> list:
    """``ray.get`` that raises a task's own project error (exit codes intact) instead of Ray's wrapper."""
    with project_errors(ray):
        return ray.get(refs)
