package dev.kiln.jobs;

import dev.kiln.jobs.CompilationJobException.Error;
import dev.kiln.jobs.DescribeCompilationJobResponse.DerivedInformation;
import dev.kiln.jobs.DescribeCompilationJobResponse.ModelArtifacts;
import dev.kiln.jobs.DescribeCompilationJobResponse.ModelDigests;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.time.Instant;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentials;

/**
 * The compilation-job API of SageMaker (Create, Describe, List, Stop, Delete) over a durable store in a
 * data directory. Jobs queue in the store and run on a bounded pool of workers.
 *
 * <p>One process at a time runs the jobs of a data directory: the one holding its runner lock. Others (a
 * command line next to a server) may create, read, stop and delete jobs through the same store; the runner
 * picks their changes up within a fraction of a second. When the runner starts it settles what a previous
 * one left: queued jobs run, a job that was compiling is FAILED with a reason saying so, a stopping one is
 * STOPPED.
 */
public final class CompilationJobs implements AutoCloseable {
    static final Duration TICK = Duration.ofMillis(200);
    /** How long a stopped or timed-out compile may take to wind down before its job is ended regardless. */
    static final Duration WIND_DOWN = Duration.ofSeconds(4);
    private static final Set<CompilationJobStatus> ACTIVE =
            EnumSet.of(CompilationJobStatus.STARTING, CompilationJobStatus.INPROGRESS, CompilationJobStatus.STOPPING);

    private final JobsConfig config;
    private final JobStore store;
    private final Storage storage;
    private final FileChannel lockFile;
    private final FileLock runnerLock;
    private final ExecutorService workers;
    private final ScheduledExecutorService scheduler;
    private final Map<String, JobRun> running = new ConcurrentHashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    private CompilationJobs(JobsConfig config, JobStore store, Storage storage, FileChannel lockFile, FileLock runnerLock) {
        this.config = config;
        this.store = store;
        this.storage = storage;
        this.lockFile = lockFile;
        this.runnerLock = runnerLock;
        boolean runs = runnerLock != null && config.workers() > 0;
        this.workers = runs ? Executors.newFixedThreadPool(config.workers(), daemon("kiln-job-worker")) : null;
        this.scheduler = runnerLock != null ? Executors.newSingleThreadScheduledExecutor(daemon("kiln-job-scheduler")) : null;
    }

    /** Opens the store under {@code config.dataDir()}, taking the runner lock if no other process holds it. */
    public static CompilationJobs open(JobsConfig config) {
        JobStore store = JobStore.open(config.dataDir());
        FileChannel lockFile = null;
        FileLock lock = null;
        try {
            lockFile = FileChannel.open(config.dataDir().resolve("runner.lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            lock = lockFile.tryLock();
        } catch (OverlappingFileLockException e) {
            lock = null;
        } catch (IOException e) {
            store.close();
            throw new UncheckedIOException("cannot open the runner lock in " + config.dataDir(), e);
        }
        Storage storage = Storage.open(storageConfig(config.s3()));
        CompilationJobs jobs = new CompilationJobs(config, store, storage, lockFile, lock);
        if (lock != null) {
            jobs.recover();
            jobs.scheduler.scheduleWithFixedDelay(jobs::tick, 0, TICK.toMillis(), TimeUnit.MILLISECONDS);
        }
        return jobs;
    }

    /** Whether this instance runs the data directory's jobs (rather than only reading and changing the store). */
    public boolean runsJobs() { return workers != null; }

    public JobsConfig config() { return config; }

    /** The operations in the configured account; each has a form naming the account, as a multi-account endpoint calls them. */
    public CreateCompilationJobResponse createCompilationJob(CreateCompilationJobRequest request) {
        return createCompilationJob(config.account(), request);
    }

    public DescribeCompilationJobResponse describeCompilationJob(String name) { return describeCompilationJob(config.account(), name); }

    public ListCompilationJobsResponse listCompilationJobs(ListCompilationJobsRequest request) {
        return listCompilationJobs(config.account(), request);
    }

    public void stopCompilationJob(String name) { stopCompilationJob(config.account(), name); }

    public void deleteCompilationJob(String name) { deleteCompilationJob(config.account(), name); }

    public List<String> logs(String name) { return logs(config.account(), name); }

    public DescribeCompilationJobResponse awaitEnd(String name, Duration timeout) throws InterruptedException {
        return awaitEnd(config.account(), name, timeout);
    }

    /** Creates a job in {@code account}; job names are unique per account. */
    public CreateCompilationJobResponse createCompilationJob(String account, CreateCompilationJobRequest request) {
        checkAccount(account);
        RequestValidation.check(request);
        String name = request.compilationJobName();
        if (store.count(CompilationJobStatus.STARTING) >= config.queueLimit()) {
            throw new CompilationJobException(Error.RESOURCE_LIMIT_EXCEEDED, config.queueLimit()
                    + " compilation jobs are already waiting for a worker, the most this service queues; "
                    + "create " + name + " again when some have finished");
        }
        Instant now = Instant.now();
        JobRecord job = JobRecord.created(account, name, arn(account, name), request, now);
        if (!store.insert(job)) {
            throw new CompilationJobException(Error.RESOURCE_IN_USE, "a compilation job named " + name
                    + " already exists (" + job.arn() + "); job names are unique per account: pick another name, "
                    + "or delete the old job once it has ended");
        }
        store.log(job.account(), name, now, "created; waiting for a worker");
        if (scheduler != null) scheduler.execute(this::tick);
        return new CreateCompilationJobResponse(job.arn());
    }

    public DescribeCompilationJobResponse describeCompilationJob(String account, String name) {
        JobRecord j = find(account, name);
        var request = j.request();
        var stopping = request.stoppingCondition();
        return new DescribeCompilationJobResponse(j.name(), j.arn(), j.status(), j.startTime(), j.endTime(),
                stopping, null, request.modelPackageVersionArn(), j.creationTime(), j.lastModifiedTime(),
                j.failureReason(), new ModelArtifacts(j.artifactUri() == null ? "" : j.artifactUri()),
                j.artifactDigest() == null ? null : new ModelDigests(j.artifactDigest()), request.roleArn(),
                request.inputConfig(), request.outputConfig(), request.vpcConfig(),
                j.derivedDataInputConfig() == null ? null : new DerivedInformation(j.derivedDataInputConfig()));
    }

    public ListCompilationJobsResponse listCompilationJobs(String account, ListCompilationJobsRequest request) {
        checkAccount(account);
        var q = ListValidation.check(request);
        return store.list(account, request, q.sortBy(), q.ascending(), q.maxResults());
    }

    /**
     * Stops a job: a queued one at once, a compiling one by interrupting its compile and killing its
     * toolchain processes. The job reads STOPPING until the compile has ended, then STOPPED.
     */
    public void stopCompilationJob(String account, String name) {
        JobRecord j = find(account, name);
        Instant now = Instant.now();
        if (j.status() == CompilationJobStatus.STOPPING) return;
        if (j.status().isTerminal()) {
            throw CompilationJobException.validation("compilation job " + name + " is " + j.status()
                    + "; only a STARTING or INPROGRESS job can be stopped");
        }
        if (!store.transition(j.account(), name, EnumSet.of(CompilationJobStatus.STARTING, CompilationJobStatus.INPROGRESS),
                JobStore.Change.to(CompilationJobStatus.STOPPING, now))) {
            stopCompilationJob(account, name);
            return;
        }
        store.log(j.account(), name, now, "stop requested");
        if (j.status() == CompilationJobStatus.STARTING) {
            end(j.account(), name, CompilationJobStatus.STOPPED, null, "stopped before it started");
        } else {
            JobRun run = running.get(key(j.account(), name));
            if (run != null) run.cancel(JobRun.Cancel.stop());
        }
    }

    /** Deletes a job that has ended (COMPLETED, FAILED or STOPPED), with its log; its artifact stays where it was written. */
    public void deleteCompilationJob(String account, String name) {
        JobRecord j = find(account, name);
        if (!store.deleteTerminal(j.account(), name)) {
            throw new CompilationJobException(Error.RESOURCE_IN_USE, "compilation job " + name + " is " + j.status()
                    + "; only a COMPLETED, FAILED or STOPPED job can be deleted: stop it, and delete it once it is STOPPED");
        }
    }

    /** The job's log lines, oldest first, each led by its time. */
    public List<String> logs(String account, String name) {
        JobRecord j = find(account, name);
        return store.logs(j.account(), j.name());
    }

    /** Waits until the job has ended (or the timeout passes) and describes it. */
    public DescribeCompilationJobResponse awaitEnd(String account, String name, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            DescribeCompilationJobResponse d = describeCompilationJob(account, name);
            if (d.compilationJobStatus().isTerminal() || System.nanoTime() >= deadline) return d;
            Thread.sleep(50);
        }
    }

    private String arn(String account, String name) {
        return "arn:aws:sagemaker:" + config.region() + ":" + account + ":compilation-job/" + name;
    }

    private static void checkAccount(String account) {
        if (!JobsConfig.isAccountId(account)) {
            throw new IllegalArgumentException("an account id is 12 digits, got " + account);
        }
    }

    private JobRecord find(String account, String name) {
        checkAccount(account);
        RequestValidation.checkJobName(name);
        return store.get(account, name).orElseThrow(() -> new CompilationJobException(Error.RESOURCE_NOT_FOUND,
                "no compilation job named " + name + " (" + arn(account, name) + ")"));
    }

    /** Settles what a runner that ended without closing left behind. */
    private void recover() {
        Instant now = Instant.now();
        for (JobRecord j : store.inStatus(EnumSet.of(CompilationJobStatus.INPROGRESS, CompilationJobStatus.STOPPING))) {
            if (j.status() == CompilationJobStatus.STOPPING) {
                end(j.account(), j.name(), CompilationJobStatus.STOPPED, null, "stopped: Kiln restarted while the job was stopping");
            } else {
                end(j.account(), j.name(), CompilationJobStatus.FAILED, "InternalError: the Kiln process running this job "
                        + "ended (it was killed or the machine restarted) while the job was INPROGRESS; no artifact was "
                        + "published. Create the job again to compile the model.", null);
            }
            JobRun.deleteWorkDirectory(config.dataDir(), j.account(), j.name());
        }
    }

    /** The runner's heartbeat: starts queued jobs on free workers and enforces stops and time limits. */
    private void tick() {
        try {
            Instant now = Instant.now();
            List<JobRecord> queued = store.inStatus(EnumSet.of(CompilationJobStatus.STARTING));
            for (JobRun run : running.values()) run.police(now);
            for (JobRecord j : queued) {
                Optional<String> late = JobRun.waitedTooLong(j, false, now);
                if (late.isPresent()) {
                    if (store.transition(j.account(), j.name(), EnumSet.of(CompilationJobStatus.STARTING),
                            JobStore.Change.to(CompilationJobStatus.FAILED, now).ended().failure(late.get()))) {
                        store.log(j.account(), j.name(), now, late.get());
                    }
                } else if (workers != null && running.size() < config.workers()
                        && store.transition(j.account(), j.name(), EnumSet.of(CompilationJobStatus.STARTING),
                                JobStore.Change.to(CompilationJobStatus.INPROGRESS, now).started())) {
                    // The claim succeeds for one runner only; a job stopped meanwhile is no longer STARTING.
                    JobRun run = new JobRun(j, store, storage, config, () -> running.remove(key(j.account(), j.name())));
                    running.put(key(j.account(), j.name()), run);
                    workers.execute(run);
                }
            }
        } catch (RuntimeException e) {
            // The heartbeat must survive a store hiccup (a busy database): the next tick retries.
            System.err.println("kiln jobs: " + e.getMessage());
        }
    }

    private void end(String account, String name, CompilationJobStatus status, String failure, String logLine) {
        Instant now = Instant.now();
        JobStore.Change change = JobStore.Change.to(status, now).ended();
        if (failure != null) change = change.failure(failure);
        if (store.transition(account, name, ACTIVE, change)) {
            store.log(account, name, now, logLine != null ? logLine : failure);
        }
    }

    private static StorageConfig storageConfig(JobsConfig.S3Access s3) {
        Optional<AwsCredentials> keys = s3.accessKeyId().map(id -> AwsBasicCredentials.create(id, s3.secretAccessKey().orElseThrow()));
        return new StorageConfig(s3.endpoint(), s3.region(), keys);
    }

    private static String key(String account, String name) { return account + "/" + name; }

    private static java.util.concurrent.ThreadFactory daemon(String name) {
        return r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        };
    }

    /**
     * Closes the store. Jobs still compiling here are stopped first and end FAILED, saying Kiln shut down;
     * queued jobs stay queued for the next runner.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) return;
        if (scheduler != null) scheduler.shutdownNow();
        for (JobRun run : running.values()) run.cancel(JobRun.Cancel.shutdown());
        if (workers != null) {
            workers.shutdown();
            try {
                if (!workers.awaitTermination(WIND_DOWN.toMillis() + 1000, TimeUnit.MILLISECONDS)) workers.shutdownNow();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (JobRun run : running.values()) run.endNow();
        try {
            if (runnerLock != null) runnerLock.release();
            lockFile.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            storage.close();
            store.close();
        }
    }
}
