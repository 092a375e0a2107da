"""The verdict and the most important findings of one run, in plain sentences built from its figures.

A reviewer, an affected person and an engineer read the same first screen, so findings say what
happens to whom ("'>50K' is predicted for 8.4% of Female and 25.9% of Male test rows") instead of
naming a statistic. Every number comes from this run's metrics files; a finding whose inputs are
missing is left out rather than guessed. The same text feeds the report's summary, the MLflow run
description and the console's last lines, so the three never disagree.

Tolerates ``fairness.json`` with or without the verdict keys ``gating`` and ``reason``: a verdict
without ``gating`` counts as gating (every check then decides the audit, as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.audit.gate import PASS, blockers, checks, gate, label
from pipeline.tables.criteria import CRITERIA

#: Rates about who is *selected* (the favourable prediction) vs about *errors*; a gating criterion's
#: rates in the criteria table decide which sentence speaks for it.
SELECTION_RATES = frozenset({"selection_rate"})
ERROR_RATES = frozenset({"tpr", "fnr", "fpr"})
MAX_FINDINGS = 3
#: Order in which statuses are named in a verdict label: what blocks first, passes last.
STATUS_ORDER = ("fail", "not_assessable", "inconclusive", "undefined", "pass")
SEPARATOR = " · "


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal ("8.4%"), the one way shares are written in sentences."""
    if value is None or value != value:
        return "undefined"
    return f"{100 * value:.1f}%"


@dataclass(frozen=True)
class Verdict:
    """The audit's outcome in words: ``status`` pass/fail/inconclusive, a headline and the gating failures."""

    status: str
    headline: str
    gating_failures: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def gating(fairness: dict | None) -> list[dict]:
    """The verdicts that decide the audit (all of them when ``fairness.json`` has no ``gating`` key)."""
    items = checks(fairness) or []
    return [v for v in items if v.get("gating", True)]


def exemptions(fairness: dict | None) -> list[str]:
    """Each exemption the policy applied (``audit.policy.exempt``), as the headline prints it."""
    out = []
    for v in gating(fairness):
        for e in v.get("exempt") or []:
            out.append(f"{label(v)} '{e['group']}' ({e['status']}): {e['reason']}")
    return out


def _with_exemptions(headline: str, fairness: dict | None) -> str:
    found = exemptions(fairness)
    return headline if not found else f"{headline} EXEMPTED by audit.policy.exempt: {'; '.join(found)}."


def verdict(fairness: dict | None) -> Verdict:
    v = _verdict(fairness)
    return Verdict(v.status, _with_exemptions(v.headline, fairness), v.gating_failures, v.counts)


def _verdict(fairness: dict | None) -> Verdict:
    g = gate(fairness)
    if not g.available:
        return Verdict(
            "inconclusive",
            "AUDIT INCOMPLETE: no fairness verdicts are available, so the model is not marked 'audited'.",
        )
    total = sum(g.counts.values())
    if g.passed:
        return Verdict(
            "pass",
            f"AUDIT PASSED: all {total} fairness checks pass; the model version may receive the 'audited' alias.",
            [],
            g.counts,
        )
    blocked = blockers(fairness)  # leakage, a degenerate model: no check can pass while these hold
    failures = blocked + [_check_text(v) for v in gating(fairness) if v.get("status") != PASS]
    n_bad = sum(n for k, n in g.counts.items() if k != PASS)
    detail = ", ".join(f"{n} {k}" for k, n in g.counts.items() if k != PASS)
    checks_text = (
        f"{n_bad} of {total} fairness checks do not pass ({detail})" if n_bad else f"all {total} fairness checks pass"
    )
    if blocked:
        headline = f"AUDIT FAILED: {'; '.join(blocked)}; {checks_text}; the model is not marked 'audited'."
    else:
        headline = f"AUDIT FAILED: {checks_text}; the model is not marked 'audited'."
    return Verdict("fail", headline, failures, g.counts)


def verdict_label(fairness: dict | None) -> str:
    """``FAIL 2 · INCONCLUSIVE 2``, ``PASS 4``, ``BLOCKED · PASS 4`` or ``NO VERDICT``: the number of
    gating checks per status, worst first (the run name, tags, registry list and gate message)."""
    counts = gate(fairness).counts
    if not counts:
        return "NO VERDICT"
    known = [s for s in STATUS_ORDER if counts.get(s)] + sorted(s for s in counts if s not in STATUS_ORDER)
    label = SEPARATOR.join(f"{s.upper().replace('_', ' ')} {counts[s]}" for s in known)
    return f"BLOCKED{SEPARATOR}{label}" if blockers(fairness) else label


def _check_text(v: dict) -> str:
    """``sex: demographic parity difference 0.175 [0.163, 0.186], bound 0.1 (fail)``."""
    ci = v.get("ci") or [None, None]
    value = _num(v.get("value"))
    interval = f" [{_num(ci[0])}, {_num(ci[1])}]" if ci and ci[0] is not None else ""
    name = label(v).replace("_", " ")
    reason = f"; {v['reason']}" if v.get("reason") else ""
    needed = f"; {'; '.join(v['needed'])}" if v.get("needed") else ""
    return f"{name} {value}{interval}, bound {v.get('bound')} ({v.get('status')}{reason}{needed})"


def _num(value) -> str:
    return "undefined" if value is None or value != value else f"{value:.3f}"


# --- findings ------------------------------------------------------------------------------------


def _eligible(block: dict) -> dict[str, dict]:
    """Groups with a defined selection rate and no eligibility flag (too small, one outcome only)."""
    groups = block.get("groups") or {}
    ok = {g: v for g, v in groups.items() if v.get("selection_rate") is not None and not v.get("flags")}
    return ok or {g: v for g, v in groups.items() if v.get("selection_rate") is not None}


def _extremes(block: dict, metric: str) -> tuple[str, dict, str, dict] | None:
    groups = {g: v for g, v in _eligible(block).items() if v.get(metric) is not None}
    if len(groups) < 2:
        return None
    low = min(groups, key=lambda g: groups[g][metric])
    high = max(groups, key=lambda g: groups[g][metric])
    return (low, groups[low], high, groups[high]) if low != high else None


def _pair(block: dict, metric: str, pair: tuple[str, str] | None) -> tuple[str, dict, str, dict] | None:
    """The decisive group and its reference when a gating check names them (lower rate first), else the
    lowest and highest eligible groups."""
    groups = block.get("groups") or {}
    if pair and all(g in groups and groups[g].get(metric) is not None for g in pair) and pair[0] != pair[1]:
        a, b = sorted(pair, key=lambda g: groups[g][metric])
        return a, groups[a], b, groups[b]
    return _extremes(block, metric)


def selection_sentence(fairness: dict, feature: str, pair: tuple[str, str] | None = None) -> str | None:
    """Who receives the favourable prediction: the check's decisive group against its reference group
    (``pair``), or the lowest and highest group of ``feature``."""
    block = (fairness.get("features") or {}).get(feature) or {}
    found = _pair(block, "selection_rate", pair)
    if not found:
        return None
    low, lv, high, hv = found
    fav = fairness.get("favourable_class", "the favourable class")
    return (
        f"'{fav}' is predicted for {pct(lv['selection_rate'])} of {low} and {pct(hv['selection_rate'])} of {high} "
        f"test rows (by {feature}{_ci_note(fairness, lv, hv, 'selection_rate')})."
    )


def error_sentence(fairness: dict, feature: str, pair: tuple[str, str] | None = None) -> str | None:
    """How often people who truly belong to the favourable class are recognised: decisive group and
    reference (``pair``), or the lowest and highest group."""
    block = (fairness.get("features") or {}).get(feature) or {}
    found = _pair(block, "tpr", pair)
    if not found:
        return None
    low, lv, high, hv = found
    fav = fairness.get("favourable_class", "the favourable class")
    return (
        f"Of the people whose true outcome is '{fav}', the model recognises {pct(lv['tpr'])} of {low} "
        f"but {pct(hv['tpr'])} of {high} (by {feature}{_ci_note(fairness, lv, hv, 'tpr')})."
    )


def _ci_note(fairness: dict, lv: dict, hv: dict, metric: str) -> str:
    lo, hi = (lv.get("ci") or {}).get(metric), (hv.get("ci") or {}).get(metric)
    if not lo or not hi or lo[0] is None or hi[0] is None:
        return ""
    level = ((fairness.get("settings") or {}).get("ci")) or ((fairness.get("policy") or {}).get("ci"))
    named = f"{100 * level:g}% " if isinstance(level, (int, float)) else ""
    return f"; {named}intervals {pct(lo[0])}-{pct(lo[1])} and {pct(hi[0])}-{pct(hi[1])}"


def _fairness_findings(fairness: dict | None) -> list[str]:
    """One sentence per feature whose gating checks fail, worst features first, selection before errors."""
    if not fairness or not fairness.get("features"):
        return []
    out: list[str] = []
    failing = [v for v in gating(fairness) if v.get("status") != PASS]
    order = sorted(
        failing,
        key=lambda v: (v.get("status") != "fail", " x " in str(v.get("feature")) or "&" in str(v.get("feature"))),
    )
    for v in order:
        metric, feature = str(v.get("metric", "")), v.get("feature")
        if feature is None:
            continue
        rates = set(CRITERIA[metric].rates) if metric in CRITERIA else set()
        maker = selection_sentence if rates & SELECTION_RATES else error_sentence if rates & ERROR_RATES else None
        pair = (str(v["group"]), str(v["reference"])) if v.get("group") and v.get("reference") else None
        sentence = maker(fairness, str(feature), pair) if maker else None
        if sentence and sentence not in out:
            out.append(sentence)
    if not out:  # nothing fails: still say what happens to whom for the first audited attribute
        first = next(iter(fairness["features"]), None)
        sentence = selection_sentence(fairness, first) if first else None
        out += [sentence] if sentence else []
    return out


def _other_findings(ctx: dict) -> list[str]:
    out = []
    ev = ctx.get("evaluate") or {}
    if ev.get("accuracy") is not None:
        out.append(
            f"The model's prediction is right for {pct(ev['accuracy'])} of the {ev.get('n_test', '?'):,} test rows"
            + (f" (ROC AUC {_num(ev.get('roc_auc'))})." if ev.get("roc_auc") is not None else ".")
        )
    mia = (ctx.get("privacy") or {}).get("membership_inference") or {}
    if mia.get("auc") is not None:
        risk = "no better than a coin flip" if mia["auc"] < 0.55 else "better than a coin flip"
        out.append(
            f"An attacker guessing whether a person's row was used in training does {risk} (attack AUC "
            f"{_num(mia['auc'])}; 0.5 = guessing)."
        )
    ig = ((ctx.get("explain") or {}).get("integrated_gradients") or {}).get("importance") or {}
    if ig:
        top = sorted(ig, key=lambda c: -ig[c])[:2]
        out.append(
            f"The columns that most drive the prediction are {' and '.join(repr(c) for c in top)} (Integrated "
            "Gradients)."
        )
    return out


# --- the existing system (data.csv.score / data.csv.decision) ------------------------------------

#: Rates whose higher value is better for the person (more favourable decisions); for ``fnr`` lower is.
HIGHER_IS_BETTER = {"selection_rate": True, "tpr": True, "fpr": True, "fnr": False}


def _outcomes(system: dict) -> tuple[str, str, str]:
    """(target, favourable, unfavourable) as written in the file."""
    fav = str(system.get("favourable_class", "the favourable class"))
    others = [str(c) for c in system.get("classes") or [] if str(c) != fav]
    unfav = others[0] if len(others) == 1 else f"not {fav}"
    return str(system.get("target") or "outcome"), fav, unfav


def rate_in_words(rate: str, system: dict) -> str:
    """How a person meets ``rate`` under this system, in the file's own outcome values."""
    from pipeline.tables.criteria import RATES

    target, fav, unfav = _outcomes(system)
    found = RATES.get(rate)
    if found is not None and found.harm:
        return found.harm.format(target=target, fav=fav, unfav=unfav)
    return {
        "selection_rate": "given the favourable decision",
        "tpr": f"given the favourable decision when their {target} was '{fav}'",
    }.get(rate, found.title if found else rate)


def _harmed_first(audited: dict, verdict: dict) -> list[str]:
    """For each failing comparison, the disadvantaged group named first, with both groups' rates."""
    system, feature, reference = audited.get("system") or {}, verdict.get("feature"), verdict.get("reference")
    groups = ((audited.get("features") or {}).get(str(feature)) or {}).get("groups") or {}
    out = []
    for comparison in verdict.get("comparisons") or []:
        rate, group = comparison.get("rate"), comparison.get("group")
        if comparison.get("status") != "fail" or rate not in HIGHER_IS_BETTER or group not in groups:
            continue
        mine, theirs = groups[group].get(rate), (groups.get(str(reference)) or {}).get(rate)
        if mine is None or theirs is None or mine == theirs:
            continue
        worse_is_mine = (mine < theirs) == HIGHER_IS_BETTER[rate]
        harmed, other = (group, reference) if worse_is_mine else (reference, group)
        rates = {group: mine, str(reference): theirs}
        out.append(
            f"by {feature}, '{harmed}' is disadvantaged against '{other}': {rate_in_words(rate, system)} — "
            f"{pct(rates[str(harmed)])} of '{harmed}', {pct(rates[str(other)])} of '{other}' "
            f"({str(verdict.get('metric', '')).replace('_', ' ')} fails)"
        )
    return out


def existing_system_findings(fairness: dict | None) -> list[str]:
    """One plain sentence per audited existing system: what it is, its gating results, who it
    disadvantages, and its error rates as the affected person meets them."""
    out = []
    for role, audited in ((fairness or {}).get("external") or {}).items():
        system = audited.get("system") or {}
        items = [v for v in audited.get("verdicts") or [] if v.get("gating", True)]
        bad = [v for v in items if v.get("status") != PASS]
        counts: dict[str, int] = {}
        for v in bad:
            counts[str(v.get("status"))] = counts.get(str(v.get("status")), 0) + 1
        if not items:
            result = "no gating check could be computed"
        elif bad:
            result = (
                f"{len(bad)} of {len(items)} gating checks do not pass "
                f"({', '.join(f'{n} {k}' for k, n in sorted(counts.items()))}); the existing system does NOT meet the "
                "audit policy"
            )
        else:
            result = f"all {len(items)} gating checks pass"
        harmed = [h for v in bad for h in _harmed_first(audited, v)]
        sentence = (
            f"EXISTING SYSTEM ({role} '{system.get('column')}', {system.get('rule')}), audited on "
            f"{system.get('rows')} rows: {result}."
        )
        if harmed:
            sentence += " " + "; ".join(h[0].upper() + h[1:] for h in harmed) + "."
        errors = "; ".join(f"{name.upper()}: {rate_in_words(name, system)}" for name in ("fnr", "fpr"))
        out.append(f"{sentence} Its error rates as people meet them — {errors}.")
    return out


def findings(ctx: dict, limit: int = MAX_FINDINGS) -> list[str]:
    """The ``limit`` most important findings: failing fairness first, then accuracy, privacy, explanations."""
    return (_fairness_findings(ctx.get("fairness")) + _other_findings(ctx))[:limit]


def summary_findings(ctx: dict) -> list[str]:
    """The report's first screen: the existing system audited beside the network (when there is one),
    the most important fairness findings, then accuracy, privacy, explanations."""
    fairness = ctx.get("fairness")
    return existing_system_findings(fairness) + _fairness_findings(fairness)[:MAX_FINDINGS] + _other_findings(ctx)
