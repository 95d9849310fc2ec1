package dev.kiln.cli;

import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static dev.kiln.cli.KilnCliTest.assertUserError;
import static dev.kiln.cli.KilnCliTest.kiln;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln optimize}: the optimised IR runs with {@code kiln run} and gives the model's numbers. */
class OptimizeCommandTest {
    @TempDir
    Path dir;

    @Test
    void optimisedIrRunsAndMatchesTheGolden() throws Exception {
        Path m = Fixtures.dir("squeezenet1_1");
        Path ir = dir.resolve("squeezenet.ir");
        KilnCliTest.Result r = kiln("optimize", m.resolve("model.onnx").toString(), "--opt-level", "3", "--layout", "NCHW8c",
                "--output", ir.toString(), "--dump-ir", dir.resolve("dump").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("optimised at level 3 in "), r.out());
        assertTrue(r.out().contains("83 nodes -> 41 nodes"), r.out());
        assertTrue(r.out().contains("memory plan of"), r.out());
        assertTrue(Files.isRegularFile(dir.resolve("squeezenet.ir.weights")));
        List<String> dumps;
        try (Stream<Path> s = Files.list(dir.resolve("dump"))) {
            dumps = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertEquals("01-infer-shapes.ir", dumps.get(0));
        assertEquals("18-plan-memory.ir", dumps.get(dumps.size() - 1));

        KilnCliTest.Result run = kiln("run", ir.toString(), "--input", "input0=" + m.resolve("input0.npy"), "--output-dir", dir.toString());
        assertEquals(0, run.code(), run.err());
        float[] got = Npy.read(dir.resolve("output0.npy")).toFloatArray();
        float[] want = Npy.read(m.resolve("output0.npy")).toFloatArray();
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
            maxRef = Math.max(maxRef, Math.abs(want[i]));
        }
        assertTrue(maxDiff / maxRef <= 1e-4, "relative difference " + maxDiff / maxRef);
    }

    @Test
    void int8FromCalibrationFoldersKeepsTheLogits() throws Exception {
        Path m = Fixtures.dir("squeezenet1_1");
        Tensor golden = Npy.read(m.resolve("input0.npy"));
        java.util.Random random = new java.util.Random(7);
        for (int sample = 0; sample < 3; sample++) {
            Tensor t = Tensor.allocate(golden.dtype(), golden.shape());
            for (int i = 0; i < t.size(); i++) t.setDouble(i, golden.getDouble(i) + 0.1 * random.nextGaussian());
            Files.createDirectories(dir.resolve("calib/s" + sample));
            Npy.write(dir.resolve("calib/s" + sample + "/input0.npy"), t);
        }
        Path ir = dir.resolve("q.ir");
        KilnCliTest.Result r = kiln("optimize", m.resolve("model.onnx").toString(), "--opt-level", "3", "--dtype", "int8",
                "--calibration", dir.resolve("calib").toString(), "--output", ir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.readString(ir).contains("QLinearConv("), "integer convolutions expected");
        KilnCliTest.Result run = kiln("run", ir.toString(), "--input", "input0=" + m.resolve("input0.npy"), "--output-dir", dir.toString());
        assertEquals(0, run.code(), run.err());
        float[] got = Npy.read(dir.resolve("output0.npy")).toFloatArray();
        float[] want = Npy.read(m.resolve("output0.npy")).toFloatArray();
        double dot = 0;
        double gg = 0;
        double ww = 0;
        for (int i = 0; i < want.length; i++) {
            dot += (double) got[i] * want[i];
            gg += (double) got[i] * got[i];
            ww += (double) want[i] * want[i];
        }
        assertTrue(dot / Math.sqrt(gg * ww) >= 0.99, "cosine " + dot / Math.sqrt(gg * ww));
    }

    @Test
    void mistakesAreClearErrors() {
        String model = Fixtures.dir("squeezenet1_1").resolve("model.onnx").toString();
        String out = dir.resolve("o.ir").toString();
        assertUserError(kiln("optimize", model, "--opt-level", "4", "--output", out), "--opt-level must be 0 to 3, got 4");
        assertUserError(kiln("optimize", model, "--output", out, "--layout", "NWHC"), "--layout must be NCHW, NHWC or a blocked");
        assertUserError(kiln("optimize", model, "--output", out, "--dtype", "int8"), "--dtype int8 needs --calibration DIR");
        assertUserError(kiln("optimize", model, "--opt-level", "3"), "kiln optimize needs --output OUT.ir");
    }
}
