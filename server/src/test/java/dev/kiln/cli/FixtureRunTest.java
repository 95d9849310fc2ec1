package dev.kiln.cli;

import dev.kiln.runtime.Npy;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln run} and {@code kiln demo} on the fixture models give torch's numbers. */
class FixtureRunTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @FieldSource("dev.kiln.testmodels.Fixtures#MODELS")
    void kilnRunMatchesTheGolden(String model) throws Exception {
        Assumptions.assumeTrue(Fixtures.isPresent(model), model + " is made on demand: " + Fixtures.makeCommand(model));
        Path m = Fixtures.dir(model);
        KilnCliTest.Result r = KilnCliTest.kiln("run", m.resolve("model.onnx").toString(),
                "--input", "input0=" + m.resolve("input0.npy"), "--output-dir", dir.toString());
        assertEquals(0, r.code(), r.err());
        float[] got = Npy.read(dir.resolve("output0.npy")).toFloatArray();
        float[] want = Npy.read(m.resolve("output0.npy")).toFloatArray();
        assertEquals(want.length, got.length);
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
            maxRef = Math.max(maxRef, Math.abs(want[i]));
        }
        assertTrue(maxDiff / maxRef <= 1e-4, model + ": relative difference " + maxDiff / maxRef);
    }

    @Test
    void demoSaysWhatItDid() {
        String home = System.getProperty("kiln.home");
        System.setProperty("kiln.home", Fixtures.root().getParent().toString());
        try {
            KilnCliTest.Result r = KilnCliTest.kiln("demo", "--output-dir", dir.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().contains("1. Imported squeezenet1_1"), r.out());
            assertTrue(r.out().contains("-> the same numbers."), r.out());
            assertTrue(r.out().contains("./kiln run testmodels/squeezenet1_1/model.onnx --input input0=testmodels/squeezenet1_1/input0.npy"), r.out());
        } finally {
            if (home == null) System.clearProperty("kiln.home");
            else System.setProperty("kiln.home", home);
        }
    }
}
