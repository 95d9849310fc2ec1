package dev.kiln.jobs;

import dev.kiln.jobs.CreateCompilationJobRequest.InputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.OutputConfig;
import dev.kiln.jobs.CreateCompilationJobRequest.StoppingCondition;
import dev.kiln.runtime.artifact.Blake2;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;

import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import static dev.kiln.jobs.CompilationJobStatus.COMPLETED;
import static dev.kiln.jobs.CompilationJobStatus.FAILED;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Jobs whose model comes from and whose artifact goes to S3, on a real S3-compatible server in this JVM. */
class CompilationJobsS3Test {
    private static S3ProxyServer s3;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() throws Exception {
        s3 = S3ProxyServer.start();
        s3.sdk.createBucket(b -> b.bucket("models"));
        s3.sdk.createBucket(b -> b.bucket("artifacts"));
    }

    @AfterAll
    static void stop() throws Exception {
        if (s3 != null) s3.close();
    }

    private CompilationJobs open() {
        var access = new JobsConfig.S3Access(Optional.of(s3.endpoint), "us-east-1",
                Optional.of(S3ProxyServer.KEYS.accessKeyId()), Optional.of(S3ProxyServer.KEYS.secretAccessKey()));
        return CompilationJobs.open(JobsConfig.at(dir.resolve("data")).withWorkers(1).withS3(access));
    }

    private static CreateCompilationJobRequest request(String name, String input, String output, String kmsKeyId) {
        return new CreateCompilationJobRequest(name, "arn:aws:iam::123456789012:role/kiln",
                new InputConfig(input, CompilationJobsTest.SHAPES, "ONNX", null),
                new OutputConfig(output, "ml_c5", null, null, kmsKeyId), null, new StoppingCondition(600, null, null), null, null);
    }

    @Test
    void aModelFromS3CompilesToAnArtifactInS3WithTheDigestOfItsBytes() throws Exception {
        Path archive = CompilationJobsTest.modelArchive(dir.resolve("in"), "squeezenet");
        s3.sdk.putObject(b -> b.bucket("models").key("vision/squeezenet.tar.gz"), RequestBody.fromFile(archive));
        try (CompilationJobs jobs = open()) {
            jobs.createCompilationJob(request("from-s3", "s3://models/vision/squeezenet.tar.gz", "s3://artifacts/compiled", null));
            var d = jobs.awaitEnd("from-s3", Duration.ofMinutes(3));
            assertEquals(COMPLETED, d.compilationJobStatus(), d.failureReason());
            assertEquals("s3://artifacts/compiled/squeezenet-ml_c5.tar.gz", d.modelArtifacts().s3ModelArtifacts());
            byte[] uploaded = s3.sdk.getObjectAsBytes(b -> b.bucket("artifacts").key("compiled/squeezenet-ml_c5.tar.gz")).asByteArray();
            assertEquals(Blake2.hex(new ByteArrayInputStream(uploaded)), d.modelDigests().artifactDigest());
            assertEquals(List.of("compiled/squeezenet-ml_c5.tar.gz"),
                    s3.sdk.listObjectsV2(b -> b.bucket("artifacts")).contents().stream().map(o -> o.key()).toList(),
                    "only the finished artifact is in the bucket");

            // The same model read from a local path gives the same artifact.
            jobs.createCompilationJob(request("from-disk", archive.toString(), dir.resolve("out").toString(), null));
            var local = jobs.awaitEnd("from-disk", Duration.ofMinutes(3));
            assertEquals(d.modelDigests(), local.modelDigests());
            assertEquals(Blake2.hex(new ByteArrayInputStream(Files.readAllBytes(dir.resolve("out/squeezenet-ml_c5.tar.gz")))),
                    local.modelDigests().artifactDigest());
        }
    }

    @Test
    void aMissingModelObjectFailsTheJobNamingIt() throws Exception {
        try (CompilationJobs jobs = open()) {
            jobs.createCompilationJob(request("missing", "s3://models/nothing/here.tar.gz", "s3://artifacts/x", null));
            var d = jobs.awaitEnd("missing", Duration.ofMinutes(1));
            assertEquals(FAILED, d.compilationJobStatus());
            assertEquals("ClientError: InputConfiguration: no object s3://models/nothing/here.tar.gz (NoSuchKey)", d.failureReason());
        }
    }

    @Test
    void aKmsKeyOnALocalOutputIsSaidNotToApply() throws Exception {
        Path archive = CompilationJobsTest.modelArchive(dir.resolve("in"), "m");
        try (CompilationJobs jobs = open()) {
            jobs.createCompilationJob(request("kms-local", archive.toString(), dir.resolve("out").toString(), "alias/models"));
            var d = jobs.awaitEnd("kms-local", Duration.ofMinutes(3));
            assertEquals(COMPLETED, d.compilationJobStatus(), d.failureReason());
            assertTrue(jobs.logs("kms-local").stream().anyMatch(l -> l.contains("KmsKeyId is not applied")), jobs.logs("kms-local").toString());
        }
    }
}
