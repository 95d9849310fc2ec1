package dev.kiln.runtime;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import dev.kiln.ir.DType;
import dev.kiln.runtime.artifact.ArtifactWriter;
import dev.kiln.runtime.artifact.Manifest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Model.run into the caller's outputs, and the per-node profile, on a small hand-written library with the C
 * ABI of compiled models (abi_model.c, compiled here by gcc: the runtime does not see the compiler). Its outputs
 * are y = x * n + 1, the row sums of y, and the addresses its kiln_run was given, which tell what was passed in
 * place.
 */
class ModelRunTest {
    @TempDir
    static Path dir;

    private static final float[] X = {1, 2, 3, -4, 5, 0.5f};
    /** The artifact of the stand-in library, and of the one whose s has a shape each run computes. */
    private static Path fixed, dynamic;

    @BeforeAll
    static void compile() throws Exception {
        fixed = artifact(false);
        dynamic = artifact(true);
    }

    private static Path artifact(boolean dynamicSums) throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").startsWith("Linux") && hostArch() != null, "the stand-in library is built for Linux x86_64 or ARM64");
        Path content = Files.createDirectories(dir.resolve(dynamicSums ? "dynamic" : "static"));
        Path source = content.resolve("abi_model.c");
        try (InputStream in = ModelRunTest.class.getResourceAsStream("abi_model.c")) {
            Files.write(source, in.readAllBytes());
        }
        List<String> gcc = new ArrayList<>(List.of("gcc", "-shared", "-fPIC", "-O1", "-o", content.resolve("model.so").toString(), source.toString()));
        if (dynamicSums) gcc.add("-DABI_DYNAMIC");
        Process p;
        try {
            p = new ProcessBuilder(gcc).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("gcc is not installed: " + e.getMessage());
            throw e;
        }
        String log = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), log);
        Files.delete(source);
        Files.write(content.resolve("weights.bin"), new byte[0]);
        Manifest m = new Manifest("0.1.0", "abi", "onnx", new Manifest.Target("host", Map.of("os", "LINUX", "arch", hostArch())), Map.of(),
                List.of(spec("x", DType.F32, 2, 3), spec("n", DType.I32, 1)),
                List.of(spec("y", DType.F32, 2, 3), spec("s", DType.F64, dynamicSums ? -1 : 2), spec("where", DType.I64, 3)),
                Map.of("library", "model.so", "weights", "weights.bin"), List.of());
        return ArtifactWriter.write(content, m, dir.resolve("out-" + content.getFileName())).artifact();
    }

    private static String hostArch() {
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "X86_64";
            case "aarch64" -> "ARM64";
            default -> null;
        };
    }

    private static Manifest.TensorSpec spec(String name, DType dtype, long... shape) {
        return new Manifest.TensorSpec(name, dtype, java.util.Arrays.stream(shape).boxed().toList(), "");
    }

    private static Map<String, Tensor> inputs(Tensor x, int n) {
        Tensor nt = Tensor.ofInts(new int[] {n}, 1);
        return Map.of("x", x, "n", nt);
    }

    private static float[] expectedY(float[] x, int n) {
        float[] y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = x[i] * n + 1;
        return y;
    }

    private static long address(Tensor t) { return Pointer.nativeValue(Native.getDirectBufferPointer(t.data())); }

    @Test
    void runIntoCallerOutputsGivesWhatRunReturns() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            Map<String, Tensor> in = inputs(Tensor.ofFloats(X, 2, 3), 3);
            Map<String, Tensor> want = m.run(in);
            assertArrayEquals(expectedY(X, 3), want.get("y").toFloatArray());
            assertArrayEquals(new double[] {21, 7.5}, want.get("s").toDoubleArray());

            Map<String, Tensor> heap = Map.of("y", Tensor.allocate(DType.F32, 2, 3), "s", Tensor.allocate(DType.F64, 2), "where", Tensor.allocate(DType.I64, 3));
            m.run(in, heap);
            Map<String, Tensor> direct = m.allocateOutputs();
            m.run(in, direct);
            for (String name : List.of("y", "s")) {
                assertTrue(want.get(name).contentEquals(heap.get(name)), name + " into heap tensors");
                assertTrue(want.get(name).contentEquals(direct.get(name)), name + " into direct tensors");
            }
        }
    }

    @Test
    void directTensorsAreReadAndWrittenInPlaceAndOthersCopied() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            Tensor x = Tensor.allocateDirect(DType.F32, 2, 3);
            x.data().asFloatBuffer().put(X);
            Tensor n = Tensor.allocateDirect(DType.I32, 1);
            n.data().putInt(0, 2);
            Map<String, Tensor> in = Map.of("x", x, "n", n);
            Map<String, Tensor> out = m.allocateOutputs();
            for (int round = 0; round < 2; round++) {
                m.run(in, out);
                assertArrayEquals(new long[] {address(x), address(n), address(out.get("y"))}, out.get("where").toLongArray(), "round " + round);
                assertEquals(0, address(x) % 64, "allocateDirect aligns to 64 bytes");
            }
            assertArrayEquals(expectedY(X, 2), out.get("y").toFloatArray());

            // aligned to the element but not to 64 bytes: still in place; not even to the element: copied
            ByteBuffer raw = ByteBuffer.allocateDirect(128);
            int at = (64 - raw.alignmentOffset(0, 64)) % 64;
            Tensor offByFour = Tensor.wrap(DType.F32, new long[] {2, 3}, raw.duplicate().position(at + 4).limit(at + 28).slice());
            Tensor offByOne = Tensor.wrap(DType.F32, new long[] {2, 3}, raw.duplicate().position(at + 1).limit(at + 25).slice());
            for (Tensor t : List.of(offByFour, offByOne)) {
                for (int i = 0; i < X.length; i++) t.setDouble(i, X[i] * 2);
            }
            m.run(Map.of("x", offByFour, "n", n), out);
            assertEquals(address(offByFour), out.get("where").toLongArray()[0]);
            m.run(Map.of("x", offByOne, "n", n), out);
            assertNotEquals(address(offByOne), out.get("where").toLongArray()[0]);
            float[] doubled = new float[X.length];
            for (int i = 0; i < X.length; i++) doubled[i] = X[i] * 2;
            assertArrayEquals(expectedY(doubled, 2), out.get("y").toFloatArray());
        }
    }

    @Test
    void changedContentsOfTheSameTensorsAreSeenByTheNextRun() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            for (boolean direct : new boolean[] {false, true}) {
                Tensor x = direct ? Tensor.allocateDirect(DType.F32, 2, 3) : Tensor.allocate(DType.F32, 2, 3);
                Tensor n = direct ? Tensor.allocateDirect(DType.I32, 1) : Tensor.allocate(DType.I32, 1);
                Map<String, Tensor> in = Map.of("x", x, "n", n);
                Map<String, Tensor> out = Map.of("y", Tensor.allocate(DType.F32, 2, 3), "s", Tensor.allocate(DType.F64, 2), "where", Tensor.allocate(DType.I64, 3));
                for (int k = 1; k <= 3; k++) {
                    float[] xs = new float[6];
                    for (int i = 0; i < 6; i++) xs[i] = X[i] * k;
                    for (int i = 0; i < 6; i++) x.setDouble(i, xs[i]);
                    n.setLong(0, k);
                    m.run(in, out);
                    assertArrayEquals(expectedY(xs, k), out.get("y").toFloatArray(), "run " + k + (direct ? " (direct)" : " (heap)"));
                    assertArrayEquals(expectedY(xs, k), m.run(in).get("y").toFloatArray());
                }
            }
        }
    }

    @Test
    void anOutputSharingAnInputsMemoryIsWrittenAfterTheRunReadIt() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            Tensor x = Tensor.allocateDirect(DType.F32, 2, 3);
            x.data().asFloatBuffer().put(X);
            Map<String, Tensor> out = new HashMap<>(m.allocateOutputs());
            out.put("y", x);
            m.run(inputs(x, 4), out);
            assertArrayEquals(expectedY(X, 4), x.toFloatArray());
            assertNotEquals(address(x), out.get("where").toLongArray()[2], "written through the library's own buffer");
        }
    }

    @Test
    void refusesWrongTensorsNamingThem() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            Map<String, Tensor> in = inputs(Tensor.ofFloats(X, 2, 3), 1);
            Map<String, Tensor> out = m.allocateOutputs();
            assertEquals("input 'x' must be f32[2, 3], got f64[2, 3]",
                    refusal(m, inputs(Tensor.allocate(DType.F64, 2, 3), 1), out));
            assertEquals("input 'x' must be f32[2, 3], got f32[3, 2]",
                    refusal(m, inputs(Tensor.allocate(DType.F32, 3, 2), 1), out));
            assertEquals("missing input 'n' (model abi takes [x, n])", refusal(m, Map.of("x", Tensor.ofFloats(X, 2, 3)), out));
            Map<String, Tensor> extra = new HashMap<>(in);
            extra.put("z", Tensor.ofFloats(X, 2, 3));
            assertEquals("model abi has no input 'z' (it takes [x, n])", refusal(m, extra, out));

            Map<String, Tensor> wrongOut = new HashMap<>(out);
            wrongOut.put("s", Tensor.allocateDirect(DType.F32, 2));
            assertEquals("output 's' must be f64[2], got f32[2]", refusal(m, in, wrongOut));
            wrongOut.remove("s");
            assertEquals("missing output 's' (model abi gives [y, s, where])", refusal(m, in, wrongOut));
            Map<String, Tensor> extraOut = new HashMap<>(out);
            extraOut.put("t", Tensor.allocate(DType.F32, 1));
            assertEquals("model abi has no output 't' (it gives [y, s, where])", refusal(m, in, extraOut));

            Map<String, Tensor> readOnly = new HashMap<>(out);
            readOnly.put("y", Tensor.wrap(DType.F32, new long[] {2, 3}, ByteBuffer.allocate(24).asReadOnlyBuffer()));
            assertTrue(refusal(m, in, readOnly).startsWith("output 0 is read-only"), refusal(m, in, readOnly));

            ByteBuffer shared = ByteBuffer.allocateDirect(24).order(ByteOrder.LITTLE_ENDIAN);
            Map<String, Tensor> overlapping = new HashMap<>(out);
            overlapping.put("s", Tensor.wrap(DType.F64, new long[] {2}, shared.duplicate().limit(16).slice()));
            overlapping.put("where", Tensor.wrap(DType.I64, new long[] {3}, shared));
            assertEquals("outputs 1 and 2 share memory", refusal(m, in, overlapping));

            IllegalStateException failed = assertThrows(IllegalStateException.class, () -> m.run(inputs(Tensor.ofFloats(X, 2, 3), -1), out));
            assertTrue(failed.getMessage().endsWith("failed: node scale: n must not be negative"), failed.getMessage());
            // a refused or failed call leaves the model as it was
            m.run(in, out);
            assertArrayEquals(expectedY(X, 1), out.get("y").toFloatArray());
        }
    }

    private static String refusal(Model m, Map<String, Tensor> in, Map<String, Tensor> out) {
        return assertThrows(IllegalArgumentException.class, () -> m.run(in, out)).getMessage();
    }

    @Test
    void anOutputOfRunTimeShapeHasNoCallerTensor() throws Exception {
        try (Model m = Model.load(dynamic, 1)) {
            String why = "output 's' of model abi has a shape each run computes [-1], so there is no tensor to give for it beforehand: run(inputs) returns it";
            assertEquals(why, assertThrows(IllegalArgumentException.class, m::allocateOutputs).getMessage());
            Map<String, Tensor> out = Map.of("y", Tensor.allocate(DType.F32, 2, 3), "s", Tensor.allocate(DType.F64, 2), "where", Tensor.allocate(DType.I64, 3));
            assertEquals(why, refusal(m, inputs(Tensor.ofFloats(X, 2, 3), 3), out));
            Map<String, Tensor> got = m.run(inputs(Tensor.ofFloats(X, 2, 3), 3));
            assertArrayEquals(new double[] {21, 7.5}, got.get("s").toDoubleArray());
        }
    }

    /** Four threads on two loads of one artifact (each load has a library of its own): each thread gets its own results. */
    @Test
    void runsFromSeveralThreadsTakeTurns() throws Exception {
        try (Model first = Model.load(fixed, 2); Model second = Model.load(fixed, 1)) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int n = t + 1;
                    boolean direct = t % 2 == 0;
                    Model m = t < 2 ? first : second;
                    done.add(pool.submit(() -> {
                        Tensor x = direct ? Tensor.allocateDirect(DType.F32, 2, 3) : Tensor.allocate(DType.F32, 2, 3);
                        for (int i = 0; i < X.length; i++) x.setDouble(i, X[i]);
                        Map<String, Tensor> in = inputs(x, n);
                        Map<String, Tensor> out = m.allocateOutputs();
                        float[] y = expectedY(X, n);
                        double[] sums = {(double) y[0] + y[1] + y[2], (double) y[3] + y[4] + y[5]};
                        for (int k = 0; k < 2000; k++) {
                            m.run(in, out);
                            assertArrayEquals(y, out.get("y").toFloatArray());
                            assertArrayEquals(sums, out.get("s").toDoubleArray(), "the library's own memory is its load's");
                            assertArrayEquals(expectedY(X, n), m.run(in).get("y").toFloatArray());
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) f.get();
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void profileNamesTheLibrarysNodesAndCountsRunsWhileOn() throws Exception {
        try (Model m = Model.load(fixed, 1)) {
            Map<String, Tensor> in = inputs(Tensor.ofFloats(X, 2, 3), 1);
            m.run(in);
            assertEquals(0, m.profile().runs(), "off until switched on");
            m.setProfiling(true);
            m.run(in);
            m.run(in, m.allocateOutputs());
            Profile p = m.profile();
            assertEquals(2, p.runs());
            assertEquals(List.of(new Profile.Node("scale", "FusedElementwise", 12, 2000), new Profile.Node("row sums \u00e9", "ReduceSum", 0, 2000)), p.nodes());
            m.setProfiling(false);
            m.run(in);
            assertEquals(0, m.profile().runs(), "switching resets the counters");
        }
    }
}
