package dev.kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.cli.Kiln;
import dev.kiln.jobs.CompilationJobStatus;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.runtime.artifact.Blake2;
import dev.kiln.jobs.ModelArchiveWriter;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code kiln serve} killed with SIGKILL while it compiles, and started again on the same data directory. */
class EndpointRestartTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("on http://127\\.0\\.0\\.1:(\\d+) ");

    @TempDir
    Path dir;

    /** A {@code kiln serve} process and the port it listens on. */
    private record Server(Process process, URI url) {}

    private Server serve(Path data, String log) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow(), "-cp",
                System.getProperty("java.class.path"), Kiln.class.getName(), "serve", "--port", "0", "--data-dir", data.toString(),
                "--workers", "1"));
        Path output = dir.resolve(log);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            Matcher m = LISTENING.matcher(Files.readString(output));
            if (m.find()) return new Server(p, URI.create("http://127.0.0.1:" + m.group(1)));
            assertTrue(p.isAlive(), "kiln serve ended: " + Files.readString(output));
            Thread.sleep(50);
        }
        throw new AssertionError("kiln serve did not start: " + Files.readString(output));
    }

    private static JsonNode describe(SignedClient client, String name) throws Exception {
        var r = client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"" + name + "\"}");
        assertEquals(200, r.status(), r.body());
        return JSON.readTree(r.body());
    }

    private static JsonNode await(SignedClient client, String name, List<String> statuses) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        JsonNode d;
        do {
            d = describe(client, name);
            if (statuses.contains(d.get("CompilationJobStatus").asText())) return d;
            Thread.sleep(100);
        } while (System.nanoTime() < deadline);
        throw new AssertionError(name + " never reached " + statuses + ": " + d);
    }

    @Test
    void everyJobSurvivesAKillAndNoneStaysInProgress() throws Exception {
        Path data = dir.resolve("data");
        AccessKey key;
        try (AccessKeys keys = AccessKeys.open(data)) {
            key = keys.add("123456789012");
        }
        Path tiny = EndpointTesting.tinyModelArchive(dir.resolve("models"));
        Path squeezenet = dir.resolve("models/squeezenet.tar.gz");
        ModelArchiveWriter.write(Fixtures.dir("squeezenet1_1").resolve("model.onnx"), squeezenet);

        Server first = serve(data, "first.log");
        SignedClient client = new SignedClient(first.url(), key);
        Map<String, String> digests = new TreeMap<>();
        try {
            for (String name : List.of("done-1", "done-2")) {
                assertEquals(200, client.call("CreateCompilationJob", EndpointTesting.createBody(name, tiny, "{\"x\":[1,8]}",
                        dir.resolve("out/" + name))).status());
                JsonNode d = await(client, name, List.of("COMPLETED"));
                digests.put(d.at("/ModelArtifacts/S3ModelArtifacts").asText(), d.at("/ModelDigests/ArtifactDigest").asText());
            }
            assertEquals(200, client.call("CreateCompilationJob", EndpointTesting.createBody("compiling", squeezenet,
                    "{\"input0\":[1,3,224,224]}", dir.resolve("out/compiling"))).status());
            assertEquals(200, client.call("CreateCompilationJob", EndpointTesting.createBody("queued", tiny, "{\"x\":[1,8]}",
                    dir.resolve("out/queued"))).status());
            await(client, "compiling", List.of("INPROGRESS"));
            assertEquals("STARTING", describe(client, "queued").get("CompilationJobStatus").asText());
        } finally {
            List<ProcessHandle> children = first.process().descendants().toList();
            first.process().destroyForcibly().waitFor();
            children.forEach(ProcessHandle::destroyForcibly);
        }

        Server second = serve(data, "second.log");
        try {
            client = new SignedClient(second.url(), key);
            JsonNode killed = describe(client, "compiling");
            assertEquals("FAILED", killed.get("CompilationJobStatus").asText());
            assertTrue(killed.get("FailureReason").asText().startsWith("InternalError: the Kiln process running this job ended"), killed.toString());
            assertTrue(Files.notExists(dir.resolve("out/compiling/squeezenet-ml_c5.tar.gz")));
            // The job that was still queued runs now; then nothing is left in progress.
            assertEquals("COMPLETED", await(client, "queued", List.of("COMPLETED", "FAILED")).get("CompilationJobStatus").asText());
            var list = JSON.readTree(client.call("ListCompilationJobs", "{\"SortBy\":\"Name\",\"SortOrder\":\"Ascending\"}").body());
            Map<String, String> statuses = new TreeMap<>();
            list.get("CompilationJobSummaries").forEach(j -> statuses.put(j.get("CompilationJobName").asText(), j.get("CompilationJobStatus").asText()));
            assertEquals(Map.of("compiling", "FAILED", "done-1", "COMPLETED", "done-2", "COMPLETED", "queued", "COMPLETED"), statuses);
            for (var artifact : digests.entrySet()) {
                assertEquals(artifact.getValue(), Blake2.hex(Path.of(artifact.getKey())), "the artifact is intact: " + artifact.getKey());
                String name = Path.of(artifact.getKey()).getParent().getFileName().toString();
                assertEquals(artifact.getValue(), describe(client, name).at("/ModelDigests/ArtifactDigest").asText());
            }
            // A graceful shutdown ends the job it is compiling, saying why.
            assertEquals(200, client.call("CreateCompilationJob", EndpointTesting.createBody("at-shutdown", squeezenet,
                    "{\"input0\":[1,3,224,224]}", dir.resolve("out/at-shutdown"))).status());
            await(client, "at-shutdown", List.of("INPROGRESS"));
        } finally {
            second.process().destroy();
            assertTrue(second.process().waitFor(30, TimeUnit.SECONDS), "kiln serve shuts down on SIGTERM");
        }
        assertTrue(Files.readString(dir.resolve("second.log")).contains("kiln serve: shutting down"));
        try (CompilationJobs jobs = CompilationJobs.open(JobsConfig.at(data).withWorkers(0))) {
            var d = jobs.describeCompilationJob("123456789012", "at-shutdown");
            assertEquals(CompilationJobStatus.FAILED, d.compilationJobStatus());
            assertTrue(d.failureReason().startsWith("InternalError: Kiln shut down while this job was INPROGRESS"), d.failureReason());
        }
    }
}
