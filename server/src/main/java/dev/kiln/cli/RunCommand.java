package dev.kiln.cli;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.artifact.Manifest;
import dev.kiln.runtime.nativelib.NativeModel;
import dev.kiln.runtime.interpreter.Interpreter;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;
import java.util.function.UnaryOperator;

/**
 * {@code kiln run}: runs a model (interpreted) or a compiled artifact (native) on .npy inputs, writes .npy outputs, optionally measures latency.
 * {@code --threads N} bounds the interpreter's fork-join pool, or sets the native library's thread pool (default: all cores).
 * {@code --profile} (artifacts) prints the time of each node instead of the latency ({@link RunProfile}), {@code --json} as JSON;
 * its outputs are written only when {@code --output-dir} is given.
 */
final class RunCommand {
    private RunCommand() {}

    /** Untimed and timed runs of {@code --profile} when --warmup and --repeat are not given. */
    static final int PROFILE_WARMUP = 3, PROFILE_REPEAT = 20;

    static int run(List<String> argv, PrintStream out) {
        Args a = Args.parse(argv, Set.of("input", "output-dir", "warmup", "repeat", "data-input-config", "threads"), Set.of("verbose", "profile", "json"));
        if (a.positionals().size() != 1) throw new UsageException("kiln run takes one MODEL, got " + a.positionals().size() + " (" + String.join(" ", a.positionals()) + ")");
        boolean profile = a.flag("profile");
        if (a.flag("json") && !profile) throw new UsageException("--json goes with --profile (with --repeat the latency is JSON already)");
        String outDir = a.value("output-dir");
        if (outDir == null && !profile) throw new UsageException("kiln run needs --output-dir DIR");
        int warmup = a.intValue("warmup", profile ? PROFILE_WARMUP : 0, 0);
        int repeat = a.intValue("repeat", profile ? PROFILE_REPEAT : 0, profile ? 1 : 0);
        int threads = a.intValue("threads", 0, 1);

        Path modelFile = Path.of(a.positionals().get(0));
        if (profile) {
            if (!ModelFiles.isArtifact(modelFile)) throw new UsageException("--profile times the nodes of a compiled artifact (MODEL-TARGET.tar.gz), not of " + modelFile);
            return runProfiled(modelFile, a, threads, warmup, repeat, outDir, out);
        }
        double[] millis = new double[Math.max(1, repeat)];
        Map<String, Tensor> outputs;
        if (ModelFiles.isArtifact(modelFile)) {
            if (a.value("data-input-config") != null) throw new UsageException("--data-input-config applies to model files, not to compiled artifacts, whose shapes are fixed");
            if (threads > NativeModel.MAX_THREADS) throw new UsageException("--threads takes at most " + NativeModel.MAX_THREADS + " for compiled artifacts, got " + threads);
            try (Model model = ModelFiles.loadArtifact(modelFile, threads == 0 ? NativeModel.defaultThreads() : threads)) {
                Map<String, String> expected = new LinkedHashMap<>();
                for (Manifest.TensorSpec t : model.manifest().inputs()) expected.put(t.name(), t.dtype() + t.shape().toString());
                Map<String, Tensor> inputs = readInputs(expected, a.values("input"));
                outputs = measure(model::run, inputs, warmup, millis);
            }
        } else {
            Graph graph = ModelFiles.load(modelFile, a.value("data-input-config"));
            Map<String, Tensor> inputs = readInputs(graph, a.values("input"));
            Interpreter interpreter = new Interpreter(graph);
            outputs = threads == 0 ? measure(interpreter::run, inputs, warmup, millis) : inPool(threads, () -> measure(interpreter::run, inputs, warmup, millis));
        }
        writeOutputs(Path.of(outDir), outputs);
        if (repeat > 0) out.println(latencyJson(millis));
        return 0;
    }

    private static int runProfiled(Path artifact, Args a, int threads, int warmup, int repeat, String outDir, PrintStream out) {
        if (a.value("data-input-config") != null) throw new UsageException("--data-input-config applies to model files, not to compiled artifacts, whose shapes are fixed");
        if (threads > NativeModel.MAX_THREADS) throw new UsageException("--threads takes at most " + NativeModel.MAX_THREADS + " for compiled artifacts, got " + threads);
        int poolThreads = threads == 0 ? NativeModel.defaultThreads() : threads;
        RunProfile.Result result;
        String name;
        try (Model model = ModelFiles.loadArtifact(artifact, poolThreads)) {
            name = model.manifest().model();
            Map<String, String> expected = new LinkedHashMap<>();
            for (Manifest.TensorSpec t : model.manifest().inputs()) expected.put(t.name(), t.dtype() + t.shape().toString());
            Map<String, Tensor> inputs = readInputs(expected, a.values("input"));
            result = RunProfile.measure(model, inputs, warmup, repeat);
        }
        if (outDir != null) writeOutputs(Path.of(outDir), result.outputs());
        out.print(a.flag("json") ? RunProfile.json(result, name, poolThreads) + System.lineSeparator() : RunProfile.table(result, name, poolThreads));
        return 0;
    }

    private static Map<String, Tensor> measure(UnaryOperator<Map<String, Tensor>> model, Map<String, Tensor> inputs, int warmup, double[] millis) {
        for (int i = 0; i < warmup; i++) model.apply(inputs);
        Map<String, Tensor> outputs = null;
        for (int i = 0; i < millis.length; i++) {
            long t0 = System.nanoTime();
            outputs = model.apply(inputs);
            millis[i] = (System.nanoTime() - t0) / 1e6;
        }
        return outputs;
    }

    /** The interpreter's parallel kernels use the fork-join pool they run in, so a pool of N threads bounds them. */
    private static <T> T inPool(int threads, java.util.concurrent.Callable<T> work) {
        ForkJoinPool pool = new ForkJoinPool(threads);
        try {
            return pool.submit(work).get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new UsageException("interrupted");
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            if (e.getCause() instanceof Error err) throw err;
            throw new IllegalStateException(e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    static Map<String, Tensor> readInputs(Graph graph, List<String> specs) {
        Map<String, String> expected = new LinkedHashMap<>();
        for (Value v : graph.inputs()) expected.put(v.name(), v.type().toString());
        return readInputs(expected, specs);
    }

    /** {@code expected}: each input's name and how its type reads in messages. */
    static Map<String, Tensor> readInputs(Map<String, String> expected, List<String> specs) {
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        List<String> names = List.copyOf(expected.keySet());
        for (String spec : specs) {
            int eq = splitPoint(spec);
            if (eq <= 0 || eq == spec.length() - 1) throw new UsageException("--input must be NAME=FILE.npy, got '" + spec + "'");
            String name = spec.substring(0, eq);
            Path file = Path.of(spec.substring(eq + 1));
            if (!names.contains(name)) throw new UsageException("the model has no input named '" + name + "'; its inputs are " + names);
            if (inputs.containsKey(name)) throw new UsageException("input '" + name + "' is given twice");
            if (!Files.isRegularFile(file)) throw new UsageException("input file " + file + " does not exist");
            try {
                inputs.put(name, Npy.read(file));
            } catch (IOException e) {
                throw new UsageException("input '" + name + "': " + e.getMessage(), e);
            }
        }
        for (Map.Entry<String, String> e : expected.entrySet()) {
            if (!inputs.containsKey(e.getKey())) throw new UsageException("missing --input " + e.getKey() + "=FILE.npy (" + e.getValue() + ")");
        }
        return inputs;
    }

    /** Names may contain '=': split at the first '=' after which an existing file is named, else the first. */
    private static int splitPoint(String spec) {
        for (int i = spec.indexOf('='); i >= 0; i = spec.indexOf('=', i + 1)) {
            if (Files.exists(Path.of(spec.substring(i + 1)))) return i;
        }
        return spec.indexOf('=');
    }

    static void writeOutputs(Path dir, Map<String, Tensor> outputs) {
        try {
            Files.createDirectories(dir);
            Set<String> used = new HashSet<>();
            for (Map.Entry<String, Tensor> e : outputs.entrySet()) {
                String base = safeFileName(e.getKey());
                String file = base;
                for (int k = 1; !used.add(file.toLowerCase(Locale.ROOT)); k++) file = base + "_" + k;
                Npy.write(dir.resolve(file + ".npy"), e.getValue());
            }
        } catch (IOException e) {
            throw new UsageException("cannot write outputs to " + dir + ": " + e.getMessage(), e);
        }
    }

    /** A file name made from a tensor name: separators, quotes and control characters become '_'. */
    static String safeFileName(String name) {
        String s = name.replaceAll("[^A-Za-z0-9._-]", "_");
        if (s.isEmpty() || s.chars().allMatch(c -> c == '.')) s = "_" + s;
        return s.length() > 200 ? s.substring(0, 200) : s;
    }

    static String latencyJson(double[] millis) {
        double[] sorted = millis.clone();
        Arrays.sort(sorted);
        double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        double p90 = sorted[(int) Math.min(sorted.length - 1, Math.ceil(0.9 * sorted.length) - 1)];
        return String.format(Locale.ROOT, "{\"median_ms\":%.3f,\"p90_ms\":%.3f,\"min_ms\":%.3f}", median, p90, sorted[0]);
    }
}
