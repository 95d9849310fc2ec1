package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.nativelib.NativeModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Runs that must fail: independent nodes in one graph, compiled once, each with an input that has a good
 * value and a bad one (an index out of range ...). The good inputs run; then each case runs with its own
 * input bad and the rest good, and kiln_run must fail with its message where the interpreter fails too.
 */
final class FailingRuns {
    private record Case(int input, Tensor bad, String expected) {}

    private final Graph graph;
    private final List<Tensor> good = new ArrayList<>();
    private final List<Case> cases = new ArrayList<>();
    private int nodes;

    FailingRuns(String name) { this.graph = new Graph(name); }

    /** A graph input that is always good. */
    Value input(Tensor value) {
        good.add(value);
        return graph.addInput("in" + (good.size() - 1), TensorType.of(value.dtype(), value.shape()));
    }

    /** A graph input whose bad value must make the run fail with a message containing {@code expected}. */
    Value input(Tensor value, Tensor bad, String expected) {
        cases.add(new Case(good.size(), bad, expected));
        return input(value);
    }

    static Tensor longs(DType dtype, long[] shape, long... values) {
        Tensor t = Tensor.allocate(dtype, shape);
        for (int i = 0; i < values.length; i++) t.setLong(i, values[i]);
        return t;
    }

    void node(String op, List<Value> inputs, Map<String, Attribute> attributes) {
        String name = op.toLowerCase() + "_" + nodes++;
        graph.addOutput(graph.addNode(name, op, inputs, attributes, List.of(name + "_y")).output(0));
    }

    void assertEachFails(Path dir) {
        NativeTesting.Compiled c = NativeTesting.planAndCompile(graph, dir);
        try (NativeModel m = c.load(1)) {
            m.run(good);
            for (Case k : cases) {
                List<Tensor> inputs = new ArrayList<>(good);
                inputs.set(k.input(), k.bad());
                Map<String, Tensor> named = new LinkedHashMap<>();
                for (int i = 0; i < inputs.size(); i++) named.put(graph.inputs().get(i).name(), inputs.get(i));
                assertThrows(RuntimeException.class, () -> new Interpreter(graph).run(named), "the interpreter fails too");
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(inputs), k.expected());
                assertTrue(e.getMessage().contains(k.expected()), e.getMessage());
            }
            m.run(good);
        }
    }
}
