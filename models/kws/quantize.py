#!/usr/bin/env python3
"""Stores a model's convolution and dense weights as int8 with one float scale per output
channel (symmetric, scale = max |w| / 127), each weight rebuilt in the graph as
`Cast(int8 -> float) * scale`. The file is about a third of its float size; tract folds the
two nodes into float constants when it optimises the model, so a run costs the same. Only
initializers that feed a Conv or Gemm weight directly are changed, so a model already stored
this way is left as it is. export.py applies it to every model it finishes (`--float` keeps the
float weights); the model card gives the figures before and after.

Usage: python models/kws/quantize.py IN.onnx OUT.onnx
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def int8_weights(model):
    """Rewrites `model` (an onnx.ModelProto) in place; returns how many weights it changed."""
    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    consumers = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    rebuilt = []
    for node in graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2:
            continue
        name = node.input[1]
        init = initializers.get(name)
        if init is None or init.data_type != TensorProto.FLOAT or len(consumers[name]) != 1:
            continue
        w = numpy_helper.to_array(init)
        # The output channel: Conv weights are (out, in, k...); Gemm's B is (out, in) when
        # transposed, else (in, out).
        axis = 0
        if node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        others = tuple(d for d in range(w.ndim) if d != axis)
        peak = np.abs(w).max(axis=others, keepdims=True)
        scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        graph.initializer.remove(init)
        graph.initializer.extend([
            numpy_helper.from_array(q, f"{name}.int8"),
            numpy_helper.from_array(scale, f"{name}.scale"),
        ])
        rebuilt += [
            helper.make_node("Cast", [f"{name}.int8"], [f"{name}.float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}.float", f"{name}.scale"], [name]),
        ]
    if rebuilt:
        nodes = list(graph.node)
        del graph.node[:]
        graph.node.extend(rebuilt + nodes)
    return len(rebuilt) // 2


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model = onnx.load(sys.argv[1])
    n = int8_weights(model)
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[2])
    print(f"{n} weights stored as int8")


if __name__ == "__main__":
    main()
