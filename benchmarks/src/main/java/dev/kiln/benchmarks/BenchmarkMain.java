package dev.kiln.benchmarks;

import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.CommandLineOptionException;
import org.openjdk.jmh.runner.options.CommandLineOptions;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * Runs the latency benchmarks on the fixture models present (resnet18 is made on demand) and, when resnet18
 * is there, the compile-time benchmark; writes JMH's JSON results into the folder named by the system property
 * {@code kiln.bench.results} (default {@code results}) and prints the
 * Kiln/ONNX Runtime table. JMH command-line options (-wi, -i, -w, -r, -f, -p ...) are passed through; those
 * not given default to settings for a small machine: one fork, 3 warmup and 5 measured iterations of 1 s.
 */
public final class BenchmarkMain {
    private BenchmarkMain() {}

    public static void main(String[] args) throws RunnerException, CommandLineOptionException, IOException {
        CommandLineOptions cli = new CommandLineOptions(args);
        Path results = Path.of(System.getProperty("kiln.bench.results", "results"));
        Files.createDirectories(results);

        List<String> models = BenchModels.presentModels();
        ChainedOptionsBuilder latency = new OptionsBuilder().parent(cli)
                .include(LatencyBenchmark.class.getName())
                .forks(cli.getForkCount().orElse(1))
                .warmupIterations(cli.getWarmupIterations().orElse(3))
                .measurementIterations(cli.getMeasurementIterations().orElse(5))
                .warmupTime(cli.getWarmupTime().orElse(TimeValue.seconds(1)))
                .measurementTime(cli.getMeasurementTime().orElse(TimeValue.seconds(1)))
                .resultFormat(ResultFormatType.JSON).result(results.resolve("latency.json").toString());
        if (!cli.getParameter("model").hasValue()) latency.param("model", models.toArray(String[]::new));
        Collection<RunResult> runs = new ArrayList<>(new Runner(latency.build()).run());

        if (models.contains("resnet18")) {
            Options compile = new OptionsBuilder().parent(cli)
                    .include(CompileBenchmark.class.getName())
                    .param("model", "resnet18")
                    .forks(cli.getForkCount().orElse(1))
                    .warmupIterations(1).measurementIterations(3)
                    .resultFormat(ResultFormatType.JSON).result(results.resolve("compile.json").toString())
                    .build();
            runs.addAll(new Runner(compile).run());
        }
        System.out.println();
        System.out.print(Report.table(runs));
    }
}
