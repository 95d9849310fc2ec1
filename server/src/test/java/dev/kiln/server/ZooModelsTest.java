package dev.kiln.server;

import dev.kiln.backends.Backend;
import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.backends.Toolchain;
import dev.kiln.backends.c.CCodeGenerator;
import dev.kiln.backends.c.CTestHarness;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.Pipelines;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.artifact.ArtifactWriter;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;
import dev.kiln.testmodels.Zoo;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.opentest4j.TestAbortedException;

import java.io.File;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The model zoo (testmodels/zoo, made by testmodels/make_zoo.py) end to end against torch's outputs:
 * <ul>
 * <li>ONNX import and the reference interpreter;
 * <li>{@code Compiler.compile} for this machine (ml_c5, or ml_c4 on a CPU without AVX-512), {@code Model.load}
 *     and a run;
 * <li>{@code Compiler.compile} for the ARM targets rasp4b (ARM64) and rasp3b (ARMv7) for every model, and for
 *     {@link #QEMU_SAMPLE} the generated program built with {@link CTestHarness} and run under qemu-user.
 * </ul>
 * Floating-point outputs must be within {@link #MAX_RELATIVE_DIFF} (max|diff| / max|torch|), integer and bool
 * outputs equal, shapes equal (run-time shaped outputs included). A model the C backend refuses fails with the
 * backend's message (each node's op and what it does not take) and each refused node's value types.
 *
 * <p>By default the {@link #CI_MODELS} subset runs; {@code -Dzoo.all=true} runs every model (the ones made on demand
 * when present), {@code -Dzoo.models=a,b} the ones named. Every step's result is written to
 * {@code <build>/zoo-report.txt}.
 */
class ZooModelsTest {
    private static final double MAX_RELATIVE_DIFF = 1e-4;
    /**
     * CI's subset, one or more per op family: convolution, pooling and Gemm (resnet_mini); depthwise, hardswish and
     * squeeze-excite (mobilenet_v3_small); LayerNormalization, GELU, transposes and MatMul (convnext_mini);
     * exporter shape subgraphs, nearest Resize, Pow, concatenations (yolo_mini);
     * embeddings (Gather on int64), Trilu, Where, Softmax, an int64 output (gpt_mini); LSTM (lstm_classifier);
     * NonZero, TopK and run-time shaped outputs (detect_postprocess); QuantizeLinear/DequantizeLinear (qdq_convnet);
     * int64 and f32 inputs together (wide_and_deep).
     */
    static final List<String> CI_MODELS = List.of("resnet_mini", "mobilenet_v3_small", "convnext_mini", "yolo_mini", "gpt_mini",
            "lstm_classifier", "detect_postprocess", "qdq_convnet", "wide_and_deep");
    /** The models also run under qemu-user for both ARM targets: convolutions, int64 in and out, run-time shapes, mixed inputs. */
    static final List<String> QEMU_SAMPLE = List.of("mobilenet_v3_small", "gpt_mini", "detect_postprocess", "wide_and_deep");
    static final List<String> ARM_TARGETS = List.of("rasp4b", "rasp3b");

    private static final Map<String, String> REPORT = new ConcurrentSkipListMap<>();

    @TempDir
    Path dir;

    static List<String> models() {
        String named = System.getProperty("zoo.models", "");
        if (!named.isBlank()) return Arrays.stream(named.split(",")).map(String::strip).toList();
        return Boolean.getBoolean("zoo.all") ? Zoo.MODELS : CI_MODELS;
    }

    static Stream<Arguments> modelsAndArmTargets() {
        return models().stream().flatMap(m -> ARM_TARGETS.stream().map(t -> Arguments.of(m, t)));
    }

    static Stream<Arguments> qemuSample() {
        return models().stream().filter(QEMU_SAMPLE::contains).flatMap(m -> ARM_TARGETS.stream().map(t -> Arguments.of(m, t)));
    }

    /** The folders under zoo/ are the script's models: a model added to one and not the other would go untested. */
    @Test
    void zooFoldersAreTheScriptsModels() {
        List<String> committed = Zoo.MODELS.stream().filter(m -> !Zoo.ON_DEMAND.contains(m)).sorted().toList();
        List<String> folders = Zoo.folders().stream().filter(f -> !Zoo.ON_DEMAND.contains(f)).toList();
        assertEquals(committed, folders, "folders of " + Zoo.root() + " against Zoo.MODELS");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void interpreterMatchesTorch(String model) throws Throwable {
        record(model, "interpreter", () -> {
            Graph g = load(model);
            long start = System.nanoTime();
            List<Tensor> outputs = inOrder(g.outputs(), new Interpreter(g).run(byName(g.inputs(), inputs(model))));
            return compare(model, "interpreter", outputs) + String.format(Locale.ROOT, ", %.2f s", (System.nanoTime() - start) / 1e9);
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void nativeMatchesTorch(String model) throws Throwable {
        Target host = Targets.device(Model.hostCpuFlags().contains("avx512f") ? "ml_c5" : "ml_c4");
        record(model, "native " + host.name(), () -> {
            Graph g = load(model);
            ArtifactWriter.Written artifact = compile(g, host, model);
            try (Model m = Model.load(artifact.artifact())) {
                Map<String, Tensor> outputs = m.run(byName(g.inputs(), inputs(model)));
                return compare(model, "native " + host.name(), new ArrayList<>(outputs.values()));
            }
        });
    }

    @ParameterizedTest(name = "{0} for {1}")
    @MethodSource("modelsAndArmTargets")
    void compilesForArm(String model, String device) throws Throwable {
        Target target = crossTarget(device, false);
        record(model, "compile " + device, () -> {
            ArtifactWriter.Written artifact = compile(load(model), target, model);
            return "compiles, " + Files.size(artifact.artifact()) / 1000 + " kB";
        });
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("qemuSample")
    void armRunMatchesTorch(String model, String device) throws Throwable {
        Target target = crossTarget(device, true);
        record(model, "qemu " + device, () -> {
            Graph g = load(model);
            CTestHarness.Executable exe = CTestHarness.build(program(g, target), target, dir.resolve(device));
            CTestHarness.Run run = exe.run(inputs(model));
            return compare(model, device + " under " + exe.runCommand().get(0), run.outputs())
                    + String.format(Locale.ROOT, ", kiln_run %.1f ms", run.kilnRunNanos() / 1e6);
        });
    }

    @AfterAll
    static void writeReport() throws IOException, URISyntaxException {
        Path testClasses = Path.of(ZooModelsTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        String text = REPORT.entrySet().stream().map(e -> e.getKey() + ": " + e.getValue()).collect(Collectors.joining("\n", "", "\n"));
        Files.writeString(testClasses.getParent().resolve("zoo-report.txt"), text);
    }

    private interface Step {
        String run() throws Exception;
    }

    /** Runs one step of one model, keeping its outcome for the report. */
    private static void record(String model, String step, Step body) throws Throwable {
        String key = String.format(Locale.ROOT, "%-20s %s", model, step);
        try {
            String detail = body.run();
            REPORT.put(key, "ok, " + detail);
            System.out.println(model + " " + step + ": " + detail);
        } catch (TestAbortedException e) {
            REPORT.put(key, "skipped: " + e.getMessage());
            throw e;
        } catch (Throwable e) {
            REPORT.put(key, "FAILED: " + e);
            throw e;
        }
    }

    /** The model as imported, its shapes from the file; skipped (with the command that makes it) when not made. */
    private static Graph load(String model) {
        assumeTrue(Zoo.isPresent(model), model + " is made on demand: " + Zoo.makeCommand(model));
        return OnnxFrontend.load(Zoo.dir(model).resolve("model.onnx"), (String) null);
    }

    private static List<Tensor> inputs(String model) throws IOException {
        List<Tensor> inputs = new ArrayList<>();
        for (Path p : Zoo.inputs(model)) inputs.add(Npy.read(p));
        return inputs;
    }

    private static Map<String, Tensor> byName(List<Value> values, List<Tensor> tensors) {
        assertEquals(values.size(), tensors.size(), "inputs of the graph against input<i>.npy files");
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (int i = 0; i < values.size(); i++) m.put(values.get(i).name(), tensors.get(i));
        return m;
    }

    private static List<Tensor> inOrder(List<Value> values, Map<String, Tensor> byName) {
        return values.stream().map(v -> byName.get(v.name())).toList();
    }

    /**
     * Compares outputs with torch's output&lt;i&gt;.npy; throws naming the first that differs, else says how close
     * the floating-point ones are.
     */
    private static String compare(String model, String what, List<Tensor> actual) throws IOException {
        List<Path> golden = Zoo.outputs(model);
        assertEquals(golden.size(), actual.size(), model + " (" + what + "): number of outputs");
        double worst = 0;
        for (int k = 0; k < golden.size(); k++) {
            Tensor want = Npy.read(golden.get(k));
            Tensor got = actual.get(k);
            String output = model + " (" + what + ") output" + k;
            assertEquals(want.dtype(), got.dtype(), output + " dtype");
            assertEquals(Arrays.toString(want.shape()), Arrays.toString(got.shape()), output + " shape");
            if (want.dtype().isFloatingPoint()) {
                double diff = maxRelativeDiff(got.toDoubleArray(), want.toDoubleArray());
                if (!(diff <= MAX_RELATIVE_DIFF)) {
                    throw new AssertionError(output + " differs from torch by " + diff + " (max|diff| / max|torch|; at most " + MAX_RELATIVE_DIFF + ")");
                }
                worst = Math.max(worst, diff);
            } else {
                long[] w = want.toLongArray(), g = got.toLongArray();
                for (int i = 0; i < w.length; i++) {
                    if (w[i] != g[i]) throw new AssertionError(output + " element " + i + " is " + g[i] + ", torch's is " + w[i]);
                }
            }
        }
        return String.format(Locale.ROOT, "max|diff|/max|torch| %.2e", worst);
    }

    static double maxRelativeDiff(double[] actual, double[] expected) {
        double maxDiff = 0, maxExpected = 0;
        for (int i = 0; i < expected.length; i++) {
            double d = Math.abs(actual[i] - expected[i]);
            if (Double.isNaN(d)) return Double.NaN; // fails every comparison
            maxDiff = Math.max(maxDiff, d);
            maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
        }
        return maxDiff / maxExpected;
    }

    /** Compiler.compile into the test's folder; a refusal fails with {@link #refusal}'s detail. */
    private ArtifactWriter.Written compile(Graph g, Target target, String model) throws IOException {
        try {
            return Compiler.compile(g, target, CompilerOptions.NONE, dir.resolve(target.name()), model, dir.resolve("scratch"));
        } catch (UnsupportedOperationException e) {
            program(g, target); // throws the refusal with each node's reason and types
            throw e;
        }
    }

    /**
     * The C program for the target from the level-3 pipeline as Compiler.compile runs it (the backend's layout,
     * FP32); when the backend refuses, an AssertionError with the generator's message (each node's op and, in
     * brackets, what it does not take) and the types of each refused node's inputs and outputs.
     */
    private static CCodeGenerator.CProgram program(Graph g, Target target) {
        Backend backend = Backend.forTarget(target);
        PassOptions options = PassOptions.defaults().withLayout(backend.preferredLayout(target));
        PassContext ctx = PassContext.builder().options(options).evaluator(new InterpreterEvaluator()).build();
        Graph optimised = Pipelines.forLevel(3, options).run(g, ctx);
        try {
            return CCodeGenerator.generate(optimised, ctx.result(MemoryPlan.class), target.vectorRegisters());
        } catch (UnsupportedOperationException e) {
            StringBuilder m = new StringBuilder(e.getMessage()).append("\nrefused nodes of the level-3 graph for ").append(target.name()).append(':');
            for (Node n : backend.unsupported(optimised)) {
                m.append("\n  ").append(n.op()).append(" at node ").append(n.name()).append(": ")
                        .append(n.inputs().stream().map(ZooModelsTest::describe).collect(Collectors.joining(", ")))
                        .append(" -> ").append(n.outputs().stream().map(ZooModelsTest::describe).collect(Collectors.joining(", ")));
            }
            throw new AssertionError(m.toString(), e);
        }
    }

    private static String describe(Value v) {
        if (v == null) return "_";
        return (v instanceof Constant ? "const " : "") + v.type();
    }

    /** The device's target, skipping when its cross compiler (or, to run code, qemu-user) is not installed here. */
    private static Target crossTarget(String device, boolean run) {
        Target target = Targets.device(device);
        Toolchain toolchain = target.toolchain().orElseThrow();
        assumeTrue(onPath(toolchain.compiler()), device + " needs " + toolchain.compiler() + " (Debian package " + toolchain.debianPackage() + ")");
        if (run) {
            assumeTrue(toolchain.emulator().map(ZooModelsTest::onPath).orElse(false), device + " runs under qemu-user (Debian package qemu-user)");
        }
        return target;
    }

    private static boolean onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) return true;
        }
        return false;
    }
}
