"""Errors the stages raise on purpose, each with a documented exit code.

The CLI turns these into a one-line message on stderr and a distinct exit status, so a CI job
can tell bad input from an unreachable tracking server from a tampered file.
"""

from __future__ import annotations

#: Exit codes of ``python -m pipeline <stage>`` (documented in README.md and docs/reliability.md).
EXIT_OK = 0
#: An unexpected exception (a bug): the traceback is printed with credentials scrubbed.
EXIT_UNEXPECTED = 1
EXIT_BAD_INPUT = 2
EXIT_TRACKING_UNAVAILABLE = 3
EXIT_INTEGRITY = 4
EXIT_AUDIT_FAILED = 5
#: An output could not be written: disk full or quota exhausted (the previous file is kept).
EXIT_STORAGE = 6
#: SIGINT or SIGTERM: ``finally`` blocks ran and an open MLflow run was ended KILLED.
EXIT_INTERRUPTED = 130


class PipelineError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code = 1


class BadInputError(PipelineError, ValueError):
    """The data file, a column or a setting is not what the pipeline needs."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BadInputError):
    """``params.yaml`` has an unknown key or a value out of range."""


class TrackingUnavailableError(PipelineError):
    """The MLflow tracking server cannot be reached."""

    exit_code = EXIT_TRACKING_UNAVAILABLE


class IntegrityError(PipelineError):
    """A file is not what it claims to be: checksum mismatch, corrupt checkpoint, pickle payload."""

    exit_code = EXIT_INTEGRITY


class EvidenceMismatchError(IntegrityError):
    """The audit's verdicts do not recompute from its own evidence under the configured policy, or
    its outputs differ from dvc.lock: the gate and the registry refuse to act on them."""


class AuditFailedError(PipelineError):
    """``python -m pipeline gate``: the audit policy did not pass (every output is already written)."""

    exit_code = EXIT_AUDIT_FAILED


class StorageError(PipelineError):
    """An output could not be written for lack of space; the previous version is unchanged."""

    exit_code = EXIT_STORAGE
