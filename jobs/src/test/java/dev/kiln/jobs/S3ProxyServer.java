package dev.kiln.jobs;

import java.net.URI;
import org.gaul.s3proxy.AuthenticationType;
import org.gaul.s3proxy.S3Proxy;
import org.jclouds.ContextBuilder;
import org.jclouds.blobstore.BlobStoreContext;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/** A real S3-compatible server in this JVM on loopback (in-memory blobs, AWS v4 auth), and an SDK client for it. */
final class S3ProxyServer implements AutoCloseable {
    static final AwsBasicCredentials KEYS = AwsBasicCredentials.create("kiln-test-identity", "kiln-test-credential");

    final URI endpoint;
    final S3Client sdk;
    private final BlobStoreContext blobs;
    private final S3Proxy server;

    private S3ProxyServer(BlobStoreContext blobs, S3Proxy server, URI endpoint, S3Client sdk) {
        this.blobs = blobs;
        this.server = server;
        this.endpoint = endpoint;
        this.sdk = sdk;
    }

    static S3ProxyServer start() throws Exception {
        BlobStoreContext blobs = ContextBuilder.newBuilder("transient").credentials(KEYS.accessKeyId(), KEYS.secretAccessKey())
                .build(BlobStoreContext.class);
        S3Proxy server = S3Proxy.builder().blobStore(blobs.getBlobStore())
                .awsAuthentication(AuthenticationType.AWS_V4, KEYS.accessKeyId(), KEYS.secretAccessKey())
                .endpoint(URI.create("http://127.0.0.1:0")).build();
        server.start();
        while (!"STARTED".equals(server.getState())) Thread.sleep(5);
        URI endpoint = URI.create("http://127.0.0.1:" + server.getPort());
        S3Client sdk = S3Client.builder().endpointOverride(endpoint).forcePathStyle(true).region(Region.US_EAST_1)
                .credentialsProvider(StaticCredentialsProvider.create(KEYS))
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED).build();
        return new S3ProxyServer(blobs, server, endpoint, sdk);
    }

    @Override
    public void close() {
        sdk.close();
        try {
            server.stop();
        } catch (Exception e) {
            throw new IllegalStateException("the S3 test server did not stop", e);
        } finally {
            blobs.close();
        }
    }
}
