package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.testmodels.Fixtures;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static dev.kiln.backends.c.NativeTesting.attrs;
import static dev.kiln.backends.c.NativeTesting.node;
import static dev.kiln.backends.c.NativeTesting.randomConstant;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What the Windows, Android and 32-bit x86 target tests share: the graphs they compile, the tools they
 * need (installed by ./test, so a missing one fails the test rather than skipping it) and running a
 * harness against the interpreter.
 */
final class PlatformTesting {
    private static final double TOLERANCE = 1e-4;

    private PlatformTesting() {}

    /** Padded and strided convolutions with bias and ReLU, a depthwise 3x3, pooling and a Gemm: most kernels in one graph. */
    static Graph smallGraph() {
        Random r = new Random(11);
        Graph g = new Graph("platform");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 8, 13, 11));
        Value c = node(g, "c3", "Conv", List.of(x, randomConstant(g, "w3", r, 0.3, 12, 8, 3, 3), randomConstant(g, "b3", r, 1, 12)),
                attrs("pads", new long[] {1, 1, 1, 1}));
        Value relu = node(g, "relu", "Relu", List.of(c), Map.of());
        Value dw = node(g, "dw", "Conv", List.of(relu, randomConstant(g, "wdw", r, 0.3, 12, 1, 3, 3)),
                attrs("group", 12L, "strides", new long[] {2, 2}, "pads", new long[] {1, 1, 1, 1}));
        g.addOutput(node(g, "max", "MaxPool", List.of(dw), attrs("kernel_shape", new long[] {2, 2}, "strides", new long[] {2, 2})));
        Value gap = node(g, "gap", "GlobalAveragePool", List.of(relu), Map.of());
        Value flat = node(g, "flat", "Flatten", List.of(gap), Map.of());
        g.addOutput(node(g, "gemm", "Gemm", List.of(flat, randomConstant(g, "wg", r, 0.3, 5, 12), randomConstant(g, "bg", r, 1, 5)),
                attrs("transB", 1L)));
        g.addOutput(node(g, "sig", "Sigmoid", List.of(node(g, "c1", "Conv", List.of(x, randomConstant(g, "w1", r, 0.3, 6, 8, 1, 1)),
                Map.of())), Map.of()));
        return g;
    }

    static Graph squeezenet() {
        return OnnxFrontend.load(Fixtures.dir("squeezenet1_1").resolve("model.onnx"), (String) null);
    }

    static List<Tensor> squeezenetInputs() throws IOException {
        return List.of(Npy.read(Fixtures.dir("squeezenet1_1").resolve("input0.npy")));
    }


    /** The backend's library for the target, a harness linked against it, run as {@link #assertRunMatches} says. */
    static void assertLibraryRunMatches(String name, Target target, Graph g, List<Tensor> inputs, Path dir) {
        assertRunMatches(name, target, CTestHarness.buildAgainstLibrary(NativeTesting.program(g, target), target, dir), g, inputs);
    }

    /** Builds the harness, runs it on 1 and 2 threads and compares with the interpreter (2 threads bitwise equal to 1). */
    static void assertRunMatches(String name, Target target, CTestHarness.Executable exe, Graph g, List<Tensor> inputs) {
        List<Tensor> want = NativeTesting.reference(g, inputs);
        CTestHarness.Run run = exe.run(inputs);
        CTestHarness.Run twoThreads = exe.run(inputs, 2);
        double diff = 0;
        for (int k = 0; k < Math.min(want.size(), run.outputs().size()); k++) {
            diff = Math.max(diff, NativeTesting.relativeDifference(want.get(k), run.outputs().get(k)));
        }
        System.out.printf(Locale.ROOT, "%s on %s: kiln_run %.2f ms (2 threads %.2f ms) under %s, process %.0f ms, max|diff|/max|y| %.2e%n",
                name, target.name(), run.kilnRunNanos() / 1e6, twoThreads.kilnRunNanos() / 1e6, exe.runCommand().get(0),
                run.processNanos() / 1e6, diff);
        NativeTesting.assertClose(want, run.outputs(), TOLERANCE);
        for (int k = 0; k < run.outputs().size(); k++) {
            assertArrayEquals(run.outputs().get(k).toFloatArray(), twoThreads.outputs().get(k).toFloatArray(),
                    name + " output " + k + " on 2 threads differs from 1 thread");
        }
    }

    /** Fails (not skips) when a command ./test installs is missing, naming the Debian packages. */
    static void requireCommand(String command, String packages) {
        assertTrue(onPath(command), command + " is missing: ./test installs it (apt-get install " + packages + ")");
    }

    static boolean onPath(String command) {
        if (command.startsWith("/")) return Files.isExecutable(Path.of(command));
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) return true;
        }
        return false;
    }

    /** Runs a tool to completion; its stdout and stderr. */
    static String tool(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(5, TimeUnit.MINUTES), String.join(" ", cmd) + " did not finish");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + output);
        return output;
    }
}
