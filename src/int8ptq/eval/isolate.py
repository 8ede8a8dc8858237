"""What each quantized layer adds by itself, its inputs held at their FP32 values.

`compare` measures each tensor with the error accumulated from the input up to it. Taking
the error carried in away from that is not what a layer adds: a layer that takes the
difference of two similar channels amplifies the noise it receives, even when it is exact.

One model holds the FP32 graph and, beside it, the INT8 graph in which every activation
DequantizeLinear is replaced by the FP32 value of its tensor. Each layer then computes from
exact inputs with its int8 weights, and its output's QuantizeLinear gives the tensor with the
error that layer adds: its weight rounding and its output quantization. (Its inputs'
quantization is charged to their producers.) The int8 weights run dequantized in float
here; with the pair guard the integer kernels compute the same up to rounding.
"""

from __future__ import annotations

import onnx

PREFIX = "fp32::"


def _fp32_part(fp32: onnx.GraphProto) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    inputs = {i.name for i in fp32.input}

    def name(t: str) -> str:
        return t if not t or t in inputs else PREFIX + t

    nodes = []
    for n in fp32.node:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        c.name = PREFIX + n.name
        c.input[:] = [name(i) for i in n.input]
        c.output[:] = [name(o) for o in n.output]
        nodes.append(c)
    inits = []
    for t in fp32.initializer:
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = PREFIX + t.name
        inits.append(c)
    return nodes, inits


def isolation_model(fp32: onnx.ModelProto, int8: onnx.ModelProto, taps: dict[str, str]) -> onnx.ModelProto:
    """`taps`: quantized tensor t -> the INT8 graph's QuantizeLinear output for it. The model
    outputs, for each t, that Q output (t as its own layer computes it from FP32 inputs) and
    `PREFIX + t` (FP32). `fp32` is the prepared graph the INT8 model was made from."""
    fp_nodes, fp_inits = _fp32_part(fp32.graph)
    inputs = {i.name for i in int8.graph.input}
    source = {n.output[0]: n.input[0] for n in int8.graph.node if n.op_type == "QuantizeLinear"}
    nodes = []
    for n in int8.graph.node:
        t = source.get(n.input[0]) if n.op_type == "DequantizeLinear" and n.input else None
        if t is not None:  # an activation: the consumers get its exact FP32 value
            exact = t if t in inputs else PREFIX + t
            nodes.append(onnx.helper.make_node("Identity", [exact], list(n.output), name=n.name))
        else:
            nodes.append(n)
    outputs = []
    for t, q in taps.items():
        if t not in inputs:
            outputs += [q, PREFIX + t]
    g = onnx.helper.make_graph(
        fp_nodes + nodes,
        "isolation",
        list(int8.graph.input),
        [onnx.ValueInfoProto(name=o) for o in outputs],
        initializer=fp_inits + list(int8.graph.initializer),
    )
    m = onnx.helper.make_model(g, opset_imports=list(int8.opset_import))
    m.ir_version = int8.ir_version
    return m
