"""Pre-flight memory estimate: refuse, with a message naming the widest columns, a table whose
encoded matrix would not fit, instead of letting a later stage be killed by the kernel.

The estimate is deliberately simple and documented: the float32 encoded matrix of every split,
times the copies a stage holds at once (prepare's float64 chunks and output; fairness and
privacy's copies), plus explain's largest batch (inputs, interpolated steps, gradients and
activations). It is compared with ``data.memory_limit_mb``, or the memory available now.
"""

from __future__ import annotations

from pipeline.errors import BadInputError

BYTES_PER_VALUE = 4
#: Copies of the whole encoded matrix the heaviest stage may hold at once.
MATRIX_COPIES = 4
#: Copies of one explain batch alive during attribution (inputs, steps, gradients, activations).
EXPLAIN_BATCH_COPIES = 16
MIB = 2**20


def available_bytes() -> int:
    import psutil

    return int(psutil.virtual_memory().available)


def estimate(n_rows: int, n_features: int, explain_batch: int) -> dict:
    """Bytes of the encoded matrix and the estimated peak of the heaviest stage."""
    matrix = n_rows * n_features * BYTES_PER_VALUE
    explain = min(explain_batch, n_rows) * n_features * BYTES_PER_VALUE * EXPLAIN_BATCH_COPIES
    return {
        "rows": n_rows,
        "features": n_features,
        "matrix_mb": matrix / MIB,
        "peak_mb": max(matrix * MATRIX_COPIES, matrix + explain) / MIB,
    }


def check(n_rows: int, feature_groups: dict[str, list[int]], *, explain_batch: int, limit_mb: float | None) -> dict:
    """The estimate, or :class:`BadInputError` (exit 2) naming the columns that widen the matrix."""
    n_features = sum(len(idx) for idx in feature_groups.values())
    result = estimate(n_rows, n_features, explain_batch)
    limit = limit_mb * MIB if limit_mb is not None else available_bytes()
    limit_from = "data.memory_limit_mb" if limit_mb is not None else "memory available now"
    # The limit is recorded only when it is a setting: free memory differs between two runs of the
    # same data and params, and data.json must be byte-reproducible.
    result["limit_mb"] = limit_mb
    result["limit_from"] = limit_from
    if result["peak_mb"] * MIB > limit:
        widest = sorted(feature_groups.items(), key=lambda kv: -len(kv[1]))[:5]
        named = ", ".join(f"'{c}' ({len(idx)} columns)" for c, idx in widest)
        raise BadInputError(
            f"the encoded table would need about {result['peak_mb']:.0f} MiB at its peak ({n_rows} rows x "
            f"{n_features} encoded columns), above {limit / MIB:.0f} MiB ({limit_from}); the widest "
            f"columns are {named}: lower data.max_categories, drop them (data.csv.drop) or set data.max_rows"
        )
    return result
