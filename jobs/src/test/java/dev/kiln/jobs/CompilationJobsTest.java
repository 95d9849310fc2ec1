package dev.kiln.jobs;

import dev.kiln.jobs.CompilationJobException.Error;
import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.runtime.artifact.Blake2;
import dev.kiln.testmodels.Fixtures;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static dev.kiln.jobs.CompilationJobStatus.COMPLETED;
import static dev.kiln.jobs.CompilationJobStatus.FAILED;
import static dev.kiln.jobs.CompilationJobStatus.INPROGRESS;
import static dev.kiln.jobs.CompilationJobStatus.STARTING;
import static dev.kiln.jobs.CompilationJobStatus.STOPPED;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Jobs end to end on the real compiler: every state, stops in each, time limits, restarts, and reproducible artifacts. */
class CompilationJobsTest {
    static final String MODEL = "squeezenet1_1";
    static final String SHAPES = "{\"input0\":[1,3,224,224]}";
    private static final Duration LONG = Duration.ofMinutes(3);

    @TempDir
    Path dir;

    /** The fixture model as a SageMaker-style model archive holding model.onnx. */
    static Path modelArchive(Path dir, String name) throws IOException {
        Path archive = dir.resolve(name + ".tar.gz");
        ModelArchiveWriter.write(Fixtures.dir(MODEL).resolve("model.onnx"), archive);
        return archive;
    }

    static void writeTarGz(Path archive, Map<String, byte[]> files) throws IOException {
        try (OutputStream out = Files.newOutputStream(archive);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(out))) {
            for (var f : files.entrySet()) {
                TarArchiveEntry e = new TarArchiveEntry(f.getKey());
                e.setSize(f.getValue().length);
                tar.putArchiveEntry(e);
                tar.write(f.getValue());
                tar.closeArchiveEntry();
            }
        }
    }

    static CreateCompilationJobRequest request(String name, String input, String output, String target, Integer maxRuntime, Integer maxWait) {
        return new CreateCompilationJobRequest(name, "arn:aws:iam::123456789012:role/kiln",
                new InputConfig(input, SHAPES, "ONNX", null), new OutputConfig(output, target, null, null, null), null,
                new StoppingCondition(maxRuntime, maxWait, null), null, null);
    }

    private CompilationJobs open(int workers) {
        return CompilationJobs.open(JobsConfig.at(dir.resolve("data")).withWorkers(workers).withAccount("123456789012"));
    }

    @Test
    void aJobRunsFromStartingToCompletedAndPublishesItsArtifactWithItsDigest() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "squeezenet");
        Path out = dir.resolve("out");
        try (CompilationJobs jobs = open(1)) {
            var created = jobs.createCompilationJob(request("squeeze-1", archive.toString(), out.toString(), "ml_c5", 600, null));
            assertEquals("arn:aws:sagemaker:us-east-1:123456789012:compilation-job/squeeze-1", created.compilationJobArn());
            var d = jobs.awaitEnd("squeeze-1", LONG);
            assertEquals(COMPLETED, d.compilationJobStatus(), d.failureReason());
            Path artifact = out.resolve("squeezenet-ml_c5.tar.gz");
            assertEquals(artifact.toString(), d.modelArtifacts().s3ModelArtifacts());
            assertEquals(Blake2.hex(artifact), d.modelDigests().artifactDigest());
            assertEquals(128, d.modelDigests().artifactDigest().length());
            assertNull(d.failureReason());
            assertEquals("{\"input0\":[1,3,224,224]}", d.derivedInformation().derivedDataInputConfig());
            assertFalse(d.creationTime().isAfter(d.compilationStartTime()));
            assertFalse(d.compilationStartTime().isAfter(d.compilationEndTime()));
            assertEquals(d.compilationEndTime(), d.lastModifiedTime());
            try (Stream<Path> left = Files.list(out)) {
                assertEquals(List.of(artifact), left.toList(), "only the finished artifact is in the output location");
            }
            List<String> log = jobs.logs("squeeze-1");
            assertTrue(log.get(0).endsWith("created; waiting for a worker"), log.toString());
            assertTrue(log.get(log.size() - 1).contains("COMPLETED: " + artifact), log.toString());
            assertFalse(Files.exists(dir.resolve("data/work/123456789012/squeeze-1")), "the job's work directory is removed");
        }
    }

    @Test
    void jobsOverTheSameInputsGiveIdenticalArtifactsWhateverTheirNamesAndPaths() throws Exception {
        Path first = modelArchive(dir.resolve("in-a"), "model");
        Path second = modelArchive(dir.resolve("in-b/elsewhere"), "model");
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("first", first.toString(), dir.resolve("out-a").toString(), "ml_c5", 600, null));
            jobs.createCompilationJob(request("second-job-name", "file://" + second, "file://" + dir.resolve("out-b"), "ml_c5", 600, null));
            var a = jobs.awaitEnd("first", LONG);
            var b = jobs.awaitEnd("second-job-name", LONG);
            assertEquals(COMPLETED, a.compilationJobStatus(), a.failureReason());
            assertEquals(COMPLETED, b.compilationJobStatus(), b.failureReason());
            assertEquals(a.modelDigests(), b.modelDigests());
            assertEquals("file://" + dir.resolve("out-b/model-ml_c5.tar.gz"), b.modelArtifacts().s3ModelArtifacts());
            assertArrayEquals(Files.readAllBytes(dir.resolve("out-a/model-ml_c5.tar.gz")),
                    Files.readAllBytes(dir.resolve("out-b/model-ml_c5.tar.gz")));
        }
    }

    @Test
    void namesAreUniqueAndMissingJobsAreNotFound() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(0)) {
            jobs.createCompilationJob(request("taken", archive.toString(), dir.resolve("out").toString(), "ml_c5", 60, null));
            var inUse = assertThrows(CompilationJobException.class,
                    () -> jobs.createCompilationJob(request("taken", archive.toString(), dir.toString(), "ml_c5", 60, null)));
            assertEquals(Error.RESOURCE_IN_USE, inUse.error());
            for (var call : List.<org.junit.jupiter.api.function.Executable>of(() -> jobs.describeCompilationJob("missing"),
                    () -> jobs.stopCompilationJob("missing"), () -> jobs.deleteCompilationJob("missing"), () -> jobs.logs("missing"))) {
                var e = assertThrows(CompilationJobException.class, call);
                assertEquals(Error.RESOURCE_NOT_FOUND, e.error());
                assertEquals("no compilation job named missing (arn:aws:sagemaker:us-east-1:123456789012:compilation-job/missing)", e.getMessage());
            }
            var badName = assertThrows(CompilationJobException.class, () -> jobs.describeCompilationJob("-bad-"));
            assertEquals(Error.VALIDATION, badName.error());
            var invalid = assertThrows(CompilationJobException.class,
                    () -> jobs.createCompilationJob(request("no-target", archive.toString(), dir.toString(), null, 60, null)));
            assertEquals(Error.VALIDATION, invalid.error());
            assertThrows(CompilationJobException.class, () -> jobs.describeCompilationJob("no-target"), "a refused job is not created");
        }
    }

    @Test
    void beyondTheQueueLimitCreatesAreRefused() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = CompilationJobs.open(JobsConfig.at(dir.resolve("data")).withWorkers(0).withQueueLimit(2))) {
            jobs.createCompilationJob(request("q1", archive.toString(), dir.toString(), "ml_c5", 60, null));
            jobs.createCompilationJob(request("q2", archive.toString(), dir.toString(), "ml_c5", 60, null));
            var e = assertThrows(CompilationJobException.class,
                    () -> jobs.createCompilationJob(request("q3", archive.toString(), dir.toString(), "ml_c5", 60, null)));
            assertEquals(Error.RESOURCE_LIMIT_EXCEEDED, e.error());
            assertTrue(e.getMessage().startsWith("2 compilation jobs are already waiting for a worker"), e.getMessage());
            jobs.stopCompilationJob("q1");
            jobs.createCompilationJob(request("q3", archive.toString(), dir.toString(), "ml_c5", 60, null));
        }
    }

    @Test
    void aQueuedJobStopsAtOnceAndOnlyEndedJobsAreDeleted() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(0)) {
            jobs.createCompilationJob(request("queued", archive.toString(), dir.toString(), "ml_c5", 60, null));
            assertEquals(STARTING, jobs.describeCompilationJob("queued").compilationJobStatus());
            var inUse = assertThrows(CompilationJobException.class, () -> jobs.deleteCompilationJob("queued"));
            assertEquals(Error.RESOURCE_IN_USE, inUse.error());
            jobs.stopCompilationJob("queued");
            var d = jobs.describeCompilationJob("queued");
            assertEquals(STOPPED, d.compilationJobStatus());
            assertNull(d.compilationStartTime());
            assertNotNull(d.compilationEndTime());
            var again = assertThrows(CompilationJobException.class, () -> jobs.stopCompilationJob("queued"));
            assertEquals(Error.VALIDATION, again.error());
            jobs.deleteCompilationJob("queued");
            assertEquals(Error.RESOURCE_NOT_FOUND,
                    assertThrows(CompilationJobException.class, () -> jobs.describeCompilationJob("queued")).error());
        }
    }

    @Test
    void stoppingACompilingJobKillsItsToolchainWithinFiveSeconds() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("to-stop", archive.toString(), dir.resolve("out").toString(), "ml_c5", 600, null));
            List<ProcessHandle> toolchain = awaitToolchain();
            assertEquals(INPROGRESS, jobs.describeCompilationJob("to-stop").compilationJobStatus());
            String work = dir.resolve("data/work/123456789012/to-stop").toString();
            assertTrue(toolchain.stream().anyMatch(p -> p.info().commandLine().orElse("").contains(work + "/scratch/kiln-compile-")),
                    "the compiler works inside the job's own directory");
            long t0 = System.nanoTime();
            jobs.stopCompilationJob("to-stop");
            var d = jobs.awaitEnd("to-stop", Duration.ofSeconds(5));
            assertEquals(STOPPED, d.compilationJobStatus());
            for (ProcessHandle p : toolchain) assertEnds(p, t0 + Duration.ofSeconds(5).toNanos());
            assertFalse(Files.exists(dir.resolve("out/m-ml_c5.tar.gz")), "a stopped job publishes nothing");
            assertTrue(jobs.logs("to-stop").stream().anyMatch(l -> l.endsWith("stop requested")));
        }
    }

    @Test
    void aJobPastMaxRuntimeFailsWithTimeOut() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("too-slow", archive.toString(), dir.resolve("out").toString(), "ml_c5", 1, null));
            var d = jobs.awaitEnd("too-slow", Duration.ofSeconds(30));
            assertEquals(FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("TimeOut: the compilation ran past StoppingCondition.MaxRuntimeInSeconds (1 s)"),
                    d.failureReason());
            assertTrue(Duration.between(d.compilationStartTime(), d.compilationEndTime()).toSeconds() < 7);
        }
    }

    @Test
    void aJobQueuedPastMaxWaitFailsWithTimeOutWithoutStarting() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("busy", archive.toString(), dir.resolve("out").toString(), "ml_c5", 600, null));
            jobs.createCompilationJob(request("waiting", archive.toString(), dir.resolve("out").toString(), "ml_c5", 1, 1));
            var d = jobs.awaitEnd("waiting", Duration.ofSeconds(30));
            assertEquals(FAILED, d.compilationJobStatus());
            assertNull(d.compilationStartTime(), "it never started");
            assertTrue(d.failureReason().startsWith("TimeOut: the job did not finish within StoppingCondition.MaxWaitTimeInSeconds (1 s"),
                    d.failureReason());
            jobs.stopCompilationJob("busy");
        }
    }

    @Test
    void aRestartFailsTheJobThatWasCompilingAndRunsTheQueuedOnes() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        Path data = dir.resolve("data");
        // What a runner killed mid-compile leaves: one job INPROGRESS, one still queued.
        try (JobStore store = JobStore.open(data)) {
            var now = java.time.Instant.now();
            store.insert(JobRecord.created("123456789012", "was-running", "arn:aws:sagemaker:us-east-1:123456789012:compilation-job/was-running",
                    request("was-running", archive.toString(), dir.resolve("out").toString(), "ml_c5", 600, null), now));
            store.transition("123456789012", "was-running", java.util.EnumSet.of(STARTING), JobStore.Change.to(INPROGRESS, now).started());
            store.insert(JobRecord.created("123456789012", "was-queued", "arn:aws:sagemaker:us-east-1:123456789012:compilation-job/was-queued",
                    request("was-queued", archive.toString(), dir.resolve("out").toString(), "ml_c5", 600, null), now));
            store.insert(JobRecord.created("123456789012", "was-stopping", "arn:aws:sagemaker:us-east-1:123456789012:compilation-job/was-stopping",
                    request("was-stopping", archive.toString(), dir.resolve("out").toString(), "ml_c5", 600, null), now));
            store.transition("123456789012", "was-stopping", java.util.EnumSet.of(STARTING),
                    JobStore.Change.to(CompilationJobStatus.STOPPING, now).started());
        }
        Files.createDirectories(data.resolve("work/123456789012/was-running/model"));
        try (CompilationJobs jobs = open(1)) {
            var failed = jobs.describeCompilationJob("was-running");
            assertEquals(FAILED, failed.compilationJobStatus());
            assertTrue(failed.failureReason().startsWith("InternalError: the Kiln process running this job ended"), failed.failureReason());
            assertFalse(Files.exists(data.resolve("work/123456789012/was-running")), "its partial work is removed");
            var stopping = jobs.describeCompilationJob("was-stopping");
            assertEquals(STOPPED, stopping.compilationJobStatus());
            assertNotNull(stopping.compilationEndTime());
            var queued = jobs.awaitEnd("was-queued", LONG);
            assertEquals(COMPLETED, queued.compilationJobStatus(), queued.failureReason());
        }
    }

    @Test
    void aTargetWithoutABackendFailsSayingSo() throws Exception {
        Path archive = modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open(1)) {
            var coreml = new CreateCompilationJobRequest("apple", "arn:aws:iam::123456789012:role/kiln",
                    new InputConfig(archive.toString(), "{\"input0\": {\"shape\": [1,3,224,224]}}", "PYTORCH", "1.13"),
                    new OutputConfig(dir.resolve("out").toString(), "coreml", null, null, null), null,
                    new StoppingCondition(60, null, null), null, null);
            jobs.createCompilationJob(coreml);
            var d = jobs.awaitEnd("apple", LONG);
            assertEquals(FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("TargetNotSupported: Kiln 0.1.0 has no backend for coreml"), d.failureReason());
        }
    }

    @Test
    void aHostileArchiveFailsTheJobAndWritesNothingOutsideItsDirectory() throws Exception {
        Path archive = dir.resolve("in/evil.tar.gz");
        Files.createDirectories(archive.getParent());
        writeTarGz(archive, Map.of("model.onnx", new byte[] {1}, "../../../../escaped.txt", "x".getBytes()));
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("evil", archive.toString(), dir.resolve("out").toString(), "ml_c5", 60, null));
            var d = jobs.awaitEnd("evil", LONG);
            assertEquals(FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("ClientError: InputConfiguration: "), d.failureReason());
            assertTrue(d.failureReason().contains("../../../../escaped.txt"), d.failureReason());
        }
        try (Stream<Path> all = Files.walk(dir)) {
            assertEquals(List.of(), all.filter(p -> p.getFileName().toString().equals("escaped.txt")).toList());
        }
        assertFalse(Files.exists(dir.resolve("data/work/000000000000/evil")));
    }

    @Test
    void anArchiveWithoutTheFrameworksModelFileFailsTheJobTheNeoWay() throws Exception {
        Path archive = dir.resolve("in/empty.tar.gz");
        Files.createDirectories(archive.getParent());
        writeTarGz(archive, Map.of("readme.txt", "hello".getBytes()));
        try (CompilationJobs jobs = open(1)) {
            jobs.createCompilationJob(request("no-onnx", archive.toString(), dir.resolve("out").toString(), "ml_c5", 60, null));
            var d = jobs.awaitEnd("no-onnx", LONG);
            assertEquals(FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("ClientError: InputConfiguration: "), d.failureReason());
            assertTrue(d.failureReason().contains(".onnx") && d.failureReason().contains("readme.txt"), d.failureReason());
        }
    }

    @Test
    void failureReasonsAreOneLineOfAtMost1024Characters() {
        String reason = JobRun.failureReason(new IllegalArgumentException("ClientError: first line\n  second line"));
        assertEquals("ClientError: first line; second line", reason);
        String long_ = JobRun.failureReason(new UnsupportedOperationException("OperatorNotImplemented: " + "x".repeat(5000)));
        assertEquals(1024, long_.length());
        assertTrue(long_.startsWith("OperatorNotImplemented: xxx") && long_.endsWith("..."), long_);
        assertTrue(JobRun.failureReason(new IllegalStateException("gcc broke")).startsWith("InternalError: "));
    }

    /**
     * Asserts that a process ends by the deadline. A killed gcc's own children are reparented to the machine's
     * first process, which in a container may never reap them: a zombie has ended too.
     */
    static void assertEnds(ProcessHandle p, long deadlineNanos) throws InterruptedException {
        while (p.isAlive() && !isZombie(p)) {
            assertTrue(System.nanoTime() < deadlineNanos, "toolchain process " + p.pid() + " "
                    + p.info().commandLine().orElse("") + " outlived the stop by 5 s");
            Thread.sleep(20);
        }
    }

    private static boolean isZombie(ProcessHandle p) {
        try {
            String stat = Files.readString(Path.of("/proc", Long.toString(p.pid()), "stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return false;
        }
    }

    /** Waits for this JVM's compile to reach the C compiler and returns the processes running it. */
    static List<ProcessHandle> awaitToolchain() throws InterruptedException {
        long deadline = System.nanoTime() + LONG.toNanos();
        while (System.nanoTime() < deadline) {
            List<ProcessHandle> gcc = ProcessHandle.current().descendants()
                    .filter(p -> p.info().command().map(c -> c.contains("gcc") || c.endsWith("cc1")).orElse(false)).toList();
            if (!gcc.isEmpty()) return ProcessHandle.current().descendants().toList();
            Thread.sleep(20);
        }
        throw new AssertionError("the compile never started its toolchain");
    }
}
