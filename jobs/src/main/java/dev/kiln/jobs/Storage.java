package dev.kiln.jobs;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;
import software.amazon.awssdk.core.interceptor.ExecutionInterceptor;

/**
 * Where model archives are read from and artifacts written to, for one set of jobs: the local filesystem
 * ({@code file:} URIs and plain paths, relative ones against the working directory) and S3 ({@code s3://bucket/key}
 * and https S3 object URLs). Safe for concurrent jobs.
 */
final class Storage implements AutoCloseable {
    static final String INPUT = "InputConfiguration";
    static final String OUTPUT = "OutputConfiguration";

    /** A scheme other than the ones handled below; two letters at least, so that {@code C:\models} stays a path. */
    private static final Pattern OTHER_SCHEME = Pattern.compile("[A-Za-z][A-Za-z0-9+.-]+://.*", Pattern.DOTALL);

    /** How a URI string names its place. */
    private enum Form { PATH, FILE_URI, S3_URI, HTTPS_URL, OTHER }

    /** An artifact written, as the URI to report, and what a person should know about how it was written. */
    record Stored(String uri, List<String> notes) {
        Stored { notes = List.copyOf(notes); }
    }

    private final StorageConfig config;
    private final List<ExecutionInterceptor> s3Interceptors;
    private S3Storage s3; // guarded by this; made on first S3 use so that local-only runs never look for credentials

    private Storage(StorageConfig config, List<ExecutionInterceptor> s3Interceptors) {
        this.config = config;
        this.s3Interceptors = List.copyOf(s3Interceptors);
    }

    static Storage open(StorageConfig config) { return new Storage(config, List.of()); }

    /** As {@link #open(StorageConfig)}, with interceptors that see every S3 request, for tests that check what is sent. */
    static Storage open(StorageConfig config, List<ExecutionInterceptor> s3Interceptors) {
        return new Storage(config, s3Interceptors);
    }

    /**
     * Whether {@code uri} has a form storage reads and writes. An https URL on a host that is not AWS's passes: it may
     * name the configured S3 endpoint, which is checked when the URL is used.
     */
    static boolean understands(String uri) {
        if (uri == null || uri.isBlank()) return false;
        try {
            switch (formOf(uri)) {
                case PATH -> Path.of(uri);
                case FILE_URI -> LocalStorage.fileUriPath(uri, INPUT);
                case S3_URI -> S3Storage.Address.ofS3Uri(uri, INPUT);
                case HTTPS_URL -> S3Storage.Address.ofHttpsUrl(uri, Optional.empty(), INPUT, true);
                case OTHER -> { return false; }
            }
            return true;
        } catch (StorageException | InvalidPathException e) {
            return false;
        }
    }

    /**
     * Copies the model archive at {@code uri} to {@code dest}, a file that must not exist yet; nothing is left at
     * {@code dest} when the copy fails. An interrupted copy stops with an {@link java.io.InterruptedIOException} or
     * {@link java.nio.channels.ClosedByInterruptException}.
     */
    void fetch(String uri, Path dest) throws IOException {
        switch (formOf(uri)) {
            case PATH -> LocalStorage.fetch(plainPath(uri, INPUT), uri, dest);
            case FILE_URI -> LocalStorage.fetch(LocalStorage.fileUriPath(uri, INPUT), uri, dest);
            case S3_URI -> s3().fetch(S3Storage.Address.ofS3Uri(uri, INPUT), uri, dest);
            case HTTPS_URL -> s3().fetch(S3Storage.Address.ofHttpsUrl(uri, config.s3Endpoint(), INPUT, false), uri, dest);
            case OTHER -> throw notUnderstood(uri, INPUT);
        }
    }

    /**
     * Writes {@code file} as {@code <location>/<fileName>} so that no partial artifact is ever visible there: locally
     * through a temporary file renamed into place, on S3 as one PutObject of the finished file. {@code kmsKeyId}
     * encrypts the S3 object with SSE-KMS. The URI returned has the style of {@code location}.
     */
    Stored put(Path file, String location, String fileName, Optional<String> kmsKeyId) throws IOException {
        requireFileName(fileName);
        return switch (formOf(location)) {
            case PATH -> {
                Path dir = plainPath(location, OUTPUT);
                LocalStorage.put(file, dir, fileName);
                yield new Stored(dir.resolve(fileName).toString(), localNotes(kmsKeyId));
            }
            case FILE_URI -> {
                Path target = LocalStorage.put(file, LocalStorage.fileUriPath(location, OUTPUT), fileName);
                yield new Stored(target.toUri().toString(), localNotes(kmsKeyId));
            }
            case S3_URI -> {
                S3Storage.Address target = S3Storage.Address.ofS3Uri(location, OUTPUT).child(fileName);
                s3().put(file, target, target.s3Uri(), kmsKeyId);
                yield new Stored(target.s3Uri(), List.of());
            }
            case HTTPS_URL -> {
                S3Storage.Address prefix = S3Storage.Address.ofHttpsUrl(location, config.s3Endpoint(), OUTPUT, false);
                if (prefix.versionId().isPresent()) {
                    throw StorageException.clientError(OUTPUT, location + ": an output location names no object version");
                }
                S3Storage.Address target = prefix.child(fileName);
                String uri = location.replaceFirst("/$", "") + "/" + encodedPathSegment(fileName);
                s3().put(file, target, uri, kmsKeyId);
                yield new Stored(uri, List.of());
            }
            case OTHER -> throw notUnderstood(location, OUTPUT);
        };
    }

    @Override
    public synchronized void close() {
        if (s3 != null) s3.close();
        s3 = null;
    }

    private synchronized S3Storage s3() {
        if (s3 == null) s3 = new S3Storage(config, s3Interceptors);
        return s3;
    }

    private static Form formOf(String uri) {
        if (startsWithIgnoringCase(uri, "s3://")) return Form.S3_URI;
        if (startsWithIgnoringCase(uri, "https://")) return Form.HTTPS_URL;
        if (startsWithIgnoringCase(uri, "file:")) return Form.FILE_URI;
        return OTHER_SCHEME.matcher(uri).matches() ? Form.OTHER : Form.PATH;
    }

    private static boolean startsWithIgnoringCase(String s, String prefix) {
        return s.regionMatches(true, 0, prefix, 0, prefix.length());
    }

    private static Path plainPath(String path, String part) throws StorageException {
        if (path.isBlank()) throw StorageException.clientError(part, "no location given");
        try {
            return Path.of(path);
        } catch (InvalidPathException e) {
            throw StorageException.clientError(part, "'" + path + "' is not a valid path: " + e.getReason());
        }
    }

    private static StorageException notUnderstood(String uri, String part) {
        String scheme = uri.substring(0, uri.indexOf(':')).toLowerCase(Locale.ROOT);
        return StorageException.clientError(part, "cannot use " + uri + ": Kiln does not read or write " + scheme
                + ":// locations; use s3://BUCKET/KEY, an https S3 object URL, file:///ABSOLUTE/PATH or a filesystem path");
    }

    private static List<String> localNotes(Optional<String> kmsKeyId) {
        return kmsKeyId.isPresent()
                ? List.of("KmsKeyId is not applied: the output location is a local path, which Kiln does not encrypt")
                : List.of();
    }

    /** The artifact's name is Kiln's choice, never a path, so that a put stays inside its location. */
    private static void requireFileName(String fileName) {
        if (fileName.isEmpty() || fileName.equals(".") || fileName.equals("..") || fileName.contains("/")
                || fileName.contains("\\") || fileName.indexOf('\0') >= 0)
            throw new IllegalArgumentException("not a plain file name: '" + fileName + "'");
    }

    private static String encodedPathSegment(String name) {
        try {
            return new URI(null, null, "/" + name, null).toASCIIString().substring(1);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("file name cannot be put in a URL: " + name, e);
        }
    }
}
