package dev.kiln.jobs;

import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * How a {@link CompilationJobs} runs: where its store lives, the region and account its ARNs name, how many
 * jobs compile at once and how many may wait, what a model archive may expand to, and which S3 endpoint
 * {@code s3://} URIs reach (empty: AWS itself, with the default credential chain).
 */
public record JobsConfig(Path dataDir, String region, String account, int workers, int queueLimit,
                         long archiveMaxBytes, int archiveMaxEntries, S3Access s3) {
    /**
     * How {@code s3://} URIs are reached: an S3-compatible endpoint (empty: AWS itself), the signing region, and
     * static keys (empty: the AWS SDK's default credential chain: environment, profile, instance role).
     */
    public record S3Access(Optional<URI> endpoint, String region, Optional<String> accessKeyId, Optional<String> secretAccessKey) {
        public S3Access {
            if (accessKeyId.isPresent() != secretAccessKey.isPresent()) {
                throw new IllegalArgumentException("give both an access key id and its secret access key, or neither");
            }
        }

        public static S3Access aws() { return new S3Access(Optional.empty(), "us-east-1", Optional.empty(), Optional.empty()); }
    }

    private static final Pattern REGION = Pattern.compile("[a-z0-9-]{1,32}");
    private static final Pattern ACCOUNT = Pattern.compile("[0-9]{12}");

    public JobsConfig {
        if (!REGION.matcher(region).matches()) throw new IllegalArgumentException("region must look like us-east-1, got '" + region + "'");
        if (!isAccountId(account)) throw new IllegalArgumentException("account must be 12 digits, got '" + account + "'");
        if (workers < 0) throw new IllegalArgumentException("workers must be 0 or more, got " + workers);
        if (queueLimit < 1) throw new IllegalArgumentException("queueLimit must be at least 1, got " + queueLimit);
        if (archiveMaxBytes < 1 || archiveMaxEntries < 1) throw new IllegalArgumentException("archive limits must be positive");
    }

    /** Whether {@code s} is an AWS account id: exactly 12 digits. */
    public static boolean isAccountId(String s) {
        return s != null && ACCOUNT.matcher(s).matches();
    }

    /**
     * Defaults: region us-east-1, account 000000000000, one worker per two cores (at least one), 100 queued
     * jobs, archives up to 4 GiB in 10,000 entries, AWS S3.
     */
    public static JobsConfig at(Path dataDir) {
        return new JobsConfig(dataDir, "us-east-1", "000000000000",
                Math.max(1, Runtime.getRuntime().availableProcessors() / 2), 100, 4L << 30, 10_000,
                S3Access.aws());
    }

    public JobsConfig withWorkers(int n) {
        return new JobsConfig(dataDir, region, account, n, queueLimit, archiveMaxBytes, archiveMaxEntries, s3);
    }

    public JobsConfig withQueueLimit(int n) {
        return new JobsConfig(dataDir, region, account, workers, n, archiveMaxBytes, archiveMaxEntries, s3);
    }

    public JobsConfig withRegion(String name) {
        return new JobsConfig(dataDir, name, account, workers, queueLimit, archiveMaxBytes, archiveMaxEntries, s3);
    }

    public JobsConfig withAccount(String id) {
        return new JobsConfig(dataDir, region, id, workers, queueLimit, archiveMaxBytes, archiveMaxEntries, s3);
    }

    public JobsConfig withArchiveLimits(long maxBytes, int maxEntries) {
        return new JobsConfig(dataDir, region, account, workers, queueLimit, maxBytes, maxEntries, s3);
    }

    public JobsConfig withS3(S3Access access) {
        return new JobsConfig(dataDir, region, account, workers, queueLimit, archiveMaxBytes, archiveMaxEntries, access);
    }
}
