package dev.kiln.cli;

import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Targets;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.runtime.Npy;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static dev.kiln.cli.KilnCliTest.assertUserError;
import static dev.kiln.cli.KilnCliTest.kiln;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln run ARTIFACT.tar.gz}: a compiled artifact runs natively and gives the model's numbers. */
class RunArtifactTest {
    @TempDir
    Path dir;

    @Test
    void compiledArtifactRunsAndMatchesTheGolden() throws Exception {
        Path m = Fixtures.dir("squeezenet1_1");
        Path artifact = Compiler.compile(OnnxFrontend.load(m.resolve("model.onnx"), (String) null), Targets.device("ml_c4"),
                CompilerOptions.NONE, dir, "squeezenet1_1").artifact();

        KilnCliTest.Result r = kiln("run", artifact.toString(), "--input", "input0=" + m.resolve("input0.npy"),
                "--output-dir", dir.resolve("out").toString(), "--warmup", "1", "--repeat", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("{\"median_ms\":"), r.out());
        System.out.print("kiln run squeezenet1_1-ml_c4.tar.gz --warmup 1 --repeat 3: " + r.out());
        float[] got = Npy.read(dir.resolve("out/output0.npy")).toFloatArray();
        float[] want = Npy.read(m.resolve("output0.npy")).toFloatArray();
        assertEquals(want.length, got.length);
        double maxDiff = 0;
        for (int i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
        assertTrue(maxDiff <= 1e-4, "max|diff| vs torch " + maxDiff);

        assertUserError(kiln("run", artifact.toString(), "--input", "x=" + m.resolve("input0.npy"), "--output-dir", dir.toString()),
                "the model has no input named 'x'; its inputs are [input0]");
        assertUserError(kiln("run", artifact.toString(), "--output-dir", dir.toString()),
                "missing --input input0=FILE.npy (f32[1, 3, 224, 224])");
        KilnCliTest.Result twoThreads = kiln("run", artifact.toString(), "--input", "input0=" + m.resolve("input0.npy"),
                "--output-dir", dir.resolve("out2").toString(), "--threads", "2");
        assertEquals(0, twoThreads.code(), twoThreads.err());
        assertArrayEquals(got, Npy.read(dir.resolve("out2/output0.npy")).toFloatArray(), "2 threads give other bits than all cores");
        assertUserError(kiln("run", artifact.toString(), "--input", "input0=" + m.resolve("input0.npy"), "--output-dir", dir.toString(),
                "--threads", "257"), "--threads takes at most 256 for compiled artifacts, got 257");

        byte[] bytes = Files.readAllBytes(artifact);
        Path truncated = dir.resolve("truncated-ml_c4.tar.gz");
        Files.write(truncated, Arrays.copyOf(bytes, bytes.length / 2));
        assertUserError(kiln("run", truncated.toString(), "--input", "input0=" + m.resolve("input0.npy"), "--output-dir", dir.toString()),
                "cannot load artifact " + truncated + ": ");
    }
}
