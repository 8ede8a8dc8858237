"""A small graph layer over ONNX protobufs: producers/consumers, toposort, cleanup, rewrite."""

from int8ptq.ir.graph import Graph
from int8ptq.ir.io import load_model, save_model

__all__ = ["Graph", "load_model", "save_model"]
