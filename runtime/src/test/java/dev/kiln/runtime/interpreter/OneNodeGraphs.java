package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** What the kernel tests share: graphs of one node run by the Interpreter, and tensors from literal values. */
final class OneNodeGraphs {
    private OneNodeGraphs() {}

    /** One node "n" over graph inputs (fed when run) and constants; constants let inference see static sizes. */
    static final class OneNode {
        private final Graph graph = new Graph("g");
        private final List<Value> inputs = new ArrayList<>();
        private final Map<String, Tensor> feeds = new HashMap<>();
        private Node node;

        OneNode input(Tensor t) {
            String name = "in" + inputs.size();
            inputs.add(graph.addInput(name, TensorType.of(t.dtype(), t.shape())));
            feeds.put(name, t);
            return this;
        }

        OneNode constant(Tensor t) {
            inputs.add(graph.addConstant("c" + inputs.size(), TensorType.of(t.dtype(), t.shape()), t.data()));
            return this;
        }

        OneNode omitted() {
            inputs.add(null);
            return this;
        }

        List<Tensor> run(String op, Map<String, Attribute> attrs, int outputs) {
            List<String> names = new ArrayList<>();
            for (int i = 0; i < outputs; i++) names.add("out" + i);
            node = graph.addNode("n", op, inputs, attrs, names);
            for (Value v : node.outputs()) graph.addOutput(v);
            return new ArrayList<>(new Interpreter(graph).run(feeds).values());
        }

        Tensor run(String op, Map<String, Attribute> attrs) { return run(op, attrs, 1).get(0); }

        Shape inferred(int output) { return node.output(output).type().shape(); }
    }

    /** Runs op over graph inputs holding the given tensors (null: an omitted optional input); returns its outputs in order. */
    static List<Tensor> run(String op, Map<String, Attribute> attrs, int outputs, Tensor... inputs) {
        OneNode node = new OneNode();
        for (Tensor t : inputs) {
            if (t == null) node.omitted();
            else node.input(t);
        }
        return node.run(op, attrs, outputs);
    }

    /** {@link #run} for an op with one output. */
    static Tensor run1(String op, Map<String, Attribute> attrs, Tensor... inputs) {
        return run(op, attrs, 1, inputs).get(0);
    }

    /** A tensor of a floating-point (or any) dtype holding the values as setDouble stores them. */
    static Tensor floats(DType type, long[] shape, double... values) {
        Tensor t = Tensor.allocate(type, shape);
        for (int i = 0; i < values.length; i++) t.setDouble(i, values[i]);
        return t;
    }

    static Tensor f32(long[] shape, double... values) { return floats(DType.F32, shape, values); }

    /** A tensor of an integer (or any) dtype holding the values as setLong stores them (wrapped to the width). */
    static Tensor ints(DType type, long[] shape, long... values) {
        Tensor t = Tensor.allocate(type, shape);
        for (int i = 0; i < values.length; i++) t.setLong(i, values[i]);
        return t;
    }
}
