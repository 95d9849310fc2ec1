package dev.kiln.jobs;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.channels.ClosedByInterruptException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StorageTest {
    private static final byte[] ARCHIVE = {0x1f, (byte) 0x8b, 8, 0, 1, 2, 3, 4, 5};
    private static final byte[] ARTIFACT = "compiled artifact".getBytes();

    @TempDir Path dir;
    private Storage storage;

    @BeforeEach
    void open() { storage = Storage.open(StorageConfig.defaults()); }

    @AfterEach
    void close() { storage.close(); }

    @Test
    void fetchesFromAFileUri() throws IOException {
        Path model = write(dir.resolve("models/model.tar.gz"), ARCHIVE);
        Path dest = dir.resolve("fetched.tar.gz");
        storage.fetch(model.toUri().toString(), dest);
        assertArrayEquals(ARCHIVE, Files.readAllBytes(dest));
        assertTrue(model.toUri().toString().startsWith("file:///"), model.toUri().toString());
    }

    @Test
    void fetchesFromFileUriWithOneSlashAndLocalhostForms() throws IOException {
        Path model = write(dir.resolve("model.tar.gz"), ARCHIVE);
        storage.fetch("file:" + model, dir.resolve("a"));
        storage.fetch("file://localhost" + model, dir.resolve("b"));
        assertArrayEquals(ARCHIVE, Files.readAllBytes(dir.resolve("a")));
        assertArrayEquals(ARCHIVE, Files.readAllBytes(dir.resolve("b")));
    }

    @Test
    void fetchesFromAbsoluteAndRelativePaths() throws IOException {
        Path model = write(dir.resolve("model.tar.gz"), ARCHIVE);
        storage.fetch(model.toString(), dir.resolve("absolute"));
        storage.fetch(relativeToWorkingDir(model), dir.resolve("relative"));
        assertArrayEquals(ARCHIVE, Files.readAllBytes(dir.resolve("absolute")));
        assertArrayEquals(ARCHIVE, Files.readAllBytes(dir.resolve("relative")));
    }

    @Test
    void aMissingInputFileIsAClientErrorNamingIt() {
        String uri = dir.resolve("absent.tar.gz").toUri().toString();
        StorageException e = assertThrows(StorageException.class, () -> storage.fetch(uri, dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: no file " + uri, e.getMessage());
        assertFalse(Files.exists(dir.resolve("dest")));
    }

    @Test
    void aRelativeMissingInputNamesWhereItWasLookedFor() {
        String relative = relativeToWorkingDir(dir.resolve("absent.tar.gz"));
        StorageException e = assertThrows(StorageException.class, () -> storage.fetch(relative, dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: no file " + relative + " ("
                + Path.of(relative).toAbsolutePath() + ")", e.getMessage());
    }

    @Test
    void aDirectoryIsNotAModelArchive() throws IOException {
        Files.createDirectories(dir.resolve("model"));
        StorageException e = assertThrows(StorageException.class,
                () -> storage.fetch(dir.resolve("model").toString(), dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: " + dir.resolve("model")
                + " is not a file; give the model archive (.tar.gz) itself", e.getMessage());
    }

    @Test
    void aFileUriWithARelativePathIsRefused() {
        StorageException e = assertThrows(StorageException.class, () -> storage.fetch("file:model.tar.gz", dir.resolve("d")));
        assertTrue(e.getMessage().startsWith("ClientError: InputConfiguration: file:model.tar.gz is not a file URI"),
                e.getMessage());
    }

    @Test
    void aFetchNeverOverwrites() throws IOException {
        Path model = write(dir.resolve("model.tar.gz"), ARCHIVE);
        Path dest = write(dir.resolve("dest"), ARTIFACT);
        assertThrows(FileAlreadyExistsException.class, () -> storage.fetch(model.toString(), dest));
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dest));
    }

    @Test
    void anInterruptedFetchStopsAndLeavesNothing() throws IOException {
        Path model = write(dir.resolve("model.tar.gz"), ARCHIVE);
        Path dest = dir.resolve("dest");
        Thread.currentThread().interrupt();
        try {
            assertThrows(ClosedByInterruptException.class, () -> storage.fetch(model.toString(), dest));
        } finally {
            Thread.interrupted();
        }
        assertFalse(Files.exists(dest));
    }

    @Test
    void putsUnderAFileUriCreatingTheDirectory() throws IOException {
        Path artifact = write(dir.resolve("work/artifact.tar.gz"), ARTIFACT);
        Path out = dir.resolve("out/nested");
        Storage.Stored stored = storage.put(artifact, out.toUri().toString(), "model-ml_c5.tar.gz", Optional.empty());
        assertEquals(out.resolve("model-ml_c5.tar.gz").toUri().toString(), stored.uri());
        assertTrue(stored.uri().startsWith("file:///"), stored.uri());
        assertEquals(List.of(), stored.notes());
        assertArrayEquals(ARTIFACT, Files.readAllBytes(out.resolve("model-ml_c5.tar.gz")));
        assertEquals(List.of(out.resolve("model-ml_c5.tar.gz")), listing(out), "no temporary file is left");
    }

    @Test
    void putsUnderPlainPathsAndAnswersInTheSameStyle() throws IOException {
        Path artifact = write(dir.resolve("artifact.tar.gz"), ARTIFACT);
        String absolute = dir.resolve("abs").toString();
        String relative = relativeToWorkingDir(dir.resolve("rel"));
        assertEquals(absolute + "/a.tar.gz", storage.put(artifact, absolute, "a.tar.gz", Optional.empty()).uri());
        assertEquals(relative + "/a.tar.gz", storage.put(artifact, relative, "a.tar.gz", Optional.empty()).uri());
        assertEquals(relative + "/b.tar.gz", storage.put(artifact, relative + "/", "b.tar.gz", Optional.empty()).uri());
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dir.resolve("abs/a.tar.gz")));
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dir.resolve("rel/a.tar.gz")));
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dir.resolve("rel/b.tar.gz")));
    }

    @Test
    void aPutReplacesAnOlderArtifactAndLeavesNoTemporaryFile() throws IOException {
        Path out = dir.resolve("out");
        write(out.resolve("model.tar.gz"), "older, longer artifact bytes".getBytes());
        storage.put(write(dir.resolve("artifact"), ARTIFACT), out.toString(), "model.tar.gz", Optional.empty());
        assertArrayEquals(ARTIFACT, Files.readAllBytes(out.resolve("model.tar.gz")));
        assertEquals(List.of(out.resolve("model.tar.gz")), listing(out));
    }

    @Test
    void aFailedPutLeavesNeitherTheArtifactNorATemporaryFile() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out"));
        assertThrows(NoSuchFileException.class,
                () -> storage.put(dir.resolve("never-built"), out.toString(), "model.tar.gz", Optional.empty()));
        assertEquals(List.of(), listing(out));
    }

    @Test
    void anOutputLocationThatIsAFileIsAClientError() throws IOException {
        Path notADirectory = write(dir.resolve("file"), ARTIFACT);
        StorageException e = assertThrows(StorageException.class,
                () -> storage.put(notADirectory, notADirectory.toString(), "model.tar.gz", Optional.empty()));
        assertEquals("ClientError: OutputConfiguration: " + notADirectory + " exists and is not a directory", e.getMessage());
    }

    @Test
    void aKmsKeyForALocalOutputIsReportedAsNotApplied() throws IOException {
        Path artifact = write(dir.resolve("artifact"), ARTIFACT);
        Storage.Stored stored = storage.put(artifact, dir.resolve("out").toUri().toString(), "m.tar.gz",
                Optional.of("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"));
        assertEquals(List.of("KmsKeyId is not applied: the output location is a local path, which Kiln does not encrypt"),
                stored.notes());
        assertArrayEquals(ARTIFACT, Files.readAllBytes(dir.resolve("out/m.tar.gz")));
    }

    @Test
    void anArtifactNameIsNeverAPath() throws IOException {
        Path artifact = write(dir.resolve("artifact"), ARTIFACT);
        for (String name : List.of("../escape.tar.gz", "a/b.tar.gz", "..", ""))
            assertThrows(IllegalArgumentException.class, () -> storage.put(artifact, dir.toString(), name, Optional.empty()), name);
    }

    @Test
    void anUnknownSchemeIsAClientErrorListingTheFormsUnderstood() {
        StorageException e = assertThrows(StorageException.class,
                () -> storage.fetch("ftp://models.example.com/model.tar.gz", dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: cannot use ftp://models.example.com/model.tar.gz: Kiln does not"
                + " read or write ftp:// locations; use s3://BUCKET/KEY, an https S3 object URL, file:///ABSOLUTE/PATH"
                + " or a filesystem path", e.getMessage());
        StorageException out = assertThrows(StorageException.class,
                () -> storage.put(dir, "gs://bucket/out", "m.tar.gz", Optional.empty()));
        assertTrue(out.getMessage().startsWith("ClientError: OutputConfiguration: cannot use gs://bucket/out"), out.getMessage());
    }

    @Test
    void anHttpsUrlThatIsNotS3SaysWhichFormsAreUnderstood() {
        StorageException e = assertThrows(StorageException.class,
                () -> storage.fetch("https://example.com/models/model.tar.gz", dir.resolve("dest")));
        assertEquals("ClientError: InputConfiguration: https://example.com/models/model.tar.gz is not an S3 object URL;"
                + " the https forms understood are https://BUCKET.s3.amazonaws.com/KEY,"
                + " https://BUCKET.s3.REGION.amazonaws.com/KEY and https://s3.REGION.amazonaws.com/BUCKET/KEY"
                + " (and https://HOST/BUCKET/KEY when an S3 endpoint is configured)", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "s3://bucket/models/model.tar.gz", "s3://bucket", "s3://bucket/prefix/", "S3://bucket/key",
            "https://bucket.s3.amazonaws.com/model.tar.gz", "https://my.bucket.s3.eu-west-1.amazonaws.com/a/b.tar.gz",
            "https://s3.us-west-2.amazonaws.com/bucket/model.tar.gz", "https://s3.amazonaws.com/bucket/key",
            "https://minio.internal:9000/bucket/model.tar.gz",
            "file:///models/model.tar.gz", "file:/models/model.tar.gz", "file://localhost/models/model.tar.gz",
            "/models/model.tar.gz", "models/model.tar.gz", "model.tar.gz", "./out", "C:\\models\\model.tar.gz"})
    void understands(String uri) {
        assertTrue(Storage.understands(uri), uri);
    }

    @ParameterizedTest
    @ValueSource(strings = {
            "ftp://host/model.tar.gz", "http://bucket.s3.amazonaws.com/key", "gs://bucket/key", "hdfs://nn/models/m",
            "s3://", "s3:///key", "s3://bad bucket/key", "https://", "https://s3.amazonaws.com/",
            "https://bucket.s3.amazonaws.com/key?X-Amz-Signature=abc", "file:relative/model.tar.gz",
            "file://otherhost/models/model.tar.gz", "", " "})
    void doesNotUnderstand(String uri) {
        assertFalse(Storage.understands(uri), uri);
    }

    /** The path to {@code path} from the working directory, which is how a user types a relative path. */
    private static String relativeToWorkingDir(Path path) {
        String relative = Path.of("").toAbsolutePath().relativize(path).toString();
        assertFalse(Path.of(relative).isAbsolute());
        return relative;
    }

    private static Path write(Path path, byte[] bytes) throws IOException {
        Files.createDirectories(path.getParent());
        return Files.write(path, bytes);
    }

    /** Every entry in {@code dir}, hidden ones included. */
    private static List<Path> listing(Path dir) throws IOException {
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.sorted().toList();
        }
    }
}
