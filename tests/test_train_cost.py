"""Compute-cost accounting: deterministic work figures by hand; energy only from real counters."""

from __future__ import annotations

import dataclasses

import torch

from pipeline.models.mlp import MlpSpec
from pipeline.training import cost


def test_work_figures_by_hand():
    spec = MlpSpec(10, (4, 3), 2)
    work = cost.work_done(spec, samples_seen=100, epochs_run=2)
    assert work["parameters"] == (10 * 4 + 4) + (4 * 3 + 3) + (3 * 2 + 2)
    assert work["flops_per_sample_forward"] == 2 * (10 * 4 + 4 * 3 + 3 * 2)
    assert work["training_flops_estimate"] == 3 * work["flops_per_sample_forward"] * 100


def test_energy_is_unavailable_with_a_reason_when_there_are_no_power_counters():
    sources, reasons = cost.power_sources(uses_cuda=False)
    with cost.EnergyMeter(enabled=True, uses_cuda=False, country_iso_code=None) as meter:
        torch.ones(100).sum()
    if any(sources.values()):
        assert meter.result["status"] in ("measured", "unavailable")
    else:
        assert meter.result["status"] == "unavailable"
        assert all(reason in meter.result["reason"] for reason in reasons)
        assert "energy_kwh_measured" not in meter.result


def test_disabled_meter_says_so():
    with cost.EnergyMeter(enabled=False, uses_cuda=False, country_iso_code="FRA") as meter:
        pass
    assert meter.result == {"status": "unavailable", "reason": "disabled by train.energy.enabled: false"}


def test_summary_counts_only_measured_components():
    from codecarbon.output_methods.emissions_data import EmissionsData

    fields = {f.name: (0.0 if f.type in ("float", float) else "x") for f in dataclasses.fields(EmissionsData)}
    data = EmissionsData(
        **{
            **fields,
            "cpu_energy": 0.002,
            "gpu_energy": 0.0,
            "ram_energy": 0.001,
            "energy_consumed": 0.003,
            "emissions": 0.0015,
        }
    )
    out = cost.summarise(data, {"cpu": True, "gpu": False}, "FRA")
    assert out["energy_kwh_measured"] == 0.002 and out["energy_kwh_by_component_estimated"] == {"ram": 0.001}
    assert out["carbon_intensity_kg_per_kwh"] == 0.5 and out["co2_kg_measured_energy"] == 0.001
    assert cost.summarise(data, {"cpu": True, "gpu": False}, None)["co2_kg_measured_energy"] is None


def test_peak_memory_is_positive():
    memory = cost.peak_memory(torch.device("cpu"))
    assert memory["process_peak_rss_bytes"] > 10 * 2**20 and memory["gpu_peak_allocated_bytes"] is None
