"""Building, auditing and saving mitigation candidates: the ``mitigate`` stage's work.

What is mitigated follows ``audit.policy`` by default (:mod:`pipeline.mitigation.targets`): the
fairlearn constraint of each gating criterion, on the policy's attributes jointly. The
threshold optimizer gives one candidate per constraint; the reductions one under all of them at
once (``mitigation.combine``). Every candidate is audited exactly as the fairness stage audits
the network, with the same gate blockers.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pipeline import paths, splits
from pipeline.audit import fairness, performance
from pipeline.audit.gate import gate
from pipeline.config import Config
from pipeline.contracts import DataMetrics, Degeneracy, Meta
from pipeline.mitigation import candidates as mitigation
from pipeline.mitigation import targets as mt
from pipeline.stats import counts
from pipeline.stats.groups import joint_groups, sensitive_views
from pipeline.tables.criteria import RATES

#: How reductions hand their weights to the training loop (see pipeline.mitigation.estimator).
WEIGHTING = "loss"
#: Each refit's temporary checkpoints (inside the project; removed after each method).
REFIT_DIR = paths.MODEL_DIR / "refits.tmp"


def read_split(split: str, fav: int) -> dict:
    """A prepared split as mitigation uses it: features, favourable-vs-rest labels, groups."""
    arrays = splits.arrays(split)
    groups = splits.groups(split)
    return {"X": arrays["X"], "y01": (arrays["y"] == fav).astype(int), "groups": groups}


def plan(cfg: Config, meta: Meta, base_rate: float) -> dict:
    """What to mitigate: the policy's constraints (or the one named by hand) on its attributes, jointly."""
    m, policy = cfg.mitigation, cfg.audit.policy
    singles, combined, untargeted = mt.targets(m.constraint, dict(policy.criteria), base_rate)
    columns = mt.attributes(m.attribute, policy.attributes, meta.sensitive)
    reduce_on = [combined] if combined is not None and m.combine else singles
    jobs = [(method, t) for method in m.methods if method == "threshold_optimizer" for t in singles]
    jobs += [
        (method, t) for method in m.methods if method in ("exponentiated_gradient", "grid_search") for t in reduce_on
    ]
    return {"columns": columns, "singles": singles, "combined": combined, "untargeted": untargeted, "jobs": jobs}


def build_candidates(cfg: Config, meta: Meta, prepared: dict, planned: dict, budget) -> tuple[list, dict]:
    """The unmitigated network plus one candidate per planned (method, target); failures are recorded, not fatal."""
    from pipeline.mitigation import reductions
    from pipeline.mitigation.estimator import FitBudgetExhausted
    from pipeline.models.predict import load_trained

    m, fav, names, seed, columns = (
        cfg.mitigation,
        meta.favourable_index,
        meta.feature_names,
        cfg.seed,
        planned["columns"],
    )
    network = load_trained()
    built = [mitigation.original(network, fav, cfg.evaluate.threshold, names, seed)]
    errors = {}
    if not planned["singles"]:
        errors["every method"] = (
            f"no fairlearn constraint serves the gating criteria of audit.policy "
            f"({', '.join(planned['untargeted'])}); name one in mitigation.constraint to mitigate anyway"
        )
    train, val = prepared["train"], prepared["val"]
    sensitive = columns[0] if len(columns) == 1 else columns
    for method, target in planned["jobs"]:
        name = f"{method} ({target.label})"
        if method in ("exponentiated_gradient", "grid_search") and cfg.train.dp.enabled:
            errors[name] = "skipped: train.dp.enabled is true and reductions would refit the network without DP-SGD"
            continue
        try:
            if method == "threshold_optimizer":
                built.append(
                    mitigation.threshold_optimizer(
                        target,
                        network,
                        fav,
                        val["X"],
                        val["y01"],
                        joint_groups(val["groups"], columns),
                        names,
                        sensitive,
                        seed,
                    )
                )
            else:
                built.append(
                    reductions.reductions(
                        method,
                        target,
                        cfg.train,
                        train["X"],
                        train["y01"],
                        joint_groups(train["groups"], columns),
                        names,
                        mitigation=m,
                        seed=seed,
                        budget=budget,
                        weighting=WEIGHTING,
                        workdir=str(REFIT_DIR),
                    )
                )
        except (ValueError, FitBudgetExhausted) as err:  # e.g. fairlearn's "Degenerate labels" for a one-class group
            errors[name] = str(err).splitlines()[0]
        finally:
            shutil.rmtree(REFIT_DIR, ignore_errors=True)
    return built, errors


def audit_candidate(
    decisions, score, test: dict, sensitive: list[str], s, *, cfg: Config, data: DataMetrics | None
) -> dict:
    """:func:`audit_candidate_tables` of the test split's rows as one block (the bootstrap keyed by
    the row's position, as the fairness stage keys it without prepare's ``row_id``)."""
    views = {name: labels.to_numpy() for name, labels in sensitive_views(test["groups"], sensitive).items()}
    rows = np.arange(len(test["y01"]), dtype=np.int64)
    tables = counts.block_tables(test["y01"], decisions, score, views, fairness.table_spec(s), rows)
    return audit_candidate_tables(tables, sensitive, s, cfg=cfg, data=data)


def audit_candidate_tables(tables, sensitive: list[str], s, *, cfg: Config, data: DataMetrics | None) -> dict:
    """The same audit as the fairness stage (every attribute and intersection), plus accuracy and
    AUC, from a candidate's count tables: one block of the test split locally, every test row's
    blocks merged on the ray engine (:mod:`pipeline.scale.mitigate`).

    The same blockers as the network's gate apply: suspected target leakage in the data, and a
    candidate that is itself degenerate (a rule that accepts or refuses nearly everyone passes
    parity checks trivially, so its verdicts say nothing).
    """
    everyone = mitigation.overall_tables(tables)
    confusion = everyone.views[mitigation.OVERALL_VIEW][mitigation.OVERALL_GROUP].cells  # [truth, decision]
    margins = (cfg.evaluate.degenerate_margin, cfg.evaluate.degenerate_share)
    degenerate = performance.degeneracy_of(confusion, *margins, ["unfavourable", "favourable"])
    reason = "; ".join(degenerate["reasons"]) if degenerate["degenerate"] else None
    audited = fairness.audit_tables(
        tables, sensitive, s, inconclusive_reason=f"degenerate candidate: {reason}" if reason else None
    )
    g = gate(audited, leakage=data.leakage if data else None, degenerate=Degeneracy.model_validate(degenerate))
    return {
        **mitigation.overall_from_tables(everyone, s),
        "audit": audited,
        "degenerate": degenerate,
        "passed": g.passed,
        "failed_checks": g.failed,
        "check_counts": g.counts,
    }


def trade_off(row: dict, first: str) -> dict:
    """Every gating check of a candidate (all policy attributes) with its interval; the plotted point is
    ``first`` (the first gating criterion on the first mitigated attribute), the same check for every candidate."""
    checks = [
        {
            k: v.get(k)
            for k in ("check", "feature", "metric", "value", "ci", "bound", "status", "group", "reference", "reason")
        }
        for v in row["audit"]["verdicts"]
        if v.get("gating", True)
    ]
    point = next((c for c in checks if c["check"] == first), {})
    return {"metric": first, "value": point.get("value"), "ci": point.get("ci"), "gating_checks": checks}


#: Which truth value each confusion cell counts (tp, fn: favourable; fp, tn: unfavourable).
_TRUTH = {"tp": 1, "fn": 1, "fp": 0, "tn": 0}


def _fixed_by_truth(cells: tuple[str, ...]) -> bool:
    """Whether a denominator counts people by their true outcome alone (not by the model's decisions)."""
    return set(cells) in ({"tp", "fn"}, {"fp", "tn"}, set(_TRUTH))


def denominators(test: dict, sensitive: list[str]) -> dict:
    """Per attribute, group and rate of the table whose denominator the truth alone fixes (selection
    rate: rows; TPR: people with the favourable outcome; FPR: without it): that count on the test
    split. Model-independent, so every candidate shares it."""
    y, out = test["y01"], {}
    fixed = {name: {_TRUTH[c] for c in r.denominator} for name, r in RATES.items() if _fixed_by_truth(r.denominator)}
    for column in sensitive:
        labels = test["groups"][column].astype(str).to_numpy()
        out[column] = {
            g: {name: int(np.isin(y[labels == g], list(truths)).sum()) for name, truths in fixed.items()}
            for g in np.unique(labels)
        }
    return out


def denominators_from_tables(tables, sensitive: list[str]) -> dict:
    """:func:`denominators` from any candidate's count tables (the ray engine has no rows on the
    driver): a truth-fixed denominator's cells summed per group."""
    out = {}
    for column in sensitive:
        cells = counts.cells(tables, column)
        names = tables.names(column)
        out[column] = {
            g: {
                name: int(sum(cells[c][i] for c in r.denominator))
                for name, r in RATES.items()
                if _fixed_by_truth(r.denominator)
            }
            for i, g in enumerate(names)
        }
    return out


def stage_candidates(built: list) -> Path:
    """Each deployable candidate written into its own folder under a staging folder beside
    ``models/candidates`` (the ray engine's actors load them from there before they are published)."""
    staging = paths.CANDIDATES_DIR.with_name(paths.CANDIDATES_DIR.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    for c in built:
        if c.model is not None:
            c.model.save(staging / paths.candidate_slug(c.name))
    return staging


def publish_candidates(built: list, staging: Path) -> dict[str, str]:
    """The staged set replaces ``models/candidates`` at once; each deployable candidate's folder by name."""
    shutil.rmtree(paths.CANDIDATES_DIR, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    staging.rename(paths.CANDIDATES_DIR)
    return {c.name: paths.candidate_dir(c.name).as_posix() for c in built if c.model is not None}


def save_candidates(built: list) -> dict[str, str]:
    """Each deployable candidate in its own folder; the whole set replaced at once."""
    return publish_candidates(built, stage_candidates(built))


def audit_all(
    cfg: Config,
    built: list,
    prepared: dict,
    sensitive: list[str],
    planned: dict,
    data: DataMetrics | None,
    tables: dict | None = None,
):
    """Every built candidate (and the logistic stand-in when asked for) audited on the test split:
    (rows by candidate name, test decisions by candidate name). ``tables`` (the ray engine): each
    built candidate's count tables over every test row of the shards, audited instead; the test
    split's decisions are still made (the decisions file holds the split's rows)."""
    m, test = cfg.mitigation, prepared["test"]
    s = fairness.settings_from_config(cfg)
    rows, decided = {}, {}
    for c in built:
        groups = joint_groups(test["groups"], c.model.sensitive_columns) if c.model.sensitive else None
        decided[c.name] = c.model.decide(test["X"], groups)
        if tables is None:
            score = c.model.score(test["X"], groups)
            audited = audit_candidate(decided[c.name], score, test, sensitive, s, cfg=cfg, data=data)
        else:
            audited = audit_candidate_tables(tables[c.name], sensitive, s, cfg=cfg, data=data)
        rows[c.name] = {
            "method": c.method,
            "constraint": c.constraint,
            "targets": c.targets,
            "deployable": True,
            "fits": c.fits,
            "notes": c.notes,
            **audited,
        }
    if m.enabled and "logistic_stand_in" in m.methods:
        train = prepared["train"]
        pred, score = mitigation.logistic_stand_in(train["X"], train["y01"], test["X"], cfg.seed, m.stand_in_max_rows)
        notes = [
            f"scikit-learn LogisticRegression on {min(m.stand_in_max_rows, len(train['y01']))} sampled "
            "rows, unmitigated: a comparison, never registered"
        ]
        if tables is not None:
            notes.append(
                f"audited on the sample's test split ({len(test['y01'])} rows), not on every test row: it is "
                "not saved as a model the Ray actors could load"
            )
        rows[mitigation.STAND_IN] = {
            "method": "logistic_stand_in",
            "constraint": None,
            "targets": [],
            "deployable": False,
            "fits": 0,
            "notes": notes,
            **audit_candidate(pred, score, test, sensitive, s, cfg=cfg, data=data),
        }
    first = f"{planned['columns'][0]}: {next(iter(cfg.audit.policy.criteria))}"
    for row in rows.values():
        row["trade_off"] = trade_off(row, first)
    return rows, decided


def result(
    cfg: Config,
    planned: dict,
    rows: dict,
    errors: dict,
    fits_used: int,
    denominators_: dict,
    audited_on: dict | None = None,
) -> dict:
    """What ``reports/metrics/mitigation.json`` holds: the plan, every audited candidate, the best
    passing one and, when none passes, what stands in the way; with ``audited_on`` (the ray
    engine only) which rows the candidates were audited on (locally: the test split, as always)."""
    m, columns = cfg.mitigation, planned["columns"]
    best = mitigation.best_passing(rows)
    extra = {"audited_on": audited_on} if audited_on is not None else {}
    return {
        "enabled": m.enabled,
        "attribute": " x ".join(columns),
        "attributes": columns,
        "constraint": m.constraint,
        "combine": m.combine,
        "methods": list(m.methods),
        "policy_criteria": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.audit.policy.criteria.items()},
        "targets": [
            {
                "constraint": t.constraint,
                "criteria": list(t.criteria),
                "moments": [{"moment": p.moment, **p.bound} for p in t.parts],
            }
            for t in [*planned["singles"], *([planned["combined"]] if planned["combined"] else [])]
        ],
        "untargeted_criteria": planned["untargeted"],
        "fit_budget": m.max_fits,
        "fits_used": fits_used,
        "best_passing": best,
        "candidates": rows,
        "errors": errors,
        "weighting": WEIGHTING,
        "obstacles": mitigation.obstacles(rows, denominators_) if not best else None,
        **extra,
    }
