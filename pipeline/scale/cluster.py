"""Start or join the Ray cluster ``engine`` names, and leave it as it was found.

``engine.address`` joins an existing cluster (and only disconnects afterwards); without one a
local cluster is started with ``engine.num_cpus`` CPUs and no dashboard, and shut down when the
stage is done, also on an error. A Ray session already open in this process (a test's fixture, a
notebook) is used as it is and left open: whoever started it stops it.

Workers must import the same ``pipeline`` as the driver: on a local cluster the driver's copy is
put first on the workers' ``PYTHONPATH`` (an editable install elsewhere, or a second checkout,
would otherwise win); to a cluster at an address the package is uploaded with the job.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import ConfigError

#: What to install when ``engine.kind: ray`` is asked for without Ray.
INSTALL_HINT = "pip install -c constraints.txt -e '.[scale]'"


def require_ray():
    """The ``ray`` module, or exit 2 naming the setting and the install command."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(
            f"engine.kind is 'ray' but Ray is not installed ({err}); install the optional extra: {INSTALL_HINT}"
        ) from err
    return ray


def code_path() -> str:
    """The directory holding this process's ``pipeline`` package, first on the workers' path."""
    here = str(Path(__file__).resolve().parents[2])
    rest = os.environ.get("PYTHONPATH")
    return here if not rest else os.pathsep.join([here, rest])


def init_kwargs(engine) -> dict:
    """``ray.init`` arguments for ``engine`` (an :class:`pipeline.config.EngineSettings`): a local
    cluster's workers read this checkout through ``PYTHONPATH``; a cluster at an address may run on
    other machines, so the package itself is shipped (``py_modules``)."""
    if engine.address:
        package = str(Path(__file__).resolve().parents[1])
        return {"address": engine.address, "runtime_env": {"py_modules": [package]}, "log_to_driver": False}
    runtime_env = {"env_vars": {"PYTHONPATH": code_path()}}
    return {"num_cpus": engine.num_cpus, "include_dashboard": False, "runtime_env": runtime_env, "log_to_driver": False}


@contextmanager
def connected(engine) -> Iterator[object]:
    """Yield the ``ray`` module connected as ``engine`` says; shut down only what was started here."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    ray.init(**init_kwargs(engine))
    try:
        yield ray
    finally:
        ray.shutdown()
