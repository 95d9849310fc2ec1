package dev.kiln.cli;

import dev.kiln.jobs.CompilationJobStatus;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.CreateCompilationJobRequest;
import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.CreateCompilationJobRequest.TargetPlatform;
import dev.kiln.jobs.DescribeCompilationJobResponse;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.JobsJson;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.stream.Stream;

/**
 * {@code kiln compile}: one compilation job, run in this process against a data directory's store, as
 * CreateCompilationJob would run it; prints DescribeCompilationJob's JSON when it ends.
 */
final class CompileCommand {
    private static final int DEFAULT_MAX_RUNTIME_SECONDS = 900;

    private CompileCommand() {}

    static int run(List<String> argv, PrintStream out, PrintStream err) throws InterruptedException, IOException {
        Set<String> options = new HashSet<>(JobsCommand.STORE_OPTIONS);
        options.addAll(Set.of("model", "framework", "framework-version", "data-input-config", "target-device",
                "target-platform", "compiler-options", "output", "name", "max-runtime-seconds", "kms-key-id"));
        Args a = Args.parse(argv, options, Set.of("verbose"));
        String model = required(a, "model"), framework = required(a, "framework"), output = required(a, "output");
        if (!a.positionals().isEmpty()) throw new UsageException("unexpected argument '" + a.positionals().get(0) + "'");
        TargetPlatform platform = a.value("target-platform") == null ? null
                : JobsJson.read(a.value("target-platform"), TargetPlatform.class);
        int maxRuntime = a.intValue("max-runtime-seconds", DEFAULT_MAX_RUNTIME_SECONDS, 1);
        JobsConfig config = JobsCommand.config(a).withWorkers(1);
        String name = a.value("name") != null ? a.value("name") : defaultName(model);
        // a bare model file or directory is packed as a job's model archive, beside the job's data
        Path bare = ModelPacking.bareModel(model);
        Path packed = bare == null ? null : config.dataDir().resolve("packed").resolve(name);
        String location = bare == null ? model : ModelPacking.pack(bare, packed).toString();
        var request = new CreateCompilationJobRequest(name, "arn:aws:iam::" + config.account() + ":role/kiln-local",
                new InputConfig(location, a.value("data-input-config"), framework, a.value("framework-version")),
                new OutputConfig(output, a.value("target-device"), platform, a.value("compiler-options"), a.value("kms-key-id")),
                null, new StoppingCondition(maxRuntime, null, null), null, null);
        try (CompilationJobs jobs = CompilationJobs.open(config)) {
            jobs.createCompilationJob(request);
            if (!jobs.runsJobs()) err.println("kiln: another Kiln process runs the jobs of " + config.dataDir() + "; " + name + " is queued there");
            // Ctrl-C stops the compile; the job ends FAILED saying so rather than being left INPROGRESS.
            Thread hook = new Thread(jobs::close);
            Runtime.getRuntime().addShutdownHook(hook);
            DescribeCompilationJobResponse d = jobs.awaitEnd(name, Duration.ofSeconds(maxRuntime).plusMinutes(1).multipliedBy(2));
            Runtime.getRuntime().removeShutdownHook(hook);
            if (packed != null && jobs.runsJobs()) deleteTree(packed);
            out.println(JobsJson.writePretty(d));
            if (d.compilationJobStatus() != CompilationJobStatus.COMPLETED && d.failureReason() != null) {
                err.println("kiln: " + name + " " + d.compilationJobStatus() + ": " + d.failureReason());
            }
            return d.compilationJobStatus() == CompilationJobStatus.COMPLETED ? 0 : 1;
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** A job name from the model's file name and the time, within the API's 63 letters, digits and hyphens. */
    static String defaultName(String model) {
        String file = model.substring(model.lastIndexOf('/') + 1).replaceFirst("(?i)\\.tar\\.gz$", "");
        String base = file.replaceAll("[^A-Za-z0-9]+", "-").replaceAll("^-+|-+$", "");
        if (base.isEmpty()) base = "model";
        String suffix = LocalDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss", Locale.ROOT))
                + "-" + String.format(Locale.ROOT, "%04x", ThreadLocalRandom.current().nextInt(1 << 16));
        int room = 63 - suffix.length() - 1;
        return (base.length() > room ? base.substring(0, room).replaceAll("-+$", "") : base) + "-" + suffix;
    }

    private static String required(Args a, String option) {
        String v = a.value(option);
        if (v == null) throw new UsageException("--" + option + " is required; " + "see kiln --help");
        return v;
    }
}
