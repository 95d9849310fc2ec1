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
 *
 * <p>A loop that runs a model many times allocates nothing per call when it gives the outputs to write:
 * <pre>{@code
 * Map<String, Tensor> in = Map.of("input", Tensor.allocateDirect(DType.F32, 1, 3, 224, 224));
 * Map<String, Tensor> out = m.allocateOutputs();
 * for (...) { fill(in); m.run(in, out); read(out); }
 * }</pre>
 * Tensors in direct memory (aligned to their element size, as {@link Tensor#allocateDirect} makes them) are read
 * and written in place; others are copied into or out of buffers the model made at load.
 *
 * <p>Thread safety: a Model may be shared between threads. Its runs take turns (one inference at a time, each
 * spread over the native library's own thread pool, sized at load); every load extracts its own copy of the
 * library, so separate Models of the same artifact run at the same time. The tensors of a run must not change
 * until it returns. {@link #close} waits for a run in progress and makes later runs fail.
 */
public final class Model implements Closeable {
    private final Path directory;
    private final Manifest manifest;
    private final String digest;
    private final NativeModel nativeModel;
    private final long[][] inputShapes;
    private final long[][] outputShapes;
    /** The tensors of the run in progress in the graph's order (used holding nativeModel's lock: one run at a time). */
    private final Tensor[] orderedInputs;
    private final Tensor[] orderedOutputs;
    /** The first output whose shape each run computes (dims -1 in the manifest), -1 when there is none. */
    private final int runTimeShapedOutput;

    private Model(Path directory, Manifest manifest, String digest, NativeModel nativeModel) {
        this.directory = directory;
        this.manifest = manifest;
        this.digest = digest;
        this.nativeModel = nativeModel;
        this.inputShapes = shapes(manifest.inputs());
        this.outputShapes = shapes(manifest.outputs());
        this.orderedInputs = new Tensor[inputShapes.length];
        this.orderedOutputs = new Tensor[outputShapes.length];
        int dynamic = -1;
        for (int i = outputShapes.length - 1; i >= 0; i--) {
            if (Arrays.stream(outputShapes[i]).anyMatch(d -> d < 0)) dynamic = i;
        }
        this.runTimeShapedOutput = dynamic;
    }

    private static long[][] shapes(List<Manifest.TensorSpec> specs) {
        return specs.stream().map(s -> s.shape().stream().mapToLong(Long::longValue).toArray()).toArray(long[][]::new);
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

    /** Runs one inference: every manifest input by name, exactly its dtype and shape; the outputs by manifest name (tensors of their own). */
    public Map<String, Tensor> run(Map<String, Tensor> inputs) {
        List<Tensor> results;
        synchronized (nativeModel) {
            order(inputs, manifest.inputs(), inputShapes, orderedInputs, "input");
            try {
                results = nativeModel.run(Arrays.asList(orderedInputs));
            } finally {
                Arrays.fill(orderedInputs, null);
            }
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < manifest.outputs().size(); i++) out.put(manifest.outputs().get(i).name(), results.get(i));
        return out;
    }

    /**
     * Runs one inference writing into the caller's output tensors: {@code outputs} holds a tensor for every manifest
     * output by name, exactly its dtype and shape (as {@link #allocateOutputs} makes them), writable. A model with an
     * output whose shape each run computes (dims -1 in the manifest) is refused: use {@link #run(Map)}. Outputs must
     * not share memory with each other; one may share memory with an input.
     */
    public void run(Map<String, Tensor> inputs, Map<String, Tensor> outputs) {
        synchronized (nativeModel) {
            try {
                requireStaticOutputs();
                order(inputs, manifest.inputs(), inputShapes, orderedInputs, "input");
                order(outputs, manifest.outputs(), outputShapes, orderedOutputs, "output");
                nativeModel.run(orderedInputs, orderedOutputs);
            } finally {
                Arrays.fill(orderedInputs, null);
                Arrays.fill(orderedOutputs, null);
            }
        }
    }

    /**
     * A tensor in direct memory for every output, by manifest name, for {@link #run(Map, Map)} to write in place.
     * Refused for a model with an output whose shape each run computes.
     */
    public Map<String, Tensor> allocateOutputs() {
        requireStaticOutputs();
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < outputShapes.length; i++) out.put(manifest.outputs().get(i).name(), Tensor.allocateDirect(manifest.outputs().get(i).dtype(), outputShapes[i]));
        return out;
    }

    /** Puts each spec's tensor of {@code given} at its index of {@code ordered}, checking names, dtypes and shapes. */
    private void order(Map<String, Tensor> given, List<Manifest.TensorSpec> specs, long[][] shapes, Tensor[] ordered, String kind) {
        for (int i = 0; i < ordered.length; i++) {
            Manifest.TensorSpec spec = specs.get(i);
            Tensor t = given.get(spec.name());
            if (t == null) throw new IllegalArgumentException("missing " + kind + " '" + spec.name() + "' (model " + manifest.model() + " " + verb(kind) + " " + names(specs) + ")");
            if (!t.hasType(spec.dtype(), shapes[i])) {
                throw new IllegalArgumentException(kind + " '" + spec.name() + "' must be " + spec.dtype() + Arrays.toString(shapes[i])
                        + ", got " + t.dtype() + Arrays.toString(t.shape()));
            }
            ordered[i] = t;
        }
        if (given.size() != ordered.length) {
            for (String name : given.keySet()) {
                if (specs.stream().noneMatch(s -> s.name().equals(name))) {
                    throw new IllegalArgumentException("model " + manifest.model() + " has no " + kind + " '" + name + "' (it " + verb(kind) + " " + names(specs) + ")");
                }
            }
        }
    }

    private static String verb(String kind) { return kind.equals("input") ? "takes" : "gives"; }

    private void requireStaticOutputs() {
        if (runTimeShapedOutput < 0) return;
        Manifest.TensorSpec spec = manifest.outputs().get(runTimeShapedOutput);
        throw new IllegalArgumentException("output '" + spec.name() + "' of model " + manifest.model() + " has a shape each run computes "
                + spec.shape() + ", so there is no tensor to give for it beforehand: run(inputs) returns it");
    }

    /**
     * Switches the per-node profile on (counters from zero; every later run adds each node's time, counted in the
     * native code) or off. Off, it costs nothing measurable. Fails for an artifact compiled before the profile existed.
     */
    public void setProfiling(boolean on) { nativeModel.setProfiling(on); }

    /** The time of each node of the compiled graph over the runs since profiling was switched on. */
    public Profile profile() { return nativeModel.profile(); }

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
