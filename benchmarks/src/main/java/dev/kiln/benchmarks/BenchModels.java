package dev.kiln.benchmarks;

import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.testmodels.Fixtures;
import dev.kiln.testmodels.Zoo;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

/**
 * The benchmarked models (the fixtures and the model zoo), their inputs, the host's Kiln target and the FLOPs the
 * benchmarks are measured against.
 */
final class BenchModels {
    /** System property naming the folder where compiled artifacts are kept between JMH forks of one benchmark run. */
    static final String ARTIFACTS = "kiln.bench.artifacts";

    private BenchModels() {}

    /** The model's folder: a fixture's, else a zoo model's. */
    static Path dir(String model) { return Fixtures.MODELS.contains(model) ? Fixtures.dir(model) : Zoo.dir(model); }

    static Path onnx(String model) { return dir(model).resolve("model.onnx"); }

    static Graph imported(String model) { return OnnxFrontend.load(onnx(model), (String) null); }

    /** The model's golden inputs, batch 1: input0.npy, input1.npy ... in the order of the graph's inputs. */
    static List<Tensor> inputs(String model) {
        List<Tensor> inputs = new ArrayList<>();
        try {
            for (int i = 0; Files.isRegularFile(dir(model).resolve("input" + i + ".npy")); i++) {
                inputs.add(Npy.read(dir(model).resolve("input" + i + ".npy")));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return inputs;
    }

    /**
     * The fixtures and zoo models present in this checkout (the largest ones are made on demand), each name once:
     * a zoo model of a fixture's name goes by the fixture, as {@link #dir} does.
     */
    static List<String> presentModels() {
        List<String> models = new ArrayList<>(Fixtures.MODELS.stream().filter(Fixtures::isPresent).toList());
        Zoo.MODELS.stream().filter(Zoo::isPresent).filter(m -> !Fixtures.MODELS.contains(m)).forEach(models::add);
        return models;
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

    /**
     * The artifact of {@code model} for {@code device} in the folder named by {@link #ARTIFACTS}, compiled by the
     * first fork that needs it; without that property, compiled into {@code scratch}.
     */
    static Path artifact(String model, String device, Path scratch) throws IOException {
        String shared = System.getProperty(ARTIFACTS);
        if (shared == null) return compile(model, device, scratch);
        Path dir = Path.of(shared).resolve(device).resolve(model);
        Path done = dir.resolve("artifact.path");
        if (Files.isRegularFile(done)) return Path.of(Files.readString(done));
        Files.createDirectories(dir);
        Path artifact = compile(model, device, dir);
        Files.writeString(done, artifact.toString());
        return artifact;
    }

    /**
     * 2 x the multiply-accumulates of the graph's Conv, ConvTranspose, Gemm and MatMul nodes whose shapes are
     * static after import (others count 0, so GFLOP/s is a lower bound).
     */
    static long flops(Graph g) {
        long macs = 0;
        for (Node n : g.nodes()) {
            if (!n.op().equals("Conv") && !n.op().equals("ConvTranspose") && !n.op().equals("Gemm") && !n.op().equals("MatMul")) continue;
            if (!n.input(0).type().shape().isStatic() || !n.input(1).type().shape().isStatic()
                    || !n.output(0).type().shape().isStatic()) continue;
            long[] a = n.input(0).type().shape().sizes();
            long[] w = n.input(1).type().shape().sizes();
            long outputs = n.output(0).type().shape().elementCount();
            macs += switch (n.op()) {
                // Each output element sums (C_in / group) x kernel elements: the weight's dims after the first.
                case "Conv" -> outputs * Shape.elementCount(Arrays.copyOfRange(w, 1, w.length));
                // Each input element scatters into (C_out / group) x kernel elements: the weight's dims after the first.
                case "ConvTranspose" -> n.input(0).type().shape().elementCount() * Shape.elementCount(Arrays.copyOfRange(w, 1, w.length));
                case "Gemm" -> outputs * (n.attribute("transA") instanceof Attribute.Int t && t.value() != 0 ? a[0] : a[1]);
                default -> outputs * a[a.length - 1];
            };
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
