package dev.kiln.jobs;

import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.jobs.ListCompilationJobsResponse.CompilationJobSummary;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.List;

import static dev.kiln.jobs.CompilationJobStatus.COMPLETED;
import static dev.kiln.jobs.CompilationJobStatus.FAILED;
import static dev.kiln.jobs.CompilationJobStatus.INPROGRESS;
import static dev.kiln.jobs.CompilationJobStatus.STARTING;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The durable store: rows survive reopening, status changes are compare-and-set, listings filter, sort and page. */
class JobStoreTest {
    private static final String ACCOUNT = "123456789012";
    private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir
    Path dir;

    static CreateCompilationJobRequest request(String name) {
        return new CreateCompilationJobRequest(name, "arn:aws:iam::123456789012:role/r",
                new InputConfig("s3://b/" + name + ".tar.gz", "{\"x\":[1]}", "ONNX", null),
                new OutputConfig("s3://b/out", "ml_c5", null, null, null), null, new StoppingCondition(60, null, null), null, null);
    }

    private static JobRecord job(String account, String name, int secondsAfterT0) {
        return JobRecord.created(account, name, "arn:aws:sagemaker:us-east-1:" + account + ":compilation-job/" + name,
                request(name), T0.plusSeconds(secondsAfterT0));
    }

    @Test
    void jobsAndTheirLogsSurviveReopening() {
        try (JobStore store = JobStore.open(dir)) {
            assertTrue(store.insert(job(ACCOUNT, "a", 0)));
            assertFalse(store.insert(job(ACCOUNT, "a", 5)), "names are unique per account");
            assertTrue(store.insert(job("210987654321", "a", 5)), "another account may use the name");
            store.log(ACCOUNT, "a", T0, "created");
            assertTrue(store.transition(ACCOUNT, "a", EnumSet.of(STARTING), JobStore.Change.to(INPROGRESS, T0.plusSeconds(1)).started()));
        }
        try (JobStore store = JobStore.open(dir)) {
            JobRecord a = store.get(ACCOUNT, "a").orElseThrow();
            assertEquals(INPROGRESS, a.status());
            assertEquals(request("a"), a.request());
            assertEquals(T0, a.creationTime());
            assertEquals(T0.plusSeconds(1), a.startTime());
            assertEquals(T0.plusSeconds(1), a.lastModifiedTime());
            assertNull(a.endTime());
            assertEquals(List.of("2026-01-01T00:00:00Z created"), store.logs(ACCOUNT, "a"));
            assertEquals(1, store.count(STARTING));
        }
    }

    @Test
    void aTransitionHappensOnlyFromTheStatusesItNames() {
        try (JobStore store = JobStore.open(dir)) {
            store.insert(job(ACCOUNT, "a", 0));
            assertFalse(store.transition(ACCOUNT, "a", EnumSet.of(INPROGRESS), JobStore.Change.to(COMPLETED, T0)));
            assertTrue(store.transition(ACCOUNT, "a", EnumSet.of(STARTING), JobStore.Change.to(INPROGRESS, T0).started()));
            assertTrue(store.transition(ACCOUNT, "a", EnumSet.of(INPROGRESS),
                    JobStore.Change.to(FAILED, T0.plusSeconds(3)).ended().failure("ClientError: broken")));
            assertFalse(store.transition(ACCOUNT, "a", EnumSet.of(INPROGRESS),
                    JobStore.Change.to(COMPLETED, T0.plusSeconds(4)).ended().artifact("s3://b/x", "ab")), "the first outcome stands");
            JobRecord a = store.get(ACCOUNT, "a").orElseThrow();
            assertEquals(FAILED, a.status());
            assertEquals("ClientError: broken", a.failureReason());
            assertEquals(T0.plusSeconds(3), a.endTime());
            assertNull(a.artifactUri());
        }
    }

    @Test
    void onlyEndedJobsAreDeletedAndTheirLogsGoWithThem() {
        try (JobStore store = JobStore.open(dir)) {
            store.insert(job(ACCOUNT, "a", 0));
            store.log(ACCOUNT, "a", T0, "created");
            assertFalse(store.deleteTerminal(ACCOUNT, "a"));
            store.transition(ACCOUNT, "a", EnumSet.of(STARTING), JobStore.Change.to(FAILED, T0).ended());
            assertTrue(store.deleteTerminal(ACCOUNT, "a"));
            assertTrue(store.get(ACCOUNT, "a").isEmpty());
            assertEquals(List.of(), store.logs(ACCOUNT, "a"));
            assertTrue(store.insert(job(ACCOUNT, "a", 9)), "a deleted job's name is free again");
        }
    }

    @Test
    void listingsFilterSortAndPage() {
        try (JobStore store = JobStore.open(dir)) {
            String[] names = {"resnet-a", "resnet-b", "bert-c", "RESNET-d", "mobilenet-e", "resnet-f", "bert-g"};
            for (int i = 0; i < names.length; i++) store.insert(job(ACCOUNT, names[i], i * 10));
            store.insert(job("210987654321", "resnet-other-account", 15));
            store.transition(ACCOUNT, "resnet-b", EnumSet.of(STARTING), JobStore.Change.to(COMPLETED, T0.plusSeconds(100)).ended());
            store.transition(ACCOUNT, "bert-c", EnumSet.of(STARTING), JobStore.Change.to(FAILED, T0.plusSeconds(200)).ended());

            assertEquals(List.of("resnet-f", "RESNET-d", "resnet-b", "resnet-a"),
                    names(store, query(null, null, null, null, "resnet", null), "CreationTime", false), "NameContains ignores case");
            assertEquals(List.of("resnet-b"), names(store, query(null, null, null, null, null, "COMPLETED"), "CreationTime", false));
            assertEquals(List.of("bert-c", "RESNET-d"),
                    names(store, query(T0.plusSeconds(10), T0.plusSeconds(40), null, null, null, null), "CreationTime", true),
                    "creation times strictly between");
            assertEquals(List.of("bert-c", "resnet-b"),
                    names(store, query(null, null, T0.plusSeconds(60), null, null, null), "Name", true), "modified after");
            assertEquals(List.of("resnet-a", "RESNET-d", "mobilenet-e", "resnet-f", "bert-g"),
                    names(store, query(null, null, null, T0.plusSeconds(61), null, null), "CreationTime", true), "modified before");

            List<String> byName = new ArrayList<>(List.of(names));
            byName.sort(Comparator.naturalOrder());
            assertEquals(byName, names(store, query(null, null, null, null, null, null), "Name", true));
            List<String> reversed = new ArrayList<>(byName);
            Collections.reverse(reversed);
            assertEquals(reversed, names(store, query(null, null, null, null, null, null), "Name", false));
            assertEquals(List.of("resnet-b", "bert-c", "RESNET-d", "bert-g", "mobilenet-e", "resnet-a", "resnet-f"),
                    names(store, query(null, null, null, null, null, null), "Status", true), "status, then name");

            for (int pageSize = 1; pageSize <= 8; pageSize++) {
                for (String sortBy : List.of("Name", "CreationTime", "Status")) {
                    for (boolean ascending : List.of(true, false)) {
                        List<String> paged = new ArrayList<>();
                        String token = null;
                        int pages = 0;
                        do {
                            var q = new ListCompilationJobsRequest(null, null, null, null, null, null, token, null, null, null);
                            var page = store.list(ACCOUNT, q, sortBy, ascending, pageSize);
                            assertTrue(page.compilationJobSummaries().size() <= pageSize);
                            page.compilationJobSummaries().forEach(s -> paged.add(s.compilationJobName()));
                            token = page.nextToken();
                            pages++;
                        } while (token != null);
                        assertEquals(names(store, query(null, null, null, null, null, null), sortBy, ascending), paged,
                                sortBy + " " + ascending + " in pages of " + pageSize);
                        assertEquals((names.length + pageSize - 1) / pageSize, pages);
                    }
                }
            }
        }
    }

    @Test
    void aPageTokenPagesOnlyTheListingItCameFrom() {
        try (JobStore store = JobStore.open(dir)) {
            for (int i = 0; i < 3; i++) store.insert(job(ACCOUNT, "job-" + i, i));
            String token = store.list(ACCOUNT, ListCompilationJobsRequest.all(), "Name", true, 1).nextToken();
            var otherFilter = new ListCompilationJobsRequest(null, null, null, null, null, "job", token, null, null, null);
            var e = assertThrows(CompilationJobException.class, () -> store.list(ACCOUNT, otherFilter, "Name", true, 1));
            assertEquals(CompilationJobException.Error.VALIDATION, e.error());
            var garbage = new ListCompilationJobsRequest(null, null, null, null, null, null, "not-a-token", null, null, null);
            assertThrows(CompilationJobException.class, () -> store.list(ACCOUNT, garbage, "Name", true, 1));
        }
    }

    @Test
    void summariesCarryTheTarget() {
        try (JobStore store = JobStore.open(dir)) {
            store.insert(job(ACCOUNT, "a", 0));
            CompilationJobSummary s = store.list(ACCOUNT, ListCompilationJobsRequest.all(), "Name", true, 10).compilationJobSummaries().get(0);
            assertEquals("ml_c5", s.compilationTargetDevice());
            assertEquals("arn:aws:sagemaker:us-east-1:123456789012:compilation-job/a", s.compilationJobArn());
            assertEquals(STARTING, s.compilationJobStatus());
            assertEquals(T0, s.creationTime());
        }
    }

    private static ListCompilationJobsRequest query(Instant createdAfter, Instant createdBefore, Instant modifiedAfter,
                                                    Instant modifiedBefore, String nameContains, String status) {
        return new ListCompilationJobsRequest(createdAfter, createdBefore, modifiedAfter, modifiedBefore, null, nameContains,
                null, null, null, status);
    }

    private static List<String> names(JobStore store, ListCompilationJobsRequest q, String sortBy, boolean ascending) {
        return store.list(ACCOUNT, q, sortBy, ascending, 100).compilationJobSummaries().stream()
                .map(CompilationJobSummary::compilationJobName).toList();
    }
}
