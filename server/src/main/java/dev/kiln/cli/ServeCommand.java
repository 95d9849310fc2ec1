package dev.kiln.cli;

import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.server.AccessKeys;
import dev.kiln.server.SageMakerEndpoint;

import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * {@code kiln serve}: the SageMaker-compatible endpoint on a data directory, until the process is told to
 * stop (SIGTERM or Ctrl-C), when it shuts down gracefully.
 */
final class ServeCommand {
    private ServeCommand() {}

    static int run(List<String> argv, PrintStream err) throws IOException, InterruptedException {
        Set<String> options = new HashSet<>(JobsCommand.STORE_OPTIONS);
        options.addAll(Set.of("port", "host", "workers", "queue-limit"));
        Args a = Args.parse(argv, options, Set.of("verbose"));
        if (!a.positionals().isEmpty()) throw new UsageException("unexpected argument '" + a.positionals().get(0) + "'");
        if (a.value("port") == null) throw new UsageException("--port is required (0 picks a free port)");
        int port = a.intValue("port", 0, 0);
        if (port > 65535) throw new UsageException("--port must be at most 65535, got " + port);
        Path dataDir = JobsCommand.dataDir(a);
        JobsConfig config = JobsCommand.config(a);
        config = config.withWorkers(a.intValue("workers", config.workers(), 1)).withQueueLimit(a.intValue("queue-limit", config.queueLimit(), 1));
        String host = a.value("host") != null ? a.value("host") : "127.0.0.1";
        CompilationJobs jobs = CompilationJobs.open(config);
        if (!jobs.runsJobs()) {
            jobs.close();
            throw new UsageException("another Kiln process already runs the jobs of " + dataDir + " (it holds "
                    + dataDir.resolve("runner.lock") + "); stop it or serve another --data-dir");
        }
        SageMakerEndpoint endpoint = SageMakerEndpoint.start(jobs, AccessKeys.open(dataDir), new InetSocketAddress(host, port),
                dataDir.resolve("access.log"));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            err.println("kiln serve: shutting down");
            endpoint.close();
            stopped.countDown();
        }, "kiln-serve-shutdown"));
        err.printf("kiln serve: SageMaker compilation jobs on http://%s:%d (data %s, %d workers); e.g. "
                        + "aws sagemaker list-compilation-jobs --endpoint-url http://%s:%d%n", host, endpoint.port(),
                dataDir.toAbsolutePath(), config.workers(), host, endpoint.port());
        stopped.await();
        return 0;
    }
}
