"""Stage ``log``: one MLflow run per pipeline state, holding everything a reviewer needs.

The run is tagged with ``pipeline_state`` (the hash the report's manifest shows, computed by
:func:`pipeline.provenance.pipeline_state`) and ``report_sha256``: rerunning this stage on an
unchanged pipeline finds the existing run instead of adding a duplicate, so each ``dvc repro`` or
``dvc exp run`` that changes something gives exactly one run.

What a reviewer sees (issue 17): the experiment is tagged so MLflow opens it on its runs; the run's
description (``mlflow.note.content``) states the verdict, the gating criteria, the three most
important findings in plain words and where the report is; metrics are the headline figures only
(:func:`headline_metrics`, at most :data:`MAX_METRICS`), the full detail goes to
``detail/all_metrics.json`` (``log_dict``) and ``tables/*.json`` (``log_table``); figures are PNG
images under ``figures/``. The last lines this stage prints are the verdict and the report's path,
so ``dvc repro`` ends with them.

Speed: datasets are logged from their npz files' sha256 and a schema built from ``meta.json``
(MLflow's own inference scans every cell); metrics go in batches; the model is saved in the pt2
format (no pickle on load) with pinned ``pip_requirements`` so MLflow does not infer them. The
stage's measured time is in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from pathlib import Path

from pipeline import contracts, io, manifest, paths, splits
from pipeline.audit.gate import STATUSES, checks, gate
from pipeline.config import Config
from pipeline.contracts import Meta
from pipeline.evidence import verified_fairness
from pipeline.provenance import git_commit, pipeline_state
from pipeline.report import findings, policy_text

REQUIREMENTS_PACKAGES = ("torch", "numpy")
METRIC_FILES = {
    "data": paths.DATA_METRICS,
    "train": paths.TRAIN_METRICS,
    "evaluate": paths.EVALUATE_METRICS,
    "fairness": paths.FAIRNESS_METRICS,
    "mitigation": paths.MITIGATION_METRICS,
    "explain": paths.EXPLAIN_METRICS,
    "privacy": paths.PRIVACY_METRICS,
    "compute": paths.TRAIN_COST,  # measured, varies run to run: logged, never part of the state hash
    "compute_explain": paths.EXPLAIN_COST,
}
#: Levels dropped from metric names so the UI groups them as ``fairness/sex/demographic_parity_ratio``.
COLLAPSE = {"fairness/features/": "fairness/", "explain/methods/": "explain/"}
#: A run's metrics are its headline figures; everything else is an artifact. Kept well under
#: MLflow's "Model metrics" tab's readable size.
MAX_METRICS = 150
#: Characters MLflow refuses in a metric name, spelled out so class labels stay readable and distinct
#: (``>50K`` -> ``gt 50K``, ``<=50K`` -> ``le 50K``).
READABLE = (
    ("<=", " le "),
    (">=", " ge "),
    ("!=", " ne "),
    ("<", " lt "),
    (">", " gt "),
    ("=", " eq "),
    ("&", " and "),
    ("+", " plus "),
    ("%", " pct "),
    ("#", " no "),
    ("*", " x "),
    (":", " - "),
)
EVALUATE_HEADLINE = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "expected_calibration_error")
PRIVACY_HEADLINE = ("auc", "tpr_at_1pct_fpr", "advantage")
COST_WORDS = ("second", "wall", "kwh", "co2", "throughput", "peak")
ALIAS = "audited"
#: Run tag naming the registered network version (``name:version``), which may be an older run's.
REGISTERED_TAG = "registered_version"


def flatten(value, prefix: str = "", sep: str = "/") -> dict[str, object]:
    """Nested dicts to ``a/b/c`` keys; lists and strings are kept as leaves."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, child in value.items():
            out.update(flatten(child, f"{prefix}{sep}{key}" if prefix else str(key), sep))
        return out
    return {prefix: value}


def numeric_metrics(prefix: str, payload: dict) -> dict[str, float]:
    """Finite numbers only (undefined values are left out rather than logged as 0)."""
    clean = {}
    for key, value in flatten(payload, prefix).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            continue
        for long, short in COLLAPSE.items():
            key = key.replace(long, short, 1) if key.startswith(long) else key
        clean[_metric_key(key)] = float(value)
    return clean


def _metric_key(key: str) -> str:
    """MLflow allows letters, digits and ``_-. /``; group and class names may hold anything else.

    Comparison signs and the like are spelled out (``>50K`` -> ``gt 50K``) so two labels never
    collapse into the same name; any other character becomes ``_``."""
    for sign, word in READABLE:
        key = key.replace(sign, word)
    key = "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in key)
    return " ".join(key.split()).replace(" /", "/").replace("/ ", "/")[:250]


def headline_metrics(metrics: dict) -> dict[str, float]:
    """What a reviewer compares runs by: accuracy, AUC, each gating disparity with its interval,
    audit counts, privacy attack, training cost. At most :data:`MAX_METRICS` (the most important first)."""
    out = verdict_metrics(metrics.get("fairness"))
    ev = metrics.get("evaluate") or {}
    out.update({f"evaluate/{k}": ev[k] for k in EVALUATE_HEADLINE if _number(ev.get(k))})
    for v in findings.gating(metrics.get("fairness")):
        key = f"fairness/{v.get('feature')}/{v.get('metric')}"
        ci = v.get("ci") or [None, None]
        for suffix, value in (("", v.get("value")), ("_ci_low", ci[0]), ("_ci_high", ci[1])):
            if _number(value):
                out[key + suffix] = value
    mia = (metrics.get("privacy") or {}).get("membership_inference") or {}
    out.update({f"privacy/mia_{k}": mia[k] for k in PRIVACY_HEADLINE if _number(mia.get(k))})
    dp = (metrics.get("privacy") or {}).get("dp") or {}
    out.update({f"privacy/dp_{k}": dp[k] for k in ("epsilon", "delta") if _number(dp.get(k))})
    train = metrics.get("train") or {}
    out.update({f"train/{k}": v for k, v in (train.get("final") or {}).items() if _number(v) and k != "epoch"})
    if _number(train.get("epochs_run")):
        out["train/epochs_run"] = train["epochs_run"]
    for key, value in flatten(metrics.get("compute") or {}, "cost").items():
        if _number(value) and any(w in key.lower() for w in COST_WORDS) and "by_component" not in key:
            out[key] = value
    clean = {}
    for key, value in out.items():
        clean.setdefault(_metric_key(key), float(value))
    return dict(list(clean.items())[:MAX_METRICS])


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def verdict_metrics(fairness: dict | None) -> dict[str, float]:
    """``audit/checks_<status>`` counts and ``audit/passed`` (1/0), so runs sort by audit outcome in the UI."""
    g = gate(fairness)
    out = {f"audit/checks_{status}": float(g.counts.get(status, 0)) for status in STATUSES}
    out["audit/passed"] = 1.0 if g.passed else 0.0
    return out


def requirements() -> list[str]:
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in REQUIREMENTS_PACKAGES]


def log_datasets(meta: Meta) -> None:
    from pipeline import tracking

    columns = [*meta.feature_names, "target"]
    types = ["float"] * len(meta.feature_names) + ["string"]
    for split, context in (("train", "training"), ("test", "evaluation")):
        path = paths.split_arrays(split)
        rows = int(meta.rows.get(split, 0))
        tracking.log_dataset_file(path, f"{meta.source}-{split}", io.sha256_file(path), columns, types, rows, context)


def log_everything(cfg: Config, meta: Meta, metrics: dict) -> dict:
    import pandas as pd

    from pipeline import tracking
    from pipeline.mitigation.registry import candidate_metrics, log_candidates
    from pipeline.models.predict import load_trained

    tracking.log_params({k: str(v) for k, v in flatten(cfg.model_dump(mode="json"), sep=".").items()})
    test_x = splits.arrays("test")["X"][:5]
    network = load_trained()
    model_info = tracking.log_model(network, test_x, requirements())
    tracking.set_tag("model_uri", model_info.model_uri)  # so a reused run still names its model
    # Every model is logged before any metric: MLflow links the run's metrics logged so far to each model
    # it logs, so a candidate logged after them would carry the network's figures (issue 26).
    candidates = (
        log_candidates(cfg, meta, tracking.active_run_id(), requirements()) if cfg.tracking.register_model else None
    )
    tracking.log_metrics(headline_metrics(metrics), model_id=model_info.model_id)
    for entry in candidates or []:
        tracking.log_model_metrics(candidate_metrics(entry), entry["model_id"])
    detail: dict[str, float] = {}
    for name, payload in metrics.items():
        if payload is not None:
            detail.update(numeric_metrics(name, payload))
    tracking.log_dict(dict(sorted(detail.items())), "detail/all_metrics.json")
    log_tables(metrics)
    log_figures(cfg)
    curves = io.read_csv(paths.TRAIN_CURVES) if paths.TRAIN_CURVES.is_file() else pd.DataFrame()
    tracking.log_curves(curves.to_dict("records"))
    log_datasets(meta)
    for path, folder in (
        (paths.REPORT_HTML, "report"),
        (paths.MODEL_CARD, "report"),
        (Path("params.yaml"), None),
        (Path("dvc.lock"), None),
    ):
        if path.is_file():
            tracking.log_artifact(path, folder)
    for folder, target in ((paths.METRICS_DIR, "metrics"), (paths.PLOTS_DIR, "plots")):
        if folder.is_dir():
            tracking.log_artifacts(folder, target)
    result = {"model_uri": model_info.model_uri}
    if cfg.tracking.register_model:
        result.update(register_models(cfg, meta, metrics, model_info.model_uri, network, candidates))
    return result


def register_models(
    cfg: Config, meta: Meta, metrics: dict, model_uri: str, network, candidates: list[dict] | None
) -> dict:
    """The registry policy of :mod:`pipeline.mitigation.registry` carried out for this run."""
    from pipeline import tracking
    from pipeline.mitigation import registry as policy
    from pipeline.mitigation.fingerprint import network_fingerprint

    name, fairness = cfg.tracking.model_name, metrics.get("fairness")
    g, run_id = gate(fairness), tracking.active_run_id()
    tags = {
        **verdict_tags(findings.verdict(fairness)),
        **summary_tags(fairness),
        **exemption_tags(fairness),
        "audit_passed": str(g.passed).lower(),
        "audit_failed_checks": ", ".join(g.failed)[:5000] or "none",
        "source_run": run_id,
    }
    fingerprint = network_fingerprint(network, meta.favourable_index)
    net = policy.register_network(name, model_uri, fingerprint, version_description(metrics), tags)
    versions = policy.register_passing_candidates(name, candidates or [], run_id)
    best = (metrics.get("mitigation") or {}).get("best_passing") if candidates is not None else None
    tracking.describe_registered_model(
        name,
        f"Newest network: version {net['version']}. {findings.verdict(fairness).headline}",
        model_tags(fairness, net["version"], policy.VERDICT_TAG),
    )
    current = tracking.alias_version(name, ALIAS)  # the aliases move last: a failure before leaves them as they were
    target = policy.alias_target(net["version"], g.passed, candidates, best, versions, current)
    tracking.point_alias(name, ALIAS, target)
    tracking.point_alias(name, policy.FAILING_ALIAS, None if g.passed else net["version"])
    tracking.set_tag(REGISTERED_TAG, f"{name}:{net['version']}")
    result: dict = {
        "registry": {"name": name, "version": net["version"], "alias": ALIAS if target == net["version"] else None},
        "registry_reused_version": net["reused_version"],
    }
    if candidates is not None:
        holder = target if target in versions.values() else None
        result["candidates"] = {
            "name": name,
            "versions": versions,
            "alias": ALIAS if holder else None,
            "alias_version": holder,
            "model_uris": {e["name"]: e["model_uri"] for e in candidates},
        }
    return result


def log_tables(metrics: dict) -> None:
    """Per-group fairness figures and every verdict as MLflow tables (sortable in the UI)."""
    from pipeline import tracking

    fairness = metrics.get("fairness") or {}
    rows = []
    for feature, block in (fairness.get("features") or {}).items():
        for group, g in (block.get("groups") or {}).items():
            row = {"feature": feature, "group": group, "count": g.get("count")}
            for m in ("selection_rate", "base_rate", "tpr", "fpr", "fnr", "precision", "accuracy", "roc_auc", "ece"):
                ci = (g.get("ci") or {}).get(m) or [None, None]
                row.update({m: g.get(m), f"{m}_ci_low": ci[0], f"{m}_ci_high": ci[1]})
            row["flags"] = "; ".join(g.get("flags") or [])
            rows.append(row)
    if rows:
        tracking.log_table(rows, "tables/fairness_groups.json")
    items = checks(fairness) or []
    if items:
        tracking.log_table(
            [
                {
                    "feature": v.get("feature"),
                    "metric": v.get("metric"),
                    "value": v.get("value"),
                    "ci_low": (v.get("ci") or [None, None])[0],
                    "ci_high": (v.get("ci") or [None, None])[1],
                    "bound": str(v.get("bound")),
                    "status": v.get("status"),
                    "gating": bool(v.get("gating", True)),
                    "reason": v.get("reason") or "",
                }
                for v in items
            ],
            "tables/verdicts.json",
        )


def log_figures(cfg: Config) -> None:
    """ROC, calibration, selection rate by group with intervals, importance, ... as PNG images."""
    from pipeline import tracking
    from pipeline.report import figures
    from pipeline.report.context import collect

    for name, draw in figures.builders(collect(cfg)):
        fig = draw()
        if fig is not None:
            fig.tight_layout()  # axis labels inside the image
            tracking.log_figure(fig, f"figures/{name}")


def criteria_text(fairness: dict | None) -> str:
    """The gating criteria, the decision rule and the intervals in words: the report's own sentences."""
    return " ".join(policy_text.summary(fairness))


def run_note(metrics: dict, report_link: str) -> str:
    """The run's description in Markdown: verdict, criteria, three findings, where the report is."""
    fairness = metrics.get("fairness")
    v = findings.verdict(fairness)
    ctx = {k: metrics.get(k) for k in ("fairness", "evaluate", "privacy", "explain")}
    lines = [f"**{v.headline}**", "", f"**Gating criteria:** {criteria_text(fairness)}", "", "**Findings:**", ""]
    lines += [f"{i}. {text}" for i, text in enumerate(findings.findings(ctx), 1)] or ["(no findings: stages missing)"]
    if v.gating_failures:
        shown = v.gating_failures[:8]
        lines += ["", f"**Gating checks not passing ({len(v.gating_failures)}):**", ""] + [f"- {f}" for f in shown]
        if len(v.gating_failures) > len(shown):
            lines.append(f"- ... and {len(v.gating_failures) - len(shown)} more (table `tables/verdicts.json`)")
    lines += [
        "",
        f"**Full report:** [{paths.REPORT_HTML.name}]({report_link}) (artifact `report/audit_report.html`; "
        "model card `report/model_card.md`); figures under `figures/`, every figure under `detail/` and `tables/`.",
    ]
    return "\n".join(lines)


def version_description(metrics: dict) -> str:
    """First line the verdict; then the findings and the policy, in the report's words."""
    fairness = metrics.get("fairness")
    ctx = {k: metrics.get(k) for k in ("fairness", "evaluate", "privacy", "explain")}
    lines = [findings.verdict(fairness).headline, *(f"- {t}" for t in findings.findings(ctx))]
    return "\n".join([*lines, "", *policy_text.summary(fairness)])


def verdict_tags(v: findings.Verdict) -> dict[str, str]:
    """Short, exact tags: the verdict and the count per status (never a truncated list)."""
    tags = {"audit_verdict": v.status}
    tags.update({f"audit_checks_{k}": str(n) for k, n in v.counts.items()})
    return tags


def run_name(source: str, fairness: dict | None) -> str:
    """``adult · FAIL 2 · INCONCLUSIVE 2``: the data and the verdict, the one field the runs table always
    shows (runs with the same verdict are told apart by their Created column and ``pipeline_state`` tag)."""
    return findings.SEPARATOR.join([source, findings.verdict_label(fairness)])


def summary_tags(fairness: dict | None) -> dict[str, str]:
    """``audit_summary``: the one-line verdict label, beside ``audit_verdict`` and the per-status counts."""
    return {"audit_summary": findings.verdict_label(fairness)}


def model_tags(fairness: dict | None, version: int, key: str) -> dict[str, str]:
    """The registered model's tag (the registry's model list shows it): the newest network's verdict."""
    return {key: f"{findings.verdict_label(fairness)} (network v{version})"}


def exemption_tags(fairness: dict | None) -> dict[str, str]:
    """``audit_exemptions``: every exemption applied (``none`` when none), on the run and each version."""
    return {"audit_exemptions": "; ".join(findings.exemptions(fairness))[:5000] or "none"}


def run_tags(meta: Meta, state: str, report_sha: str | None, fairness: dict | None) -> dict[str, str]:
    git = git_commit()
    g = gate(fairness)
    return {
        "pipeline_state": state,
        "report_sha256": report_sha or "none",
        "git_commit": str(git["sha"]),
        "git_dirty": str(git["dirty"]),
        "data_source": meta.source,
        "data_sha256": ",".join(f"{k}:{v}" for k, v in sorted(meta.provenance.items())),
        "audit_passed": str(g.passed).lower(),
        **verdict_tags(findings.verdict(fairness)),
        **summary_tags(fairness),
        **exemption_tags(fairness),
    }


def main(cfg: Config) -> None:
    """Log within one overall deadline (a tracking server only)."""
    from pipeline import tracking

    with tracking.deadline(tracking.resolve_uri(), cfg.tracking.deadline_s):
        log_run(cfg)


def log_run(cfg: Config) -> None:
    from pipeline import tracking

    uri = tracking.connect(cfg.tracking.experiment, cfg.tracking.timeout_s)
    verified_fairness(cfg)  # before any run or version: a verdict that does not recompute moves no alias
    tracking.mark_experiment_for_training_runs(cfg.tracking.experiment)
    tracking.save_runs_view(cfg.tracking.experiment)
    meta = contracts.read(paths.PREPARED_META)
    manifest.require(cfg, "prepare", "train", *(["mitigate"] if paths.MITIGATION_METRICS.is_file() else []))
    # whole files, as written: every figure is flattened into the run and the report's findings read them
    metrics = {name: contracts.read_dict_optional(p) for name, p in METRIC_FILES.items()}
    state = pipeline_state(cfg)
    report_sha = io.sha256_file(paths.REPORT_HTML) if paths.REPORT_HTML.is_file() else None
    with tracking.exclusive(state):  # one run per state under concurrent `log`s; ends runs a kill left RUNNING
        existing = tracking.find_run(state, report_sha)  # only a run whose artifacts still exist
        if existing:
            model_uri = tracking.get_tags(existing).get("model_uri")
            summary = {"run_id": existing, "reused": True, "model_uri": model_uri, **tracking.registry_of(existing)}
        else:
            tags = run_tags(meta, state, report_sha, metrics.get("fairness"))
            name = run_name(meta.source, metrics.get("fairness"))
            with tracking.run(run_name=name, tags=tags) as run_id:
                link = (
                    f"#/experiments/{tracking.active_experiment_id()}/runs/{run_id}/artifacts/report/audit_report.html"
                )
                tracking.set_note(run_note(metrics, link))
                summary = {"run_id": run_id, "reused": False, **log_everything(cfg, meta, metrics)}
    summary.update(
        {
            "tracking_uri": tracking.redact(uri),
            "experiment": cfg.tracking.experiment,
            "pipeline_state": state,
            "experiment_id": tracking.experiment_id(cfg.tracking.experiment),
        }
    )
    io.write_json(paths.MLFLOW_RUN, summary)
    print(
        f"log: MLflow run {summary['run_id']} ({'existing' if summary['reused'] else 'new'}) in "
        f"{summary['tracking_uri']}"
    )
    print("\n".join(closing_lines(metrics.get("fairness"), summary["run_id"], summary["experiment_id"])))


def closing_lines(fairness: dict | None, run_id: str, experiment_id: str | None = None, shown: int = 5) -> list[str]:
    """What ``dvc repro`` ends with (this stage runs last): the verdict, each gating check not passing with
    its value, interval, bound and decisive group (the gate's own lines), the rule, where to read more."""
    from pipeline.report import gate_message

    v = findings.verdict(fairness)
    lines = ["", "=" * 72, v.headline]
    failing = [c for c in findings.gating(fairness) if c.get("status") != "pass"]
    failing.sort(key=lambda c: gate_message.ORDER.get(str(c.get("status")), len(gate_message.ORDER)))
    if failing:
        lines.append(f"Gating checks not passing ({len(failing)}):")
        lines += [f"  {gate_message.check_line(c)}" for c in failing[:shown]]
        if len(failing) > shown:
            lines.append(f"  ... and {len(failing) - shown} more: see the report's summary")
        lines.append(f"Rule: {policy_text.rule_sentence(fairness)}")
    lines.append(f"Report: {paths.REPORT_HTML} (model card {paths.MODEL_CARD})")
    from pipeline.tracking import RUNS_VIEW

    page = f"http://127.0.0.1:5000/#/experiments/{experiment_id}/runs{RUNS_VIEW}" if experiment_id else ""
    lines.append(f"MLflow: run {run_id}; `make ui`, then the runs table at {page or 'http://127.0.0.1:5000'}")
    lines.append("=" * 72)
    return lines
