package dev.kiln.jobs;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.WRITE;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.ResponseInputStream;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.AbortedException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3ClientBuilder;
import software.amazon.awssdk.services.s3.model.GetObjectRequest;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadBucketRequest;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.ServerSideEncryption;

/** Model archives and artifacts in S3 or an S3-compatible server, through one client. */
final class S3Storage implements AutoCloseable {
    private static final Pattern BUCKET = Pattern.compile("[A-Za-z0-9._-]+");
    private static final Pattern VIRTUAL_HOSTED = Pattern.compile("(.+)\\.s3(?:\\.[a-z0-9-]+)?\\.amazonaws\\.com");
    private static final Pattern PATH_STYLE = Pattern.compile("s3(?:\\.[a-z0-9-]+)?\\.amazonaws\\.com");
    private static final Pattern VERSION_QUERY = Pattern.compile("versionId=[^&=]+");
    private static final String HTTPS_FORMS = "https://BUCKET.s3.amazonaws.com/KEY, https://BUCKET.s3.REGION.amazonaws.com/KEY"
            + " and https://s3.REGION.amazonaws.com/BUCKET/KEY";

    /**
     * An object in a bucket (a given version of it when an https URL names one, as S3's object URLs may), or for
     * an output location the key prefix its artifacts go under.
     */
    record Address(String bucket, String key, Optional<String> versionId) {
        /** {@code s3://bucket/key}; the key as written, since s3:// URIs are not percent-encoded. */
        static Address ofS3Uri(String uri, String part) throws StorageException {
            String rest = uri.substring("s3://".length());
            int slash = rest.indexOf('/');
            return checked(slash < 0 ? rest : rest.substring(0, slash), slash < 0 ? "" : rest.substring(slash + 1), Optional.empty(), uri, part);
        }

        /**
         * An https S3 object URL: virtual-hosted or path-style on AWS, or path-style on the configured endpoint's host.
         * With {@code anyHost}, any host is taken as a possible endpoint (for checking a form before knowing the endpoint).
         */
        static Address ofHttpsUrl(String uri, Optional<URI> endpoint, String part, boolean anyHost) throws StorageException {
            URI url;
            try {
                url = new URI(uri);
            } catch (URISyntaxException e) {
                throw StorageException.clientError(part, uri + " is not a valid URL: " + e.getReason());
            }
            if (url.getHost() == null) throw StorageException.clientError(part, uri + " names no host");
            Optional<String> versionId = Optional.ofNullable(url.getQuery()).filter(q -> VERSION_QUERY.matcher(q).matches())
                    .map(q -> q.substring("versionId=".length()));
            if ((url.getRawQuery() != null && versionId.isEmpty()) || url.getRawFragment() != null)
                throw StorageException.clientError(part, uri + ": an S3 object URL has no query but ?versionId=..., and no"
                        + " fragment (presigned URLs are not supported); use s3://BUCKET/KEY");
            String host = url.getHost().toLowerCase(Locale.ROOT);
            String path = url.getPath().startsWith("/") ? url.getPath().substring(1) : url.getPath();
            boolean onEndpoint = endpoint.filter(e -> isHostOf(e, url)).isPresent();
            var virtualHosted = VIRTUAL_HOSTED.matcher(host);
            if (!onEndpoint && virtualHosted.matches()) return checked(virtualHosted.group(1), path, versionId, uri, part);
            if (onEndpoint || anyHost || PATH_STYLE.matcher(host).matches()) {
                int slash = path.indexOf('/');
                return checked(slash < 0 ? path : path.substring(0, slash), slash < 0 ? "" : path.substring(slash + 1), versionId, uri, part);
            }
            throw StorageException.clientError(part, uri + " is not an S3 object URL; the https forms understood are "
                    + HTTPS_FORMS + endpoint.map(e -> ", and https://" + e.getAuthority() + "/BUCKET/KEY on the S3 endpoint")
                            .orElse(" (and https://HOST/BUCKET/KEY when an S3 endpoint is configured)"));
        }

        /** The object {@code name} under this prefix: {@code s3://b/p} and {@code s3://b/p/} both give {@code s3://b/p/name}. */
        Address child(String name) {
            return new Address(bucket, key.isEmpty() || key.endsWith("/") ? key + name : key + "/" + name, Optional.empty());
        }

        String s3Uri() { return "s3://" + bucket + "/" + key; }

        private static Address checked(String bucket, String key, Optional<String> versionId, String uri, String part)
                throws StorageException {
            if (bucket.isEmpty()) throw StorageException.clientError(part, uri + " names no bucket");
            if (!BUCKET.matcher(bucket).matches())
                throw StorageException.clientError(part, uri + ": '" + bucket + "' is not a valid bucket name");
            return new Address(bucket, key, versionId);
        }

        /** The URL is on the endpoint's host, and on its port when the URL names one. */
        private static boolean isHostOf(URI endpoint, URI url) {
            int endpointPort = endpoint.getPort() != -1 ? endpoint.getPort() : "https".equals(endpoint.getScheme()) ? 443 : 80;
            return endpoint.getHost().equalsIgnoreCase(url.getHost()) && (url.getPort() == -1 || url.getPort() == endpointPort);
        }
    }

    private final S3Client client;

    S3Storage(StorageConfig config, List<ExecutionInterceptor> interceptors) {
        S3ClientBuilder builder = S3Client.builder()
                // Named explicitly: the SDK refuses to pick one when several HTTP clients are on the class path.
                .httpClientBuilder(UrlConnectionHttpClient.builder())
                .region(Region.of(config.region()))
                .overrideConfiguration(o -> interceptors.forEach(o::addExecutionInterceptor));
        config.credentials().ifPresent(c -> builder.credentialsProvider(StaticCredentialsProvider.create(c)));
        config.s3Endpoint().ifPresentOrElse(
                // S3-compatible servers are addressed by path, and many reject the SDK's default checksum trailers.
                endpoint -> builder.endpointOverride(endpoint).forcePathStyle(true)
                        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
                        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED),
                // On AWS a bucket may live in any region; the client follows S3's redirect to it.
                () -> builder.crossRegionAccessEnabled(true));
        client = builder.build();
    }

    /** Copies the object at {@code source} (named {@code uri} in messages) to the new file {@code dest}. */
    void fetch(Address source, String uri, Path dest) throws IOException {
        if (source.key().isEmpty() || source.key().endsWith("/"))
            throw StorageException.clientError(Storage.INPUT, uri + " names no object (the key is empty or ends in '/');"
                    + " give the model archive (.tar.gz) itself");
        try (ResponseInputStream<GetObjectResponse> in =
                     client.getObject(GetObjectRequest.builder().bucket(source.bucket()).key(source.key())
                             .versionId(source.versionId().orElse(null)).build())) {
            copyToNewFile(in, dest, uri);
        } catch (SdkException e) {
            throw failure(e, Storage.INPUT, "read", uri, source);
        }
    }

    /** Uploads {@code file} as the object {@code target} (named {@code uri} in messages) in one PutObject. */
    void put(Path file, Address target, String uri, Optional<String> kmsKeyId) throws IOException {
        PutObjectRequest.Builder request = PutObjectRequest.builder().bucket(target.bucket()).key(target.key());
        kmsKeyId.ifPresent(key -> request.serverSideEncryption(ServerSideEncryption.AWS_KMS).ssekmsKeyId(key));
        try {
            client.putObject(request.build(), RequestBody.fromFile(file));
        } catch (SdkException e) {
            boolean brokenTransfer = !(e instanceof S3Exception) && !(e instanceof AbortedException);
            if (brokenTransfer) {
                Optional<IOException> refusal = bucketRefusal(target, uri);
                if (refusal.isPresent()) throw refusal.get();
            }
            throw failure(e, Storage.OUTPUT, "write", uri, target);
        }
    }

    /**
     * Why S3 refuses the bucket of {@code target}, if it does. A server that rejects a PutObject (no such bucket,
     * access denied) may answer and close before reading the body, and the client then sees only a broken write.
     */
    private Optional<IOException> bucketRefusal(Address target, String uri) {
        try {
            client.headBucket(HeadBucketRequest.builder().bucket(target.bucket()).build());
            return Optional.empty();
        } catch (S3Exception e) {
            // A HEAD answer has no body to carry an error code: a 404 is the missing bucket.
            if (e.statusCode() == 404)
                return Optional.of(StorageException.clientError(Storage.OUTPUT,
                        "bucket '" + target.bucket() + "' does not exist (" + uri + ")"));
            return Optional.of(failure(e, Storage.OUTPUT, "write", uri, target));
        } catch (SdkException e) {
            return Optional.empty();
        }
    }

    @Override
    public void close() { client.close(); }

    /** Copies in chunks, checking for an interrupt between them, since a blocked socket read does not see one. */
    private static void copyToNewFile(ResponseInputStream<GetObjectResponse> in, Path dest, String uri) throws IOException {
        OutputStream out = Files.newOutputStream(dest, CREATE_NEW, WRITE);
        try (out) {
            copy(in, out, uri);
        } catch (IOException | RuntimeException e) {
            in.abort();
            Files.deleteIfExists(dest);
            throw e;
        }
    }

    private static void copy(InputStream in, OutputStream out, String uri) throws IOException {
        byte[] buffer = new byte[1 << 16];
        for (int n; (n = in.read(buffer)) >= 0; ) {
            if (Thread.currentThread().isInterrupted())
                throw new InterruptedIOException("the transfer of " + uri + " was interrupted");
            out.write(buffer, 0, n);
        }
    }

    private static IOException failure(SdkException e, String part, String verb, String uri, Address address) {
        if (e instanceof AbortedException) {
            InterruptedIOException interrupted = new InterruptedIOException("the transfer of " + uri + " was interrupted");
            interrupted.initCause(e);
            return interrupted;
        }
        if (!(e instanceof S3Exception s3) || s3.awsErrorDetails() == null)
            return new StorageException(part + ": could not " + verb + " " + uri + ": " + e.getMessage(), e);
        String code = s3.awsErrorDetails().errorCode();
        String message = s3.awsErrorDetails().errorMessage();
        String why = code == null ? message : message == null ? code : code + ": " + message;
        String status = "HTTP " + s3.statusCode();
        if ("NoSuchBucket".equals(code))
            return StorageException.clientError(part, "bucket '" + address.bucket() + "' does not exist (" + uri + ")");
        if ("NoSuchKey".equals(code)) return StorageException.clientError(part, "no object " + uri + " (NoSuchKey)");
        String detail = " (" + (why == null ? status : why) + ")";
        if (s3.statusCode() == 403) return StorageException.clientError(part, "access denied to " + uri + detail);
        if (s3.statusCode() >= 400 && s3.statusCode() < 500)
            return StorageException.clientError(part, "S3 refused to " + verb + " " + uri + detail);
        return new StorageException(part + ": S3 failed to " + verb + " " + uri + ", " + status
                + (why == null ? "" : " (" + why + ")"), e);
    }
}
