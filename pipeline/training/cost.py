"""Compute cost of a training run: measured where the machine can measure, 'unavailable' otherwise."""

from __future__ import annotations

import platform
import resource
from pathlib import Path


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def peak_memory(device: str) -> dict:
    """Peak resident memory of this process (MiB) and, on CUDA, peak allocated GPU memory."""
    out = {"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.startswith("cuda"):
        import torch

        out["peak_gpu_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def power_readings_available(device: str) -> tuple[bool, str]:
    """CodeCarbon measures energy only from RAPL (CPU) or NVML (NVIDIA GPU); without either it
    falls back to a constant TDP guess, which we do not report as a measurement."""
    if device.startswith("cuda"):
        return True, "NVIDIA GPU power via NVML"
    rapl = Path("/sys/class/powercap/intel-rapl")
    if rapl.exists() and any(rapl.glob("intel-rapl:*/energy_uj")):
        return True, "CPU power via RAPL"
    return False, "no power readings on this machine (no RAPL under /sys/class/powercap, no NVIDIA GPU)"


class EnergyMeter:
    """CodeCarbon's offline tracker when real power readings exist; otherwise records why not."""

    def __init__(self, device: str, country_iso_code: str = "DEU"):
        self.available, self.source = power_readings_available(device)
        self.tracker = None
        if self.available:
            try:
                from codecarbon import OfflineEmissionsTracker

                self.tracker = OfflineEmissionsTracker(country_iso_code=country_iso_code, save_to_file=False,
                                                       log_level="error", measure_power_secs=1)  # fmt: skip
            except Exception as err:  # codecarbon set-up failed: say so, never guess
                self.available, self.source = False, f"codecarbon unavailable: {type(err).__name__}: {err}"

    def __enter__(self):
        if self.tracker is not None:
            self.tracker.start()
        return self

    def __exit__(self, *exc):
        self.result = {"energy": "unavailable", "reason": self.source}
        if self.tracker is not None:
            emissions = self.tracker.stop()
            data = self.tracker.final_emissions_data
            self.result = {"energy_kwh": float(data.energy_consumed), "co2_kg": float(emissions or 0.0), "source": self.source}
        return False
