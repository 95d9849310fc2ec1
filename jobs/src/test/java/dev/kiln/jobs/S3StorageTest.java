package dev.kiln.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.core.interceptor.Context;
import software.amazon.awssdk.core.interceptor.ExecutionAttributes;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.services.s3.S3Client;

/** Storage against a real S3-compatible server, in this JVM on loopback. */
class S3StorageTest {
    private static final AwsBasicCredentials KEYS = S3ProxyServer.KEYS;
    private static final byte[] MODEL = randomBytes(300_000, 1);
    private static final byte[] ARTIFACT = randomBytes(70_000, 2);
    private static final byte[] LARGE_ARTIFACT = randomBytes(16 << 20, 3);

    private static S3ProxyServer proxy;
    private static URI endpoint;
    private static S3Client sdk;

    @TempDir Path dir;
    private final List<SdkHttpRequest> sent = new CopyOnWriteArrayList<>();
    private Storage storage;

    @BeforeAll
    static void startServer() throws Exception {
        proxy = S3ProxyServer.start();
        endpoint = proxy.endpoint;
        sdk = proxy.sdk;
        sdk.createBucket(b -> b.bucket("models"));
        sdk.createBucket(b -> b.bucket("artifacts"));
        sdk.putObject(b -> b.bucket("models").key("resnet/model.tar.gz"), RequestBody.fromBytes(MODEL));
        sdk.putObject(b -> b.bucket("models").key("with space/modèle.tar.gz"), RequestBody.fromBytes(MODEL));
    }

    @AfterAll
    static void stopServer() throws Exception {
        if (proxy != null) proxy.close();
    }

    @BeforeEach
    void open() { storage = Storage.open(configWith(KEYS), List.of(recordingInterceptor())); }

    @AfterEach
    void close() { storage.close(); }

    @Test
    void fetchesAnS3ObjectByteForByte() throws IOException {
        Path dest = dir.resolve("model.tar.gz");
        storage.fetch("s3://models/resnet/model.tar.gz", dest);
        assertArrayEquals(MODEL, Files.readAllBytes(dest));
    }

    @Test
    void putsAnArtifactUnderAPrefix() throws IOException {
        Path artifact = Files.write(dir.resolve("artifact.tar.gz"), ARTIFACT);
        Storage.Stored stored = storage.put(artifact, "s3://artifacts/jobs/job-1", "model-ml_c5.tar.gz", Optional.empty());
        assertEquals(new Storage.Stored("s3://artifacts/jobs/job-1/model-ml_c5.tar.gz", List.of()), stored);
        assertArrayEquals(ARTIFACT, object("artifacts", "jobs/job-1/model-ml_c5.tar.gz"));
        assertEquals(List.of("PUT"), sent.stream().map(r -> r.method().name()).toList(), "one PutObject, nothing else");
        assertEquals(Optional.empty(), sent.get(0).firstMatchingHeader("x-amz-server-side-encryption"));
    }

    @Test
    void joinsPrefixesWithAndWithoutASlashAndTheBucketRoot() throws IOException {
        Path artifact = Files.write(dir.resolve("artifact.tar.gz"), ARTIFACT);
        assertEquals("s3://artifacts/slash/a.tar.gz", storage.put(artifact, "s3://artifacts/slash/", "a.tar.gz", Optional.empty()).uri());
        assertEquals("s3://artifacts/b.tar.gz", storage.put(artifact, "s3://artifacts", "b.tar.gz", Optional.empty()).uri());
        assertEquals("s3://artifacts/c.tar.gz", storage.put(artifact, "s3://artifacts/", "c.tar.gz", Optional.empty()).uri());
        assertArrayEquals(ARTIFACT, object("artifacts", "slash/a.tar.gz"));
        assertArrayEquals(ARTIFACT, object("artifacts", "b.tar.gz"));
        assertArrayEquals(ARTIFACT, object("artifacts", "c.tar.gz"));
    }

    @Test
    void aPutReplacesAnOlderArtifact() throws IOException {
        sdk.putObject(b -> b.bucket("artifacts").key("replace/m.tar.gz"), RequestBody.fromString("older"));
        storage.put(Files.write(dir.resolve("artifact"), ARTIFACT), "s3://artifacts/replace", "m.tar.gz", Optional.empty());
        assertArrayEquals(ARTIFACT, object("artifacts", "replace/m.tar.gz"));
    }

    @Test
    void aMissingKeyIsAClientErrorNamingTheObject() {
        Path dest = dir.resolve("dest");
        StorageException e = assertThrows(StorageException.class, () -> storage.fetch("s3://models/x.tar.gz", dest));
        assertEquals("ClientError: InputConfiguration: no object s3://models/x.tar.gz (NoSuchKey)", e.getMessage());
        assertFalse(Files.exists(dest));
    }

    @Test
    void aMissingBucketIsAClientErrorNamingTheBucket() throws IOException {
        StorageException in = assertThrows(StorageException.class,
                () -> storage.fetch("s3://no-models/model.tar.gz", dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: bucket 'no-models' does not exist (s3://no-models/model.tar.gz)",
                in.getMessage());
        // Large enough that the server answers before it has read the body, and the upload itself breaks.
        Path artifact = Files.write(dir.resolve("artifact"), LARGE_ARTIFACT);
        StorageException out = assertThrows(StorageException.class,
                () -> storage.put(artifact, "s3://out/jobs", "m.tar.gz", Optional.empty()));
        assertEquals("ClientError: OutputConfiguration: bucket 'out' does not exist (s3://out/jobs/m.tar.gz)", out.getMessage());
    }

    @Test
    void aBucketWithoutAKeyIsNoModelArchive() {
        StorageException e = assertThrows(StorageException.class, () -> storage.fetch("s3://models/resnet/", dir.resolve("d")));
        assertEquals("ClientError: InputConfiguration: s3://models/resnet/ names no object (the key is empty or ends in '/');"
                + " give the model archive (.tar.gz) itself", e.getMessage());
        assertEquals(List.of(), sent, "refused before any request");
    }

    @Test
    void wrongKeysAreAClientErrorSayingAccessWasDenied() throws IOException {
        try (Storage wrongKeys = Storage.open(configWith(AwsBasicCredentials.create(KEYS.accessKeyId(), "not-the-secret")))) {
            StorageException e = assertThrows(StorageException.class,
                    () -> wrongKeys.fetch("s3://models/resnet/model.tar.gz", dir.resolve("dest")));
            assertTrue(e.getMessage().startsWith("ClientError: InputConfiguration: access denied to s3://models/resnet/model.tar.gz ("),
                    e.getMessage());
            Path artifact = Files.write(dir.resolve("artifact"), LARGE_ARTIFACT);
            StorageException out = assertThrows(StorageException.class,
                    () -> wrongKeys.put(artifact, "s3://artifacts/denied", "m.tar.gz", Optional.empty()));
            assertTrue(out.getMessage().startsWith("ClientError: OutputConfiguration: access denied to s3://artifacts/denied/m.tar.gz ("),
                    out.getMessage());
        }
    }

    @Test
    void readsAndWritesPathStyleHttpsUrlsOnTheEndpointHost() throws IOException {
        String host = "https://127.0.0.1:" + endpoint.getPort();
        storage.fetch(host + "/models/resnet/model.tar.gz", dir.resolve("a"));
        storage.fetch("https://127.0.0.1/models/resnet/model.tar.gz", dir.resolve("b"));
        assertArrayEquals(MODEL, Files.readAllBytes(dir.resolve("a")));
        assertArrayEquals(MODEL, Files.readAllBytes(dir.resolve("b")));
        Path artifact = Files.write(dir.resolve("artifact"), ARTIFACT);
        Storage.Stored stored = storage.put(artifact, host + "/artifacts/https/", "model.tar.gz", Optional.empty());
        assertEquals(host + "/artifacts/https/model.tar.gz", stored.uri());
        assertArrayEquals(ARTIFACT, object("artifacts", "https/model.tar.gz"));
    }

    @Test
    void anHttpsUrlMayNameTheObjectVersionToRead() throws IOException {
        String host = "https://127.0.0.1:" + endpoint.getPort();
        // The test server keeps one version of each object; what matters is that the GetObject asks for the one named.
        storage.fetch(host + "/models/resnet/model.tar.gz?versionId=3", dir.resolve("a"));
        assertArrayEquals(MODEL, Files.readAllBytes(dir.resolve("a")));
        assertEquals(List.of("3"), sent.get(sent.size() - 1).rawQueryParameters().get("versionId"));
        StorageException presigned = assertThrows(StorageException.class,
                () -> storage.fetch(host + "/models/resnet/model.tar.gz?X-Amz-Signature=abc", dir.resolve("b")));
        assertTrue(presigned.getMessage().contains("presigned URLs are not supported"), presigned.getMessage());
        Path artifact = Files.write(dir.resolve("artifact"), ARTIFACT);
        StorageException output = assertThrows(StorageException.class,
                () -> storage.put(artifact, host + "/artifacts/x?versionId=3", "model.tar.gz", Optional.empty()));
        assertTrue(output.getMessage().endsWith("an output location names no object version"), output.getMessage());
    }

    @Test
    void httpsUrlsArePercentDecodedAndS3UrisAreNot() throws IOException {
        storage.fetch("s3://models/with space/modèle.tar.gz", dir.resolve("a"));
        storage.fetch("https://127.0.0.1:" + endpoint.getPort() + "/models/with%20space/mod%C3%A8le.tar.gz", dir.resolve("b"));
        assertArrayEquals(MODEL, Files.readAllBytes(dir.resolve("a")));
        assertArrayEquals(MODEL, Files.readAllBytes(dir.resolve("b")));
    }

    @Test
    void anHttpsUrlOnAnotherHostNamesTheEndpointForm() {
        StorageException e = assertThrows(StorageException.class,
                () -> storage.fetch("https://example.com/models/model.tar.gz", dir.resolve("dest")));
        assertTrue(e.getMessage().endsWith(", and https://127.0.0.1:" + endpoint.getPort() + "/BUCKET/KEY on the S3 endpoint"),
                e.getMessage());
        assertEquals(List.of(), sent);
    }

    @Test
    void aKmsKeyIdAsksForSseKmsWithThatKey() throws IOException {
        String key = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        Path artifact = Files.write(dir.resolve("artifact"), ARTIFACT);
        // The test server has no KMS and refuses SSE-KMS; what matters is what the PutObject asked for.
        StorageException e = assertThrows(StorageException.class,
                () -> storage.put(artifact, "s3://artifacts/kms", "m.tar.gz", Optional.of(key)));
        assertEquals("OutputConfiguration: S3 failed to write s3://artifacts/kms/m.tar.gz, HTTP 501 (NotImplemented:"
                + " A header you provided implies functionality that is not implemented.)", e.getMessage());
        assertEquals(1, sent.size());
        SdkHttpRequest put = sent.get(0);
        assertEquals("PUT", put.method().name());
        assertEquals("/artifacts/kms/m.tar.gz", put.encodedPath());
        assertEquals(Optional.of("aws:kms"), put.firstMatchingHeader("x-amz-server-side-encryption"));
        assertEquals(Optional.of(key), put.firstMatchingHeader("x-amz-server-side-encryption-aws-kms-key-id"));
    }

    @Test
    void aFetchNeverOverwrites() throws IOException {
        Path dest = Files.write(dir.resolve("dest"), ARTIFACT);
        assertThrows(FileAlreadyExistsException.class, () -> storage.fetch("s3://models/resnet/model.tar.gz", dest));
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dest));
    }

    @Test
    void anUnreachableServerIsNotAClientError() throws IOException {
        int closedPort;
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            closedPort = socket.getLocalPort();
        }
        StorageConfig nowhere = new StorageConfig(Optional.of(URI.create("http://127.0.0.1:" + closedPort)), "us-east-1",
                Optional.of(KEYS));
        try (Storage unreachable = Storage.open(nowhere)) {
            StorageException e = assertThrows(StorageException.class,
                    () -> unreachable.fetch("s3://models/resnet/model.tar.gz", dir.resolve("dest")));
            assertTrue(e.getMessage().startsWith("InputConfiguration: could not read s3://models/resnet/model.tar.gz: "),
                    e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("dest")));
    }

    @Test
    void anInterruptedFetchStopsAndLeavesNothing() {
        Path dest = dir.resolve("dest");
        Thread.currentThread().interrupt();
        try {
            assertThrows(InterruptedIOException.class, () -> storage.fetch("s3://models/resnet/model.tar.gz", dest));
        } finally {
            Thread.interrupted();
        }
        assertFalse(Files.exists(dest));
    }

    private static StorageConfig configWith(AwsBasicCredentials keys) {
        return new StorageConfig(Optional.of(endpoint), "us-east-1", Optional.of(keys));
    }

    private ExecutionInterceptor recordingInterceptor() {
        return new ExecutionInterceptor() {
            @Override
            public void beforeTransmission(Context.BeforeTransmission context, ExecutionAttributes attributes) {
                sent.add(context.httpRequest());
            }
        };
    }

    private static byte[] object(String bucket, String key) {
        return sdk.getObjectAsBytes(b -> b.bucket(bucket).key(key)).asByteArray();
    }

    private static byte[] randomBytes(int size, long seed) {
        byte[] bytes = new byte[size];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }
}
