package dev.kiln.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.kiln.jobs.CompilationJobException;
import dev.kiln.jobs.CompilationJobs;
import dev.kiln.jobs.CreateCompilationJobRequest;
import dev.kiln.jobs.JobsJson;
import dev.kiln.jobs.ListCompilationJobsRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The compilation-job operations of SageMaker over HTTP, as AWS serves them: AWS JSON 1.1 ({@code POST /},
 * {@code X-Amz-Target: SageMaker.<Operation>}), Signature Version 4 checked against the data directory's
 * access keys, errors as {@code {"__type": ..., "message": ...}}. Each key belongs to an account; a request
 * sees only its account's jobs. {@code GET /health} answers without signing.
 */
public final class SageMakerEndpoint implements AutoCloseable {
    static final String CONTENT_TYPE = "application/x-amz-json-1.1";
    static final String TARGET_PREFIX = "SageMaker.";
    /** Requests of these operations are small; a larger body is refused before it is read in full. */
    static final int MAX_BODY_BYTES = 1 << 20;

    private final HttpServer http;
    private final ExecutorService handlers;
    private final CompilationJobs jobs;
    private final AccessKeys keys;
    private final Writer accessLog;

    /** What GET /health answers. */
    record Health(String status, boolean runsJobs) {}

    /** The request of the operations that name one job: Describe, Stop and Delete. */
    record JobNameRequest(String compilationJobName) {}

    private SageMakerEndpoint(HttpServer http, ExecutorService handlers, CompilationJobs jobs, AccessKeys keys, Writer accessLog) {
        this.http = http;
        this.handlers = handlers;
        this.jobs = jobs;
        this.keys = keys;
        this.accessLog = accessLog;
    }

    /**
     * Serves {@code jobs} on {@code address} (port 0 picks a free one) until closed, appending one line per
     * request to {@code accessLog}.
     */
    public static SageMakerEndpoint start(CompilationJobs jobs, AccessKeys keys, InetSocketAddress address, Path accessLog)
            throws IOException {
        HttpServer http = HttpServer.create(address, 256);
        ExecutorService handlers = Executors.newFixedThreadPool(32, r -> {
            Thread t = new Thread(r, "kiln-endpoint");
            t.setDaemon(true);
            return t;
        });
        Writer log = Files.newBufferedWriter(accessLog, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        SageMakerEndpoint endpoint = new SageMakerEndpoint(http, handlers, jobs, keys, log);
        http.setExecutor(handlers);
        http.createContext("/", endpoint::handle);
        http.start();
        return endpoint;
    }

    public int port() { return http.getAddress().getPort(); }

    /** An answer: HTTP status and JSON body. */
    private record Reply(int status, String json, String errorType) {
        static Reply ok(Object shape) { return new Reply(200, shape == null ? "{}" : JobsJson.write(shape), null); }

        static Reply error(int status, String type, String message) {
            return new Reply(status, JobsJson.write(Map.of("__type", type, "message", message == null ? "" : message)), type);
        }
    }

    private void handle(HttpExchange exchange) {
        long t0 = System.nanoTime();
        String operation = "-";
        String account = "-";
        Reply reply;
        try {
            String path = exchange.getRequestURI().getRawPath();
            if (exchange.getRequestMethod().equals("GET") && path.equals("/health")) {
                reply = Reply.ok(new Health("ok", jobs.runsJobs()));
            } else {
                byte[] body = readBody(exchange);
                String target = exchange.getRequestHeaders().getFirst("X-Amz-Target");
                operation = target == null ? "-" : target;
                if (body == null) {
                    reply = Reply.error(413, "SerializationException", "the request body is larger than " + MAX_BODY_BYTES + " bytes");
                } else {
                    AccessKey key = SigV4.verify(new SignedRequest(exchange.getRequestMethod(), path,
                            exchange.getRequestURI().getRawQuery(), exchange.getRequestHeaders(), body), keys, Instant.now());
                    account = key.account();
                    reply = dispatch(exchange, path, target, key.account(), body);
                }
            }
        } catch (AuthenticationException e) {
            reply = Reply.error(403, e.code(), e.getMessage());
        } catch (CompilationJobException e) {
            reply = Reply.error(400, e.error().awsName(), e.getMessage());
        } catch (IllegalArgumentException e) {
            reply = Reply.error(400, "ValidationException", e.getMessage());
        } catch (IOException | UncheckedIOException e) {
            reply = Reply.error(500, "InternalFailure", "the request could not be read or answered: " + e.getMessage());
        } catch (RuntimeException e) {
            reply = Reply.error(500, "InternalFailure", "Kiln failed to process the request: " + e);
        }
        send(exchange, reply);
        logAccess(exchange, operation, account, reply, System.nanoTime() - t0);
    }

    private Reply dispatch(HttpExchange exchange, String path, String target, String account, byte[] body) {
        if (!exchange.getRequestMethod().equals("POST") || !path.equals("/")) {
            return Reply.error(404, "UnknownOperationException", "this endpoint takes POST / with an X-Amz-Target header");
        }
        if (target == null || !target.startsWith(TARGET_PREFIX)) {
            return Reply.error(400, "UnknownOperationException", "the X-Amz-Target header must name a SageMaker operation, "
                    + "e.g. SageMaker.DescribeCompilationJob; got " + (target == null ? "none" : "'" + target + "'"));
        }
        String contentType = exchange.getRequestHeaders().getFirst("Content-Type");
        if (contentType == null || !contentType.toLowerCase(Locale.ROOT).startsWith(CONTENT_TYPE)) {
            return Reply.error(400, "SerializationException", "the Content-Type must be " + CONTENT_TYPE + ", got "
                    + (contentType == null ? "none" : "'" + contentType + "'"));
        }
        String text = new String(body, StandardCharsets.UTF_8);
        // Operations without required members may be sent with no body at all.
        String json = text.isBlank() ? "{}" : text;
        return switch (target.substring(TARGET_PREFIX.length())) {
            case "CreateCompilationJob" ->
                    Reply.ok(jobs.createCompilationJob(account, JobsJson.read(json, CreateCompilationJobRequest.class)));
            case "DescribeCompilationJob" ->
                    Reply.ok(jobs.describeCompilationJob(account, JobsJson.read(json, JobNameRequest.class).compilationJobName()));
            case "ListCompilationJobs" -> Reply.ok(jobs.listCompilationJobs(account, JobsJson.read(json, ListCompilationJobsRequest.class)));
            case "StopCompilationJob" -> {
                jobs.stopCompilationJob(account, JobsJson.read(json, JobNameRequest.class).compilationJobName());
                yield Reply.ok(null);
            }
            case "DeleteCompilationJob" -> {
                jobs.deleteCompilationJob(account, JobsJson.read(json, JobNameRequest.class).compilationJobName());
                yield Reply.ok(null);
            }
            default -> Reply.error(400, "UnknownOperationException", "Kiln serves the compilation-job operations of SageMaker: "
                    + "CreateCompilationJob, DescribeCompilationJob, ListCompilationJobs, StopCompilationJob and "
                    + "DeleteCompilationJob; not " + target.substring(TARGET_PREFIX.length()));
        };
    }

    /** The body, or null when it is over the limit. */
    private static byte[] readBody(HttpExchange exchange) throws IOException {
        try (InputStream in = exchange.getRequestBody()) {
            byte[] body = in.readNBytes(MAX_BODY_BYTES + 1);
            return body.length > MAX_BODY_BYTES ? null : body;
        }
    }

    private static void send(HttpExchange exchange, Reply reply) {
        byte[] bytes = reply.json().getBytes(StandardCharsets.UTF_8);
        var headers = exchange.getResponseHeaders();
        headers.set("Content-Type", CONTENT_TYPE);
        headers.set("x-amzn-RequestId", UUID.randomUUID().toString());
        if (reply.errorType() != null) headers.set("x-amzn-ErrorType", reply.errorType());
        try (OutputStream out = exchange.getResponseBody()) {
            exchange.sendResponseHeaders(reply.status(), bytes.length);
            out.write(bytes);
        } catch (IOException e) {
            // The client went away; the access log still records the answer it was given.
        } finally {
            exchange.close();
        }
    }

    private void logAccess(HttpExchange exchange, String operation, String account, Reply reply, long nanos) {
        String line = String.format(Locale.ROOT, "%s %s %s %s %s %d %.1fms%n", Instant.now(),
                exchange.getRemoteAddress().getAddress().getHostAddress(), account, exchange.getRequestMethod() + " "
                        + exchange.getRequestURI().getRawPath(), operation, reply.status(), nanos / 1e6);
        synchronized (accessLog) {
            try {
                accessLog.write(line);
                accessLog.flush();
            } catch (IOException e) {
                System.err.println("kiln serve: cannot write the access log: " + e.getMessage());
            }
        }
    }

    /**
     * Stops taking requests, lets those being answered finish (up to a second), then closes the jobs: a job
     * still compiling here is stopped and ends FAILED saying the server shut down, queued jobs stay queued.
     */
    @Override
    public void close() {
        http.stop(1);
        handlers.shutdown();
        try {
            handlers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            jobs.close();
        } finally {
            keys.close();
            synchronized (accessLog) {
                try {
                    accessLog.close();
                } catch (IOException e) {
                    System.err.println("kiln serve: cannot close the access log: " + e.getMessage());
                }
            }
        }
    }
}
