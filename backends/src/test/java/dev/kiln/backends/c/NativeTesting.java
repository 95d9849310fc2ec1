package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.PlanMemory;
import dev.kiln.passes.InferShapes;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.runtime.nativelib.NativeModel;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** What the C backend tests share: compiling graphs to native code and comparing with the interpreter. */
final class NativeTesting {
    private NativeTesting() {}

    /** The target of this machine's -march=native code: ml_c5 where the CPU has AVX-512, else ml_c4 (AVX2). */
    static final Target HOST = Targets.device(hostHasAvx512() ? "ml_c5" : "ml_c4");

    private static boolean hostHasAvx512() {
        try {
            return Files.readString(Path.of("/proc/cpuinfo")).contains(" avx512f");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The level-3 pipeline for the target's layout and the program the backend generates from it. */
    static CCodeGenerator.CProgram program(Graph g, Target target) {
        PassContext ctx = context(CBackend.layout(target));
        Graph optimised = Pipelines.forLevel(3, ctx.options()).run(g, ctx);
        return CCodeGenerator.generate(optimised, ctx.result(MemoryPlan.class), target.vectorRegisters());
    }

    /** A constant of the given shape with values uniform in [-scale, scale). */
    static Constant randomConstant(Graph g, String name, Random r, double scale, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        ByteBuffer b = ByteBuffer.allocate(n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putFloat((float) ((r.nextDouble() * 2 - 1) * scale));
        return g.addConstant(name, TensorType.of(DType.F32, shape), b.flip());
    }

    /** Adds a one-output node whose output is named after it. */
    static Value node(Graph g, String name, String op, List<Value> inputs, Map<String, Attribute> attributes) {
        return g.addNode(name, op, inputs, attributes, List.of(name + "_y")).output(0);
    }

    static Map<String, Attribute> attrs(Object... keyValues) {
        Map<String, Attribute> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) {
            Object v = keyValues[i + 1];
            Attribute a = v instanceof long[] l ? new Attribute.Ints(l) : v instanceof Long l ? new Attribute.Int(l)
                    : v instanceof Float f ? new Attribute.Float(f) : v instanceof float[] fs ? new Attribute.Floats(fs)
                    : new Attribute.Str((String) v);
            m.put((String) keyValues[i], a);
        }
        return m;
    }

    /** Random f32 inputs in [-1, 1). */
    static List<Tensor> randomInputs(Graph g, long seed) {
        Random r = new Random(seed);
        List<Tensor> inputs = new ArrayList<>();
        for (Value in : g.inputs()) {
            Tensor t = Tensor.allocate(DType.F32, in.type().shape().sizes());
            for (int i = 0; i < t.size(); i++) t.setDouble(i, r.nextDouble() * 2 - 1);
            inputs.add(t);
        }
        return inputs;
    }

    static Map<String, Tensor> byName(Graph g, List<Tensor> inputs) {
        Map<String, Tensor> m = new java.util.LinkedHashMap<>();
        for (int i = 0; i < inputs.size(); i++) m.put(g.inputs().get(i).name(), inputs.get(i));
        return m;
    }

    static PassContext context() {
        return PassContext.builder().options(PassOptions.defaults()).evaluator(new InterpreterEvaluator()).build();
    }

    static PassContext context(String layout) {
        return PassContext.builder().options(PassOptions.defaults().withLayout(layout)).evaluator(new InterpreterEvaluator()).build();
    }

    /** The level-3 pipeline's graph in the host's blocked layout, as the backend compiles it for this machine. */
    static Compiled optimiseAndCompile(Graph g, Path dir) {
        PassContext ctx = context(CBackend.layout(HOST));
        Graph out = Pipelines.forLevel(3, ctx.options()).run(g, ctx);
        return compile(out, ctx.result(MemoryPlan.class), dir);
    }

    /** Only shapes and the memory plan: every op reaches the backend as written. */
    static Compiled planAndCompile(Graph g, Path dir) { return planAndCompile(g, dir, GccCompiler.HOST_FLAGS); }

    static Compiled planAndCompile(Graph g, Path dir, List<String> flags) {
        PassContext ctx = context();
        Graph out = new PlanMemory().apply(new InferShapes().apply(g, ctx), ctx);
        return new Compiled(out, GccCompiler.compile(CCodeGenerator.generate(out, ctx.result(MemoryPlan.class), HOST.vectorRegisters()), dir, flags));
    }

    /** The memory plan of an already planned graph (planning again changes nothing). */
    static MemoryPlan plan(Graph g) {
        PassContext ctx = context();
        new PlanMemory().apply(g, ctx);
        return ctx.result(MemoryPlan.class);
    }

    record Compiled(Graph graph, GccCompiler.Compiled files) {
        NativeModel load() { return NativeModel.load(files.library(), files.weights()); }

        NativeModel load(int threads) { return NativeModel.load(files.library(), files.weights(), threads); }
    }

    static Compiled compile(Graph g, MemoryPlan plan, Path dir) {
        return new Compiled(g, GccCompiler.compile(CCodeGenerator.generate(g, plan, HOST.vectorRegisters()), dir, GccCompiler.HOST_FLAGS));
    }

    /** Reference outputs of the graph (run before any pass touches it). */
    static List<Tensor> reference(Graph g, List<Tensor> inputs) {
        return new ArrayList<>(new Interpreter(g).run(byName(g, inputs)).values());
    }

    static void assertClose(List<Tensor> want, List<Tensor> got, double tolerance) {
        assertEquals(want.size(), got.size(), "output count");
        for (int k = 0; k < want.size(); k++) {
            assertArrayEquals(want.get(k).shape(), got.get(k).shape(), "shape of output " + k);
            double d = relativeDifference(want.get(k), got.get(k));
            assertTrue(d <= tolerance, "output " + k + " differs by " + d + " (relative to max |y|)");
        }
    }

    /** max |a - w| / max |w|. */
    static double relativeDifference(Tensor want, Tensor got) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < want.size(); i++) {
            double w = want.getDouble(i);
            double a = got.getDouble(i);
            if (Double.isNaN(w) != Double.isNaN(a)) return Double.POSITIVE_INFINITY;
            if (Double.isNaN(w)) continue;
            maxDiff = Math.max(maxDiff, Math.abs(a - w));
            maxRef = Math.max(maxRef, Math.abs(w));
        }
        return maxDiff == 0 ? 0 : maxDiff / Math.max(maxRef, Double.MIN_NORMAL);
    }
}
