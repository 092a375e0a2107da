"""The only module that imports mlflow: store set-up, run logging and the registry gate.

Defaults to ``sqlite:///mlflow.db`` at the project root with artifacts in ``mlartifacts/``
beside it; ``MLFLOW_TRACKING_URI`` points anywhere else. A remote server is probed with a short
timeout before anything is logged, because MLflow's own retries take minutes to give up.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import TrackingUnavailableError

STORE_NAME = "mlflow.db"
ARTIFACTS_NAME = "mlartifacts"


def project_root(cwd: Path | None = None) -> Path:
    """The project root; a DVC temp experiment (``.dvc/tmp/exps/...``) maps back to its parent repo,
    so queued experiments log into the same store as the workspace."""
    cwd = (cwd or Path.cwd()).resolve()
    parts = cwd.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    return cwd


#: Query or fragment parameters whose value is a credential (``?access_token=...``, ``#key=...``).
SECRET_PARAMS = re.compile(
    r"(?i)([?&#;](?:[\w.-]*(?:token|secret|password|passwd|pwd|key|signature|sig|credential|auth)[\w.-]*)=)[^&#\s'\"]*"
)
#: ``scheme://userinfo@`` in any text: the userinfo is replaced as a whole, whatever it holds.
URI_USERINFO = re.compile(r"(\b[a-zA-Z][\w+.-]*://)[^/\s@'\"]+@")
#: Credentials known from the environment are also hidden outside URIs, but only when long enough
#: that hiding them cannot mangle ordinary words (a short username is never searched for).
MIN_SECRET_LENGTH = 6


def redact(uri: str) -> str:
    """Hide credentials in a URI: its userinfo (``https://user:secret@host`` -> ``https://***@host``)
    and secret-looking query or fragment parameters (``?access_token=***``)."""
    return SECRET_PARAMS.sub(r"\1***", URI_USERINFO.sub(r"\1***@", uri))


def _known_secrets() -> list[str]:
    """The tracking password and token, from the URI or the environment (never the username)."""
    from urllib.parse import unquote

    found = [urlsplit(os.environ.get("MLFLOW_TRACKING_URI", "")).password or ""]
    found += [os.environ.get(k, "") for k in ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")]
    found += [unquote(f) for f in found]
    return sorted({f for f in found if len(f) >= MIN_SECRET_LENGTH}, key=len, reverse=True)


def scrub_text(message: str) -> str:
    """Hide credentials in any message or traceback before it is printed.

    Every URI's userinfo and secret-looking parameters go (:func:`redact`); the password and token
    are also hidden where they appear on their own. Plain substrings equal to a username are left
    alone: replacing them would mangle words ("is ***nreachable") and reveal the name.
    """
    message = redact(message)
    for secret in _known_secrets():
        message = message.replace(secret, "***")
    return message


def resolve_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / STORE_NAME}"


def check_reachable(uri: str, timeout_s: float) -> None:
    """Fail fast, naming the (redacted) URI, when an HTTP tracking server does not answer.

    ``timeout_s`` bounds the whole probe, not each read: ``requests`` applies its timeout per
    socket read, so a server trickling one byte a second would otherwise hold the stage forever.
    The request runs in a daemon thread that is abandoned when the deadline passes.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import threading

    import requests

    outcome: dict[str, object] = {}

    def probe() -> None:
        try:
            outcome["status"] = requests.get(uri.rstrip("/") + "/health", timeout=timeout_s).status_code
        except requests.RequestException as err:
            outcome["error"] = type(err).__name__

    worker = threading.Thread(target=probe, name="mlflow-probe", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        outcome["error"] = f"no complete answer within {timeout_s:g} s, tracking.timeout_s"
    if "error" in outcome or "status" not in outcome:
        raise TrackingUnavailableError(
            f"MLflow tracking server {redact(uri)} is unreachable ({outcome.get('error', 'no answer')}); "
            "start it or unset MLFLOW_TRACKING_URI to use the local sqlite store"
        ) from None
    if outcome["status"] != 200:  # a proxy, a wrong port or a wrong password: not a usable MLflow server
        raise TrackingUnavailableError(
            f"MLflow tracking server {redact(uri)} answered HTTP {outcome['status']} on /health "
            "(expected 200 from an MLflow server); check the URI, the port and the credentials"
        )


class DeadlineExpired(BaseException):
    """Raised by the timer of :func:`deadline`. A ``BaseException``, like ``KeyboardInterrupt``, so the
    ``except Exception`` wrappers inside MLflow's and requests' retry loops cannot swallow it."""


#: After the deadline, the clean-up (ending the run FAILED, removing its model versions) gets this long.
DEADLINE_GRACE_S = 5.0


@contextmanager
def deadline(uri: str, seconds: float) -> Iterator[None]:
    """Bound the whole conversation with an HTTP tracking server to ``seconds`` (exit 3 naming it).

    ``requests`` times out per socket read, and MLflow retries each call, so a server that answers
    its health check at once and then trickles every other reply held ``log`` for minutes per
    request. A real-time timer (``SIGALRM``) interrupts whatever call is waiting when the time is up;
    a local SQLite store has no network and no deadline. Only the main thread receives signals, so
    elsewhere the calls keep their per-request timeouts only.
    """
    import signal
    import threading

    local = not uri.startswith(("http://", "https://"))
    if local or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield  # no network, no POSIX timer (Windows), or not the main thread: per-request timeouts only
        return

    def expire(signum, frame):  # noqa: ARG001 - signal handler signature
        signal.setitimer(signal.ITIMER_REAL, DEADLINE_GRACE_S)  # a stalled clean-up is interrupted in turn
        raise DeadlineExpired

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except DeadlineExpired:
        raise TrackingUnavailableError(
            f"MLflow tracking server {redact(uri)} did not complete the `log` stage's exchange within "
            f"{seconds:g} s (tracking.deadline_s): it answers too slowly or stalls mid-answer; check the server "
            "or raise tracking.deadline_s. Model versions this run registered were removed where the server let us"
        ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def _local_path(location: str | None) -> Path | None:
    """The folder behind a local artifact location (``file:///...`` or a plain path), else None."""
    if not location:
        return None
    if location.startswith("file:"):
        from urllib.parse import unquote

        return Path(unquote(urlsplit(location).path))
    return None if "://" in location else Path(location)


def guard_local_store(uri: str) -> None:
    """Refuse a store or artifact folder named inside the project that a symlink carries outside.

    Checked before MLflow writes anything: MLflow writes artifacts with its own file calls, which the
    guard of :mod:`pipeline.io` does not see.
    """
    from pipeline import io

    db_path = _sqlite_path(uri)
    if db_path is not None:
        io.check_stays_inside(db_path, project_root(), "use the MLflow store")
        io.check_stays_inside(db_path.parent / ARTIFACTS_NAME, project_root(), "write MLflow artifacts to")
        guard_artifact_tree(db_path.parent / ARTIFACTS_NAME)


#: Levels of ``mlartifacts/`` that exist before a run writes: ``<experiment>/``, ``models/``, ``<run or model id>/``.
ARTIFACT_TREE_DEPTH = 3


def guard_artifact_tree(folder: Path, depth: int = ARTIFACT_TREE_DEPTH) -> None:
    """Refuse a symlink anywhere in the first levels of ``folder`` that leads out of the project.

    MLflow writes ``mlartifacts/models/<id>/...`` and ``mlartifacts/<run id>/artifacts/...``: a symlinked
    ``mlartifacts/models`` sent every logged model outside while the top folder looked fine. Every
    component a future write passes through already exists within these levels, so checking them
    covers the whole path.
    """
    from pipeline import io

    if not folder.is_dir():
        return
    level = [folder]
    for _ in range(depth):
        below = []
        for parent in level:
            for child in sorted(parent.iterdir()):
                if child.is_symlink():
                    io.check_stays_inside(child, project_root(), "write MLflow artifacts to")
                elif child.is_dir():
                    below.append(child)
        level = below


def _ensure_sqlite_store(uri: str) -> None:
    """Create a fresh SQLite store once, under a file lock: concurrent first writers corrupt it.

    A file that is not a usable MLflow store (corrupt, truncated, another program's database) is an
    integrity error naming the file, not a traceback.
    """
    db_path = _sqlite_path(uri)
    if db_path is None:
        return
    from filelock import FileLock

    from pipeline.errors import IntegrityError

    db_path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db_path) + ".lock", timeout=120):
        import mlflow

        try:
            mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        except Exception as err:  # sqlite3/SQLAlchemy errors arrive wrapped in several MlflowException types
            first = (str(err).splitlines() or [""])[0][:200]
            if "locked" in str(err).lower():  # busy, not broken: another process holds a write lock
                raise TrackingUnavailableError(f"{db_path}: the MLflow store is busy ({first}); try again") from None
            raise IntegrityError(
                f"{db_path}: not a usable MLflow store ({type(err).__name__}: {first}); it is corrupt or "
                "not an MLflow database. Move it aside (a new store is created) or restore it from a backup"
            ) from None


def connect(experiment: str, timeout_s: float) -> str:
    """Point mlflow at the store, create it if needed and select ``experiment``; return the URI."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(max(timeout_s, 1))))
    uri = resolve_uri()
    check_reachable(uri, timeout_s)
    guard_local_store(uri)
    _ensure_sqlite_store(uri)
    import mlflow

    from pipeline.errors import PipelineError

    mlflow.set_tracking_uri(uri)
    try:
        _select_experiment(mlflow, uri, experiment)
    except PipelineError:
        raise
    except Exception as err:  # MlflowException, or requests errors after MLflow's own retries
        first = redact((str(err).splitlines() or [""])[0])[:300]
        raise TrackingUnavailableError(
            f"MLflow tracking store {redact(uri)} could not select experiment '{experiment}' "
            f"({type(err).__name__}: {first})"
        ) from None
    return uri


def _select_experiment(mlflow, uri: str, experiment: str) -> None:
    """Create ``experiment`` if missing (tolerating a parallel creator) and make it the active one.

    Its artifact folder is checked first: an existing experiment may point at a folder that has
    since been replaced by a symlink leading out of the project.
    """
    from pipeline import io

    found = mlflow.get_experiment_by_name(experiment)
    expected = _expected_artifacts(uri)
    if found is not None and expected is not None and not _same_folder(found.artifact_location, expected):
        _set_aside(mlflow, found, expected)
        found = None
    if found is None:
        try:
            mlflow.create_experiment(experiment, artifact_location=expected.as_uri() if expected else None)
        except Exception:  # another process created it first
            if mlflow.get_experiment_by_name(experiment) is None:
                raise
    else:
        local = _local_path(found.artifact_location)
        if local is not None:
            io.check_stays_inside(local, project_root(), "write MLflow artifacts to")
    mlflow.set_experiment(experiment)


def _expected_artifacts(uri: str) -> Path | None:
    """Where a store inside this project keeps its artifacts: ``mlartifacts/`` beside it, resolved against
    the project root of this run (``None`` for a server or a store the user put outside the project)."""
    db_path = _sqlite_path(uri)
    if db_path is None or not Path(os.path.abspath(db_path)).is_relative_to(project_root()):
        return None
    return Path(os.path.abspath(db_path)).parent / ARTIFACTS_NAME


def _same_folder(location: str | None, expected: Path) -> bool:
    local = _local_path(location)
    return local is not None and Path(os.path.abspath(local)) == expected


def _set_aside(mlflow, found, expected: Path) -> None:
    """An experiment whose artifacts live elsewhere (the store was copied with ``cp -a``, or the project was
    moved): MLflow would keep writing there, into another project or a re-created old path. Experiments
    cannot be re-pointed, so it is renamed, keeping its runs, and a new one of the same name takes its place."""
    aside = f"{found.name} (artifacts at {found.artifact_location}, id {found.experiment_id})"[:500]
    mlflow.MlflowClient().rename_experiment(found.experiment_id, aside)
    print(
        f"log: MLflow experiment '{found.name}' keeps its artifacts at {found.artifact_location}, outside this "
        f"project's {expected} (a copied or moved project); it was renamed '{aside}' and a new "
        f"'{found.name}' logs into {expected}"
    )


def check_run_location(artifact_uri: str) -> None:
    """Refuse a run whose artifact folder is not inside this project's ``mlartifacts/`` (store inside the project)."""
    from pipeline import io
    from pipeline.errors import BadInputError

    expected = _expected_artifacts(resolve_uri())
    local = _local_path(artifact_uri)
    if expected is None or local is None:
        return
    if not Path(os.path.abspath(local)).is_relative_to(expected):
        raise BadInputError(
            f"refusing to write MLflow artifacts to {local}: outside this project's {expected}; "
            "the experiment was created elsewhere (rerun `log`: it is set aside and recreated)"
        )
    io.check_stays_inside(local, project_root(), "write MLflow artifacts to")


def connect_readonly() -> str:
    """Point mlflow at the configured store for reading only (``compare``); never creates one."""
    uri = resolve_uri()
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).is_file():
        raise TrackingUnavailableError(
            f"no MLflow store at {redact(uri)}: run the pipeline first or set MLFLOW_TRACKING_URI"
        )
    check_reachable(uri, 10.0)
    _ensure_sqlite_store(uri)  # an existing file: only checked, so a corrupt store is exit 4, not a traceback
    import mlflow

    mlflow.set_tracking_uri(uri)
    return uri


def _lock_path(uri: str) -> Path:
    db_path = _sqlite_path(uri)
    return Path(str(db_path) + ".log.lock") if db_path is not None else project_root() / "mlflow.db.log.lock"


@contextmanager
def exclusive(state_hash: str, timeout_s: float = 900.0) -> Iterator[None]:
    """Hold the store's log lock, then end runs of ``state_hash`` that a killed ``log`` left RUNNING.

    Without the lock two concurrent ``log`` calls on one new state both find no run and each log
    one (two runs, two model versions). With it, the second waits and then reuses the first's
    run. Every ``log`` takes the lock before it starts a run, so a run of this state still RUNNING
    while the lock is held has no living owner: it is ended KILLED (SIGKILL, OOM kill, power loss
    leave no chance to end it). The lock lives beside a SQLite store; for a server, at the
    project root (it then serialises the ``log`` calls of this machine only, so there only runs
    older than ``SERVER_ORPHAN_AGE_S`` are ended).
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(_lock_path(resolve_uri())))
    try:
        lock.acquire(timeout=timeout_s)
    except Timeout:
        raise TrackingUnavailableError(
            f"another `log` has held {lock.lock_file} for {timeout_s:g} s; wait for it or end it"
        ) from None
    try:
        # a server may be shared with other machines, whose `log` this lock does not see: there only
        # a run RUNNING for longer than any log takes is taken for an orphan
        end_orphaned_runs(state_hash, min_age_s=0 if _sqlite_path(resolve_uri()) else SERVER_ORPHAN_AGE_S)
        yield
    finally:
        lock.release()


#: On a tracking server, a RUNNING run older than this is taken for the orphan of a killed ``log``.
SERVER_ORPHAN_AGE_S = 3600


def end_orphaned_runs(state_hash: str, min_age_s: float = 0) -> list[str]:
    """Mark the runs of ``state_hash`` RUNNING for at least ``min_age_s`` as KILLED (call only while holding
    the lock)."""
    import time

    import mlflow

    client = mlflow.MlflowClient()
    query = f"tags.pipeline_state = '{state_hash}' and attributes.status = 'RUNNING'"
    ended = []
    cutoff_ms = (time.time() - min_age_s) * 1000
    for found in mlflow.search_runs(filter_string=query, max_results=100, output_format="list"):
        if found.info.start_time and found.info.start_time > cutoff_ms:
            continue
        client.set_tag(found.info.run_id, "ended_by", "a later `log`: its process died while logging")
        discard_versions(found.info.run_id)
        client.set_terminated(found.info.run_id, status="KILLED")
        ended.append(found.info.run_id)
    return ended


def artifacts_intact(run_id: str) -> bool:
    """Whether the run's logged files and model can still be read (``mlartifacts/`` may be deleted)."""
    import mlflow

    try:
        if not mlflow.MlflowClient().list_artifacts(run_id, "metrics"):
            return False
        model_uri = get_tags(run_id).get("model_uri")
        return not model_uri or bool(mlflow.artifacts.list_artifacts(artifact_uri=model_uri))
    except Exception:  # a missing folder or model raises in the artifact repository
        return False


def find_run(state_hash: str, report_sha256: str | None = None) -> str | None:
    """A finished run already logged for this exact pipeline state (and report file) whose artifacts
    still exist, if any; runs whose artifacts are gone are tagged ``artifacts_missing`` and skipped."""
    import mlflow

    query = f"tags.pipeline_state = '{state_hash}' and attributes.status = 'FINISHED'"
    if report_sha256:
        query += f" and tags.report_sha256 = '{report_sha256}'"
    for found in mlflow.search_runs(filter_string=query, max_results=20, output_format="list"):
        if artifacts_intact(found.info.run_id):
            return found.info.run_id
        mlflow.MlflowClient().set_tag(found.info.run_id, "artifacts_missing", "true")
    return None


def registry_of(run_id: str) -> dict:
    """``{"registry": {...}}`` for ``run_id``'s registered network version, or ``{}``.

    The run's ``registered_version`` tag names it (the version may belong to an older run with the
    same weights); runs logged before that tag existed are looked up by their own versions."""
    import mlflow

    client = mlflow.MlflowClient()
    named = get_tags(run_id).get("registered_version", "")
    try:
        if ":" in named:
            name, version = named.rsplit(":", 1)
            newest = client.get_model_version(name, version)
        else:
            versions = client.search_model_versions(f"run_id = '{run_id}'")
            if not versions:
                return {}
            newest = max(versions, key=lambda v: int(v.version))
    except Exception:  # a store without a registry, or a deleted version
        return {}
    aliases = client.get_registered_model(newest.name).aliases or {}
    alias = next((a for a, v in sorted(aliases.items()) if str(v) == str(newest.version)), None)
    return {"registry": {"name": newest.name, "version": int(newest.version), "alias": alias}}


def download_artifacts(run_id: str, artifact_path: str, dst: Path) -> Path:
    """Copy a run's artifact folder into ``dst`` (a temporary folder: never a project output)."""
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path, dst_path=str(dst)))


def get_tags(run_id: str) -> dict[str, str]:
    import mlflow

    return dict(mlflow.MlflowClient().get_run(run_id).data.tags)


def set_tag(key: str, value: str) -> None:
    import mlflow

    mlflow.set_tag(key, value)


@contextmanager
def run(run_name: str, tags: dict[str, str]) -> Iterator[str]:
    """A run that ends FAILED on an exception and KILLED on interruption, never left RUNNING."""
    import mlflow

    active = mlflow.start_run(run_name=run_name, tags=tags)
    try:
        check_run_location(active.info.artifact_uri)
        yield active.info.run_id
    except KeyboardInterrupt:
        discard_versions(active.info.run_id)
        mlflow.end_run(status="KILLED")
        raise
    except BaseException:
        discard_versions(active.info.run_id)
        mlflow.end_run(status="FAILED")
        raise
    mlflow.end_run(status="FINISHED")


#: Tag on each model version ``log`` registers: which version held the alias before this ``log`` began.
ALIAS_BEFORE_TAG = "alias_before_this_log"


def _alias_before(client, name: str, alias: str) -> str:
    """``alias=version`` of the current holder (``alias=`` when none), recorded before the alias moves."""
    try:
        holder = (client.get_registered_model(name).aliases or {}).get(alias)
    except Exception:  # the registered model does not exist yet
        holder = None
    return f"{alias}={holder or ''}"


def discard_versions(run_id: str) -> list[str]:
    """Delete the model versions registered from ``run_id`` (a ``log`` that did not finish), and give each
    alias back to the version that held it before that ``log``: the registry holds only what finished.

    Best effort: a store that fails here (the server that made the run fail) leaves the versions, and the
    run's FAILED or KILLED status says they are not to be used.
    """
    import mlflow

    client = mlflow.MlflowClient()
    try:
        created = sorted(client.search_model_versions(f"run_id = '{run_id}'"), key=lambda v: int(v.version))
    except Exception:
        return []
    ours = {(v.name, str(v.version)) for v in created}
    restore: dict[tuple[str, str], str] = {}
    for version in created:
        alias, _, holder = (version.tags or {}).get(ALIAS_BEFORE_TAG, "=").partition("=")
        if alias and holder and (version.name, holder) not in ours:
            restore.setdefault((version.name, alias), holder)
    removed = []
    for version in created:
        try:
            client.delete_model_version(version.name, version.version)
            removed.append(f"{version.name} v{version.version}")
        except Exception:
            continue
    for (name, alias), holder in restore.items():
        try:
            client.set_registered_model_alias(name, alias, holder)
        except Exception:  # the earlier holder was deleted since
            continue
    if removed:
        print(f"log: removed model version(s) {', '.join(removed)}, registered by the unfinished run {run_id}")
    return removed


def log_params(flat: dict[str, object]) -> None:
    import mlflow

    items = sorted(flat.items())
    for start in range(0, len(items), 100):
        mlflow.log_params(dict(items[start : start + 100]))


def log_metrics(flat: dict[str, float], step: int | None = None, model_id: str | None = None) -> None:
    """Log in batches of 1,000; ``model_id`` links the metrics to a logged model (MLflow 3)."""
    import time

    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(key, float(value), now, step or 0, model_id=model_id) for key, value in sorted(flat.items())]
    client = mlflow.MlflowClient()
    run_id = mlflow.active_run().info.run_id
    for start in range(0, len(batch), 1000):
        client.log_batch(run_id, metrics=batch[start : start + 1000])


def log_curves(rows: list[dict]) -> None:
    """Per-epoch training curves, one step per epoch."""
    for row in rows:
        epoch = int(row["epoch"])
        log_metrics({f"train_curve/{k}": v for k, v in row.items() if k != "epoch" and v == v}, step=epoch)


def import_mlflow_pytorch():
    """``mlflow.pytorch`` without the Lightning import it makes only for autologging.

    On import, ``mlflow.pytorch`` tries ``from mlflow.pytorch._lightning_autolog import
    MlflowModelCheckpointCallback`` and skips it on ImportError; that import pulls in
    pytorch_lightning and torch._dynamo (their import times are in benchmarks/RESULTS.md) for a
    callback we never use. A
    ``None`` entry in ``sys.modules`` makes ``import pytorch_lightning`` raise ImportError for
    the length of this import only; the entry is removed afterwards, so Lightning imports
    normally later in the process. When Lightning is already imported nothing is hidden.
    """
    import sys

    if "mlflow.pytorch" in sys.modules or "pytorch_lightning" in sys.modules:
        import mlflow.pytorch

        return mlflow.pytorch
    sys.modules["pytorch_lightning"] = None  # type: ignore[assignment]
    try:
        import mlflow.pytorch
    finally:
        if sys.modules.get("pytorch_lightning", 0) is None:
            del sys.modules["pytorch_lightning"]
    return mlflow.pytorch


def log_model(model, input_example, requirements: list[str]):
    """Log the model in the pt2 (torch.export) format with a signature and an input example.

    pt2 loads without unpickling code (pickle would save faster but lets a tampered artifact run
    code on load); ``pip_requirements`` is passed because MLflow infers it by importing the model's
    dependencies, which is slow. Log the model before the run's metrics: ``log_model`` links every
    metric already in the run to the model by reading each one's history back (one store query per
    metric); metrics logged afterwards carry the model id instead (:func:`log_metrics`). The log
    stage's time as a user meets it is in benchmarks/RESULTS.md.
    """
    import torch
    from mlflow.models import infer_signature

    model = model.eval()
    with torch.no_grad():
        output = model(torch.from_numpy(input_example)).numpy()
    signature = infer_signature(input_example, output)
    return import_mlflow_pytorch().log_model(
        model,
        name="model",
        input_example=input_example,
        signature=signature,
        pip_requirements=requirements,
        serialization_format="pt2",
    )


def log_dataset_file(
    path: Path, name: str, sha256: str, columns: list[str], types: list[str], rows: int, context: str
) -> None:
    """Record a dataset input from its file hash and a known schema.

    ``mlflow.data.from_pandas`` infers the schema by testing every cell for NaN (slow on a
    split of tens of thousands of rows); here the digest is the file's sha256 (first 32 hex digits, what the
    store's digest column holds) and the schema comes from ``meta.json``, so a reviewer can check the digest with
    ``sha256sum``.
    """
    import json

    import mlflow
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.types import ColSpec, Schema

    schema = Schema([ColSpec(t, c) for c, t in zip(columns, types)])
    dataset = Dataset(
        name=name,
        digest=sha256[:32],
        source_type="local",
        source=json.dumps({"uri": Path(path).as_posix()}),
        schema=json.dumps({"mlflow_colspec": schema.to_dict()}),
        profile=json.dumps({"num_rows": rows, "num_elements": rows * len(columns)}),
    )
    tags = [InputTag(key="mlflow.data.context", value=context)]
    mlflow.MlflowClient().log_inputs(mlflow.active_run().info.run_id, datasets=[DatasetInput(dataset, tags)])


def log_artifact(path: Path, folder: str | None = None) -> None:
    import mlflow

    mlflow.log_artifact(str(path), artifact_path=folder)


def log_artifacts(folder: Path, target: str) -> None:
    """A whole folder in one call (one listing and upload pass instead of one per file)."""
    import mlflow

    mlflow.log_artifacts(str(folder), artifact_path=target)


# --- mitigation candidates (stage ``mitigate``; called by ``pipeline.mitigation.registry``) ---------


def log_candidate_model(
    name: str, folder: Path, input_example, output_example, tags: dict[str, str], requirements: list[str]
):
    """Log one candidate as its own pyfunc model in the active run (see :mod:`pipeline.tracking_models`).

    The package ``pipeline`` travels with the model (``code_paths``), so ``mlflow.pyfunc.load_model``
    needs no checkout of this project; the weights travel as the artifact folder, never pickled.
    """
    import mlflow
    from mlflow.models import infer_signature

    from pipeline.tracking_models import CandidateModel

    return mlflow.pyfunc.log_model(
        name=name,
        python_model=CandidateModel(),
        artifacts={"candidate": str(folder)},
        code_paths=[str(Path(__file__).parent)],
        signature=infer_signature(input_example, output_example),
        input_example=input_example,
        pip_requirements=requirements,
        tags=tags,
    )


def active_run_id() -> str:
    import mlflow

    return mlflow.active_run().info.run_id


# --- what a reviewer sees in the UI (issue 17): experiment kind, run note, figures, tables, versions ---

#: MLflow 3 opens an experiment on its GenAI views unless it is tagged as model development. MLflow
#: 3.17's UI ignores the tag in favour of its "GenAI / Model training" switch (remembered per browser,
#: default GenAI) or a ``?workflowType=machine_learning`` URL parameter: see :data:`RUNS_VIEW`.
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
NOTE_TAG = "mlflow.note.content"  # the run's "Description" (Markdown) in the UI
#: MLflow 3.15+ keeps the runs table's saved views as experiment tags ``mlflow.sharedViewState.<id>``
#: (an envelope ``{name, createdAt, updatedAt, state}`` whose ``state`` is the JSON of the table's
#: columns, their order and widths, and its sort); ``?viewStateShareKey=<id>`` opens one, and the
#: "Views" menu lists it. There is no server-side default for columns (mlflow/mlflow#4713, #12764).
SAVED_VIEW_PREFIX = "mlflow.sharedViewState."
VIEW_ID = "audit-verdicts"
VIEW_NAME = "Audit verdicts"
#: Appended to UI links so they open on the training runs, in the saved view with the verdict columns.
RUNS_VIEW = f"?viewStateShareKey={VIEW_ID}&workflowType=machine_learning"
#: The view's columns after the run name (which carries the verdict), in this order.
VIEW_COLUMNS = (
    "tags.`audit_summary`",
    "metrics.`evaluate/accuracy`",
    "metrics.`evaluate/balanced_accuracy`",
    "metrics.`audit/passed`",
    "metrics.`audit/checks_fail`",
)


def mark_experiment_for_training_runs(experiment: str) -> None:
    """Tag the experiment so clicking it opens the runs table, not the GenAI overview."""
    import mlflow

    found = mlflow.get_experiment_by_name(experiment)
    if found is not None and found.tags.get(EXPERIMENT_KIND[0]) != EXPERIMENT_KIND[1]:
        mlflow.MlflowClient().set_experiment_tag(found.experiment_id, *EXPERIMENT_KIND)


def save_runs_view(experiment: str) -> None:
    """Save the runs-table view :data:`VIEW_ID` on ``experiment``: run name wide enough for the verdict,
    then the verdict tag, accuracy and the audit counts (the UI's own saved-view format, see
    :data:`SAVED_VIEW_PREFIX`); its first creation time is kept when it is rewritten."""
    import json
    import time

    import mlflow

    found = mlflow.get_experiment_by_name(experiment)
    if found is None:
        return
    key = SAVED_VIEW_PREFIX + VIEW_ID
    state = {
        "selectedColumns": list(VIEW_COLUMNS),
        "columnOrder": ["attributes.`Run Name`", *VIEW_COLUMNS, "runDateAndNestInfo", "duration"],
        "columnWidths": {"attributes.`Run Name`": 400, "tags.`audit_summary`": 260},
        "orderByKey": "attributes.start_time",
        "orderByAsc": False,
    }
    now = int(time.time() * 1000)
    try:
        created = int(json.loads(found.tags.get(key, "{}")).get("createdAt", now))
    except (ValueError, TypeError, AttributeError):  # a hand-edited tag: rewritten
        created = now
    envelope = {"name": VIEW_NAME, "createdAt": created, "updatedAt": now, "state": json.dumps(state)}
    old = found.tags.get(key)
    if old is None or json.loads(old).get("state") != envelope["state"]:
        mlflow.MlflowClient().set_experiment_tag(found.experiment_id, key, json.dumps(envelope))


def set_note(markdown: str, run_id: str | None = None) -> None:
    """The run's description (shown at the top of the run page)."""
    import mlflow

    run_id = run_id or mlflow.active_run().info.run_id
    mlflow.MlflowClient().set_tag(run_id, NOTE_TAG, markdown)


def active_experiment_id() -> str:
    import mlflow

    return mlflow.active_run().info.experiment_id


def log_figure(fig, artifact_file: str) -> None:
    """A matplotlib figure as an image shown inline in the run's artifact view (closed afterwards)."""
    import matplotlib.pyplot as plt
    import mlflow

    try:
        mlflow.log_figure(fig, artifact_file)
    finally:
        plt.close(fig)


def log_dict(payload: dict, artifact_file: str) -> None:
    import mlflow

    mlflow.log_dict(payload, artifact_file)


def log_table(rows: list[dict], artifact_file: str) -> None:
    """Rows as an MLflow table artifact (the UI shows it as a sortable table)."""
    import mlflow
    import pandas as pd

    mlflow.log_table(pd.DataFrame(rows), artifact_file=artifact_file)


def describe_model_version(name: str, version: int, description: str, tags: dict[str, str]) -> None:
    """A registered version's description and verdict tags, so the registry page reads on its own."""
    import mlflow

    client = mlflow.MlflowClient()
    client.update_model_version(name, str(version), description=description)
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)


def experiment_id(experiment: str) -> str | None:
    import mlflow

    found = mlflow.get_experiment_by_name(experiment)
    return found.experiment_id if found else None


# --- the registry (issue 26): one version per distinct decision, verdict first ---------------------


def find_model_version(name: str, tag: str, value: str) -> int | None:
    """The oldest version of registered model ``name`` whose tag ``tag`` equals ``value``, or None."""
    import mlflow

    client = mlflow.MlflowClient()
    try:
        found = client.search_model_versions(f"name = '{name}' and tags.`{tag}` = '{value}'")
    except mlflow.exceptions.MlflowException:  # no registered model of that name yet
        return None
    return min((int(v.version) for v in found), default=None)


def register_version(model_uri: str, name: str, description: str, tags: dict[str, str], alias: str = "audited") -> int:
    """Register ``model_uri`` as a new version of ``name`` with its description and tags, recording who
    held ``alias`` before (:data:`ALIAS_BEFORE_TAG`, so :func:`discard_versions` can give it back)."""
    import mlflow

    before = _alias_before(mlflow.MlflowClient(), name, alias)
    version = mlflow.register_model(model_uri, name, tags={**tags, ALIAS_BEFORE_TAG: before})
    mlflow.MlflowClient().update_model_version(name, str(version.version), description=description)
    return int(version.version)


def point_alias(name: str, alias: str, version: int | None) -> None:
    """Move ``alias`` to ``version``; ``None`` removes it, so it never names a version that failed."""
    import mlflow

    client = mlflow.MlflowClient()
    if version is not None:
        client.set_registered_model_alias(name, alias, str(version))
        return
    try:
        client.delete_registered_model_alias(name, alias)
    except mlflow.exceptions.MlflowException:  # no such alias yet
        pass


def alias_version(name: str, alias: str) -> int | None:
    import mlflow

    try:
        return int(mlflow.MlflowClient().get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def describe_registered_model(name: str, description: str, tags: dict[str, str]) -> None:
    """The registered model's description and tags: the registry's model list shows its tags."""
    import mlflow

    client = mlflow.MlflowClient()
    client.update_registered_model(name, description=description)
    for key, value in tags.items():
        client.set_registered_model_tag(name, key, value)


def model_version_tags(name: str, version: int) -> dict[str, str]:
    import mlflow

    return dict(mlflow.MlflowClient().get_model_version(name, str(version)).tags)


def log_model_metrics(flat: dict[str, float], model_id: str) -> None:
    """Metrics of one logged model (a candidate's own figures), linked to it and not to the network."""
    log_metrics(flat, model_id=model_id)
