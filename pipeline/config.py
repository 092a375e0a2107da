"""``params.yaml`` -> one frozen, typed config. Every key and range is checked here, once.

Stages receive a :class:`Config` and read nothing else, so a setting can only come from
``params.yaml`` (or ``dvc exp run -S``), never from a hidden global. Unknown or misspelt keys
are refused with the closest valid key suggested, because a silently ignored typo is the most
common way an experiment does not test what its author thinks it tests.
"""

from __future__ import annotations

import difflib
import reprlib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.errors import ConfigError
from pipeline.tables import criteria as criteria_table
from pipeline.tables import data_sources as source_table
from pipeline.tables import explain_methods as explain_table

DEFAULT_PARAMS = "params.yaml"


class _Section(BaseModel):
    """Base for every section: immutable, and unknown keys are an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _number_as_label(value: Any) -> Any:
    """A number written for a class label, as the text the file holds (``0`` -> ``"0"``, ``1.5`` -> ``"1.5"``)."""
    if isinstance(value, bool):
        return value  # a YAML 1.1 yes/no: refused by the str type rather than guessed
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # "1.0"; the loader also accepts a class equal as a number ("1")
    return value


class CsvSource(_Section):
    """A user's own table (``data.source: csv``). The file is read, never modified."""

    path: str | None = None
    target: str | None = None
    positive_label: str | None = None
    classes: list[str] | None = None
    column_types: dict[str, Literal["numeric", "categorical"]] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    delimiter: str = ","
    encoding: str = "utf-8"
    score: str | None = None
    score_threshold: float = 0.5
    decision: str | None = None
    # An existing system's outputs (issue 15): a score has no default direction, a decision's
    # favourable value is named when its values are not the target's labels, and the system is
    # audited on every labelled row unless restricted to the test split.
    score_direction: Literal["higher_is_favourable", "higher_is_unfavourable"] | None = None
    favourable_decision: str | None = None
    existing_rows: Literal["all", "test"] = "all"
    # When the decision was made (a date column): other date columns mostly after it are leakage (issue 24).
    decision_date: str | None = None
    # Files exported from spreadsheets repeat headers; the second becomes ``name.1`` with a warning
    # and the column screen names it when it copies the first (issue 24).
    duplicate_columns: Literal["error", "rename"] = "rename"

    @model_validator(mode="after")
    def _score_has_direction(self) -> CsvSource:
        if self.score is not None and self.score_direction is None:
            raise ValueError(
                f"data.csv.score ({self.score!r}) needs data.csv.score_direction: higher_is_favourable "
                "(e.g. a credit score) or higher_is_unfavourable (e.g. a risk score); there is no default"
            )
        return self

    @field_validator("encoding")
    @classmethod
    def _text_encoding(cls, value: str) -> str:
        """A codec that turns bytes into text: ``rot13`` (text to text) or ``base64`` (bytes to bytes) are
        codecs too, and reached pandas' reader as a ``TypeError``."""
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. utf-8, utf-16, latin-1 or cp1252") from None
        try:
            b"".decode(value)
            "".encode(value)
        except LookupError:
            raise ValueError(f"{value!r} is not a text encoding; e.g. utf-8, utf-16, latin-1 or cp1252") from None
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        """pandas reads a longer separator as a regular expression (slow and surprising) and an empty one fails."""
        if len(value) != 1 or value in '\r\n"':
            raise ValueError("the delimiter must be one character other than a quote or a line break, e.g. ',' or ';'")
        return value

    @field_validator("favourable_decision", mode="before")
    @classmethod
    def _decision_as_text(cls, value: Any) -> Any:
        return _number_as_label(value)

    @field_validator("positive_label", mode="before")
    @classmethod
    def _label_as_text(cls, value: Any) -> Any:
        """``positive_label: 0`` means the label "0": labels are read from the file as text."""
        return _number_as_label(value)

    @field_validator("classes", mode="before")
    @classmethod
    def _classes_as_text(cls, value: Any) -> Any:
        return [_number_as_label(v) for v in value] if isinstance(value, list) else value


class PiiSettings(_Section):
    exclude: bool = True
    quasi_identifiers: list[str] = Field(default_factory=lambda: ["age", "sex", "race"])
    k: int = Field(5, ge=2)


def _one_of(what: str, names):
    """A validator accepting the names ``names()`` returns when the value is checked.

    Called at validation time, not at import, so the names are always the table's rows
    (:mod:`pipeline.tables`): a criterion or method added there is accepted here unchanged.
    """

    def check(value: str) -> str:
        known = list(names())
        if value not in known:
            raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(known)}")
        return value

    return AfterValidator(check)


#: A data source: a row of pipeline.tables.data_sources.SOURCES.
DataSourceName = Annotated[str, _one_of("data source", lambda: source_table.SOURCES)]


class DataSettings(_Section):
    """Which table to use and how to treat it.

    ``sensitive: null`` means the source's own sensitive columns (its row in
    pipeline/tables/data_sources.py: adult: sex, race; german: sex, age_band); a source without
    defaults (csv) must name them. ``dep`` is the file or folder DVC tracks as the
    prepare stage's input (DVC cannot interpolate a null path): it must hold ``csv.path`` when
    ``source`` is csv. ``favourable_label`` overrides the source's favourable class
    (``csv.positive_label`` wins for csv).
    """

    #: a row of pipeline/tables/data_sources.py
    source: DataSourceName = "adult"
    sensitive: list[str] | None = None
    dep: str = "data/raw"
    sensitive_as_features: bool = False
    favourable_label: str | None = None
    val_size: float = Field(0.1, gt=0, lt=1)
    test_size: float = Field(0.2, gt=0, lt=1)
    missing_sensitive: Literal["drop", "group", "fail"] = "group"
    max_rows: int | None = Field(None, ge=10)
    csv: CsvSource = Field(default_factory=CsvSource)
    pii: PiiSettings = Field(default_factory=PiiSettings)
    leakage: Literal["warn", "exclude", "fail"] = "warn"
    leakage_auc: float = Field(0.98, gt=0.5, le=1)
    leakage_nmi: float = Field(0.8, gt=0, le=1)
    max_categories: int | None = Field(50, ge=2)
    memory_limit_mb: float | None = Field(None, gt=0)
    sensitive_onehot: dict[str, list[str]] = Field(default_factory=dict)
    sensitive_bins: dict[str, list[float]] = Field(default_factory=dict)
    # The column screen (pipeline.data.screen): columns missing in more than this share of rows
    # leave the inputs (null: never for emptiness); ``keep_columns`` stay inputs whatever the
    # screen, the PII scan or the leakage probe say (each finding is still named).
    max_missing_share: float | None = Field(0.5, gt=0, le=1)
    keep_columns: list[str] = Field(default_factory=list)
    # The multi-column leakage probe (pipeline.data.leakage_probe): a gradient-boosting model out of
    # fold on the training rows; false turns it off (the single-column check still runs).
    leakage_probe: bool = True

    @field_validator("sensitive")
    @classmethod
    def _sensitive_not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("name at least one sensitive column to audit")
        return value

    @field_validator("sensitive_onehot")
    @classmethod
    def _onehot_groups(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, columns in value.items():
            if len(columns) < 2:
                raise ValueError(f"'{name}': a one-hot group needs at least two columns, got {columns}")
        return value

    @field_validator("sensitive_bins")
    @classmethod
    def _bins_increasing(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, edges in value.items():
            if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
                raise ValueError(f"'{name}': bins need at least two strictly increasing edges, got {edges}")
        return value

    @model_validator(mode="after")
    def _sensitive_roles_consistent(self) -> DataSettings:
        """A sensitive column cannot also be the target, a dropped column or an existing system's output."""
        sensitive = set(self.sensitive or [])
        csv = self.csv
        if self.source == "csv":
            if csv.target in sensitive:
                raise ValueError(
                    f"data.sensitive names the target column '{csv.target}' (data.csv.target); "
                    "a fairness audit compares groups on the outcome, so the groups cannot be the outcome"
                )
            encoded = {c for columns in self.sensitive_onehot.values() for c in columns}
            dropped = sorted((sensitive | encoded) & set(csv.drop))
            if dropped:
                raise ValueError(
                    f"column(s) {dropped} are both in data.sensitive and in data.csv.drop; "
                    "remove them from one of the two lists"
                )
            for role in ("score", "decision"):
                if getattr(csv, role) and getattr(csv, role) in sensitive:
                    raise ValueError(f"data.sensitive names the data.csv.{role} column '{getattr(csv, role)}'")
        unknown = sorted((set(self.sensitive_onehot) | set(self.sensitive_bins)) - sensitive) if self.sensitive else []
        if unknown:
            raise ValueError(
                f"data.sensitive_onehot / data.sensitive_bins describe {unknown}, which data.sensitive does not list"
            )
        both = sorted(set(self.sensitive_onehot) & set(self.sensitive_bins))
        if both:
            raise ValueError(f"{both} appear in both data.sensitive_onehot and data.sensitive_bins; choose one")
        return self


class DpSettings(_Section):
    enabled: bool = False
    noise_multiplier: float | None = Field(1.0, gt=0)
    target_epsilon: float | None = Field(None, gt=0)
    max_grad_norm: float = Field(1.0, gt=0)
    delta: float = Field(1e-5, gt=0, lt=1)


class EnergySettings(_Section):
    """Energy/CO2 of training via CodeCarbon offline; only where power counters exist."""

    enabled: bool = True
    country_iso_code: str | None = Field(None, pattern=r"^[A-Z]{3}$")


#: Largest hidden layer and deepest network accepted (the same bounds guard models/model.json).
MAX_HIDDEN_UNITS = 65536
MAX_HIDDEN_LAYERS = 64
#: Accelerators and precisions Lightning 2.x accepts; whether this machine has them is checked
#: when training starts (pipeline.training.fit).
Accelerator = Literal["auto", "cpu", "gpu", "cuda", "mps", "tpu"]
Precision = Literal["64-true", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true"]


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class TrainSettings(_Section):
    hidden: list[int] = Field(default_factory=lambda: [64, 64], max_length=MAX_HIDDEN_LAYERS)
    lr: float = Field(1e-3, gt=0)
    epochs: int = Field(10, ge=1, le=100_000)
    min_steps: int = Field(150, ge=0, le=10_000_000)
    batch_size: int = Field(256, ge=1)
    weight_decay: float = Field(0.0, ge=0)
    patience: int = Field(0, ge=0)
    class_weights: bool = False
    accelerator: Accelerator = "auto"
    devices: Literal["auto"] | int | list[int] = "auto"
    precision: Precision = "32-true"
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    resume: bool = False
    deterministic: bool = True
    num_threads: int | None = Field(None, ge=1)
    energy: EnergySettings = Field(default_factory=EnergySettings)
    dp: DpSettings = Field(default_factory=DpSettings)

    @field_validator("hidden")
    @classmethod
    def _hidden_positive(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one hidden layer, e.g. [64, 64]")
        if any(width < 1 or width > MAX_HIDDEN_UNITS for width in value):
            raise ValueError(f"every hidden layer needs 1 to {MAX_HIDDEN_UNITS} units, got {value}")
        return value

    @field_validator("num_threads")
    @classmethod
    def _threads_on_this_machine(cls, value: int | None) -> int | None:
        """More threads than CPUs only slows training down, and 100,000 failed to start at all."""
        cpus = usable_cpus()
        if value is not None and value > cpus:
            raise ValueError(f"at most the {cpus} CPU(s) this process may use (or null for the default)")
        return value

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_plain(cls, value: Any) -> Any:
        """``auto``, a count (-1: all), or a short list of distinct device indices; nothing nested."""
        if isinstance(value, bool):
            raise ValueError(f"devices must be auto, a device count or a list of device indices, got {value!r}")
        if isinstance(value, int) and not (value >= 1 or value == -1):
            raise ValueError(f"devices must be >= 1 (or -1 for all), got {value}")
        if isinstance(value, list):
            if not value or len(value) > 1024 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise ValueError("devices as a list must hold device indices (integers), e.g. [0, 1]")
            if len(set(value)) != len(value) or min(value) < 0:
                raise ValueError(f"devices as a list must hold distinct indices >= 0, got {value}")
        return value


class EvaluateSettings(_Section):
    threshold: float = Field(0.5, gt=0, lt=1)
    calibration_bins: int = Field(10, ge=2)
    #: a model is degenerate when its balanced accuracy is within this margin of chance ...
    degenerate_margin: float = Field(0.05, ge=0, lt=0.5)
    #: ... or when one class is predicted for at least this share of the test rows
    degenerate_share: float = Field(0.98, gt=0.5, le=1)


#: A fairness criterion: a row of pipeline.tables.criteria.CRITERIA.
CRITERION_NAMES = Annotated[str, _one_of("criterion", lambda: criteria_table.CRITERIA)]
#: "policy", or a ThresholdOptimizer constraint some criterion of the table maps to.
MitigationConstraint = Annotated[
    str, _one_of("constraint", lambda: ("policy", *criteria_table.threshold_constraints()))
]
#: An explain method: a row of pipeline.tables.explain_methods.METHODS.
ExplainMethodName = Annotated[str, _one_of("explain method", lambda: explain_table.METHODS)]


class ExemptionSettings(_Section):
    """One ``audit.policy.exempt`` entry: a group whose comparisons may stay inconclusive or not
    assessable without blocking the gate (a fail is never exempted), printed wherever the verdict is."""

    attribute: str = Field(min_length=1)
    group: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    criterion: CRITERION_NAMES | None = None


class PolicySettings(_Section):
    """``audit.policy``: the fairness criteria that gate the ``audited`` alias (see README)."""

    criteria: dict[CRITERION_NAMES, float | tuple[float, float]] = Field(
        default_factory=lambda: {"selection_rate_ratio": (0.8, 1.25), "equal_opportunity": 0.1}
    )
    attributes: list[str] | None = None
    min_events: int = Field(10, ge=1)
    family: Literal["bonferroni", "none"] = "bonferroni"
    exempt: list[ExemptionSettings] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _no_require_all_groups(cls, data):
        if isinstance(data, dict) and "require_all_groups" in data:
            raise ValueError(
                "audit.policy.require_all_groups was removed: a gating comparison that cannot be assessed now always "
                "blocks the gate ('not_assessable'); exempt a group explicitly with audit.policy.exempt "
                "[{attribute, group, reason}] instead"
            )
        return data

    @field_validator("criteria")
    @classmethod
    def _bounds_valid(cls, value: dict) -> dict:
        if not value:
            raise ValueError("name at least one gating criterion, e.g. {selection_rate_ratio: [0.8, 1.25]}")
        for name, bound in value.items():
            if name == "selection_rate_ratio":
                low, high = (bound, 1 / bound) if isinstance(bound, (int, float)) else bound
                if not 0 < low < 1 < high:
                    raise ValueError(f"{name}: a ratio band [low, high] with 0 < low < 1 < high, got {bound}")
            elif not isinstance(bound, (int, float)) or not 0 < bound < 1:
                raise ValueError(f"{name}: a largest allowed absolute difference between 0 and 1, got {bound}")
        return value


class AuditSettings(_Section):
    min_group_size: int = Field(30, ge=1)
    n_boot: int = Field(1000, ge=0)
    #: at least 0.9: a narrow "interval" at a low level would let a verdict pass on noise
    ci: float = Field(0.95, ge=0.9, lt=1)
    reference: str | dict[str, str] | None = None
    ratio_bounds: tuple[float, float] = (0.8, 1.25)
    max_difference: float = Field(0.1, gt=0)
    policy: PolicySettings = Field(default_factory=PolicySettings)

    @model_validator(mode="before")
    @classmethod
    def _no_fail_on_violation(cls, data):
        if isinstance(data, dict) and "fail_on_violation" in data:
            raise ValueError(
                "audit.fail_on_violation was removed: the fairness stage always completes so the report and the "
                "MLflow run hold the evidence; gate CI with `dvc repro && python -m pipeline gate` (exit 5 on failure)"
            )
        return data

    @model_validator(mode="after")
    def _bounds_ordered(self) -> AuditSettings:
        low, high = self.ratio_bounds
        if not 0 < low < 1 < high:
            raise ValueError(f"ratio_bounds must satisfy 0 < low < 1 < high, got {list(self.ratio_bounds)}")
        return self


MitigationMethod = Literal["threshold_optimizer", "exponentiated_gradient", "grid_search", "logistic_stand_in"]


class MitigationSettings(_Section):
    """The ``mitigate`` stage: which fairlearn methods produce candidates, under which constraint(s)
    (by default those of ``audit.policy``'s gating criteria, on its attributes jointly).

    Reductions (``exponentiated_gradient``, ``grid_search``) refit the network itself on all
    training rows, so their cost is counted in network fits and capped by ``max_fits``.
    """

    enabled: bool = True
    methods: list[MitigationMethod] = Field(default_factory=lambda: ["threshold_optimizer", "exponentiated_gradient"])
    #: "policy": the fairlearn constraint(s) of audit.policy's gating criteria; or one named by hand
    constraint: MitigationConstraint = "policy"
    #: "policy": the attributes audit.policy gates, jointly; null: the first sensitive column; or column name(s)
    attribute: str | list[str] | None = "policy"
    #: with several derived constraints, reductions also build one candidate under all of them at once
    combine: bool = True
    max_iter: int = Field(6, ge=1)
    grid_size: int = Field(6, ge=2)
    eps: float = Field(0.02, gt=0, lt=1)
    max_fits: int = Field(40, ge=1)
    stand_in_max_rows: int = Field(3000, ge=100)

    @field_validator("methods")
    @classmethod
    def _methods_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"name each method once, got {value}")
        return value


class ExplainSettings(_Section):
    methods: list[ExplainMethodName] = Field(
        default_factory=lambda: ["integrated_gradients", "deeplift", "feature_ablation"]
    )
    n_steps: int = Field(50, ge=2)
    max_steps: int = Field(400, ge=2)
    delta_tol: float = Field(0.01, gt=0)
    batch_size: int = Field(4096, ge=1)
    top_k: int = Field(5, ge=1)
    n_boot: int = Field(200, ge=0)
    ci: float = Field(0.95, gt=0, lt=1)
    local_examples: int = Field(1, ge=0)
    min_group_size: int = Field(30, ge=1)
    proxy_threshold: float = Field(0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _steps_ordered(self) -> ExplainSettings:
        if self.max_steps < self.n_steps:
            raise ValueError(f"explain.max_steps ({self.max_steps}) must be at least explain.n_steps ({self.n_steps})")
        if not self.methods:
            raise ValueError("explain.methods: name at least one method")
        return self


class PrivacySettings(_Section):
    enabled: bool = True
    max_rows: int = Field(10000, ge=10)
    min_group_size: int = Field(30, ge=1)
    n_boot: int = Field(200, ge=0)
    ci: float = Field(0.95, gt=0, lt=1)


#: A longer wait than a day is a mistake, not a setting (and ``.inf`` cannot reach a socket).
MAX_TIMEOUT_S = 86_400


class TrackingSettings(_Section):
    """Where the ``log`` stage writes. Names are checked here, before anything is logged: MLflow
    refuses a bad registered-model name only after the model is uploaded, leaving a FAILED run."""

    experiment: str = Field("ethics-audit", max_length=500)
    register_model: bool = True
    model_name: str = Field("audited-mlp", max_length=256)
    #: per request and for the first probe; finite (``.inf`` overflowed inside the socket layer)
    timeout_s: float = Field(10.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)
    #: the whole conversation of one ``log`` with a tracking server (an HTTP URI), answers trickling in included
    deadline_s: float = Field(900.0, gt=0, le=MAX_TIMEOUT_S, allow_inf_nan=False)

    @field_validator("experiment")
    @classmethod
    def _experiment_named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name the MLflow experiment, e.g. 'ethics-audit'")
        return value

    @field_validator("model_name")
    @classmethod
    def _model_name_valid(cls, value: str) -> str:
        """MLflow's own rule (``_validate_model_name``): not blank, no ``/`` or ``:``, no path tricks."""
        import posixpath

        if not value.strip() or any(c in value for c in "/:"):
            raise ValueError("a registered model name must be non-empty and hold no '/' or ':', e.g. 'audited-mlp'")
        if posixpath.normpath(value) != value or value in {".", ".."}:
            raise ValueError("a registered model name must not look like a path ('.', '..', '//'), e.g. 'audited-mlp'")
        return value


class EngineSettings(_Section):
    """Where the data-sized work runs. ``local`` (the default) is one process with the data in
    memory; ``ray`` submits block-wise work to a Ray cluster (the optional ``scale`` extra) and
    merges exact count tables on the driver, so verdicts equal the local engine's."""

    kind: Literal["local", "ray"] = "local"
    #: an existing cluster (``ray://host:10001`` or ``auto``); null starts a local one for the stage
    address: str | None = None
    #: rows per block: memory per worker follows this, not the data size
    block_rows: int = Field(100_000, ge=1_000, le=50_000_000)
    #: CPUs of the local cluster a stage starts (null: all of this machine's)
    num_cpus: int | None = Field(None, ge=1, le=4096)


#: numpy's legacy seeding and scikit-learn's ``random_state`` take 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


class Config(_Section):
    seed: int = Field(42, ge=0, le=MAX_SEED)
    data: DataSettings = Field(default_factory=DataSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    mitigation: MitigationSettings = Field(default_factory=MitigationSettings)
    explain: ExplainSettings = Field(default_factory=ExplainSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)

    @model_validator(mode="after")
    def _csv_described(self) -> Config:
        if self.data.source == "csv":
            missing = [k for k in ("path", "target") if getattr(self.data.csv, k) is None]
            if missing:
                raise ValueError(f"data.source is 'csv' but data.csv.{missing[0]} is not set")
        if self.data.sensitive is None and source_table.SOURCES[self.data.source].sensitive is None:
            raise ValueError(f"data.source is '{self.data.source}': name its sensitive columns in data.sensitive")
        if self.data.source == "csv":
            inside = (
                Path(self.data.csv.path) == Path(self.data.dep)
                or Path(self.data.dep) in Path(self.data.csv.path).parents
            )
            if not inside:
                raise ValueError(
                    f"data.dep ({self.data.dep!r}) must be data.csv.path ({self.data.csv.path!r}) or a folder "
                    "holding it, so DVC reruns prepare when the file changes: set data.dep to the same path"
                )
        if self.data.val_size + self.data.test_size >= 1:
            raise ValueError("data.val_size + data.test_size must be below 1")
        return self


def _valid_keys(model: type[BaseModel], path: tuple[str, ...]) -> list[str]:
    """The dotted keys that exist at ``path`` (used for 'did you mean' suggestions)."""
    for part in path:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _describe(error: dict[str, Any], source: str) -> str:
    loc = tuple(str(p) for p in error["loc"])
    key = ".".join(loc) or "(top level)"
    if error["type"] == "extra_forbidden":
        candidates = _valid_keys(Config, loc[:-1])
        close = difflib.get_close_matches(loc[-1], candidates, n=1, cutoff=0.6)
        hint = f"; did you mean '{'.'.join((*loc[:-1], close[0]))}'?" if close else ""
        return f"{source}: unknown setting '{key}'{hint} (valid here: {', '.join(sorted(candidates))})"
    message = error["msg"].removeprefix("Value error, ")
    if not loc:  # a check across sections: the input is the whole file, too long to echo back
        return f"{source}: {message}"
    return f"{source}: setting '{key}': {message} (found {reprlib.repr(error.get('input'))})"  # bounded: YAML aliases


def from_dict(raw: dict[str, Any] | None, source: str = DEFAULT_PARAMS) -> Config:
    """Build a :class:`Config` from a mapping, raising :class:`ConfigError` listing every problem."""
    try:
        return Config.model_validate(raw or {})
    except ValidationError as err:
        problems = [_describe(e, source) for e in err.errors()]
        raise ConfigError("\n".join(problems)) from err


#: A params file larger than this is refused unread: a real one is a few kilobytes.
MAX_PARAMS_BYTES = 1 << 20
#: Nodes a params file may expand to once aliases are followed (a "billion laughs" expands to 10**9).
MAX_PARAMS_NODES = 100_000


def _expanded_size(node: Any, memo: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded, computed without expanding any.

    Aliases load as shared references, so the document is small in memory; it explodes only when
    something walks it (validation, ``model_dump``, hashing the config). Memoising by identity
    keeps this count linear in the file's size.
    """
    if not isinstance(node, (dict, list)):
        return 1
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = MAX_PARAMS_NODES + 1  # a self-referencing alias counts as too large
    children = [*node.keys(), *node.values()] if isinstance(node, dict) else node
    total = 1
    for child in children:
        total += _expanded_size(child, memo)
        if total > MAX_PARAMS_NODES:
            break
    memo[id(node)] = total
    return total


def read_yaml(path: Path) -> Any:
    """Read YAML as DVC does: the YAML 1.2 dialect (``yes`` stays the string "yes"), through
    ruamel.yaml's safe loader, with the size of the file and of its alias expansion bounded.

    DVC writes ``dvc exp run -S`` values in YAML 1.2 (``positive_label: yes`` unquoted); PyYAML reads
    that as ``True``. Duplicate keys are refused (PyYAML kept the last one silently).
    """
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    size = path.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise ConfigError(f"{path}: {size} bytes, more than the {MAX_PARAMS_BYTES} a params file may hold")
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (YAMLError, UnicodeDecodeError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid YAML: {str(err)[:500]}") from None
    if _expanded_size(raw, {}) > MAX_PARAMS_NODES:
        raise ConfigError(
            f"{path}: expands to more than {MAX_PARAMS_NODES} values once its aliases (*name) are followed; "
            "an alias bomb or a runaway anchor: write the values out"
        )
    return raw


def load(path: str | Path = DEFAULT_PARAMS, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``params.yaml`` (see :func:`read_yaml`) and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found")
    raw = read_yaml(path)
    if raw is None:  # 0 bytes or only comments: running every default would overwrite the user's outputs
        raise ConfigError(
            f"{path}: the file is empty (or holds only comments); it must be a mapping of sections such as "
            "`train: {epochs: 10}` (write `{}` to run every default on purpose)"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, found {type(raw).__name__}")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return from_dict(raw, source=str(path))
