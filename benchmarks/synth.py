"""Synthetic rows drawn from the Adult distribution, for the scaling benchmark.

Method: resample whole Adult rows (train and test files together) with replacement, so every
categorical combination and its label keep their joint frequencies, then perturb the numeric
columns so rows are not exact copies: age and hours per week get Gaussian jitter (sd 2, rounded,
clipped to the observed range), fnlwgt and non-zero capital gains/losses a multiplicative
log-normal jitter (sd 0.1); education_num stays tied to education. The result has Adult's
columns and header and is written to ``benchmarks/work/`` (ignored by git), never committed.

    python benchmarks/synth.py --rows 200000 [--seed 0] [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work"
GENERATOR_VERSION = 1


def adult_frame() -> pd.DataFrame:
    """The bundled Adult rows (both official files) as one frame with the label column."""
    sys.path.insert(0, str(ROOT))
    from pipeline.data import adult

    table = adult.load(ROOT / "data" / "raw")
    frame = table.features.copy()
    frame[adult.TARGET] = table.target.to_numpy()
    return frame[adult.COLUMNS]


def _jitter_additive(values: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    low, high = values.min(), values.max()
    return np.clip(np.rint(values + rng.normal(0, sd, len(values))), low, high)


def _jitter_multiplicative(values: np.ndarray, rng: np.random.Generator, sd: float) -> np.ndarray:
    factor = np.exp(rng.normal(0, sd, len(values)))
    return np.where(values > 0, np.rint(values * factor), values)


def synthesize(source: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    """``rows`` resampled and perturbed rows (see the module docstring for the method)."""
    rng = np.random.default_rng(seed)
    frame = source.iloc[rng.integers(0, len(source), rows)].reset_index(drop=True)
    for column in ("age", "hours_per_week"):
        frame[column] = _jitter_additive(frame[column].to_numpy(float), rng, 2.0)
    for column in ("fnlwgt", "capital_gain", "capital_loss"):
        frame[column] = _jitter_multiplicative(frame[column].to_numpy(float), rng, 0.1)
    return frame


def path_for(rows: int, seed: int) -> Path:
    return WORK / "synth" / f"adult_synth_v{GENERATOR_VERSION}_{rows}_s{seed}.csv"


def ensure(rows: int, seed: int = 0, source: pd.DataFrame | None = None) -> Path:
    """Write the synthetic CSV for (rows, seed) unless it already exists; return its path."""
    target = path_for(rows, seed)
    if target.is_file():
        return target
    frame = synthesize(adult_frame() if source is None else source, rows, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/work/synth/...")
    args = parser.parse_args(argv)
    if args.out is None:
        print(ensure(args.rows, args.seed))
    else:
        synthesize(adult_frame(), args.rows, args.seed).to_csv(args.out, index=False)
        print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
