"""The multilayer perceptron: a plain ``nn.Module`` so captum, Opacus and MLflow can use it as is.

Each ReLU is its own module, used once: captum's DeepLift and Opacus's per-sample gradients
need activations as distinct modules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class MlpSpec:
    """Everything needed to rebuild the network from a state_dict (saved as JSON)."""

    n_inputs: int
    hidden: tuple[int, ...]
    n_classes: int

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, raw: dict) -> MlpSpec:
        return cls(int(raw["n_inputs"]), tuple(int(h) for h in raw["hidden"]), int(raw["n_classes"]))


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
    model.eval()
    return model
