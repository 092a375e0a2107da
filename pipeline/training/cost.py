"""Compute cost of a training run: what it did (deterministic) and what it took (measured).

The two are kept apart on purpose. Parameter count, FLOPs and samples seen follow from the
params and the data, so they go into ``reports/metrics/train.json``, which must be
byte-identical across two runs. Wall time, throughput, peak memory and energy differ on every
run, so they go into ``reports/compute/train_cost.json`` and the MLflow run.

Energy is measured, never guessed. CodeCarbon runs (offline, no network) only when the machine
exposes power counters: RAPL for the CPU (``/sys/class/powercap/intel-rapl*/energy_uj``) or
NVML for an NVIDIA GPU in use. Without them CodeCarbon would fall back to a constant derived
from the CPU's TDP or its load, which is a model of consumption, not a reading; we record
"unavailable" with the reason instead. Components CodeCarbon can only estimate even when
counters exist (RAM power is a constant per GB) are reported separately and labelled as
estimates; the "measured" total covers measured components only.
"""

from __future__ import annotations

import glob
import os
import platform
import resource
import sys

#: Backward pass ~ 2x forward for dense layers, so one training sample ~ 3x forward FLOPs.
TRAIN_FLOPS_PER_FORWARD = 3


def work_done(spec, *, samples_seen: int, epochs_run: int) -> dict:
    """Deterministic compute figures (go into the metrics file)."""
    from pipeline.models.mlp import MLP, count_parameters, flops_per_sample

    forward = flops_per_sample(spec)
    return {
        "parameters": count_parameters(MLP(spec)),
        "flops_per_sample_forward": forward,
        "training_flops_estimate": TRAIN_FLOPS_PER_FORWARD * forward * samples_seen,
        "samples_seen": samples_seen,
        "epochs_run": epochs_run,
    }


def measured_cost(
    root_device,
    *,
    threads: int | None,
    world_size: int,
    precision: str,
    strategy: str,
    epochs_this_run: int,
    resumed_after_epoch: int | None,
    wall_s: float,
    samples_this_run: int,
    energy: dict | None,
) -> dict:
    """The run's measured compute cost (differs on every run: goes to reports/compute/).

    One schema for every training loop (the Lightning fit and DP-SGD), so reports and MLflow
    read the same keys whichever trained the model.
    """
    import torch

    device = root_device if root_device is not None else torch.device("cpu")
    return {
        "device": device_description(device, threads),
        "world_size": world_size,
        "precision": precision,
        "strategy": strategy,
        "epochs_this_run": epochs_this_run,
        "resumed_after_epoch": resumed_after_epoch,
        "fit_wall_time_s": wall_s,
        "wall_time_per_epoch_s": wall_s / epochs_this_run if epochs_this_run else None,
        "samples_per_s": samples_this_run / wall_s if wall_s > 0 else None,
        "memory": peak_memory(device),
        "energy": energy or {"status": "unavailable", "reason": "no training ran in this invocation"},
    }


def cpu_name() -> str:
    """The CPU model as the kernel reports it (``platform.processor()`` is often empty on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_description(root_device, threads: int | None = None) -> dict:
    """Device type, human-readable name and thread count of the device training ran on.

    ``threads``: the intra-op threads training ran with (it sets its own count for the fit and
    restores the default afterwards); torch's current count when not given.
    """
    import torch

    kind = getattr(root_device, "type", str(root_device))
    if kind == "cuda":
        index = root_device.index or 0
        return {"type": "cuda", "name": torch.cuda.get_device_name(index), "count": torch.cuda.device_count()}
    return {
        "type": kind,
        "name": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads or torch.get_num_threads(),
    }


def peak_memory(root_device) -> dict:
    """Peak resident memory of this process and of finished child processes (DDP spawn), and the
    peak GPU memory allocated by torch when training ran on CUDA."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is bytes on macOS, KiB on Linux
    out = {
        "process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale,
        "children_peak_rss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale or None,
        "gpu_peak_allocated_bytes": None,
    }
    if getattr(root_device, "type", "") == "cuda":
        import torch

        if not torch.cuda.is_initialized():  # training ran in other processes (DDP)
            return out
        out["gpu_peak_allocated_bytes"] = int(torch.cuda.max_memory_allocated(root_device))
    return out


def rapl_counters() -> list[str]:
    """Readable RAPL energy counters (package domains); empty on VMs and most containers."""
    readable = []
    for path in sorted(glob.glob("/sys/class/powercap/intel-rapl*/energy_uj")):
        try:
            with open(path, encoding="ascii") as fh:
                int(fh.read().strip())
            readable.append(path)
        except (OSError, ValueError):
            continue
    return readable


def nvml_available() -> tuple[bool, str]:
    """Whether NVIDIA's management library answers (needed to read GPU power)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
    except Exception as err:  # ImportError, NVMLError_LibraryNotFound, driver errors
        return False, f"NVML not usable ({type(err).__name__})"
    return (count > 0), f"NVML sees {count} GPU(s)"


def power_sources(uses_cuda: bool) -> tuple[dict[str, bool], list[str]]:
    """Which components have real power readings here, and why the others do not."""
    reasons = []
    rapl = rapl_counters()
    if not rapl:
        reasons.append("no readable RAPL counters under /sys/class/powercap (typical of VMs and containers)")
    gpu = False
    if uses_cuda:
        gpu, why = nvml_available()
        if not gpu:
            reasons.append(why)
    else:
        reasons.append("no GPU in use")
    return {"cpu": bool(rapl), "gpu": gpu}, reasons


class EnergyMeter:
    """Context manager around training; ``result`` says what was measured, or why nothing was.

    ``country_iso_code`` (3 letters) selects CodeCarbon's offline carbon intensity; without it
    energy is still recorded but CO2 is 'unavailable'.
    """

    def __init__(self, *, enabled: bool, uses_cuda: bool, country_iso_code: str | None):
        self.enabled, self.uses_cuda, self.country = enabled, uses_cuda, country_iso_code
        self.tracker = None
        self.sources: dict[str, bool] = {}
        self.result: dict = {}

    def __enter__(self) -> EnergyMeter:
        if not self.enabled:
            self.result = {"status": "unavailable", "reason": "disabled by train.energy.enabled: false"}
            return self
        self.sources, reasons = power_sources(self.uses_cuda)
        if not any(self.sources.values()):
            self.result = {
                "status": "unavailable",
                "reason": "; ".join(reasons) + "; a TDP-based guess is not recorded",
            }
            return self
        try:
            self.tracker = _start_tracker(self.country)
        except Exception as err:  # codecarbon failing must not fail training
            self.result = {"status": "unavailable", "reason": f"CodeCarbon did not start ({type(err).__name__}: {err})"}
        return self

    def __exit__(self, *exc) -> None:
        if self.tracker is None:
            return
        try:
            self.tracker.stop()
            self.result = summarise(self.tracker.final_emissions_data, self.sources, self.country)
        except Exception as err:
            self.result = {
                "status": "unavailable",
                "reason": f"CodeCarbon did not finish ({type(err).__name__}: {err})",
            }
        self.tracker = None


def _start_tracker(country: str | None):
    import logging

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    tracker = OfflineEmissionsTracker(
        country_iso_code=country or "USA",  # any code works for energy; CO2 is dropped without a real one
        save_to_file=False,
        log_level="error",
        allow_multiple_runs=True,
        measure_power_secs=1,
        tracking_mode="process",
    )
    tracker.start()
    return tracker


def summarise(data, sources: dict[str, bool], country: str | None) -> dict:
    """CodeCarbon's figures split into measured components and labelled estimates (kWh, kg)."""
    components = {"cpu": data.cpu_energy, "gpu": data.gpu_energy, "ram": data.ram_energy}
    measured = {name: float(components[name]) for name, ok in sources.items() if ok}
    estimated = {name: float(value) for name, value in components.items() if name not in measured and value}
    total = float(data.energy_consumed) or 0.0
    measured_kwh = sum(measured.values())
    out = {
        "status": "measured",
        "tool": "codecarbon (offline)",
        "measured_components": sorted(measured),
        "energy_kwh_measured": measured_kwh,
        "energy_kwh_by_component_measured": measured,
        "energy_kwh_by_component_estimated": estimated,
        "estimated_note": (
            "RAM (and any component without counters) is CodeCarbon's constant-power model, not a reading"
        ),
        "co2_kg_measured_energy": None,
        "co2_note": "set train.energy.country_iso_code to convert energy to CO2",
    }
    if country and total > 0:
        intensity = float(data.emissions) / total  # kg CO2 per kWh of the country's grid mix
        out["co2_kg_measured_energy"] = measured_kwh * intensity
        out["carbon_intensity_kg_per_kwh"] = intensity
        out["co2_note"] = f"grid carbon intensity of {country} from CodeCarbon's offline table"
    return out
