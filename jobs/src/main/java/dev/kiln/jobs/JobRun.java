package dev.kiln.jobs;

import dev.kiln.backends.Backend;
import dev.kiln.backends.Compiler;
import dev.kiln.backends.ToolchainMissingException;
import dev.kiln.frontend.ImportException;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.runtime.artifact.ArtifactWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Comparator;
import java.util.EnumSet;
import java.util.Optional;
import java.util.concurrent.CancellationException;
import java.util.stream.Stream;

/**
 * One job's compile, on a worker: fetch the archive, unpack it safely, import, compile, publish. Everything
 * it writes goes under the job's own work directory, which it removes when it ends; the artifact reaches
 * the output location only once complete.
 */
final class JobRun implements Runnable {
    static final int MAX_FAILURE_REASON = 1024;

    /** Why a compile is being cut short. */
    record Cancel(CompilationJobStatus outcome, String failureReason, String logLine) {
        static Cancel stop() { return new Cancel(CompilationJobStatus.STOPPED, null, "stopped: the compile was interrupted"); }

        static Cancel timeOut(String reason) { return new Cancel(CompilationJobStatus.FAILED, reason, reason); }

        static Cancel shutdown() {
            String reason = "InternalError: Kiln shut down while this job was INPROGRESS; no artifact was published. "
                    + "Create the job again to compile the model.";
            return new Cancel(CompilationJobStatus.FAILED, reason, reason);
        }
    }

    private final JobRecord job;
    private final JobStore store;
    private final Storage storage;
    private final JobsConfig config;
    private final Runnable onEnd;
    private final Instant started;
    private volatile Thread thread;
    private volatile Cancel cancel;
    private volatile long cancelledAt;

    JobRun(JobRecord job, JobStore store, Storage storage, JobsConfig config, Runnable onEnd) {
        this.job = job;
        this.store = store;
        this.storage = storage;
        this.config = config;
        this.onEnd = onEnd;
        this.started = Instant.now();
    }

    @Override
    public void run() {
        thread = Thread.currentThread();
        Path work = workDirectory(config.dataDir(), job.account(), job.name());
        try {
            if (cancel != null) throw new CancellationException();
            Published published = compile(work);
            if (cancel != null) throw new CancellationException();
            Instant now = Instant.now();
            if (store.transition(job.account(), job.name(), EnumSet.of(CompilationJobStatus.INPROGRESS),
                    JobStore.Change.to(CompilationJobStatus.COMPLETED, now).ended().artifact(published.uri(), published.digest()))) {
                log("COMPLETED: " + published.uri() + " (ArtifactDigest " + published.digest() + ")");
            } else {
                // A stop arrived after the artifact was published: the job ends as the stop says.
                cancel(Cancel.stop());
                endCancelled();
            }
        } catch (CancellationException e) {
            endCancelled();
        } catch (Throwable e) {
            if (cancel != null || Thread.currentThread().isInterrupted()) {
                endCancelled();
            } else {
                fail(failureReason(e), e);
            }
        } finally {
            Thread.interrupted();
            deleteTree(work);
            onEnd.run();
        }
    }

    private record Published(String uri, String digest) {}

    private Published compile(Path work) throws IOException {
        ValidatedJob v = RequestValidation.check(job.request());
        var input = job.request().inputConfig();
        var output = job.request().outputConfig();
        String targetName = output.targetDevice() != null ? output.targetDevice() : v.target().name();
        log("compiling " + input.framework() + " model " + input.s3Uri() + " for " + targetName);
        try {
            Backend backend = Backend.forTarget(v.target());
            log("backend " + backend.name() + " generates code for " + targetName);
        } catch (UnsupportedOperationException e) {
            throw new JobFailure("TargetNotSupported: Kiln " + Compiler.KILN_VERSION + " has no backend for " + targetName
                    + " (" + v.target().os() + " " + v.target().arch() + ", accelerator " + v.target().accelerator()
                    + ") yet; CPU targets without an accelerator compile, e.g. ml_c5, jetson_nano, rasp3b, x86_win64");
        }
        if (v.framework() != Framework.ONNX) {
            throw new JobFailure("ClientError: InputConfiguration: Kiln " + Compiler.KILN_VERSION + " has no "
                    + v.framework() + " frontend yet; the frameworks it imports: ONNX. Export the model to ONNX "
                    + "and create the job with Framework ONNX.");
        }
        Files.createDirectories(work);
        Path archiveFile = work.resolve("model.tar.gz");
        storage.fetch(input.s3Uri(), archiveFile);
        log("fetched " + input.s3Uri() + " (" + Files.size(archiveFile) + " bytes)");
        ModelArchive archive = ModelArchive.extract(archiveFile, work.resolve("model"),
                new ArchiveLimits(config.archiveMaxBytes(), config.archiveMaxEntries(), config.archiveMaxBytes()));
        Files.delete(archiveFile);
        log("unpacked " + archive.files().size() + " files");
        v.classLabelsFile().ifPresent(labels -> {
            if (!archive.contains(labels)) {
                throw new JobFailure("ClientError: CompilerOptions: class_labels names " + labels
                        + ", which is not in the model archive; it holds: " + String.join(", ", archive.files()));
            }
        });
        ModelArchive.ModelFiles files = archive.modelFiles(v.framework());
        Graph graph = OnnxFrontend.load(files.primary(), v.shapes().toFrontend());
        log("imported " + archive.root().relativize(files.primary()) + ": " + graph.nodes().size() + " nodes, inputs "
                + graph.inputs().stream().map(i -> i.name() + " " + i.type()).toList());
        store.setDerivedDataInputConfig(job.account(), job.name(), v.shapes().canonicalJson());
        ArtifactWriter.Written written = Compiler.compile(graph, v.target(), v.options(), work.resolve("artifact"),
                modelName(files.primary()), work.resolve("scratch"));
        log("compiled " + written.artifact().getFileName() + " (" + Files.size(written.artifact()) + " bytes, BLAKE2b-512 "
                + written.digest() + ")");
        if (cancel != null) throw new CancellationException();
        String fileName = archiveBaseName(input.s3Uri()) + "-" + targetName + ".tar.gz";
        Storage.Stored stored = storage.put(written.artifact(), output.s3OutputLocation(), fileName,
                Optional.ofNullable(output.kmsKeyId()).filter(key -> !key.isEmpty()));
        stored.notes().forEach(this::log);
        return new Published(stored.uri(), written.digest());
    }

    /** A failure whose message is the whole FailureReason. */
    private static final class JobFailure extends RuntimeException {
        JobFailure(String reason) { super(reason); }
    }

    static String failureReason(Throwable e) {
        String reason;
        if (e instanceof JobFailure || e instanceof ImportException || e instanceof ModelArchive.ArchiveException
                || e instanceof StorageException || e instanceof ToolchainMissingException
                || e instanceof CompilationJobException) {
            reason = e.getMessage();
        } else if (e instanceof UnsupportedOperationException || e instanceof IllegalArgumentException
                || e instanceof IrException) {
            String m = String.valueOf(e.getMessage());
            reason = m.matches("(?s)[A-Za-z]+: .*") ? m : "ClientError: " + m;
        } else if (e instanceof OutOfMemoryError) {
            reason = "InternalError: the model does not fit in this Kiln's memory (-Xmx); give the JVM more heap";
        } else if (e instanceof UncheckedIOException || e instanceof IOException) {
            reason = "InternalError: " + e.getMessage();
        } else {
            reason = "InternalError: " + e + "; the job log has details";
        }
        if (reason == null) reason = "InternalError: " + e;
        reason = reason.replaceAll("\\s*\\R\\s*", "; ");
        return reason.length() <= MAX_FAILURE_REASON ? reason : reason.substring(0, MAX_FAILURE_REASON - 3) + "...";
    }

    /** Cuts the compile short: the worker thread is interrupted, which kills any toolchain process it waits on. */
    void cancel(Cancel why) {
        if (cancel != null) return;
        cancel = why;
        cancelledAt = System.nanoTime();
        Thread t = thread;
        if (t != null) t.interrupt();
    }

    /** Enforces, from the heartbeat, a stop made by another process and the job's time limits. */
    void police(Instant now) {
        if (cancel == null) {
            Optional<String> late = overRuntime(now).or(() -> waitedTooLong(job, true, now));
            if (late.isPresent()) {
                cancel(Cancel.timeOut(late.get()));
            } else if (store.get(job.account(), job.name()).map(JobRecord::status).orElse(null) == CompilationJobStatus.STOPPING) {
                cancel(Cancel.stop());
            }
        } else if (System.nanoTime() - cancelledAt > CompilationJobs.WIND_DOWN.toNanos()) {
            // A compile deep in a pass that does not look at interrupts: the job ends now and its result is dropped.
            endNow();
        }
    }

    /** Ends the job as its cancel says, whether or not the compile has wound down yet. */
    void endNow() {
        if (cancel == null) cancel(Cancel.shutdown());
        endCancelled();
    }

    private void endCancelled() {
        Cancel why = cancel != null ? cancel : Cancel.stop();
        Instant now = Instant.now();
        JobStore.Change change = JobStore.Change.to(why.outcome(), now).ended();
        if (why.failureReason() != null) change = change.failure(why.failureReason());
        if (store.transition(job.account(), job.name(),
                EnumSet.of(CompilationJobStatus.INPROGRESS, CompilationJobStatus.STOPPING), change)) {
            log(why.logLine());
        }
    }

    private void fail(String reason, Throwable e) {
        Instant now = Instant.now();
        if (!(e instanceof JobFailure) && reason.startsWith("InternalError")) {
            log("internal error: " + e);
            for (StackTraceElement frame : e.getStackTrace()) log("    at " + frame);
        }
        if (store.transition(job.account(), job.name(), EnumSet.of(CompilationJobStatus.INPROGRESS),
                JobStore.Change.to(CompilationJobStatus.FAILED, now).ended().failure(reason))) {
            log("FAILED: " + reason);
        } else {
            endCancelled();
        }
    }

    private Optional<String> overRuntime(Instant now) {
        Duration limit = maxRuntime(job);
        if (Duration.between(started, now).compareTo(limit) <= 0) return Optional.empty();
        return Optional.of("TimeOut: the compilation ran past StoppingCondition.MaxRuntimeInSeconds ("
                + limit.toSeconds() + " s) and was stopped; raise MaxRuntimeInSeconds (and MaxWaitTimeInSeconds) "
                + "for this model, or compile a smaller one");
    }

    /** Whether a job has been waiting and running for longer than its MaxWaitTimeInSeconds allows. */
    static Optional<String> waitedTooLong(JobRecord job, boolean started, Instant now) {
        var stopping = job.request().stoppingCondition();
        Integer maxWait = stopping == null ? null : stopping.maxWaitTimeInSeconds();
        if (maxWait == null || Duration.between(job.creationTime(), now).toSeconds() < maxWait) return Optional.empty();
        return Optional.of("TimeOut: the job did not finish within StoppingCondition.MaxWaitTimeInSeconds (" + maxWait
                + " s from its creation, " + (started ? "queueing included" : "all of it waiting for a worker")
                + "); raise MaxWaitTimeInSeconds, or create the job when fewer jobs are queued");
    }

    static Duration maxRuntime(JobRecord job) {
        var stopping = job.request().stoppingCondition();
        Integer s = stopping == null ? null : stopping.maxRuntimeInSeconds();
        return s == null ? RequestValidation.DEFAULT_MAX_RUNTIME : Duration.ofSeconds(s);
    }

    /** The manifest's model name comes from the model file, never from the job or where it was stored. */
    private static String modelName(Path primary) {
        String file = primary.getFileName().toString();
        int dot = file.lastIndexOf('.');
        String base = (dot > 0 ? file.substring(0, dot) : file).replaceAll("[^A-Za-z0-9._-]", "_");
        return base.isEmpty() ? "model" : base;
    }

    static String archiveBaseName(String uri) {
        String path = uri.replaceFirst("^[a-z0-9]+://", "");
        String last = path.substring(path.lastIndexOf('/') + 1);
        return last.toLowerCase(java.util.Locale.ROOT).endsWith(".tar.gz") ? last.substring(0, last.length() - ".tar.gz".length()) : last;
    }

    private void log(String line) { store.log(job.account(), job.name(), Instant.now(), line); }

    static Path workDirectory(Path dataDir, String account, String name) {
        return dataDir.resolve("work").resolve(account).resolve(name);
    }

    static void deleteWorkDirectory(Path dataDir, String account, String name) {
        deleteTree(workDirectory(dataDir, account, name));
    }

    private static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot remove the work directory " + dir, e);
        }
    }
}
