package dev.kiln.jobs;

import java.net.URI;
import java.util.Objects;
import java.util.Optional;
import software.amazon.awssdk.auth.credentials.AwsCredentials;

/**
 * How {@link Storage} reaches S3.
 *
 * @param s3Endpoint  an S3-compatible server to use instead of AWS (addressed path-style), e.g. {@code http://127.0.0.1:9000}
 * @param region      the signing region, and the region of the first request to AWS
 * @param credentials static keys; when empty, the SDK's default provider chain (environment, profile, instance role...)
 */
record StorageConfig(Optional<URI> s3Endpoint, String region, Optional<AwsCredentials> credentials) {
    StorageConfig {
        Objects.requireNonNull(s3Endpoint, "s3Endpoint");
        Objects.requireNonNull(credentials, "credentials");
        if (region == null || region.isBlank()) throw new IllegalArgumentException("region must be named, e.g. us-east-1");
        s3Endpoint.ifPresent(endpoint -> {
            if (!("http".equals(endpoint.getScheme()) || "https".equals(endpoint.getScheme())) || endpoint.getHost() == null)
                throw new IllegalArgumentException("S3 endpoint must be an http:// or https:// URL with a host, not " + endpoint);
        });
    }

    /** AWS S3 in us-east-1 with the default credentials chain. */
    static StorageConfig defaults() { return new StorageConfig(Optional.empty(), "us-east-1", Optional.empty()); }
}
