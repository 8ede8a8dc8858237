"""Quantization: math, per-op rules, the plan, QDQ insertion."""
