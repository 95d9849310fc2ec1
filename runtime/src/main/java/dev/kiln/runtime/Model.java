package dev.kiln.runtime;

import dev.kiln.runtime.artifact.ArtifactException;
import dev.kiln.runtime.artifact.ArtifactReader;
import dev.kiln.runtime.artifact.Manifest;
import dev.kiln.runtime.nativelib.NativeModel;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A compiled artifact ({@code <model>-<target>.tar.gz}) loaded for inference:
 * <pre>{@code
 * try (Model m = Model.load(Path.of("squeezenet-ml_c5.tar.gz"))) {
 *     Map<String, Tensor> out = m.run(Map.of("input", image));
 * }
 * }</pre>
 * Loading extracts into a private temporary directory, verifies every file against the manifest (a
 * tampered artifact is refused), refuses a target that does not run on this machine and loads the native
 * library. Closing unloads it and deletes the directory.
 */
public final class Model implements Closeable {
    private final Path directory;
    private final Manifest manifest;
    private final String digest;
    private final NativeModel nativeModel;

    private Model(Path directory, Manifest manifest, String digest, NativeModel nativeModel) {
        this.directory = directory;
        this.manifest = manifest;
        this.digest = digest;
        this.nativeModel = nativeModel;
    }

    /** Loads an artifact to run on every core; see {@link #load(Path, int)}. */
    public static Model load(Path artifact) throws IOException {
        return load(artifact, NativeModel.defaultThreads());
    }

    /**
     * Loads an artifact whose inferences run on {@code threads} threads (the native library's pool, created
     * here); {@link ArtifactException} when it is damaged, tampered with or built for another machine.
     */
    public static Model load(Path artifact, int threads) throws IOException {
        Path dir = Files.createTempDirectory("kiln-model-");
        try {
            ArtifactReader.Artifact a = ArtifactReader.extract(artifact, dir.resolve("artifact"));
            checkRunsHere(artifact, a.manifest());
            NativeModel nm = NativeModel.load(a.component("library"), a.component("weights"), threads);
            return new Model(dir, a.manifest(), a.digest(), nm);
        } catch (IOException | RuntimeException e) {
            deleteTree(dir);
            throw e;
        }
    }

    private static void checkRunsHere(Path artifact, Manifest m) throws ArtifactException {
        Object os = m.target().platform().get("os");
        Object arch = m.target().platform().get("arch");
        String hostOs = System.getProperty("os.name").startsWith("Linux") ? "LINUX" : System.getProperty("os.name");
        String hostArch = switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "X86_64";
            case "aarch64" -> "ARM64";
            default -> System.getProperty("os.arch");
        };
        if (!hostOs.equals(os) || !hostArch.equals(arch)) {
            throw new ArtifactException("artifact " + artifact + " is compiled for target " + m.target().name() + " (" + os + " " + arch
                    + ") and does not run on this machine (" + hostOs + " " + hostArch + ")");
        }
        if (m.target().platform().get("features") instanceof List<?> features && hostArch.equals("X86_64")) {
            Set<String> host = hostCpuFlags();
            if (host.isEmpty()) return;
            List<String> lacking = features.stream().map(String::valueOf).filter(f -> !host.contains(canonicalFeature(f))).toList();
            if (!lacking.isEmpty()) {
                // Loading would end the process with an illegal instruction instead of an error.
                throw new ArtifactException("artifact " + artifact + " is compiled for target " + m.target().name()
                        + ", which needs CPU features " + lacking + " that this machine lacks");
            }
        }
    }

    /**
     * The CPU features /proc/cpuinfo lists, spelled as compilers spell them less dots and underscores
     * ({@code sse42}, {@code avx512f}); empty where it cannot be read.
     */
    public static Set<String> hostCpuFlags() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.filter(l -> l.startsWith("flags")).findFirst()
                    .map(l -> Arrays.stream(l.substring(l.indexOf(':') + 1).trim().split("\\s+")).map(Model::canonicalFeature).collect(Collectors.toSet()))
                    .orElse(Set.of());
        } catch (IOException | UncheckedIOException e) {
            return Set.of();
        }
    }

    /** cpuinfo writes sse4_2 and avx512_vnni where compilers write sse4.2 and avx512vnni. */
    private static String canonicalFeature(String f) {
        return f.toLowerCase(java.util.Locale.ROOT).replace(".", "").replace("_", "");
    }

    public Manifest manifest() { return manifest; }

    /** The ArtifactDigest (BLAKE2b-512 of the .tar.gz, as b2sum prints it). */
    public String digest() { return digest; }

    /** Runs one inference: every manifest input by name, exactly its dtype and shape; the outputs by manifest name. */
    public Map<String, Tensor> run(Map<String, Tensor> inputs) {
        List<Tensor> ordered = new ArrayList<>();
        for (Manifest.TensorSpec spec : manifest.inputs()) {
            Tensor t = inputs.get(spec.name());
            if (t == null) throw new IllegalArgumentException("missing input '" + spec.name() + "' (model " + manifest.model() + " takes " + names(manifest.inputs()) + ")");
            long[] shape = spec.shape().stream().mapToLong(Long::longValue).toArray();
            if (t.dtype() != spec.dtype() || !Arrays.equals(t.shape(), shape)) {
                throw new IllegalArgumentException("input '" + spec.name() + "' must be " + spec.dtype() + Arrays.toString(shape)
                        + ", got " + t.dtype() + Arrays.toString(t.shape()));
            }
            ordered.add(t);
        }
        for (String name : inputs.keySet()) {
            if (manifest.inputs().stream().noneMatch(s -> s.name().equals(name))) {
                throw new IllegalArgumentException("model " + manifest.model() + " has no input '" + name + "' (it takes " + names(manifest.inputs()) + ")");
            }
        }
        List<Tensor> results = nativeModel.run(ordered);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < manifest.outputs().size(); i++) out.put(manifest.outputs().get(i).name(), results.get(i));
        return out;
    }

    private static List<String> names(List<Manifest.TensorSpec> specs) {
        return specs.stream().map(Manifest.TensorSpec::name).toList();
    }

    @Override
    public void close() {
        nativeModel.close();
        try {
            deleteTree(directory);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + directory, e);
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
