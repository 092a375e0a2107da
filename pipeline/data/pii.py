"""Scan a table for direct identifiers and measure k-anonymity, without ever emitting a value.

Direct identifiers (names, e-mail addresses, phone numbers, government ids, street addresses,
dates of birth, and columns unique per row) let a reader single a person out; they rarely carry
signal a model should learn and they turn a model file into a data-protection liability. A
column is flagged by its *name*, by the share of its values matching a *pattern*, or (names) by
the share of its rows found in a list of common names (``names/``, provenance in its README); the
result lists column, reason and match rate only. Dates are dates of birth only when the header or
the implied ages say so; other dates (events) are reported as dates, a quasi-identifier. Numeric
measurements (``age``, amounts) are never flagged for being unique, since continuous values are distinct by nature.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.validate import closest
from pipeline.errors import BadInputError

#: Share of sampled non-missing values that must match a pattern to flag a column.
MIN_MATCH_RATE = 0.6
SAMPLE = 2000
MIN_ROWS_FOR_UNIQUE = 20
#: Share of rows that must be filled before "unique among the filled values" names an identifier.
MIN_FILLED_SHARE = 0.5
MISSING_LEVEL = "<missing>"

NAME_RULES = [
    ("personal name", r"(^|_)(full_?name|first_?name|last_?name|given_?name|surname|family_?name|forename|name)($|_)"),
    ("e-mail address", r"(^|_)e_?mail(_?address)?($|_)"),
    ("phone number", r"(^|_)(phone|telephone_?number|mobile|cell_?phone|fax)(_?(number|no))?($|_)"),
    (
        "government id",
        r"(^|_)(ssn|social_?security(_?number)?|national_?id|passport(_?(number|no))?|"
        r"tax_?id|nino|driver_?licen[cs]e|id_?card)($|_)",
    ),
    ("street address", r"(^|_)(street|address|addr|street_?address|home_?address)($|_)"),
    ("date of birth", r"(^|_)(dob|date_?of_?birth|birth_?date|birthday|born)($|_)"),
    ("personal name", r"^(first|last|fname|lname|given|middle|middle_?name|maiden_?name|firstname|lastname)$"),
]

#: Checked in this order, most specific first (a date or an id would also pass as a phone number).
VALUE_RULES = [
    ("e-mail address", r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    ("government id", r"\d{3}-\d{2}-\d{4}|[A-Z]{2}\d{6}[A-D]|[A-Z]{2}\d{2}[A-Z0-9]{11,30}"),
    ("date", r"(19|20)\d{2}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2})?)?|\d{1,2}[./]\d{1,2}[./](19|20)\d{2}"),
    (
        "street address",
        r"\d{1,5}\s+([A-Za-z0-9.'-]+\s+){1,4}(street|st|avenue|ave|road|rd|lane|ln|drive|dr|"
        r"boulevard|blvd|way|court|ct|place|pl|strasse|straße|weg|gasse)\.?(,.*)?",
    ),
    ("phone number", r"(?=(?:\D*\d){7,15}\D*$)\+?\(?\d{1,4}\)?([\s.-]\(?\d{2,8}\)?){1,5}"),
    ("personal name", r"[A-Z][a-z'-]+(\s+[A-Z]\.?)?(\s+[A-Z][a-z'-]+){1,2}"),
]
#: Personal names look like two capitalised words; so do city names. Require variety too.
NAME_MIN_DISTINCT_SHARE = 0.5
#: A column of single words is a name column when this share of its rows is a listed name
#: (``names/``, any case) and it has at least ``NAMES_MIN_DISTINCT`` distinct values.
NAMES_MIN_SHARE = 0.25
NAMES_MIN_DISTINCT = 30
WORD = r"[A-Za-z][A-Za-z'-]*"
#: Dates are births when their 10th-90th percentile span is at least this many years (birth
#: dates of a population span decades; event dates of one study rarely do) or when they track an
#: ``age`` column of the same table.
BIRTH_SPAN_YEARS = 20
NAMES_DIR = Path(__file__).with_name("names")


@functools.cache
def known_names() -> frozenset[str]:
    """Common given names and surnames, lower case (provenance: ``names/README.md``)."""
    words = set()
    for file in ("first_names.txt", "surnames.txt"):
        words.update((NAMES_DIR / file).read_text(encoding="utf-8").split())
    return frozenset(words)


def by_names_list(text: pd.Series) -> float | None:
    """Share of rows that are a listed name, when the column is single words of many values."""
    if text.nunique() < NAMES_MIN_DISTINCT or text.str.fullmatch(WORD).mean() < 0.9:
        return None
    rate = float(text.str.lower().isin(known_names()).mean())
    return rate if rate >= NAMES_MIN_SHARE else None


def dates_are_births(values: pd.Series, frame: pd.DataFrame | None = None) -> str | None:
    """Why a date column holds births ('implied ages'), or None for other dates (events)."""
    dates = pd.to_datetime(values, errors="coerce", format="mixed")
    years = (dates.dt.year + dates.dt.day_of_year / 366).dropna()
    if len(years) < 2:
        return None
    if years.quantile(0.9) - years.quantile(0.1) >= BIRTH_SPAN_YEARS:
        return f"date of birth (dates span {years.quantile(0.9) - years.quantile(0.1):.0f} years, as births do)"
    for column in frame.columns if frame is not None else []:
        if str(column).strip().lower() == "age" and pd.api.types.is_numeric_dtype(frame[column]):
            ages = frame.loc[years.index, column].astype("float64")
            if len(ages) > 2 and ages.std() > 0 and years.corr(ages) < -0.9:
                return f"date of birth (implied ages track the column '{column}')"
    return None


def _normalise(column: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", column.strip().lower()).strip("_")


def by_name(column: str) -> str | None:
    """The kind of identifier a column name announces, if any."""
    name = _normalise(column)
    for reason, pattern in NAME_RULES:
        if re.search(pattern, name):
            return reason
    return None


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values)


def by_value(values: pd.Series, seed: int) -> tuple[str, float] | None:
    """The identifier kind most of the (sampled) values match, with its match rate."""
    present = values.dropna()
    if present.empty or _is_numeric(present):
        return None
    if len(present) > SAMPLE:
        present = present.sample(SAMPLE, random_state=seed)
    text = present.astype(str).str.strip()
    listed = by_names_list(text)
    if listed is not None:
        return "personal name (common names list)", listed
    for reason, pattern in VALUE_RULES:
        rate = float(text.str.fullmatch(pattern, flags=re.IGNORECASE if reason != "personal name" else 0).mean())
        if rate < MIN_MATCH_RATE:
            continue
        if reason == "personal name" and text.nunique() < NAME_MIN_DISTINCT_SHARE * len(text):
            continue
        return reason, rate
    return None


def unique_per_row(values: pd.Series, n_missing: int = 0) -> bool:
    """Every filled row distinct: an identifier unless the column is a continuous measurement.

    A case number left empty in a few rows is still a case number, so uniqueness is judged on the
    non-empty values (``<missing>`` in a categorical column; in a numeric one the ``n_missing``
    rows the loader filled with the median, which that value may repeat). At least
    :data:`MIN_FILLED_SHARE` of the rows must be filled: a mostly-empty column is the column
    screen's business.
    """
    if len(values) < MIN_ROWS_FOR_UNIQUE:
        return False
    if _is_numeric(values):
        counts = values.value_counts(dropna=True)
        allowed_top = n_missing + 1 if n_missing else 1
        if counts.empty or counts.iloc[0] > allowed_top or (len(counts) > 1 and counts.iloc[1] > 1):
            return False
        filled = len(values) - n_missing
        as_float = counts.index.to_numpy(dtype="float64")
        integer_keys = bool(np.all(np.mod(as_float, 1) == 0))  # integer keys (1, 2, 3, ...) are row ids
        return integer_keys and filled >= max(MIN_ROWS_FOR_UNIQUE, MIN_FILLED_SHARE * len(values))
    text = values.dropna().astype(str)
    present = text[text != MISSING_LEVEL]
    if len(present) < max(MIN_ROWS_FOR_UNIQUE, MIN_FILLED_SHARE * len(values)):
        return False
    return bool(present.nunique() == len(present))


def scan(
    frame: pd.DataFrame, seed: int, protected: set[str] = frozenset(), missing: dict[str, int] | None = None
) -> list[dict]:
    """One finding per flagged column: column, reason, match rate, how it was detected.

    ``protected`` columns (the target, the sensitive attributes) are still reported but marked
    as not excludable, because the audit needs them. ``missing`` holds each column's missing
    cells as read (numeric gaps are median-filled by then).
    """
    findings = []
    for column in frame.columns:
        reasons = []
        kind = by_name(str(column))
        if kind:
            reasons.append({"reason": kind, "detected_by": "column name", "match_rate": None})
        hit = by_value(frame[column], seed)
        if hit and hit[0] == "date":
            births = dates_are_births(frame[column], frame)
            reason = births or "date (a quasi-identifier; neither header nor implied ages indicate births)"
            if not (kind == "date of birth" and births):
                reasons.append({"reason": reason, "detected_by": "value pattern", "match_rate": hit[1]})
        elif hit:
            reasons.append({"reason": hit[0], "detected_by": "value pattern", "match_rate": hit[1]})
        if unique_per_row(frame[column], (missing or {}).get(column, 0)):
            reasons.append(
                {
                    "reason": "unique among its non-empty values (an identifier)",
                    "detected_by": "distinct count",
                    "match_rate": 1.0,
                }
            )
        if reasons:
            rates = [r["match_rate"] for r in reasons if r["match_rate"] is not None]
            findings.append(
                {
                    "column": str(column),
                    "reasons": reasons,
                    "reason": "; ".join(f"{r['reason']} ({r['detected_by']})" for r in reasons),
                    "match_rate": max(rates) if rates else None,
                    "excludable": column not in protected,
                }
            )
    return findings


def match_columns(wanted: list[str], columns: list[str]) -> tuple[list[str], list[str]]:
    """Configured names matched to the data's columns ignoring case and surrounding spaces
    (``age`` finds ``AGE``): ``(found column names, names with no match)``."""
    by_key = {}
    for column in columns:
        by_key.setdefault(column.strip().lower(), column)
    found, absent = [], []
    for name in wanted:
        column = name if name in columns else by_key.get(name.strip().lower())
        (found.append(column) if column is not None else absent.append(name))
    return found, absent


def k_anonymity(frame: pd.DataFrame, quasi_identifiers: list[str], k: int) -> dict:
    """Smallest equivalence class over the quasi-identifiers and the share of rows under ``k``.

    Only sizes are reported: which combination is rare would itself disclose a person.
    """
    present, absent = match_columns(quasi_identifiers, list(map(str, frame.columns)))
    if absent and not present:
        raise BadInputError(
            "none of data.pii.quasi_identifiers is a column of the data: "
            + "; ".join(
                f"'{c}' ({closest(c, list(map(str, frame.columns))) or 'no close match; '}".rstrip("; ") + ")"
                for c in absent
            )
            + ". Name the columns that could single a person out together (e.g. age, sex, zip code)"
        )
    result = {"quasi_identifiers": present, "missing_quasi_identifiers": absent, "k": k}
    if not present:
        return {
            **result,
            "smallest_class": None,
            "classes": 0,
            "rows_in_classes_under_k": 0,
            "share_rows_under_k": None,
            "satisfied": None,
        }
    sizes = frame[present].astype(str).value_counts(dropna=False)
    under = int(sizes[sizes < k].sum())
    return {
        **result,
        "smallest_class": int(sizes.min()),
        "classes": int(len(sizes)),
        "classes_under_k": int((sizes < k).sum()),
        "rows_in_classes_under_k": under,
        "share_rows_under_k": under / int(sizes.sum()),
        "satisfied": bool(sizes.min() >= k),
    }
