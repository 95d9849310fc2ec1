package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.backends.Toolchain;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The ARM targets end to end: level-3 pipeline, C backend with the NEON micro-kernels, the target's cross
 * compiler and catalog flags, a static executable run under qemu-user, outputs against the interpreter.
 */
class CrossTargetsTest {
    private static final double TOLERANCE = 1e-4;
    /** jetson_nano: ARM64 (aarch64 NEON); rasp3b: ARMv7 hard-float with NEON and VFPv4. */
    private static final List<String> TARGETS = List.of("jetson_nano", "rasp3b");
    /** The C library each cross compiler's static executables link against. */
    private static final Map<String, String> CROSS_LIBC = Map.of(
            "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross", "gcc-arm-linux-gnueabihf", "libc6-dev-armhf-cross");
    private static final Map<String, Supplier<Graph>> GRAPHS = Map.of(
            "conv", CrossTargetsTest::convolutions,
            "gemm", CrossTargetsTest::products,
            "depthwise", CrossTargetsTest::depthwise,
            "pooling", CrossTargetsTest::pooling);

    @TempDir
    Path dir;

    static Stream<String> targets() {
        return TARGETS.stream();
    }

    static Stream<Arguments> targetsAndGraphs() {
        return TARGETS.stream().flatMap(t -> GRAPHS.keySet().stream().sorted().map(g -> Arguments.of(t, g)));
    }

    static Stream<Arguments> targetsAndModels() {
        return TARGETS.stream().flatMap(t -> Stream.of("squeezenet1_1", "resnet18").map(m -> Arguments.of(t, m)));
    }

    /** The kernels take the NEON path (float32x4_t exists only when gemm.h included arm_neon.h) and gcc warns about nothing. */
    @ParameterizedTest
    @MethodSource("targets")
    void neonKernelsCompileWithoutWarnings(String device) throws Exception {
        Target target = runnableTarget(device);
        StringBuilder source = new StringBuilder();
        for (String f : KernelSources.all()) source.append(KernelSources.text(f)).append('\n');
        source.append("_Static_assert(sizeof(float32x4_t) == 16, \"the NEON micro-kernel is compiled\");\n");
        Path file = Files.writeString(dir.resolve("kernels.c"), source);
        List<String> cmd = new ArrayList<>(List.of(target.toolchain().orElseThrow().compiler(), "-O3"));
        cmd.addAll(target.compilerFlags());
        cmd.addAll(List.of("-Wall", "-Wextra", "-Wno-unused-function", "-c", "-o", dir.resolve("kernels.o").toString(), file.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ":\n" + output);
        assertEquals("", output, "warnings of " + String.join(" ", cmd));
    }

    @ParameterizedTest
    @MethodSource("targetsAndGraphs")
    void smallGraphMatchesInterpreter(String device, String graph) {
        Target target = runnableTarget(device);
        Graph g = GRAPHS.get(graph).get();
        assertRunMatches(target, graph, g, NativeTesting.randomInputs(g, 5));
    }

    @ParameterizedTest
    @MethodSource("targetsAndModels")
    void fixtureModelMatchesInterpreter(String device, String model) throws Exception {
        Target target = runnableTarget(device);
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is made on demand: " + Fixtures.makeCommand(model));
        Graph g = OnnxFrontend.load(Fixtures.dir(model).resolve("model.onnx"), (String) null);
        assertRunMatches(target, model, g, List.of(Npy.read(Fixtures.dir(model).resolve("input0.npy"))));
    }

    private void assertRunMatches(Target target, String name, Graph g, List<Tensor> inputs) {
        List<Tensor> want = NativeTesting.reference(g, inputs);
        CCodeGenerator.CProgram program = NativeTesting.program(g, target);
        long start = System.nanoTime();
        CTestHarness.Executable exe = CTestHarness.build(program, target, dir.resolve(target.name()));
        double compileMs = (System.nanoTime() - start) / 1e6;
        CTestHarness.Run run = exe.run(inputs);
        CTestHarness.Run twoThreads = exe.run(inputs, 2);
        double diff = 0;
        for (int k = 0; k < Math.min(want.size(), run.outputs().size()); k++) {
            diff = Math.max(diff, NativeTesting.relativeDifference(want.get(k), run.outputs().get(k)));
        }
        System.out.printf(Locale.ROOT, "%s on %s (%s): kiln_run %.2f ms (2 threads %.2f ms) under %s, process %.0f ms, cross compile %.0f ms, "
                        + "max|diff|/max|y| %.2e%n", name, target.name(), String.join(" ", target.compilerFlags()),
                run.kilnRunNanos() / 1e6, twoThreads.kilnRunNanos() / 1e6, exe.runCommand().get(0), run.processNanos() / 1e6, compileMs, diff);
        NativeTesting.assertClose(want, run.outputs(), TOLERANCE);
        for (int k = 0; k < run.outputs().size(); k++) {
            assertArrayEquals(run.outputs().get(k).toFloatArray(), twoThreads.outputs().get(k).toFloatArray(),
                    name + " output " + k + " on 2 threads differs from 1 thread");
        }
    }

    /** The device's target, skipping the test when its cross compiler or qemu-user is not installed here. */
    private static Target runnableTarget(String device) {
        Target target = Targets.device(device);
        Toolchain toolchain = target.toolchain().orElseThrow();
        String install = "apt-get update && apt-get install -y " + toolchain.debianPackage() + " "
                + CROSS_LIBC.get(toolchain.debianPackage()) + " qemu-user";
        Assumptions.assumeTrue(onPath(toolchain.compiler()), device + " needs " + toolchain.compiler() + ": " + install);
        Assumptions.assumeTrue(toolchain.emulator().map(CrossTargetsTest::onPath).orElse(false),
                device + " runs under " + toolchain.emulator().orElse("qemu-user") + ": " + install);
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

    /** Padded with bias, strided, 1x1, grouped, then a ReLU-fused chain; channel counts off the 4/8/12 tiles. */
    private static Graph convolutions() {
        Random r = new Random(1);
        Graph g = new Graph("conv");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 8, 13, 11));
        g.addOutput(node(g, "c3", "Conv", List.of(x, randomConstant(g, "w3", r, 0.3, 17, 8, 3, 3), randomConstant(g, "b3", r, 1, 17)),
                attrs("pads", new long[] {1, 1, 1, 1})));
        g.addOutput(node(g, "c3s2", "Conv", List.of(x, randomConstant(g, "w3s2", r, 0.3, 9, 8, 3, 3)),
                attrs("strides", new long[] {2, 2})));
        g.addOutput(node(g, "g2", "Conv", List.of(x, randomConstant(g, "wg", r, 0.3, 6, 4, 3, 2)), attrs("group", 2L)));
        Value c1 = node(g, "c1", "Conv", List.of(x, randomConstant(g, "w1", r, 0.3, 25, 8, 1, 1), randomConstant(g, "b1", r, 1, 25)), Map.of());
        g.addOutput(node(g, "relu", "Relu", List.of(c1), Map.of()));
        return g;
    }

    /** Gemm with transposed weights and bias, MatMul with a batch, sizes that leave partial tiles and several K blocks. */
    private static Graph products() {
        Random r = new Random(2);
        Graph g = new Graph("gemm");
        Value a = g.addInput("a", TensorType.of(DType.F32, 13, 300));
        Value a3 = g.addInput("a3", TensorType.of(DType.F32, 3, 9, 40));
        g.addOutput(node(g, "gemm", "Gemm", List.of(a, randomConstant(g, "wt", r, 0.1, 70, 300), randomConstant(g, "bias", r, 1, 70)),
                attrs("transB", 1L)));
        g.addOutput(node(g, "mm3", "MatMul", List.of(a3, randomConstant(g, "w3", r, 0.3, 40, 19)), Map.of()));
        return g;
    }

    /** Depthwise 3x3 padded and strided, followed by a pointwise convolution and Clip(0, 6), as in mobilenet. */
    private static Graph depthwise() {
        Random r = new Random(3);
        Graph g = new Graph("depthwise");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 16, 15, 14));
        Value dw = node(g, "dw", "Conv", List.of(x, randomConstant(g, "wdw", r, 0.3, 16, 1, 3, 3), randomConstant(g, "bdw", r, 1, 16)),
                attrs("group", 16L, "pads", new long[] {1, 1, 1, 1}));
        g.addOutput(node(g, "dws2", "Conv", List.of(x, randomConstant(g, "wdws2", r, 0.3, 16, 1, 3, 3)),
                attrs("group", 16L, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1})));
        // 5 x 5 with SiLU, then HardSwish: the vector activations of the epilogues
        Value dw5 = node(g, "dw5", "Conv", List.of(x, randomConstant(g, "wdw5", r, 0.3, 16, 1, 5, 5), randomConstant(g, "bdw5", r, 1, 16)),
                attrs("group", 16L, "pads", new long[] {2, 2, 2, 2}));
        g.addOutput(node(g, "silu", "Mul", List.of(dw5, node(g, "sigmoid", "Sigmoid", List.of(dw5), Map.of())), Map.of()));
        Value dw5s2 = node(g, "dw5s2", "Conv", List.of(x, randomConstant(g, "wdw5s2", r, 0.3, 16, 1, 5, 5)),
                attrs("group", 16L, "strides", new long[] {2, 2}, "pads", new long[] {2, 2, 2, 2}));
        g.addOutput(node(g, "hardswish", "HardSwish", List.of(dw5s2), Map.of()));
        Value pw = node(g, "pw", "Conv", List.of(dw, randomConstant(g, "wpw", r, 0.3, 10, 16, 1, 1)), Map.of());
        g.addOutput(node(g, "clip", "Clip", List.of(pw, g.addConstant("lo", TensorType.of(DType.F32), scalar(0f)),
                g.addConstant("hi", TensorType.of(DType.F32), scalar(6f))), Map.of()));
        return g;
    }

    private static ByteBuffer scalar(float v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, v);
    }

    private static Graph pooling() {
        Graph g = new Graph("pooling");
        // 5 channels: blocks of 4 with padding (pooling of fewer channels than a block stays plain)
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 5, 13, 12));
        g.addOutput(node(g, "max", "MaxPool", List.of(x), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2}, "ceil_mode", 1L)));
        g.addOutput(node(g, "avg", "AveragePool", List.of(x), attrs("kernel_shape", new long[] {3, 3}, "strides", new long[] {2, 2},
                "pads", new long[] {1, 1, 1, 1})));
        g.addOutput(node(g, "gap", "GlobalAveragePool", List.of(x), Map.of()));
        return g;
    }
}
