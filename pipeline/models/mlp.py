"""The multilayer perceptron: a plain ``nn.Module`` so captum, Opacus and MLflow can use it as is.

Each ReLU is its own module, used once: captum's DeepLift and Opacus's per-sample gradients
need activations as distinct modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

#: Bounds on a network rebuilt from a file or built from settings: far above any tabular MLP
#: this project trains, far below what would exhaust memory (4 bytes per parameter).
MAX_PARAMETERS = 100_000_000
MAX_LAYERS = 64


@dataclass(frozen=True)
class MlpSpec:
    """Everything needed to rebuild the network from a state_dict (saved as JSON)."""

    n_inputs: int
    hidden: tuple[int, ...]
    n_classes: int

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}

    def parameter_count(self) -> int:
        """Weights and biases of the network this spec describes (computed, nothing allocated)."""
        widths = [self.n_inputs, *self.hidden, self.n_classes]
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))

    @classmethod
    def from_dict(cls, raw: dict) -> MlpSpec:
        """Rebuild a spec from untrusted JSON; raises ValueError before anything is allocated.

        Every size must be a plain positive integer and the network at most
        :data:`MAX_PARAMETERS` parameters: a file can otherwise ask for a network too large
        to allocate.
        """
        if not isinstance(raw, dict) or set(raw) != {"n_inputs", "hidden", "n_classes"}:
            found = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
            raise ValueError(f"expected the keys n_inputs, hidden, n_classes, found {found}")
        hidden = raw["hidden"]
        if not isinstance(hidden, list) or not 1 <= len(hidden) <= MAX_LAYERS:
            raise ValueError(f"hidden must be a list of 1 to {MAX_LAYERS} layer widths, got {str(hidden)[:80]}")
        sizes = [raw["n_inputs"], *hidden, raw["n_classes"]]
        if not all(type(v) is int and v >= 1 for v in sizes):
            raise ValueError(f"every size must be a positive integer, got {str(sizes)[:120]}")
        if raw["n_classes"] < 2:
            raise ValueError(f"n_classes must be at least 2, got {raw['n_classes']}")
        spec = cls(raw["n_inputs"], tuple(hidden), raw["n_classes"])
        if spec.parameter_count() > MAX_PARAMETERS:
            raise ValueError(
                f"describes {spec.parameter_count():,} parameters, more than the {MAX_PARAMETERS:,} allowed"
            )
        return spec


class MLP(nn.Module):
    """Linear -> ReLU blocks, then one logit per class (softmax lives in the loss)."""

    def __init__(self, spec: MlpSpec):
        super().__init__()
        layers: list[nn.Module] = []
        width = spec.n_inputs
        for units in spec.hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        layers.append(nn.Linear(width, spec.n_classes))
        self.net = nn.Sequential(*layers)
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def flops_per_sample(spec: MlpSpec) -> int:
    """Forward multiply-adds x 2 of the linear layers (ReLU and bias adds are negligible)."""
    widths = [spec.n_inputs, *spec.hidden, spec.n_classes]
    return sum(2 * a * b for a, b in zip(widths[:-1], widths[1:]))


def _first_line(err: Exception) -> str:
    """The first line of an error message; an empty file raises with no message at all."""
    lines = str(err).splitlines()
    return lines[0] if lines else "no message"


def load_weights(weights_path, spec: MlpSpec) -> MLP:
    """Rebuild the network from a state_dict, refusing anything but plain tensors."""
    from pipeline.errors import IntegrityError

    model = MLP(spec)
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError/RuntimeError/EOFError variously
        raise IntegrityError(
            f"{weights_path}: cannot be loaded as plain weights ({type(err).__name__}: {_first_line(err)}); "
            "it is truncated, corrupt, or carries a pickled object, which is refused"
        ) from err
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise IntegrityError(f"{weights_path}: weights do not fit the network described by the spec ({err})") from err
    bad = [name for name, value in state.items() if not bool(torch.isfinite(value).all())]
    if bad:
        raise IntegrityError(f"{weights_path}: non-finite weights (NaN or inf) in {', '.join(bad)}; retrain the model")
    model.eval()
    return model
