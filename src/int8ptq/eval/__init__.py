"""Measurement: accuracy, agreement with FP32, speed, layer-wise error."""
