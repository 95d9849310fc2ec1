package dev.kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.ModelArchiveWriter;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The endpoint driven by clients nobody here wrote: Debian's AWS CLI and boto3, pointed at it with
 * --endpoint-url and signing with keys from the data directory.
 */
class AwsClientsTest {
    static final Path AWS = Path.of("/usr/bin/aws"), PYTHON = Path.of("/usr/bin/python3");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static SageMakerEndpoint endpoint;
    static AccessKey boto3Key, otherKey, cliKey;
    static Path archive;

    @BeforeAll
    static void start() throws IOException {
        assertTrue(Files.isExecutable(AWS), "the AWS CLI tests need Debian's awscli (apt-get install awscli; ./test installs it)");
        Path data = dir.resolve("data");
        try (AccessKeys keys = AccessKeys.open(data)) {
            boto3Key = keys.add("123456789012");
            otherKey = keys.add("210987654321");
            cliKey = keys.add("333333333333");
        }
        CompilationJobs jobs = CompilationJobs.open(JobsConfig.at(data).withWorkers(2));
        endpoint = SageMakerEndpoint.start(jobs, AccessKeys.open(data), new InetSocketAddress("127.0.0.1", 0), data.resolve("access.log"));
        archive = dir.resolve("models/squeezenet.tar.gz");
        ModelArchiveWriter.write(Fixtures.dir("squeezenet1_1").resolve("model.onnx"), archive);
        installServiceModel(dir.resolve("aws-models"));
    }

    @AfterAll
    static void stop() {
        if (endpoint != null) endpoint.close();
    }

    /**
     * Debian's botocore predates DeleteCompilationJob; the clients read the API model of the seed, which has
     * all five operations, from their data path (AWS_DATA_PATH), as they would a newer model.
     */
    static void installServiceModel(Path dataPath) throws IOException {
        Path model = dataPath.resolve("sagemaker/2017-07-24/service-2.json");
        Files.createDirectories(model.getParent());
        Files.copy(TestPaths.shared().resolve("seed/sagemaker-compilation-jobs.json"), model);
    }

    static String url() { return "http://127.0.0.1:" + endpoint.port(); }

    record Run(int code, String out, String err) {}

    static Run run(List<String> command, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command);
        Path out = Files.createTempFile(dir, "out", ".txt"), err = Files.createTempFile(dir, "err", ".txt");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        pb.environment().keySet().removeIf(k -> k.startsWith("AWS_"));
        pb.environment().putAll(Map.of("HOME", dir.toString(), "AWS_DATA_PATH", dir.resolve("aws-models").toString(),
                "AWS_DEFAULT_REGION", "us-east-1", "AWS_CONFIG_FILE", dir.resolve("no-config").toString(),
                "AWS_SHARED_CREDENTIALS_FILE", dir.resolve("no-credentials").toString(), "AWS_PAGER", ""));
        pb.environment().putAll(env);
        Process p = pb.start();
        if (!p.waitFor(10, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(command + " did not finish");
        }
        return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    static Map<String, String> credentials(AccessKey key) {
        return Map.of("AWS_ACCESS_KEY_ID", key.accessKeyId(), "AWS_SECRET_ACCESS_KEY", key.secretAccessKey());
    }

    @Test
    void boto3ScriptsWorkUnchanged() throws Exception {
        Path script = dir.resolve("boto3_compilation_jobs.py");
        try (var in = AwsClientsTest.class.getResourceAsStream("boto3_compilation_jobs.py")) {
            Files.copy(in, script);
        }
        var env = new java.util.HashMap<>(credentials(boto3Key));
        env.putAll(Map.of("BAD_SECRET", otherKey.secretAccessKey(), "OTHER_KEY_ID", otherKey.accessKeyId(),
                "OTHER_SECRET", otherKey.secretAccessKey()));
        Run r = run(List.of(PYTHON.toString(), script.toString(), url(), archive.toString(), dir.resolve("boto3-out").toString()), env);
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("all boto3 checks passed"), r.out());
    }

    private Run aws(String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(AWS.toString(), "sagemaker", "--endpoint-url", url(), "--output", "json"));
        command.addAll(List.of(args));
        return run(command, credentials(cliKey));
    }

    private JsonNode awsJson(String... args) throws Exception {
        Run r = aws(args);
        assertEquals(0, r.code(), String.join(" ", args) + ": " + r.err());
        return JSON.readTree(r.out().isBlank() ? "{}" : r.out());
    }

    private JsonNode awaitStatus(String name, List<String> statuses) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        while (true) {
            JsonNode job = awsJson("describe-compilation-job", "--compilation-job-name", name);
            if (statuses.contains(job.get("CompilationJobStatus").asText()) || System.nanoTime() > deadline) return job;
            Thread.sleep(200);
        }
    }

    private JsonNode create(String name, String dataInputConfig) throws Exception {
        return awsJson("create-compilation-job", "--compilation-job-name", name, "--role-arn", "arn:aws:iam::333333333333:role/kiln",
                "--input-config", JSON.writeValueAsString(Map.of("S3Uri", archive.toString(), "DataInputConfig", dataInputConfig, "Framework", "ONNX")),
                "--output-config", JSON.writeValueAsString(Map.of("S3OutputLocation", dir.resolve("cli-out").toString(), "TargetDevice", "ml_c5")),
                "--stopping-condition", "MaxRuntimeInSeconds=600");
    }

    @Test
    void awsCliScriptsWorkUnchanged() throws Exception {
        JsonNode created = create("cli-squeezenet", "{\"input0\":[1,3,224,224]}");
        assertEquals("arn:aws:sagemaker:us-east-1:333333333333:compilation-job/cli-squeezenet", created.get("CompilationJobArn").asText());
        JsonNode done = awaitStatus("cli-squeezenet", List.of("COMPLETED", "FAILED", "STOPPED"));
        assertEquals("COMPLETED", done.get("CompilationJobStatus").asText(), done.toString());
        Path artifact = dir.resolve("cli-out/squeezenet-ml_c5.tar.gz");
        assertEquals(artifact.toString(), done.at("/ModelArtifacts/S3ModelArtifacts").asText());
        assertEquals(dev.kiln.runtime.artifact.Blake2.hex(artifact), done.at("/ModelDigests/ArtifactDigest").asText());

        for (String name : List.of("cli-a", "cli-b", "cli-c")) {
            create(name, "{\"input0\":[1,3,224,224]}");
            awsJson("stop-compilation-job", "--compilation-job-name", name);
        }
        JsonNode running = awaitStatus("cli-c", List.of("STOPPED"));
        assertEquals("STOPPED", running.get("CompilationJobStatus").asText());

        JsonNode page = awsJson("list-compilation-jobs", "--sort-by", "Name", "--sort-order", "Ascending", "--max-results", "2", "--no-paginate");
        assertEquals(List.of("cli-a", "cli-b"), names(page));
        JsonNode rest = awsJson("list-compilation-jobs", "--sort-by", "Name", "--sort-order", "Ascending", "--max-results", "2",
                "--no-paginate", "--next-token", page.get("NextToken").asText());
        assertEquals(List.of("cli-c", "cli-squeezenet"), names(rest));
        assertEquals(List.of("cli-a", "cli-b", "cli-c", "cli-squeezenet"),
                names(awsJson("list-compilation-jobs", "--sort-by", "Name", "--sort-order", "Ascending", "--page-size", "1")),
                "the CLI follows NextToken itself");
        assertEquals(List.of("cli-squeezenet"), names(awsJson("list-compilation-jobs", "--status-equals", "COMPLETED")));
        assertEquals(List.of("cli-b"), names(awsJson("list-compilation-jobs", "--name-contains=-B")), "NameContains ignores case");
        assertEquals(List.of(), names(awsJson("list-compilation-jobs", "--creation-time-after", "2100-01-01T00:00:00Z")));
        assertEquals(4, names(awsJson("list-compilation-jobs", "--creation-time-after", "2020-01-01T00:00:00Z",
                "--creation-time-before", "2100-01-01T00:00:00Z", "--last-modified-time-after", "2020-01-01T00:00:00Z")).size());
        assertEquals(List.of("cli-c", "cli-b", "cli-a", "cli-squeezenet"), names(awsJson("list-compilation-jobs", "--sort-by", "CreationTime")),
                "newest first");

        awsJson("delete-compilation-job", "--compilation-job-name", "cli-a");
        Run missing = aws("describe-compilation-job", "--compilation-job-name", "cli-a");
        assertNotEquals(0, missing.code());
        assertTrue(missing.err().contains("(ResourceNotFound)") && missing.err().contains("cli-a"), missing.err());

        Run bad = aws("create-compilation-job", "--compilation-job-name", "cli-bad", "--role-arn", "arn:aws:iam::333333333333:role/kiln",
                "--input-config", "{\"S3Uri\": \"" + archive + "\", \"DataInputConfig\": \"[[1,3,224]]\", \"Framework\": \"ONNX\"}",
                "--output-config", "{\"S3OutputLocation\": \"" + dir + "\", \"TargetDevice\": \"ml_c5\"}",
                "--stopping-condition", "MaxRuntimeInSeconds=60");
        assertNotEquals(0, bad.code());
        assertTrue(bad.err().contains("(ValidationException)"), bad.err());

        Map<String, String> wrong = Map.of("AWS_ACCESS_KEY_ID", cliKey.accessKeyId(), "AWS_SECRET_ACCESS_KEY", otherKey.secretAccessKey());
        Run denied = run(List.of(AWS.toString(), "sagemaker", "--endpoint-url", url(), "list-compilation-jobs"), wrong);
        assertNotEquals(0, denied.code());
        assertTrue(denied.err().contains("(InvalidSignatureException)"), denied.err());
        Run unsigned = run(List.of(AWS.toString(), "sagemaker", "--endpoint-url", url(), "--no-sign-request", "list-compilation-jobs"), Map.of());
        assertTrue(unsigned.err().contains("(MissingAuthenticationTokenException)"), unsigned.err());
    }

    private static List<String> names(JsonNode list) {
        List<String> names = new ArrayList<>();
        list.get("CompilationJobSummaries").forEach(j -> names.add(j.get("CompilationJobName").asText()));
        return names;
    }
}
