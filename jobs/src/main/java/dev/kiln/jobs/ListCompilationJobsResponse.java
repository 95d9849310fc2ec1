package dev.kiln.jobs;

import java.time.Instant;
import java.util.List;

/** One page of jobs; NextToken is null on the last page. */
public record ListCompilationJobsResponse(List<CompilationJobSummary> compilationJobSummaries, String nextToken) {
    public record CompilationJobSummary(String compilationJobName, String compilationJobArn, Instant creationTime,
                                        Instant compilationStartTime, Instant compilationEndTime,
                                        String compilationTargetDevice, String compilationTargetPlatformOs,
                                        String compilationTargetPlatformArch,
                                        String compilationTargetPlatformAccelerator, Instant lastModifiedTime,
                                        CompilationJobStatus compilationJobStatus) {}
}
