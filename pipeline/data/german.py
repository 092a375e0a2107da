"""The bundled Statlog German credit data (Hofmann 1994, CC BY 4.0).

Shipped like Adult: ``german.data.gz`` plus the code book ``german_values_maps.json``, both
checked against their sha256 before parsing, so a swapped file cannot change the audit. Codes
such as ``A93`` are decoded to their meanings so the audit and the report speak plain words.
Two sensitive attributes are derived: ``sex`` (from ``status_sex``, which mixes sex and marital
status) and ``age_band`` (the 25-year cut used in the fairness literature on this data).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pandas as pd

from pipeline.data.adult import read_verified
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError, IntegrityError

COLUMNS = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
    "credit",
]
NUMERIC = [
    "duration",
    "credit_amount",
    "installment_rate",
    "residence_since",
    "age",
    "existing_credits",
    "people_liable",
]
TARGET = "credit"
CLASSES = ["bad", "good"]
FAVOURABLE = "good"
AGE_CUT = 25
SHA256 = {
    "german.data": "b21f3d81db8071257d5ff1deaeba1fd4303b62712e6fcc9715c7a86202cb5871",
    "german_values_maps.json": "73a48f120cdb8019fb9f0ad84078ef1ba109f1100bbcc6cbcf925d60e6adcd4e",
}
EXPECTED_ROWS = 1000


def _code_book(path: Path) -> dict[str, dict[str, object]]:
    """The code -> meaning map, refused unless its sha256 matches the bundled one."""
    if not path.is_file():
        raise BadInputError(f"{path}: bundled code book is missing (restore it from git)")
    raw = path.read_bytes()
    actual = hashlib.sha256(raw).hexdigest()
    expected = SHA256["german_values_maps.json"]
    if actual != expected:
        raise IntegrityError(f"{path}: sha256 is {actual}, expected {expected} (see data/raw/README.md)")
    return json.loads(raw)


def _decode(frame: pd.DataFrame, book: dict[str, dict[str, object]]) -> pd.DataFrame:
    """Replace each coded categorical by its meaning; an unknown code is an integrity error."""
    for column, mapping in book.items():
        if column not in frame.columns:
            continue
        meanings = {str(code): str(meaning).strip() for code, meaning in mapping.items()}
        unknown = sorted(set(frame[column].astype(str)) - set(meanings))
        if unknown:
            raise IntegrityError(f"german.data column '{column}': codes {unknown} are not in the code book")
        frame[column] = frame[column].astype(str).map(meanings)
    return frame


def derived_sensitive(status_sex: pd.Series, age: pd.Series) -> pd.DataFrame:
    """``sex`` is the part of ``status_sex`` before ':'; ``age_band`` splits at 25 years."""
    sex = status_sex.str.split(":").str[0].str.strip()
    band = pd.Series(
        [f"<={AGE_CUT}" if a <= AGE_CUT else f">{AGE_CUT}" for a in age], index=age.index, dtype=object
    ).astype(str)
    return pd.DataFrame({"sex": sex.astype(str), "age_band": band})


def load(raw_dir: Path) -> RawTable:
    """Parse, verify and decode the 1,000 rows; label 1 = good, 2 = bad (as published)."""
    raw = read_verified(raw_dir / "german.data.gz", SHA256["german.data"])
    book = _code_book(raw_dir / "german_values_maps.json")
    frame = pd.read_csv(io.BytesIO(raw), sep=" ", header=None, names=COLUMNS, dtype=str, keep_default_na=False)
    if len(frame) != EXPECTED_ROWS:
        raise IntegrityError(f"{raw_dir / 'german.data.gz'}: parsed {len(frame)} rows, expected {EXPECTED_ROWS}")
    frame = _decode(frame, book)
    for column in NUMERIC:
        frame[column] = frame[column].astype("float64")
    frame = pd.concat([frame, derived_sensitive(frame["status_sex"], frame["age"])], axis=1)
    categorical = [c for c in COLUMNS if c not in NUMERIC and c != TARGET] + ["sex", "age_band"]
    return RawTable(
        features=frame[NUMERIC + categorical].reset_index(drop=True),
        target=frame[TARGET].astype(str).reset_index(drop=True),
        classes=list(CLASSES),
        favourable=FAVOURABLE,
        numeric=list(NUMERIC),
        categorical=categorical,
        provenance=dict(SHA256),
        notes=[
            "codes decoded with german_values_maps.json; 'sex' derived from status_sex (which also "
            f"encodes marital status), 'age_band' splits age at {AGE_CUT} years",
            "status_sex and age encode the sensitive sex and age_band: they are not model inputs unless "
            "data.sensitive_as_features",
        ],
        derived_from={"sex": ["status_sex"], "age_band": ["age"]},
    )


def source(settings, raw_dir: Path) -> RawTable:
    """The loader of ``data.source: german`` (pipeline/tables/data_sources.py): the table needs no settings."""
    return load(raw_dir)
