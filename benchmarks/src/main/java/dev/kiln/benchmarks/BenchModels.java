package dev.kiln.benchmarks;

import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.testmodels.Fixtures;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/** The fixture models, their inputs, the host's Kiln target and the FLOPs the benchmarks are measured against. */
final class BenchModels {
    /** The fixtures' only input. */
    static final String INPUT_NAME = "input0";

    private BenchModels() {}

    static Path onnx(String model) { return Fixtures.dir(model).resolve("model.onnx"); }

    static Graph imported(String model) { return OnnxFrontend.load(onnx(model), (String) null); }

    /** The fixture's golden input, batch 1. */
    static Tensor input(String model) {
        try {
            return Npy.read(Fixtures.dir(model).resolve("input0.npy"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The fixture models present in this checkout (resnet18 is made on demand). */
    static List<String> presentModels() {
        return Fixtures.MODELS.stream().filter(Fixtures::isPresent).toList();
    }

    /** ml_c5 (AVX-512) where /proc/cpuinfo lists avx512f, else ml_c4 (AVX2). */
    static String hostDevice() {
        return hasAvx512() ? "ml_c5" : "ml_c4";
    }

    static boolean hasAvx512() { return cpuFlags().contains(" avx512f "); }

    /** Compiles {@code model} for {@code device} into {@code dir}; returns the artifact. */
    static Path compile(String model, String device, Path dir) throws IOException {
        Target target = Targets.device(device);
        return Compiler.compile(imported(model), target, CompilerOptions.NONE, dir, model).artifact();
    }

    /** 2 x the multiply-accumulates of the graph's Conv, Gemm and MatMul nodes (static shapes). */
    static long flops(Graph g) {
        long macs = 0;
        for (Node n : g.nodes()) {
            switch (n.op()) {
                case "Conv" -> {
                    // Each output element sums (C_in / group) x kernel elements: the weight's dims after the first.
                    long[] w = n.input(1).type().shape().sizes();
                    long perOutput = 1;
                    for (int i = 1; i < w.length; i++) perOutput *= w[i];
                    macs += n.output(0).type().shape().elementCount() * perOutput;
                }
                case "Gemm" -> {
                    long[] a = n.input(0).type().shape().sizes();
                    boolean transA = n.attribute("transA") instanceof Attribute.Int t && t.value() != 0;
                    macs += n.output(0).type().shape().elementCount() * (transA ? a[0] : a[1]);
                }
                case "MatMul" -> {
                    long[] a = n.input(0).type().shape().sizes();
                    macs += n.output(0).type().shape().elementCount() * a[a.length - 1];
                }
                default -> { }
            }
        }
        return 2 * macs;
    }

    private static String cpuFlags() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("flags")).findFirst().map(l -> " " + l.substring(l.indexOf(':') + 1) + " ")
                    .map(s -> s.replaceAll("\\s+", " ")).orElse("");
        } catch (IOException e) {
            return "";
        }
    }
}
