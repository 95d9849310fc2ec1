package dev.kiln.benchmarks;

import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatFactory;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * Runs the latency benchmarks on the fixture and zoo models present (the largest are made on demand) and, when
 * resnet18 is there, the compile-time benchmark, and prints the Kiln/ONNX Runtime table with each thread count's
 * geometric mean. Each model is compiled once per run, by the first fork that needs it, into
 * {@code <results>/artifacts}.
 * <p>
 * The machine's speed drifts over minutes, so Kiln and ONNX Runtime are compared in pairs run back to back:
 * for each (model, threads), one JMH run of kilnNative, then one of onnxRuntime. This is repeated for the
 * number of rounds in the system property {@code kiln.bench.rounds} (default 3), which of the two goes first
 * alternating from round to round. The interpreter and compile-time benchmarks run once.
 * <p>
 * JMH command-line options (-wi, -i, -w, -r, -f, -p ...) are passed through; -p model and -p threads limit
 * the pairs to those values. Options not given default to settings for a small machine: one fork, 3 warmup
 * and 5 measured iterations of 1 s. JMH's JSON results go into the folder named by the system property
 * {@code kiln.bench.results} (default {@code results}): latency.json holds every latency run in the order
 * run (the pairs round by round, then the interpreter), compile.json the compile-time run.
 */
public final class BenchmarkMain {
    private static final String LATENCY = LatencyBenchmark.class.getName();

    /** This run's compiled artifacts, shared by its forks. */
    private static Path artifacts;

    private BenchmarkMain() {}

    public static void main(String[] args) throws RunnerException, CommandLineOptionException, IOException {
        CommandLineOptions cli = new CommandLineOptions(args);
        Path results = Path.of(System.getProperty("kiln.bench.results", "results"));
        Files.createDirectories(results);
        artifacts = results.resolve("artifacts").toAbsolutePath();
        deleteTree(artifacts);
        int rounds = Integer.getInteger("kiln.bench.rounds", 3);
        Collection<String> models = cli.getParameter("model").orElse(BenchModels.presentModels());
        Collection<String> threadCounts = cli.getParameter("threads").orElse(defaultThreadCounts());

        List<PairedRun> pairs = new ArrayList<>();
        List<RunResult> latencyRuns = new ArrayList<>();
        for (int round = 0; round < rounds; round++) {
            boolean kilnFirst = round % 2 == 0;
            for (String model : models) {
                for (String threads : threadCounts) {
                    RunResult kiln;
                    RunResult ort;
                    if (kilnFirst) {
                        kiln = paired(cli, "kilnNative", model, threads);
                        ort = paired(cli, "onnxRuntime", model, threads);
                    } else {
                        ort = paired(cli, "onnxRuntime", model, threads);
                        kiln = paired(cli, "kilnNative", model, threads);
                    }
                    latencyRuns.addAll(kilnFirst ? List.of(kiln, ort) : List.of(ort, kiln));
                    pairs.add(new PairedRun(model, Integer.parseInt(threads), kiln, ort));
                }
            }
        }
        Collection<RunResult> once = new ArrayList<>(new Runner(withDefaults(cli).include(LATENCY + ".kilnInterpreter$").build()).run());
        latencyRuns.addAll(once);
        writeJson(results.resolve("latency.json"), latencyRuns);

        if (BenchModels.presentModels().contains("resnet18")) {
            Collection<RunResult> compile = new Runner(new OptionsBuilder().parent(cli)
                    .include(CompileBenchmark.class.getName())
                    .param("model", "resnet18")
                    .forks(cli.getForkCount().orElse(1))
                    .warmupIterations(1).measurementIterations(3)
                    .build()).run();
            writeJson(results.resolve("compile.json"), compile);
            once.addAll(compile);
        }
        System.out.println();
        System.out.print(Report.table(pairs, once));
    }

    /** One JMH run of a Kiln or ONNX Runtime latency benchmark on one model and thread count. */
    private static RunResult paired(CommandLineOptions cli, String method, String model, String threads) throws RunnerException {
        return new Runner(withDefaults(cli).include(LATENCY + "." + method + "$")
                .param("model", model).param("threads", threads).build()).runSingle();
    }

    /** The command-line options, with small-machine defaults for those not given. */
    private static ChainedOptionsBuilder withDefaults(CommandLineOptions cli) {
        return new OptionsBuilder().parent(cli)
                .forks(cli.getForkCount().orElse(1))
                .warmupIterations(cli.getWarmupIterations().orElse(3))
                .measurementIterations(cli.getMeasurementIterations().orElse(5))
                .warmupTime(cli.getWarmupTime().orElse(TimeValue.seconds(1)))
                .measurementTime(cli.getMeasurementTime().orElse(TimeValue.seconds(1)))
                .jvmArgsAppend("-D" + BenchModels.ARTIFACTS + "=" + artifacts);
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /** The thread counts LatencyBenchmark declares, so they are listed in one place. */
    private static List<String> defaultThreadCounts() {
        try {
            return List.of(LatencyBenchmark.KilnNative.class.getField("threads").getAnnotation(Param.class).value());
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void writeJson(Path file, Collection<RunResult> runs) {
        ResultFormatFactory.getInstance(ResultFormatType.JSON, file.toString()).writeOut(runs);
    }
}
