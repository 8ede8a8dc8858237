"""A small graph layer over ONNX protobufs: producers/consumers, toposort, cleanup, rewrite."""

from int8ptq.ir.graph import Graph
from int8ptq.ir.io import load_model, save_model
from int8ptq.ir.outputs import add_outputs, with_outputs

__all__ = ["Graph", "add_outputs", "load_model", "save_model", "with_outputs"]
