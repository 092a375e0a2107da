"""The bundled UCI Adult census data (Kohavi & Becker 1996, CC BY 4.0).

The raw files ship gzip-compressed under ``data/raw/``; their uncompressed sha256 is checked
before anything is parsed, so a swapped or damaged file cannot silently change the audit.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pandas as pd

from pipeline.data.table import RawTable
from pipeline.errors import BadInputError, IntegrityError

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]
NUMERIC = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
TARGET = "income"
CLASSES = ["<=50K", ">50K"]
FAVOURABLE = ">50K"
SHA256 = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
}
EXPECTED_ROWS = {"adult.data": 32561, "adult.test": 16281}


def read_verified(path: Path, expected_sha256: str) -> bytes:
    """Return the uncompressed bytes of ``path`` (``.gz``), refusing a checksum mismatch."""
    if not path.is_file():
        raise BadInputError(f"{path}: bundled data file is missing (restore it from git)")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as err:
        raise IntegrityError(f"{path}: not a readable gzip file ({err})") from err
    actual = hashlib.sha256(raw).hexdigest()
    if actual != expected_sha256:
        raise IntegrityError(
            f"{path}: sha256 of the uncompressed data is {actual}, expected {expected_sha256} "
            "(see data/raw/README.md); the file was changed or damaged"
        )
    return raw


def _parse(raw: bytes, skip_first_line: bool) -> pd.DataFrame:
    frame = pd.read_csv(
        io.BytesIO(raw),
        header=None,
        names=COLUMNS,
        sep=",",
        skipinitialspace=True,
        skiprows=1 if skip_first_line else 0,
        na_values=["?"],
        keep_default_na=False,
        dtype={c: "string" for c in COLUMNS if c not in NUMERIC},
    )
    frame = frame.dropna(how="all")
    frame[TARGET] = frame[TARGET].str.rstrip(".")
    return frame


def load(raw_dir: Path) -> RawTable:
    """Parse both official splits; missing categoricals become the explicit level ``<missing>``."""
    parts = []
    for name, split in (("adult.data", "train"), ("adult.test", "test")):
        raw = read_verified(raw_dir / f"{name}.gz", SHA256[name])
        frame = _parse(raw, skip_first_line=(name == "adult.test"))
        if len(frame) != EXPECTED_ROWS[name]:
            raise IntegrityError(f"{raw_dir / name}.gz: parsed {len(frame)} rows, expected {EXPECTED_ROWS[name]}")
        frame["__split"] = split
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    categorical = [c for c in COLUMNS if c not in NUMERIC and c != TARGET]
    n_missing = int(frame[categorical].isna().any(axis=1).sum())
    for column in categorical:
        frame[column] = frame[column].fillna("<missing>").astype(str)
    for column in NUMERIC:
        frame[column] = frame[column].astype("float64")
    return RawTable(
        features=frame[NUMERIC + categorical].reset_index(drop=True),
        target=frame[TARGET].astype(str).reset_index(drop=True),
        classes=list(CLASSES),
        favourable=FAVOURABLE,
        numeric=list(NUMERIC),
        categorical=categorical,
        official_split=frame["__split"].reset_index(drop=True),
        provenance={f"{name}": sha for name, sha in SHA256.items()},
        notes=[f"{n_missing} rows have an unknown ('?') categorical value, kept as the level '<missing>'"],
    )


def source(settings, raw_dir: Path) -> RawTable:
    """The loader of ``data.source: adult`` (pipeline/tables/data_sources.py): the table needs no settings."""
    return load(raw_dir)
