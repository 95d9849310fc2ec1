package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.nativelib.NativeModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.DoubleSupplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Many independent nodes in one graph, compiled once: each node's outputs are graph outputs, its data inputs
 * graph inputs with seeded random values of their dtype. {@link #assertMatchesInterpreter} compiles the graph
 * for this machine, runs it on 1 and 2 threads and checks every output against the reference interpreter:
 * exactly for integers and bool, within a tolerance relative to the output's largest magnitude for floats
 * (f16 and bf16 within their own precision). One gcc run covers a whole family of cases.
 */
final class OpBatch {
    private final Graph graph;
    private final Random random;
    private final Map<Value, Tensor> data = new LinkedHashMap<>();
    private final List<String> labels = new ArrayList<>();
    private int nodes;

    OpBatch(String name, long seed) {
        this.graph = new Graph(name);
        this.random = new Random(seed);
    }

    Graph graph() { return graph; }

    /** A graph input of random values: floats uniform in [-2, 2), integers in [-5, 5] (unsigned [0, 10]), bool either. */
    Value input(DType dtype, long... shape) {
        return input(dtype, shape, () -> defaultValue(dtype));
    }

    /** A graph input whose elements {@code values} draws (converted to the dtype). */
    Value input(DType dtype, long[] shape, DoubleSupplier values) {
        Value v = graph.addInput("in" + data.size(), TensorType.of(dtype, shape));
        Tensor t = Tensor.allocate(dtype, shape);
        for (int i = 0; i < t.size(); i++) t.setDouble(i, values.getAsDouble());
        data.put(v, t);
        return v;
    }

    /** A graph input of exactly these values. */
    Value input(DType dtype, long[] shape, double... values) {
        int[] next = {0};
        return input(dtype, shape, () -> values[next[0]++]);
    }

    /** A constant of exactly these values. */
    Value constant(DType dtype, long[] shape, double... values) {
        Tensor t = Tensor.allocate(dtype, shape);
        for (int i = 0; i < values.length; i++) t.setDouble(i, values[i]);
        ByteBuffer b = ByteBuffer.allocate(t.data().remaining()).order(ByteOrder.LITTLE_ENDIAN).put(t.data()).flip();
        return graph.addConstant("c" + graph.constants().size(), TensorType.of(dtype, shape), b);
    }

    /** A constant of random values of the dtype. */
    Value randomConstant(DType dtype, long... shape) {
        long n = Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        double[] values = new double[(int) n];
        for (int i = 0; i < values.length; i++) values[i] = defaultValue(dtype);
        return constant(dtype, shape, values);
    }

    Random random() { return random; }

    private double defaultValue(DType dtype) {
        if (dtype == DType.BOOL) return random.nextBoolean() ? 1 : 0;
        if (dtype.isFloatingPoint()) return random.nextDouble() * 4 - 2;
        if (dtype.isUnsignedInteger()) return random.nextInt(11);
        return random.nextInt(11) - 5;
    }

    /** A node with one output, which becomes a graph output. */
    Value node(String op, List<Value> inputs, Map<String, Attribute> attributes) {
        return node(op, inputs, attributes, 1).get(0);
    }

    /** A node with {@code outputs} outputs, all graph outputs. */
    List<Value> node(String op, List<Value> inputs, Map<String, Attribute> attributes, int outputs) {
        String name = op.toLowerCase() + "_" + nodes++;
        List<String> names = new ArrayList<>();
        for (int i = 0; i < outputs; i++) names.add(name + "_y" + i);
        Node n = graph.addNode(name, op, inputs, attributes, names);
        for (Value y : n.outputs()) {
            graph.addOutput(y);
            labels.add(name + " " + op + " " + attributes + " of " + inputs.stream().map(v -> v == null ? "_" : v.type().toString()).toList());
        }
        return n.outputs();
    }

    /**
     * The level-3 pipeline (as users compile), then the checks of {@link #assertMatches}; returns the generated C,
     * for tests that check which kernels ran. The batch is used up.
     */
    String assertMatchesInterpreter(Path dir, double tolerance) {
        List<Tensor> want = reference();
        PassContext ctx = NativeTesting.context(CBackend.layout(NativeTesting.HOST));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(graph, ctx);
        NativeTesting.Compiled compiled = NativeTesting.compile(optimised, ctx.result(MemoryPlan.class), dir);
        assertMatches(want, compiled, tolerance);
        try {
            return Files.readString(compiled.files().source());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Only shapes and the memory plan: every node reaches the backend as written. The batch is used up. */
    void assertMatchesAsWritten(Path dir, double tolerance) {
        List<Tensor> want = reference();
        assertMatches(want, NativeTesting.planAndCompile(graph, dir), tolerance);
    }

    /** The interpreter's outputs, computed before any pass changes the graph (passes work in place). */
    private List<Tensor> reference() {
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        data.forEach((v, t) -> inputs.put(v.name(), t));
        return new ArrayList<>(new Interpreter(graph).run(inputs).values());
    }

    private void assertMatches(List<Tensor> want, NativeTesting.Compiled c, double tolerance) {
        List<Tensor> ordered = new ArrayList<>(data.values());
        for (int threads : new int[] {1, 2}) {
            try (NativeModel m = c.load(threads)) {
                List<Tensor> got = m.run(ordered);
                assertEquals(want.size(), got.size(), "output count");
                List<String> problems = new ArrayList<>();
                for (int k = 0; k < want.size(); k++) {
                    String p = compare(want.get(k), got.get(k), tolerance);
                    if (p != null) problems.add(labels.get(k) + ": " + p);
                }
                if (!problems.isEmpty()) fail(problems.size() + " of " + want.size() + " outputs differ on " + threads + " threads:\n  " + String.join("\n  ", problems));
            }
        }
    }

    /** Null when got matches want, else how it differs. */
    static String compare(Tensor want, Tensor got, double tolerance) {
        if (want.dtype() != got.dtype()) return "dtype " + got.dtype() + ", expected " + want.dtype();
        if (!Arrays.equals(want.shape(), got.shape())) return "shape " + Arrays.toString(got.shape()) + ", expected " + Arrays.toString(want.shape());
        if (!want.dtype().isFloatingPoint()) {
            for (int i = 0; i < want.size(); i++) {
                if (want.getLong(i) != got.getLong(i)) return "element " + i + " is " + got.getLong(i) + ", expected " + want.getLong(i);
            }
            return null;
        }
        double tol = switch (want.dtype()) {
            case F16 -> Math.max(tolerance, 2e-3);
            case BF16 -> Math.max(tolerance, 1.6e-2);
            default -> tolerance;
        };
        double maxRef = 0;
        for (int i = 0; i < want.size(); i++) if (Double.isFinite(want.getDouble(i))) maxRef = Math.max(maxRef, Math.abs(want.getDouble(i)));
        for (int i = 0; i < want.size(); i++) {
            double w = want.getDouble(i);
            double g = got.getDouble(i);
            if (Double.isNaN(w) || Double.isInfinite(w)) {
                if (Double.compare(w, g) != 0 && !(Double.isNaN(w) && Double.isNaN(g))) return "element " + i + " is " + g + ", expected " + w;
                continue;
            }
            if (!(Math.abs(g - w) <= tol * Math.max(maxRef, 1e-30) + tol * Math.abs(w))) {
                return "element " + i + " is " + g + ", expected " + w + " (max |y| " + maxRef + ")";
            }
        }
        return null;
    }

    /** Asserts that compiling refuses the graph, naming {@code expected} in the OperatorNotImplemented message. */
    void assertRefused(Path dir, String expected) {
        try {
            NativeTesting.planAndCompile(graph, dir);
        } catch (UnsupportedOperationException e) {
            assertTrue(e.getMessage().startsWith("OperatorNotImplemented: ") && e.getMessage().contains(expected), e.getMessage());
            return;
        }
        fail("compiled a graph that should be refused with " + expected);
    }

    /** Shorthand for building attribute maps. */
    static Map<String, Attribute> attrs(Object... keyValues) { return NativeTesting.attrs(keyValues); }
}
