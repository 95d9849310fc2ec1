package dev.kiln.backends;

import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.artifact.ArtifactException;
import dev.kiln.runtime.artifact.ArtifactWriter;
import dev.kiln.runtime.artifact.Manifest;
import dev.kiln.testmodels.Fixtures;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Compile to an artifact, load it with the runtime's Model, run it against torch's golden output. */
class CompilerTest {
    private static final String MODEL = "squeezenet1_1";
    private static final double TOLERANCE = 1e-4;

    @TempDir
    Path dir;

    private static Graph squeezenet() {
        return OnnxFrontend.load(Fixtures.dir(MODEL).resolve("model.onnx"), (String) null);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ml_c5", "ml_c4"})
    void compilesReproduciblyAndRunsLikeTorch(String targetName) throws Exception {
        Target target = Targets.device(targetName);
        ArtifactWriter.Written first = Compiler.compile(squeezenet(), target, CompilerOptions.NONE, dir.resolve("a"), MODEL);
        ArtifactWriter.Written second = Compiler.compile(squeezenet(), target, CompilerOptions.NONE, dir.resolve("b"), MODEL);
        assertEquals(MODEL + "-" + targetName + ".tar.gz", first.artifact().getFileName().toString());
        assertEquals(first.digest(), second.digest(), "two compiles of the same model give different artifacts");
        assertArrayEquals(Files.readAllBytes(first.artifact()), Files.readAllBytes(second.artifact()));
        b2sum(first.artifact()).ifPresent(sum -> assertEquals(first.digest(), sum, "b2sum"));
        Manifest m = first.manifest();
        assertEquals(Map.of("ir", "model.ir", "library", "model.so", "source", "model.c", "weights", "weights.bin"), m.components());
        assertEquals("LINUX", m.target().platform().get("os"));
        assertEquals("X86_64", m.target().platform().get("arch"));
        assertTrue(((List<?>) m.target().platform().get("compiler_flags")).contains(targetName.equals("ml_c5") ? "-march=skylake-avx512" : "-march=haswell"));

        Tensor input = Npy.read(Fixtures.dir(MODEL).resolve("input0.npy"));
        Tensor golden = Npy.read(Fixtures.dir(MODEL).resolve("output0.npy"));
        try (Model model = Model.load(first.artifact())) {
            assertEquals(first.digest(), model.digest());
            Map<String, Tensor> out = model.run(Map.of(m.inputs().get(0).name(), input));
            Tensor y = out.get(m.outputs().get(0).name());
            assertArrayEquals(golden.shape(), y.shape());
            double maxDiff = 0, maxRef = 0;
            for (int i = 0; i < golden.size(); i++) {
                maxDiff = Math.max(maxDiff, Math.abs(golden.getDouble(i) - y.getDouble(i)));
                maxRef = Math.max(maxRef, Math.abs(golden.getDouble(i)));
            }
            System.out.printf(Locale.ROOT, "%s -> %s: %d bytes, digest %s..., max|diff| vs torch %.2e (max|y| %.2f)%n",
                    MODEL, targetName, Files.size(first.artifact()), first.digest().substring(0, 16), maxDiff, maxRef);
            assertTrue(maxDiff <= TOLERANCE * Math.max(1, maxRef), "max|diff| vs torch " + maxDiff);
            IllegalArgumentException wrongShape = assertThrows(IllegalArgumentException.class,
                    () -> model.run(Map.of(m.inputs().get(0).name(), Tensor.allocate(input.dtype(), 1, 3, 8, 8))));
            assertTrue(wrongShape.getMessage().contains("must be f32[1, 3, 224, 224]"), wrongShape.getMessage());
        }
    }

    @Test
    void tamperedArtifactIsRefusedNamingTheFile() throws Exception {
        Path artifact = Compiler.compile(squeezenet(), Targets.device("ml_c5"), CompilerOptions.NONE, dir, MODEL).artifact();
        Path tampered = dir.resolve("tampered.tar.gz");
        rewriteFlippingOneByte(artifact, tampered, "weights.bin");
        ArtifactException e = assertThrows(ArtifactException.class, () -> Model.load(tampered));
        assertTrue(e.getMessage().contains("weights.bin"), e.getMessage());
    }

    @Test
    void missingToolchainFailsNamingThePackageBeforeAnyWork() throws IOException {
        Target real = Targets.device("ml_c5");
        Toolchain missing = new Toolchain("kiln-no-such-compiler-7c1d", "x86_64-linux-gnu", "gcc-kiln-none", Optional.empty(), Optional.empty());
        Target target = new Target(real.name(), real.os(), real.arch(), real.accelerator(), real.features(), Optional.of(missing),
                real.compilerFlags(), real.vectorIsa(), real.androidApiLevel(), real.options());
        ToolchainMissingException e = assertThrows(ToolchainMissingException.class,
                () -> Compiler.compile(squeezenet(), target, CompilerOptions.NONE, dir, MODEL));
        assertEquals("ToolchainMissing: ml_c5 needs kiln-no-such-compiler-7c1d (Debian package gcc-kiln-none)", e.getMessage());
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "nothing written");
        }
    }

    @Test
    void cBackendIsFoundByServiceLoader() {
        Backend b = Backend.forTarget(Targets.device("ml_c5"));
        assertEquals("c", b.name());
        // One vector register of channels per block: AVX-512, AVX2, NEON.
        assertEquals("NCHW16c", b.preferredLayout(Targets.device("ml_c5")));
        assertEquals("NCHW8c", b.preferredLayout(Targets.device("ml_c4")));
        assertEquals("NCHW4c", b.preferredLayout(Targets.device("jetson_nano")));
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 3, 4, 4));
        Node nhwc = g.addNode("h", "LayoutTransform", List.of(x), Map.of("src_layout", Attribute.of("NCHW"), "dst_layout", Attribute.of("NHWC")), List.of("y"));
        g.addOutput(nhwc.outputs().get(0));
        assertEquals(List.of(nhwc), b.unsupported(g));
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> Compiler.compile(g, Targets.device("ml_c5"), CompilerOptions.NONE, dir, "g"));
        assertEquals("OperatorNotImplemented: backend c has no kernel for LayoutTransform (from plain to NHWC) at node h", e.getMessage());
    }

    @Test
    void resnet18CompileTime() throws Exception {
        Assumptions.assumeTrue(Fixtures.isPresent("resnet18"), "resnet18 is made on demand: " + Fixtures.makeCommand("resnet18"));
        Graph g = OnnxFrontend.load(Fixtures.dir("resnet18").resolve("model.onnx"), (String) null);
        long start = System.nanoTime();
        ArtifactWriter.Written w = Compiler.compile(g, Targets.device("ml_c5"), CompilerOptions.NONE, dir, "resnet18");
        System.out.printf(Locale.ROOT, "resnet18 -> ml_c5: compile %.0f ms (passes + codegen + gcc + artifact), %d bytes%n",
                (System.nanoTime() - start) / 1e6, Files.size(w.artifact()));
    }

    /** Copies a .tar.gz entry by entry, flipping the first byte of {@code victim}. */
    static void rewriteFlippingOneByte(Path from, Path to, String victim) throws IOException {
        try (TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(Files.newInputStream(from)));
             TarArchiveOutputStream out = new TarArchiveOutputStream(new GzipCompressorOutputStream(Files.newOutputStream(to)))) {
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                byte[] data = tar.readAllBytes();
                if (e.getName().equals(victim)) data[0] ^= 1;
                TarArchiveEntry copy = new TarArchiveEntry(e.getName());
                copy.setSize(data.length);
                out.putArchiveEntry(copy);
                out.write(data);
                out.closeArchiveEntry();
            }
        }
    }

    private static boolean onPath(String command) {
        for (String d : System.getenv("PATH").split(java.io.File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) return true;
        }
        return false;
    }

    private static java.util.Optional<String> b2sum(Path file) throws Exception {
        if (!onPath("b2sum")) return java.util.Optional.empty();
        Process p = new ProcessBuilder("b2sum", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        return java.util.Optional.of(out.split("\\s+")[0]);
    }
}
