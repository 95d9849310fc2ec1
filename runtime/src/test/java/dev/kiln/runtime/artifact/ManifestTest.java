package dev.kiln.runtime.artifact;

import dev.kiln.ir.DType;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ManifestTest {
    private static final String DIGEST_A = "a".repeat(128);
    private static final String DIGEST_B = "0123456789abcdef".repeat(8);

    private static Manifest sample() {
        return ArtifactFixtures.manifest().withFiles(List.of(
                new Manifest.FileEntry("weights.bin", 100_000, DIGEST_B),
                new Manifest.FileEntry("model.ir", 12, DIGEST_A),
                new Manifest.FileEntry("libmodel.so", 28, DIGEST_A)));
    }

    @Test
    void canonicalJson() {
        assertEquals("""
                {
                  "compiler_options": {
                    "dtype": "fp32",
                    "opt_level": 3
                  },
                  "components": {
                    "ir": "model.ir",
                    "library": "libmodel.so",
                    "weights": "weights.bin"
                  },
                  "files": [
                    {
                      "blake2b": "%1$s",
                      "name": "libmodel.so",
                      "size": 28
                    },
                    {
                      "blake2b": "%1$s",
                      "name": "model.ir",
                      "size": 12
                    },
                    {
                      "blake2b": "%2$s",
                      "name": "weights.bin",
                      "size": 100000
                    }
                  ],
                  "format": 1,
                  "framework": "ONNX",
                  "inputs": [
                    {
                      "dtype": "f32",
                      "layout": "NCHW",
                      "name": "data",
                      "shape": [1, 3, 224, 224]
                    }
                  ],
                  "kiln_version": "0.1.0",
                  "model": "squeezenet",
                  "outputs": [
                    {
                      "dtype": "f32",
                      "layout": "",
                      "name": "prob",
                      "shape": [1, 1000]
                    }
                  ],
                  "target": {
                    "name": "ml_c5",
                    "platform": {
                      "arch": "X86_64",
                      "features": ["avx2", "avx512f", "fma"],
                      "os": "LINUX",
                      "toolchain": "x86_64-linux-gnu"
                    }
                  }
                }
                """.formatted(DIGEST_A, DIGEST_B), new String(sample().toJson(), StandardCharsets.UTF_8));
    }

    @Test
    void sameManifestSameBytesWhateverTheMapOrder() throws Exception {
        Manifest a = sample();
        Map<String, Object> platform = new LinkedHashMap<>();
        platform.put("toolchain", "x86_64-linux-gnu");
        platform.put("os", "LINUX");
        platform.put("features", List.of("avx2", "avx512f", "fma"));
        platform.put("arch", "X86_64");
        Map<String, Object> options = new LinkedHashMap<>();
        options.put("dtype", "fp32");
        options.put("opt_level", 3L);
        Manifest b = new Manifest(a.kilnVersion(), a.model(), a.framework(), new Manifest.Target("ml_c5", platform), options,
                a.inputs(), a.outputs(), a.components(), List.of(a.files().get(2), a.files().get(0), a.files().get(1)));
        assertEquals(a, b);
        assertArrayEquals(a.toJson(), b.toJson());
        assertEquals(a, Manifest.parse(a.toJson()));
        assertArrayEquals(a.toJson(), Manifest.parse(a.toJson()).toJson());
    }

    @Test
    void componentsNameFiles() {
        Manifest m = sample();
        assertEquals("weights.bin", m.component("weights").name());
        assertEquals(100_000, m.file("weights.bin").size());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> m.component("kernels"));
        assertTrue(e.getMessage().contains("'kernels'"), e.getMessage());
    }

    @Test
    void refusesBadValues() {
        Manifest m = sample();
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("../x", 1, DIGEST_A));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("/abs", 1, DIGEST_A));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("a b", 1, DIGEST_A));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("manifest.json", 1, DIGEST_A));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("x", 1, DIGEST_A.toUpperCase()));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.FileEntry("x", -1, DIGEST_A));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.TensorSpec("x", DType.F32, List.of(-2L), ""));
        assertThrows(IllegalArgumentException.class, () -> new Manifest.Target("ml c5", Map.of()));
        assertThrows(IllegalArgumentException.class, () -> m.withFiles(List.of(
                new Manifest.FileEntry("x", 1, DIGEST_A), new Manifest.FileEntry("x", 2, DIGEST_B))));
        assertThrows(IllegalArgumentException.class, () -> new Manifest("0.1.0", "m/../x", "ONNX", m.target(), Map.of(),
                List.of(), List.of(), Map.of(), List.of()));
        assertThrows(IllegalArgumentException.class, () -> new Manifest("0.1.0", "m", "ONNX", m.target(), Map.of("f", 1.5),
                List.of(), List.of(), Map.of(), List.of()));
    }

    @Test
    void parseRefusesSchemaViolations() {
        String json = new String(sample().toJson(), StandardCharsets.UTF_8);
        String[][] cases = {
                {json.replace("\"format\": 1", "\"format\": 2"), "manifest format 2 is not supported"},
                {json.replace("\"framework\": \"ONNX\",", "\"framework\": \"ONNX\", \"extra\": 1,"), "unknown key \"extra\""},
                {json.replace("\"kiln_version\": \"0.1.0\",", ""), "lacks the key \"kiln_version\""},
                {json.replace("\"size\": 12", "\"size\": \"12\""), "manifest.files[1].size is not an integer"},
                {json.replace("\"dtype\": \"f32\"", "\"dtype\": \"f33\""), "unknown dtype 'f33'"},
                {json.replace("\"ir\": \"model.ir\"", "\"ir\": \"model.txt\""), "component 'ir' names 'model.txt'"},
                {json.replace("\"name\": \"model.ir\"", "\"name\": \"../model.ir\""), "unsafe file name '../model.ir'"},
                {json.replace("[1, 1000]", "[1, \"N\"]"), "shape holds a non-integer N"},
                {json.substring(0, json.length() - 3), "unexpected end of JSON"},
        };
        for (String[] c : cases) {
            ArtifactException e = assertThrows(ArtifactException.class, () -> Manifest.parse(c[0].getBytes(StandardCharsets.UTF_8)), c[1]);
            assertTrue(e.getMessage().startsWith("manifest.json is invalid: ") && e.getMessage().contains(c[1]), e.getMessage());
        }
        ArtifactException e = assertThrows(ArtifactException.class, () -> Manifest.parse(new byte[] {'"', (byte) 0xff, '"'}));
        assertEquals("manifest.json is not valid UTF-8", e.getMessage());
    }
}
