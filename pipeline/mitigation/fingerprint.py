"""The decision fingerprint of a model: what the registry compares so identical weights are never
registered twice (issue 26).

It is of the *decision*, not of a file: the tensors of each network (names, dtypes, shapes, bytes)
plus the rule that turns scores into decisions, so two serialisations of the same weights match,
the unmitigated network's "candidate" matches the network, and a threshold rule on the same
network does not.
"""

from __future__ import annotations

import hashlib
import json


def _tensor_digest(state_dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def fingerprint(networks: list, entries: list[dict], thresholds: dict | None = None, seed: int | None = None) -> str:
    """sha256 of the decision: each network's tensors with its favourable output, weight and cut-off,
    plus group thresholds; the seed counts only where the rule is randomised (a mixture or thresholds)."""
    randomised = bool(thresholds) or len(networks) > 1
    payload = {
        "networks": [
            {
                "tensors": _tensor_digest(net.state_dict()),
                "favourable_index": int(entry.get("favourable_index", 0)),
                "weight": float(entry.get("weight", 1.0)),
                "cutoff": float(entry.get("cutoff", 0.5)),
            }
            for net, entry in zip(networks, entries)
        ],
        "thresholds": thresholds or None,
        "seed": seed if randomised else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def network_fingerprint(model, favourable_index: int) -> str:
    """The trained network decides 'favourable' when that output's probability reaches 0.5."""
    return fingerprint([model], [{"favourable_index": favourable_index, "weight": 1.0, "cutoff": 0.5}])


def candidate_fingerprint(candidate) -> str:
    """A :class:`pipeline.models.postprocessed.PostProcessedNetwork`'s decision fingerprint."""
    d = candidate.description
    return fingerprint(candidate.networks, d["networks"], d.get("thresholds"), d.get("seed"))
