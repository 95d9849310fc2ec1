package dev.kiln.cli;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.jobs.CompilationJobStatus;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.CreateCompilationJobRequest;
import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.DescribeCompilationJobResponse;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.ListCompilationJobsRequest;
import dev.kiln.jobs.ModelArchiveWriter;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/** {@code kiln demo}: a bundled model end to end, saying what each step did. */
final class DemoCommand {
    static final String MODEL = "squeezenet1_1";

    private DemoCommand() {}

    static int run(List<String> argv, PrintStream out) throws IOException {
        Args a = Args.parse(argv, Set.of("output-dir"), Set.of("verbose"));
        Path dir = home().resolve("testmodels").resolve(MODEL);
        Path model = dir.resolve("model.onnx");
        if (!Files.isRegularFile(model)) throw new UsageException("the bundled model " + model + " is missing; run kiln from a Kiln checkout");
        Path outDir = a.value("output-dir") != null ? Path.of(a.value("output-dir")) : Files.createTempDirectory("kiln-demo");

        long t0 = System.nanoTime();
        Graph g = ModelFiles.load(model, "{\"input0\":[1,3,224,224]}");
        long importNs = System.nanoTime() - t0;
        Map<String, Integer> ops = new TreeMap<>();
        for (Node n : g.nodes()) ops.merge(n.op(), 1, Integer::sum);
        long weightBytes = g.constants().values().stream().mapToLong(c -> c.data().remaining()).sum();
        out.printf(Locale.ROOT, "1. Imported %s (%s, ONNX from PyTorch) in %.0f ms: %d nodes %s, %.1f MB of weights.%n",
                MODEL, home().relativize(model), importNs / 1e6, g.nodes().size(), ops, weightBytes / 1e6);

        Tensor input = Npy.read(dir.resolve("input0.npy"));
        Interpreter interpreter = new Interpreter(g);
        t0 = System.nanoTime();
        Map<String, Tensor> outputs = interpreter.run(Map.of("input0", input));
        long runNs = System.nanoTime() - t0;
        Tensor logits = outputs.values().iterator().next();
        out.printf(Locale.ROOT, "2. Ran it with the reference interpreter on input0.npy %s in %.0f ms.%n",
                java.util.Arrays.toString(input.shape()), runNs / 1e6);

        Tensor golden = Npy.read(dir.resolve("output0.npy"));
        float[] y = logits.toFloatArray();
        double relative = maxDifference(y, golden.toFloatArray());
        out.printf(Locale.ROOT, "3. Compared with PyTorch's own output: max |difference| relative to max |output| %.2e -> %s.%n",
                relative, relative <= 1e-4 ? "the same numbers" : "MISMATCH");
        out.printf("   Top-5 classes: %s%n", top5(y));

        RunCommand.writeOutputs(outDir, outputs);
        out.printf("4. Wrote %s. The same with the CLI:%n   ./kiln run %s --input input0=%s --output-dir %s%n",
                outDir.resolve("output0.npy"), home().relativize(model), home().relativize(dir.resolve("input0.npy")), outDir);

        boolean compiledMatches = compileAndRun(model, input, golden, outDir, out);
        return relative <= 1e-4 && compiledMatches ? 0 : 1;
    }

    /** Step 5: the model as a compilation job for this machine, and its artifact run natively. */
    private static boolean compileAndRun(Path model, Tensor input, Tensor golden, Path outDir, PrintStream out) throws IOException {
        String target = hostDevice();
        Path archive = outDir.resolve(MODEL + ".tar.gz");
        ModelArchiveWriter.write(model, archive);
        Path dataDir = outDir.resolve("jobs");
        long t0 = System.nanoTime();
        var request = new CreateCompilationJobRequest("demo-" + MODEL.replace('_', '-'), "arn:aws:iam::000000000000:role/kiln-local",
                new InputConfig(archive.toString(), "{\"input0\":[1,3,224,224]}", "ONNX", null),
                new OutputConfig(outDir.toString(), target, null, null, null), null, new StoppingCondition(900, null, null), null, null);
        DescribeCompilationJobResponse d;
        try (CompilationJobs jobs = CompilationJobs.open(JobsConfig.at(dataDir).withWorkers(1))) {
            // The demo's own store: an earlier run's job makes way for this one.
            if (jobs.listCompilationJobs(ListCompilationJobsRequest.all()).compilationJobSummaries().stream()
                    .anyMatch(j -> j.compilationJobName().equals(request.compilationJobName()))) {
                jobs.deleteCompilationJob(request.compilationJobName());
            }
            jobs.createCompilationJob(request);
            d = jobs.awaitEnd(request.compilationJobName(), Duration.ofMinutes(15));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while compiling", e);
        }
        if (d.compilationJobStatus() != CompilationJobStatus.COMPLETED) {
            out.printf("5. The compilation job for %s ended %s: %s%n", target, d.compilationJobStatus(), d.failureReason());
            return false;
        }
        out.printf(Locale.ROOT, "5. Compiled it for %s as compilation job %s in %.1f s: %s%n   ArtifactDigest (BLAKE2b-512) %s...%n",
                target, request.compilationJobName(), (System.nanoTime() - t0) / 1e9, d.modelArtifacts().s3ModelArtifacts(),
                d.modelDigests().artifactDigest().substring(0, 32));
        Path artifact = Path.of(d.modelArtifacts().s3ModelArtifacts());
        try (Model compiled = Model.load(artifact)) {
            Tensor y = compiled.run(Map.of("input0", input)).values().iterator().next();
            double relative = maxDifference(y.toFloatArray(), golden.toFloatArray());
            out.printf(Locale.ROOT, "6. Ran the artifact natively: max |difference| from PyTorch relative to max |output| %.2e -> %s.%n"
                            + "   The same with the CLI:%n   ./kiln compile --model %s --framework ONNX --data-input-config '{\"input0\":[1,3,224,224]}' "
                            + "--target-device %s --output %s%n", relative, relative <= 1e-4 ? "the same numbers" : "MISMATCH",
                    archive, target, outDir);
            return relative <= 1e-4;
        }
    }

    private static double maxDifference(float[] y, float[] ref) {
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < y.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(y[i] - ref[i]));
            maxRef = Math.max(maxRef, Math.abs(ref[i]));
        }
        return maxDiff / maxRef;
    }

    /** A TargetDevice whose artifacts run on this machine: its architecture, and no CPU features it lacks. */
    static String hostDevice() {
        if (System.getProperty("os.arch").equals("aarch64")) return "rasp4b";
        Set<String> have = Model.hostCpuFlags();
        if (have.containsAll(List.of("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"))) return "ml_c5";
        if (have.containsAll(List.of("avx2", "fma", "f16c"))) return "ml_m4";
        return "sbe_c";
    }

    private static String top5(float[] y) {
        StringBuilder b = new StringBuilder();
        boolean[] taken = new boolean[y.length];
        for (int k = 0; k < 5 && k < y.length; k++) {
            int best = -1;
            for (int i = 0; i < y.length; i++) if (!taken[i] && (best < 0 || y[i] > y[best])) best = i;
            taken[best] = true;
            b.append(k > 0 ? ", " : "").append(String.format(Locale.ROOT, "#%d (%.3f)", best, y[best]));
        }
        return b.toString();
    }

    /** The checkout the launcher runs from (kiln.home), else the working directory. */
    static Path home() {
        return Path.of(System.getProperty("kiln.home", "")).toAbsolutePath();
    }
}
