"""The audit report: a pure function of the stage outputs (no clock, no randomness, no torch)."""
