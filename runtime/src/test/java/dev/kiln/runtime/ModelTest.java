package dev.kiln.runtime;

import dev.kiln.ir.DType;
import dev.kiln.runtime.artifact.ArtifactException;
import dev.kiln.runtime.artifact.ArtifactWriter;
import dev.kiln.runtime.artifact.Manifest;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Model's refusals that need no compiler (the compile-and-run path is tested with the backends). */
class ModelTest {
    @TempDir
    Path dir;

    /** An artifact whose library is not a real one: Model must refuse it before loading. */
    private Path artifact(String target, Map<String, Object> platform) throws Exception {
        Path content = Files.createDirectories(dir.resolve("content-" + target));
        Files.write(content.resolve("model.so"), new byte[] {0x7f, 'E', 'L', 'F'});
        Files.write(content.resolve("weights.bin"), new byte[16]);
        Manifest m = new Manifest("0.1.0", "tiny", "onnx", new Manifest.Target(target, platform),
                Map.of(), List.of(new Manifest.TensorSpec("x", DType.F32, List.of(1L, 4L), "")),
                List.of(new Manifest.TensorSpec("y", DType.F32, List.of(1L, 4L), "")),
                Map.of("library", "model.so", "weights", "weights.bin"), List.of());
        return ArtifactWriter.write(content, m, dir.resolve("out")).artifact();
    }

    @Test
    void refusesAnArtifactNeedingCpuFeaturesThisMachineLacks() throws Exception {
        Assumptions.assumeTrue(System.getProperty("os.name").startsWith("Linux") && System.getProperty("os.arch").equals("amd64")
                && Files.isReadable(Path.of("/proc/cpuinfo")), "the CPU feature check reads /proc/cpuinfo on x86_64");
        Path artifact = artifact("future_cpu", Map.of("os", "LINUX", "arch", "X86_64", "features", List.of("sse2", "no_such_feature")));
        ArtifactException e = assertThrows(ArtifactException.class, () -> Model.load(artifact));
        assertEquals("artifact " + artifact + " is compiled for target future_cpu, which needs CPU features [no_such_feature] that this machine lacks",
                e.getMessage());
    }

    @Test
    void refusesAnArtifactForAnotherArchitecture() throws Exception {
        String otherArch = System.getProperty("os.arch").equals("aarch64") ? "X86_64" : "ARM64";
        Path artifact = artifact("jetson_nano", Map.of("os", "LINUX", "arch", otherArch));

        ArtifactException e = assertThrows(ArtifactException.class, () -> Model.load(artifact));
        assertTrue(e.getMessage().startsWith("artifact " + artifact + " is compiled for target jetson_nano (LINUX " + otherArch
                + ") and does not run on this machine"), e.getMessage());
    }
}
