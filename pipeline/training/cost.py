"""Measured compute cost: peak memory, device name, energy/CO2 only from real power readings.

CodeCarbon is used in offline mode only where the machine exposes power readings (Intel RAPL
under /sys/class/powercap readable, or an NVIDIA GPU); otherwise energy is recorded as
"unavailable" with the reason, never estimated from a TDP guess.
"""

from __future__ import annotations

import os
import platform
import resource
from pathlib import Path

RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


def power_source() -> tuple[str | None, str]:
    """Which real power reading exists here, or why none does."""
    import torch

    if torch.cuda.is_available():
        return "nvidia", "NVIDIA GPU power via NVML"
    if RAPL.exists() and os.access(RAPL, os.R_OK):
        return "rapl", "Intel RAPL via /sys/class/powercap"
    return None, "no readable power sensor (no NVIDIA GPU, /sys/class/powercap/intel-rapl absent or unreadable)"


def device_name() -> str:
    """GPU model when CUDA is in use, else the CPU model from /proc/cpuinfo or platform."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


class Meter:
    """Context manager around training: peak RSS, CUDA peak memory and (if real) energy."""

    def __enter__(self) -> Meter:
        import torch

        self.source, self.reason = power_source()
        self.tracker = None
        self.energy: dict = {"energy_status": "unavailable", "energy_reason": self.reason}
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        if self.source is not None:
            try:
                from codecarbon import OfflineEmissionsTracker

                country = os.environ.get("CODECARBON_COUNTRY", "USA")
                self.tracker = OfflineEmissionsTracker(country_iso_code=country, save_to_file=False, log_level="error")
                self.tracker.start()
                self.country = country
            except Exception as err:  # codecarbon fails on odd hosts; record why instead of guessing
                self.energy = {"energy_status": "unavailable", "energy_reason": f"codecarbon failed: {err}"}
        return self

    def __exit__(self, *exc) -> None:
        if self.tracker is not None:
            try:
                emissions = self.tracker.stop()
                data = self.tracker.final_emissions_data
                self.energy = {
                    "energy_status": "measured",
                    "energy_reason": self.reason,
                    "energy_kwh": float(data.energy_consumed),
                    "co2_kg": float(emissions or 0.0),
                    "co2_country": self.country,
                }
            except Exception as err:
                self.energy = {"energy_status": "unavailable", "energy_reason": f"codecarbon failed: {err}"}

    def figures(self) -> dict:
        import torch

        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        out = {"peak_rss_mb": peak_rss_mb, "device_name": device_name(), **self.energy}
        if torch.cuda.is_available():
            out["cuda_peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        return out
