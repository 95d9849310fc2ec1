package dev.kiln.jobs;

import java.time.Instant;

/** One job as the store keeps it: its request as given and what has happened to it since. */
record JobRecord(String account, String name, String arn, CompilationJobStatus status,
                 CreateCompilationJobRequest request, Instant creationTime, Instant startTime, Instant endTime,
                 Instant lastModifiedTime, String failureReason, String artifactUri, String artifactDigest,
                 String derivedDataInputConfig) {
    static JobRecord created(String account, String name, String arn, CreateCompilationJobRequest request, Instant now) {
        return new JobRecord(account, name, arn, CompilationJobStatus.STARTING, request, now, null, null, now,
                null, null, null, null);
    }
}
