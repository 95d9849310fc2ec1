package dev.kiln.cli;

import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.JobsJson;
import dev.kiln.jobs.ListCompilationJobsRequest;
import dev.kiln.jobs.ListCompilationJobsResponse;

import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** {@code kiln jobs list|describe|stop|delete|logs} (and {@code kiln logs NAME}) on a data directory's store. */
final class JobsCommand {
    private JobsCommand() {}

    static int run(List<String> argv, PrintStream out) {
        if (argv.isEmpty()) throw new UsageException("kiln jobs needs one of: list, describe, stop, delete, logs");
        String action = argv.get(0);
        Set<String> options = new HashSet<>(STORE_OPTIONS);
        options.addAll(Set.of("name-contains", "status", "sort-by", "sort-order", "max-results"));
        Args a = Args.parse(argv.subList(1, argv.size()), options, Set.of("verbose"));
        // This process only reads and changes the store: whichever process runs the jobs carries the changes out.
        try (CompilationJobs jobs = CompilationJobs.open(config(a).withWorkers(0))) {
            if (action.equals("list")) {
                if (!a.positionals().isEmpty()) throw new UsageException("kiln jobs list takes no job name");
                out.println(JobsJson.writePretty(Map.of("CompilationJobSummaries", listAll(jobs, a))));
                return 0;
            }
            String name = name(a, action);
            switch (action) {
                case "describe" -> out.println(JobsJson.writePretty(jobs.describeCompilationJob(name)));
                case "stop" -> jobs.stopCompilationJob(name);
                case "delete" -> jobs.deleteCompilationJob(name);
                case "logs" -> jobs.logs(name).forEach(out::println);
                default -> throw new UsageException("unknown jobs action '" + action + "'; actions: list, describe, stop, delete, logs");
            }
            return 0;
        }
    }

    /** Every page of the listing the options describe. */
    private static List<ListCompilationJobsResponse.CompilationJobSummary> listAll(CompilationJobs jobs, Args a) {
        List<ListCompilationJobsResponse.CompilationJobSummary> all = new ArrayList<>();
        Integer maxResults = a.value("max-results") == null ? null : a.intValue("max-results", 10, 1);
        String token = null;
        do {
            var page = jobs.listCompilationJobs(new ListCompilationJobsRequest(null, null, null, null, maxResults == null ? 100 : maxResults,
                    a.value("name-contains"), token, a.value("sort-by"), a.value("sort-order"), a.value("status")));
            all.addAll(page.compilationJobSummaries());
            token = page.nextToken();
        } while (token != null && (maxResults == null || all.size() < maxResults));
        return all;
    }

    private static String name(Args a, String action) {
        if (a.positionals().size() != 1) throw new UsageException("kiln jobs " + action + " takes one job name");
        return a.positionals().get(0);
    }

    /** The options every job command takes: where the store is, the region of its ARNs, which S3 it reaches. */
    static final Set<String> STORE_OPTIONS = Set.of("data-dir", "region", "s3-endpoint", "s3-region");

    /** The jobs configuration the store options describe. */
    static JobsConfig config(Args a) {
        JobsConfig config = JobsConfig.at(dataDir(a));
        if (a.value("region") != null) config = config.withRegion(a.value("region"));
        if (a.value("s3-endpoint") != null) {
            URI endpoint = URI.create(a.value("s3-endpoint"));
            if (endpoint.getHost() == null) throw new UsageException("--s3-endpoint must be a URL such as http://127.0.0.1:9000, got '" + endpoint + "'");
            config = config.withS3(new JobsConfig.S3Access(Optional.of(endpoint),
                    a.value("s3-region") != null ? a.value("s3-region") : "us-east-1", Optional.empty(), Optional.empty()));
        }
        return config;
    }

    /** --data-dir, or ~/.kiln. */
    static Path dataDir(Args a) {
        String dir = a.value("data-dir");
        return dir != null ? Path.of(dir) : Path.of(System.getProperty("user.home"), ".kiln");
    }
}
