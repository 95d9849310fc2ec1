package dev.kiln.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.JobsConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The endpoint's protocol as AWS JSON 1.1 clients expect it, and its behaviour under load. */
class SageMakerEndpointTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    static SageMakerEndpoint endpoint;
    static SignedClient client;
    static URI url;

    @BeforeAll
    static void start() throws Exception {
        Path data = dir.resolve("data");
        AccessKey key;
        try (AccessKeys keys = AccessKeys.open(data)) {
            key = keys.add("123456789012");
        }
        endpoint = SageMakerEndpoint.start(CompilationJobs.open(JobsConfig.at(data).withWorkers(2).withQueueLimit(50)),
                AccessKeys.open(data), new InetSocketAddress("127.0.0.1", 0), data.resolve("access.log"));
        url = URI.create("http://127.0.0.1:" + endpoint.port());
        client = new SignedClient(url, key);
    }

    @AfterAll
    static void stop() {
        if (endpoint != null) endpoint.close();
    }

    private static JsonNode error(SignedClient.Response r, int status, String type) throws Exception {
        assertEquals(status, r.status(), r.body());
        JsonNode body = JSON.readTree(r.body());
        assertEquals(type, body.get("__type").asText(), r.body());
        return body;
    }

    @Test
    void answersHealthWithoutSigning() throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(url.resolve("/health")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertEquals("{\"Status\":\"ok\",\"RunsJobs\":true}", r.body());
    }

    @Test
    void refusesWhatIsNotTheProtocolTheAwsWay() throws Exception {
        assertTrue(error(client.call("CreateTrainingJob", "{}"), 400, "UnknownOperationException").get("message").asText()
                .contains("not CreateTrainingJob"));
        error(client.call("DescribeCompilationJob", "{\"CompilationJobName\":"), 400, "SerializationException");
        error(client.call("DescribeCompilationJob", "[1]"), 400, "SerializationException");
        error(client.send("DescribeCompilationJob", "{}", "application/json"), 400, "SerializationException");
        JsonNode unknown = error(client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"a\",\"Extra\":1}"), 400, "ValidationException");
        assertTrue(unknown.get("message").asText().contains("Extra"), unknown.toString());
        JsonNode missing = error(client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"nothing-here\"}"), 400, "ResourceNotFound");
        assertEquals("no compilation job named nothing-here (arn:aws:sagemaker:us-east-1:123456789012:compilation-job/nothing-here)",
                missing.get("message").asText());
        HttpResponse<String> unsigned = HttpClient.newHttpClient().send(HttpRequest.newBuilder(url.resolve("/"))
                .header("Content-Type", SageMakerEndpoint.CONTENT_TYPE).header("X-Amz-Target", "SageMaker.ListCompilationJobs")
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(403, unsigned.statusCode());
        assertTrue(unsigned.body().contains("MissingAuthenticationTokenException"), unsigned.body());
    }

    @Test
    void describesWithEpochSecondTimestampsAndLogsEveryRequest() throws Exception {
        Path archive = EndpointTesting.tinyModelArchive(dir.resolve("models"));
        var created = client.call("CreateCompilationJob", EndpointTesting.createBody("tiny-one", archive, "{\"x\":[1,8]}", dir.resolve("out")));
        assertEquals(200, created.status(), created.body());
        JsonNode d = JSON.readTree(client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"tiny-one\"}").body());
        assertTrue(d.get("CreationTime").isNumber(), d.toString());
        assertTrue(Math.abs(d.get("CreationTime").asDouble() - System.currentTimeMillis() / 1000.0) < 60, d.toString());
        assertEquals(200, client.call("StopCompilationJob", "{\"CompilationJobName\":\"tiny-one\"}").status());
        List<String> log = Files.readAllLines(dir.resolve("data/access.log"));
        assertTrue(log.stream().anyMatch(l -> l.contains(" 123456789012 POST / SageMaker.CreateCompilationJob 200 ")), log.toString());
    }

    @Test
    void twentyConcurrentCreatesAllQueueAndComplete() throws Exception {
        Path archive = EndpointTesting.tinyModelArchive(dir.resolve("models-20"));
        ExecutorService pool = Executors.newFixedThreadPool(20);
        List<Future<SignedClient.Response>> creates = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            String body = EndpointTesting.createBody("burst-" + i, archive, "{\"x\":[1,8]}", dir.resolve("out-20/" + i));
            creates.add(pool.submit(() -> client.call("CreateCompilationJob", body)));
        }
        for (Future<SignedClient.Response> f : creates) assertEquals(200, f.get().status(), f.get().body());
        pool.shutdown();
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        for (int i = 0; i < 20; i++) {
            String status;
            do {
                JsonNode d = JSON.readTree(client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"burst-" + i + "\"}").body());
                status = d.get("CompilationJobStatus").asText();
                if (status.equals("FAILED")) throw new AssertionError(d.toString());
                if (!status.equals("COMPLETED")) Thread.sleep(100);
            } while (!status.equals("COMPLETED") && System.nanoTime() < deadline);
            assertEquals("COMPLETED", status, "burst-" + i);
        }
    }

    /**
     * 200 describe and list requests a second for 30 s, sent on a fixed schedule whatever the answers take,
     * after 10 s at the same rate that warm the JVM's compilers and are not counted.
     */
    @Test
    void holds200RequestsASecondWithAP99Under50Milliseconds() throws Exception {
        Path archive = EndpointTesting.tinyModelArchive(dir.resolve("models-load"));
        for (int i = 0; i < 5; i++) {
            client.call("CreateCompilationJob", EndpointTesting.createBody("load-" + i, archive, "{\"x\":[1,8]}", dir.resolve("out-load")));
        }
        load(200, 10);
        long[] latencies = load(200, 30);
        double p50 = latencies[latencies.length / 2] / 1e6, p99 = latencies[(int) (latencies.length * 0.99)] / 1e6;
        System.out.printf(java.util.Locale.ROOT, "endpoint load: %d requests at 200/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms%n",
                latencies.length, p50, p99, latencies[latencies.length - 1] / 1e6);
        assertTrue(p99 < 50, "p99 " + p99 + " ms");
    }

    /** Sends {@code rate} requests a second for {@code seconds}; returns their latencies in nanoseconds, sorted. */
    private static long[] load(int rate, int seconds) throws Exception {
        ConcurrentLinkedQueue<Long> latencies = new ConcurrentLinkedQueue<>();
        ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();
        AtomicInteger sent = new AtomicInteger();
        ExecutorService senders = Executors.newFixedThreadPool(64);
        ScheduledExecutorService clock = Executors.newSingleThreadScheduledExecutor();
        clock.scheduleAtFixedRate(() -> {
            int n = sent.getAndIncrement();
            if (n >= rate * seconds) return;
            senders.execute(() -> {
                long t0 = System.nanoTime();
                try {
                    SignedClient.Response r = n % 2 == 0
                            ? client.call("DescribeCompilationJob", "{\"CompilationJobName\":\"load-" + (n % 5) + "\"}")
                            : client.call("ListCompilationJobs", "{\"MaxResults\":10,\"SortBy\":\"CreationTime\"}");
                    if (r.status() != 200) errors.add(r.status() + " " + r.body());
                } catch (Exception e) {
                    errors.add(e.toString());
                }
                latencies.add(System.nanoTime() - t0);
            });
        }, 0, 1_000_000 / rate, TimeUnit.MICROSECONDS);
        long deadline = System.nanoTime() + Duration.ofSeconds(seconds + 30).toNanos();
        while (latencies.size() < rate * seconds && System.nanoTime() < deadline) Thread.sleep(100);
        clock.shutdownNow();
        senders.shutdown();
        assertEquals(List.of(), List.copyOf(errors).subList(0, Math.min(5, errors.size())), errors.size() + " errors");
        assertEquals(rate * seconds, latencies.size());
        return latencies.stream().mapToLong(Long::longValue).sorted().toArray();
    }
}
