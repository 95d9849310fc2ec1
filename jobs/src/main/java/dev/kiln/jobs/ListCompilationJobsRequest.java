package dev.kiln.jobs;

import java.time.Instant;

/** ListCompilationJobs filters, sort and paging; every member may be null. */
public record ListCompilationJobsRequest(Instant creationTimeAfter, Instant creationTimeBefore,
                                         Instant lastModifiedTimeAfter, Instant lastModifiedTimeBefore,
                                         Integer maxResults, String nameContains, String nextToken,
                                         String sortBy, String sortOrder, String statusEquals) {
    public static ListCompilationJobsRequest all() {
        return new ListCompilationJobsRequest(null, null, null, null, null, null, null, null, null, null);
    }
}
