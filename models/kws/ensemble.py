#!/usr/bin/env python3
"""Joins window models (train.py's output, same input and labels) into one ONNX model whose
probabilities are the mean of theirs: one `features` input, each model's nodes and
initializers under a prefix of its own, and a `Mean` of their `probabilities`. The bundled
window model (`kws12.onnx`) is two seeds of one recipe joined this way (model card, "Two seeds
in one file"). export.py then finishes the joined file like any window model (int8 weights,
metadata, golden outputs).

Usage: python models/kws/ensemble.py OUT.onnx MODEL.onnx MODEL.onnx [...]
"""

import sys

import onnx
from onnx import helper

INPUT, OUTPUT = "features", "probabilities"


def join(models):
    """One onnx.ModelProto computing the mean of the models' probabilities."""
    first = models[0]
    for m in models:
        g = m.graph
        assert [i.name for i in g.input] == [INPUT], "window models only: one `features` input"
        assert [o.name for o in g.output] == [OUTPUT], "each model's output is `probabilities`"
        assert g.input[0].type == first.graph.input[0].type, "the models' inputs differ"
        assert g.output[0].type == first.graph.output[0].type, "the models' outputs differ"
        assert m.opset_import == first.opset_import, "the models' opsets differ"
    nodes, initializers, outputs = [], [], []
    for k, m in enumerate(models):
        prefix = f"m{k}/"

        def rename(name):
            return name if name in ("", INPUT) else prefix + name

        for init in m.graph.initializer:
            init = onnx.TensorProto.FromString(init.SerializeToString())
            init.name = rename(init.name)
            initializers.append(init)
        for node in m.graph.node:
            node = onnx.NodeProto.FromString(node.SerializeToString())
            node.name = prefix + (node.name or node.op_type)
            node.input[:] = [rename(n) for n in node.input]
            node.output[:] = [rename(n) for n in node.output]
            nodes.append(node)
        outputs.append(rename(OUTPUT))
    nodes.append(helper.make_node("Mean", outputs, [OUTPUT], name="mean"))
    graph = helper.make_graph(nodes, "kws12", [first.graph.input[0]], [first.graph.output[0]], initializers)
    model = helper.make_model(graph, opset_imports=first.opset_import, ir_version=first.ir_version)
    onnx.checker.check_model(model)
    return model


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, paths = sys.argv[1], sys.argv[2:]
    onnx.save(join([onnx.load(p) for p in paths]), out)
    print(f"{out}: the mean of {len(paths)} models")


if __name__ == "__main__":
    main()
