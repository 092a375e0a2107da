"""Typed contracts for the files stages hand each other: ``data/prepared/meta.json`` and every
``reports/metrics/*.json``, validated when written and when read.

Why: stages used to exchange untyped dicts read by key, so a file written by an older or broken
stage surfaced as a ``KeyError`` deep inside another stage (or, worse, as a ``.get()`` that
quietly read a missing block as "nothing found"). Here each file has one pydantic model, and
:func:`write` / :func:`read` check it at the boundary: a bad file is refused with
:class:`~pipeline.errors.IntegrityError` (exit 4) naming the file, the key, what is wrong and the
stage to rerun; a bug cannot write a bad file in the first place (nothing is written, the previous
file stays).

How strict:
- Every file is read by another stage (at least ``report`` and ``log``), so every model is closed
  (``extra="forbid"``) at its top level and in each block another stage reads by key (meta.json
  throughout; leakage, the data audit, degeneracy, near-perfect, verdicts, per-view disparities,
  mitigation candidates, train cost, membership inference): a key the writer adds must be added
  here too, or :func:`write` refuses it, so writer and readers cannot drift.
- Keys other stages rely on are required; the rest the writer writes are typed and optional.
- Typed as ``dict[str, Any]`` (open inside) are only detail blocks that are shown, not read by
  key, by another stage: per-group rows, the PII scan, the column screen, obstacles, the
  policy's words, a candidate's own audit (recomputed as written by the evidence check). An
  explain method's block is open beside its three fixed keys: each method reports its own summary.
- Validation is strict on types (no ``"1"`` read as ``1``); an int is accepted where a float is
  expected, since JSON does not tell ``1.0`` from ``1``. Undefined statistics are ``null`` on
  disk (:func:`pipeline.io.to_plain` writes NaN as ``null``), so such fields are ``float | None``.

:func:`read` returns the validated model, so readers use attributes (``meta.sensitive``) and a
key no stage writes cannot be read at all; :func:`read_dict` returns the plain dict as on disk for
the readers that take a whole file (report, ``log``, the evidence check). :func:`write` writes the
payload as given (canonical JSON through :mod:`pipeline.io`): the models check, they never reshape,
so the bytes DVC hashes do not change. It imports only pydantic, ``pipeline.io``/``paths``/``errors``
and the explain methods table (all on floors below it in ``.importlinter``), so every room above
may import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline import io, paths
from pipeline.errors import IntegrityError


class Open(BaseModel):
    """A block other code may extend: unknown keys are kept, known ones are type-checked."""

    model_config = ConfigDict(extra="allow", strict=True)


class Closed(BaseModel):
    """A block whose every key is part of the contract: an unknown key is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- data/prepared/meta.json (written by prepare, read by every later stage) -------------------


class NumericScaling(Closed):
    mean: float
    scale: float


class EncoderState(Closed):
    """The fitted encoders: numeric column -> standardisation, categorical column -> its levels."""

    numeric: dict[str, NumericScaling]
    categorical: dict[str, list[str]]


class CappedColumn(Closed):
    column: str
    levels_in_training: int = Field(ge=0)
    kept: int = Field(ge=0)
    folded_into_other: int = Field(ge=0)


class ScaleInfo(Closed):
    """Written by the ray engine's ``prepare`` only (meta.json and data.json): what covers every row
    and what covers the sample (``prepare.scale_note``)."""

    engine: str
    split: str | None = None
    rows: dict[str, int]
    sample_rows: int = Field(ge=1)
    sample: str | None = None
    shards: str


class Meta(Closed):
    """What ``prepare`` tells every later stage about the encoded data (see pipeline/data/prepare.py)."""

    classes: list[str] = Field(min_length=2)
    favourable: str
    favourable_index: int = Field(ge=0)
    feature_names: list[str] = Field(min_length=1)
    feature_groups: dict[str, list[int]]
    encoder_state: EncoderState
    input_columns: list[str] = Field(min_length=1)
    sensitive: list[str]
    sensitive_as_features: bool
    sensitive_as_features_setting: bool
    sensitive_encodings: dict[str, list[str]]
    sensitive_inputs: list[str]
    capped_columns: list[CappedColumn]
    excluded_columns: list[str]
    source: str
    provenance: dict[str, str]
    notes: list[str]
    rows: dict[str, int]
    scale: ScaleInfo | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Meta:
        """Cross-key facts every reader assumes: the favourable class sits at its index, each
        input column's encoded positions exist, and the columns listed are the ones encoded."""
        if self.favourable_index >= len(self.classes) or self.classes[self.favourable_index] != self.favourable:
            raise ValueError(
                f"favourable_index {self.favourable_index} does not point at favourable '{self.favourable}' "
                f"in classes {self.classes}"
            )
        width = len(self.feature_names)
        for column, positions in self.feature_groups.items():
            if not positions or any(not 0 <= i < width for i in positions):
                raise ValueError(f"feature_groups['{column}'] = {positions}: positions must lie in 0..{width - 1}")
        if set(self.feature_groups) != set(self.input_columns):
            raise ValueError(
                f"feature_groups covers {sorted(self.feature_groups)} but input_columns lists "
                f"{sorted(self.input_columns)}"
            )
        negative = {k: v for k, v in self.rows.items() if v < 0}
        if negative:
            raise ValueError(f"rows has negative counts {negative}")
        return self


# --- reports/metrics/data.json (prepare) ------------------------------------------------------


class SplitCounts(Closed):
    class_counts: dict[str, int]
    groups: dict[str, dict[str, int]]


class Leakage(Closed):
    """Read by the gate and by mitigation: a suspected leak blocks the audit."""

    suspected: list[Any]
    excluded: list[str] = []
    action: str | None = None
    thresholds: dict[str, float] | None = None
    scores: dict[str, dict[str, Any]] | None = None
    #: the joint probe's summary (``False``/``None`` when it did not run)
    probe: dict[str, Any] | bool | None = None
    post_decision: list[dict[str, Any]] = []


class DataAudit(Closed):
    """The data audit (pipeline/data/audit.py); the explain stage reads its ``proxies``."""

    n_rows: int = Field(ge=0)
    favourable: str
    base_rate: float
    class_counts: dict[str, int]
    min_group_size: int
    groups: dict[str, dict[str, Any]]
    small_groups: list[dict[str, Any]]
    missing: dict[str, dict[str, Any]]
    #: sensitive column -> {input column: bias-corrected Cramér's V (or null)}
    proxies: dict[str, dict[str, Any]]
    notes: list[str]
    confusable_groups: list[dict[str, Any]]


class DataMetrics(Closed):
    rows: dict[str, int]
    classes: list[str]
    splits: dict[str, SplitCounts]
    leakage: Leakage | None = None
    audit: DataAudit | None = None
    #: detail blocks only the report shows (and ``log`` flattens): their inner keys are the report's business
    pii: dict[str, Any] | None = None
    screen: dict[str, Any] | None = None
    rows_quality: dict[str, Any] | None = None
    capped_columns: list[CappedColumn] | None = None
    memory_estimate: dict[str, Any] | None = None
    sensitive_encodings: dict[str, list[str]] | None = None
    sensitive_inputs: list[str] | None = None
    #: the ray engine only: which figures cover every row and which the sample
    scale: ScaleInfo | None = None


# --- reports/metrics/train.json (train) --------------------------------------------------------


class WorkDone(Closed):
    """Deterministic cost figures (pipeline/training/cost.py); ``dp`` holds DP-SGD's accounting
    (epsilon, delta, ...) when it ran, read by the privacy stage."""

    parameters: int = Field(ge=0)
    flops_per_sample_forward: int = Field(ge=0)
    training_flops_estimate: int | float = Field(ge=0)
    samples_seen: int | float = Field(ge=0)
    epochs_run: int = Field(ge=0)
    dp: dict[str, Any] | None = None


class TrainMetrics(Closed):
    epochs_run: int = Field(ge=0)
    final: dict[str, Any]
    best: dict[str, Any] | None = None
    stopped_early: bool
    restored_best_weights: bool
    optimizer_steps: int | float = Field(ge=0)
    cost: WorkDone


# --- reports/metrics/evaluate.json (evaluate) -------------------------------------------------


class Degeneracy(Closed):
    """Read by the fairness stage, mitigation and the gate: a degenerate model's verdicts say nothing."""

    degenerate: bool
    reasons: list[str]
    balanced_accuracy: float | None = None
    chance: float | None = None
    margin: float | None = None
    largest_predicted_share: float | None = None
    max_share: float | None = None


class NearPerfect(Closed):
    """Read by the gate: a near-perfect network on a social outcome suggests leakage at the model."""

    flagged: bool
    reason: str | None = None
    validation_auc: float | None = None
    threshold: float | None = None
    top_columns: list[dict[str, Any]] = []


class EvaluateMetrics(Closed):
    accuracy: float = Field(ge=0, le=1)
    balanced_accuracy: float | None
    roc_auc: float | None
    log_loss: float | None
    n_test: int = Field(ge=0)
    confusion_matrix: list[list[int]]
    per_class: dict[str, dict[str, Any]]
    expected_calibration_error: float | None
    favourable_class: str
    degenerate: Degeneracy
    near_perfect: NearPerfect | None = None
    group_accuracy: dict[str, dict[str, dict[str, Any]]]


# --- reports/metrics/fairness.json (fairness) --------------------------------------------------


class Verdict(Closed):
    """One audit-policy check (pipeline/audit/fairness.py ``_verdict``); the gate fails every gating
    check whose status is not ``pass``, and recomputes it from the evidence first."""

    check: str
    status: str
    gating: bool = True
    feature: str | None = None
    metric: str | None = None
    value: float | None = None
    ci: list[float | None] | None = None
    ci_family: list[float | None] | None = None
    group: str | None = None
    reference: str | None = None
    bound: list[float] | float | None = None
    reason: str | None = None
    ci_level: float | None = None
    ci_family_level: float | None = None
    needed: list[str] = []
    exempt: list[dict[str, Any]] = []
    #: each group against the reference, the evidence the verdict aggregates (the report shows them)
    comparisons: list[dict[str, Any]] = []
    severity: float | None = None
    #: what the evidence said before a blocker (a degenerate model) made the check inconclusive
    computed_status: str | None = None


class FeatureAudit(Closed):
    """One sensitive view (or intersection): per-group detail, and fairlearn-style max-minus-min
    disparities, also flat so ``dvc metrics diff`` shows them (the privacy stage reads one)."""

    reference: str
    #: group -> rates, intervals, cells, calibration, vs_reference: the report's detail
    groups: dict[str, dict[str, Any]]
    disparities: dict[str, dict[str, Any]]
    demographic_parity_difference: float | None = None
    demographic_parity_ratio: float | None = None
    equalized_odds_difference: float | None = None
    equalized_odds_ratio: float | None = None
    equal_opportunity_difference: float | None = None
    fpr_ratio: float | None = None
    fnr_ratio: float | None = None


class ExternalAudit(Closed):
    """An existing system's decisions audited like the model (``fairness.external[role]``)."""

    features: dict[str, FeatureAudit]
    verdicts: list[Verdict]
    policy: dict[str, Any]
    system: dict[str, Any]


class FairnessMetrics(Closed):
    features: dict[str, FeatureAudit]
    verdicts: list[Verdict]
    favourable_class: str | None = None
    blockers: list[str] = []
    degenerate: Degeneracy | None = None
    settings: dict[str, Any] | None = None
    #: what gates, with which bound, by which rule (the report's words)
    policy: dict[str, Any] | None = None
    external: dict[str, ExternalAudit] = {}
    binary_note: str | None = None
    accuracy_all_classes: dict[str, dict[str, float | None]] | None = None


# --- reports/metrics/mitigation.json (mitigate) ------------------------------------------------


class Estimate(Closed):
    value: float | None
    ci: list[float | None] | None = None


class Candidate(Closed):
    """Read by the log stage to register each deployable candidate with its lineage."""

    method: str
    constraint: str | None
    targets: list[str] = []
    deployable: bool
    passed: bool
    failed_checks: list[str]
    check_counts: dict[str, int] = {}
    accuracy: Estimate
    roc_auc: Estimate | None = None
    selection_rate: Estimate | None = None
    #: the candidate's audit, the same blocks as fairness.json (features, verdicts, policy); the
    #: registry recomputes its verdicts from it as written, so it is handed on as plain JSON
    audit: dict[str, Any]
    degenerate: Degeneracy | None = None
    fits: int = Field(ge=0)
    notes: list[str] = []
    folder: str | None = None
    trade_off: dict[str, Any] | None = None


class AuditedOn(Closed):
    """Written by the ray engine's ``mitigate`` only: the candidates were built on the
    hash-stratified sample's splits and audited on every test row of the shards (locally: the test split, no key)."""

    engine: str
    test_rows: int = Field(ge=1)
    blocks: int = Field(ge=1)
    built_on: dict[str, int]
    sample_test_rows: int = Field(ge=0)


class MitigationMetrics(Closed):
    enabled: bool
    attribute: str
    attributes: list[str] = []
    constraint: str
    combine: bool | None = None
    methods: list[str]
    policy_criteria: dict[str, float | list[float]] = {}
    targets: list[dict[str, Any]] = []
    untargeted_criteria: list[Any] = []
    candidates: dict[str, Candidate]
    best_passing: str | None
    errors: dict[str, str]
    fit_budget: int | None = None
    fits_used: int = Field(default=0, ge=0)
    weighting: str | None = None
    #: when none passes: the closest candidate and what stands in the way (the report's detail)
    obstacles: dict[str, Any] | None = None
    audited_on: AuditedOn | None = None

    @model_validator(mode="after")
    def _best_is_a_candidate(self) -> MitigationMetrics:
        if self.best_passing is not None and self.best_passing not in self.candidates:
            raise ValueError(
                f"best_passing '{self.best_passing}' is not among the candidates {sorted(self.candidates)}"
            )
        return self


# --- reports/metrics/explain.json (explain) ----------------------------------------------------


class Attribution(Open):
    """One method's block. Open on purpose: beside the three fixed keys, each method adds what it
    reports about itself (IG: its convergence), defined by that method's function, not here."""

    importance: dict[str, float | None]
    interval: dict[str, Any] = {}
    share: dict[str, float | None] = {}


class ExplainMetrics(Closed):
    """Fixed keys, plus one :class:`Attribution` per method of ``pipeline/tables/explain_methods.py``
    (so a method added to that table needs no change here; any other key is refused)."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, Attribution]

    target_class: str
    n_rows: int = Field(ge=0)
    agreement: list[dict[str, Any]] = []
    by_group: dict[str, Any] | None = None
    proxies: dict[str, Any] | None = None
    local: dict[str, Any] | None = None
    #: the ray engine only: which figures cover every test row and which the sample
    scale: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _only_methods(cls, payload: Any) -> Any:
        """Before the blocks are typed, so an unknown key is named as such (not as a malformed method)."""
        from pipeline.tables.explain_methods import METHODS

        if isinstance(payload, dict):
            unknown = sorted(set(payload) - set(cls.model_fields) - set(METHODS))
            if unknown:
                raise ValueError(
                    f"key '{unknown[0]}' is not part of the contract (neither a key of ExplainMetrics nor a "
                    f"method of pipeline/tables/explain_methods.py)"
                )
        return payload

    def method(self, name: str) -> Attribution | None:
        """The block of explain method ``name``, or None when it did not run."""
        return (self.__pydantic_extra__ or {}).get(name)


# --- reports/metrics/privacy.json (privacy) ----------------------------------------------------


class MembershipInference(Closed):
    attack: str | None = None
    auc: float | None
    tpr_at_1pct_fpr: float | None
    tpr_at_10pct_fpr: float | None = None
    advantage: float | None = None
    rows_per_side: int = Field(ge=0)
    mean_loss_members: float | None = None
    mean_loss_non_members: float | None = None
    generalisation_gap: float | None = None
    auc_interval: list[float | None] | None = None
    #: sensitive column -> group -> counts and attack figures (the report's detail)
    by_group: dict[str, dict[str, dict[str, Any]]] = {}


class PrivacyMetrics(Closed):
    enabled: bool
    #: DP-SGD's accounting from train.json with this run's accuracy and parity gaps beside it
    dp: dict[str, Any] | None
    membership_inference: MembershipInference | None = None


# --- the table of contracts and the two boundary functions --------------------------------------

#: Each contracted file: its model and the stage that writes it (named in every error).
CONTRACTS: dict[Path, tuple[type[BaseModel], str]] = {
    paths.PREPARED_META: (Meta, "prepare"),
    paths.DATA_METRICS: (DataMetrics, "prepare"),
    paths.TRAIN_METRICS: (TrainMetrics, "train"),
    paths.EVALUATE_METRICS: (EvaluateMetrics, "evaluate"),
    paths.FAIRNESS_METRICS: (FairnessMetrics, "fairness"),
    paths.MITIGATION_METRICS: (MitigationMetrics, "mitigate"),
    paths.EXPLAIN_METRICS: (ExplainMetrics, "explain"),
    paths.PRIVACY_METRICS: (PrivacyMetrics, "privacy"),
}


def contract_for(path: str | os.PathLike) -> tuple[type[BaseModel], str]:
    """The model and producing stage of a contracted file, found by its place in the project
    (``reports/metrics/train.json``), or by its name when it lies elsewhere (an experiment's copy)."""
    rel = Path(path)
    if rel in CONTRACTS:
        return CONTRACTS[rel]
    for known, entry in CONTRACTS.items():
        if rel.parts[-len(known.parts) :] == known.parts:
            return entry
    raise KeyError(f"{path} has no contract in pipeline.contracts (known: {', '.join(map(str, CONTRACTS))})")


def has_contract(path: str | os.PathLike) -> bool:
    try:
        contract_for(path)
    except KeyError:
        return False
    return True


def _problems(err: ValidationError, limit: int = 5) -> str:
    """Each problem as ``key.path: what is wrong``, the first few only."""
    lines = []
    for item in err.errors()[:limit]:
        where = ".".join(str(p) for p in item["loc"])
        if not where:  # a check across keys (a model validator) or a file that is not an object
            lines.append(item["msg"].removeprefix("Value error, "))
        elif item["type"] == "missing":
            lines.append(f"key '{where}' is missing")
        elif item["type"] == "extra_forbidden":
            lines.append(f"key '{where}' is not part of the contract")
        else:
            got = repr(item.get("input"))
            lines.append(f"key '{where}': {item['msg']} (found {got[:60] + '...' if len(got) > 60 else got})")
    more = err.error_count() - limit
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def problems(path: str | os.PathLike, payload: Any, model: type[BaseModel] | None = None) -> str | None:
    """What is wrong with ``payload`` as the contract of ``path`` (``None`` when nothing is)."""
    model = model or contract_for(path)[0]
    try:
        model.model_validate(payload)
    except ValidationError as err:
        return f"it does not match its contract ({model.__name__}): {_problems(err)}"
    return None


def _stage(path: str | os.PathLike) -> str | None:
    return contract_for(path)[1] if has_contract(path) else None


def _rerun(path: str | os.PathLike) -> str:
    stage = _stage(path)
    if stage is None:
        return "Rerun the stage that writes it (or `dvc repro`)"
    return f"It is written by the '{stage}' stage: rerun `python -m pipeline {stage}` (or `dvc repro`)"


def _load(path: str | os.PathLike, model: type[BaseModel] | None) -> tuple[Any, BaseModel]:
    """The file's plain JSON and the model validated from it, or IntegrityError (exit 4)."""
    model = model or contract_for(path)[0]
    try:
        payload = io.read_json(path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IntegrityError(f"{path} is not valid JSON ({err}). {_rerun(path)}") from None
    try:
        return payload, model.model_validate(payload)
    except ValidationError as err:
        wrong = f"it does not match its contract ({model.__name__}): {_problems(err)}"
        raise IntegrityError(f"{path}: {wrong}. {_rerun(path)}") from None


def read(path: str | os.PathLike, model: type[BaseModel] | None = None) -> Any:
    """The file as its validated model (``contracts.read(paths.PREPARED_META).sensitive``).

    A missing file raises ``FileNotFoundError`` as before (the CLI names the stage to run first);
    a file that is not JSON, or not the contract, raises IntegrityError (exit 4).
    """
    return _load(path, model)[1]


def read_optional(path: str | os.PathLike, model: type[BaseModel] | None = None) -> Any | None:
    """:func:`read`, or ``None`` when the file does not exist (its stage has not run)."""
    return read(path, model) if Path(path).is_file() else None


def read_dict(path: str | os.PathLike, model: type[BaseModel] | None = None) -> dict:
    """The file as the plain dict on disk, after the same check as :func:`read`.

    For the few readers that take a whole file as written, not its fields: the report (which shows
    every block), ``log`` (which flattens every figure into MLflow) and the evidence check (which
    recomputes verdicts from the numbers exactly as written and hashes nothing else)."""
    return _load(path, model)[0]


def read_dict_optional(path: str | os.PathLike, model: type[BaseModel] | None = None) -> dict | None:
    """:func:`read_dict`, or ``None`` when the file does not exist.

    A file without a contract (the measured ``reports/compute/*.json``, which differ on every
    run and which no stage relies on) is read as it is, so the report can load a mixed list.
    """
    if not Path(path).is_file():
        return None
    return read_dict(path, model) if model is not None or has_contract(path) else io.read_json(path)


def validate(path: str | os.PathLike, payload: BaseModel | dict, model: type[BaseModel] | None = None) -> Any:
    """Check a payload before it is written; return it as plain JSON values.

    A stage with several outputs calls this before its first write, so a payload that breaks its
    contract (a bug in that stage) stops the stage while every earlier output is still intact.
    """
    plain = io.to_plain(payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload)
    wrong = problems(path, plain, model)
    if wrong:
        raise IntegrityError(
            f"refusing to write {path}: {wrong}. Nothing was written (the previous file is unchanged); "
            f"this is a bug in the stage that writes it ({_stage(path) or 'unknown'}) or in pipeline/contracts.py"
        )
    return plain


def write(path: str | os.PathLike, payload: BaseModel | dict, model: type[BaseModel] | None = None) -> None:
    """Check ``payload`` against the contract of ``path`` (:func:`validate`), then write it atomically.

    The payload is written as given (numpy values converted, NaN as null, floats to
    :data:`pipeline.io.FIGURE_DIGITS` significant digits), never reshaped by the model.
    """
    io.write_figures(path, validate(path, payload, model))
