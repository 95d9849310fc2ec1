package dev.kiln.jobs;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.jobs.ModelArchive.ArchiveException;
import dev.kiln.jobs.ModelArchive.ModelFiles;
import dev.kiln.jobs.ModelArchive.Part;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

class ModelArchiveTest {
    private static final String PREFIX = "ClientError: InputConfiguration: ";
    private static final int MIB = 1 << 20;

    @TempDir
    Path tmp;
    /** The job's directory: the parent of each extraction, where an escaping entry would land. */
    private Path job;
    private Path dest;
    private int archives;

    @BeforeEach
    void createJobDirectory() throws IOException {
        job = Files.createDirectory(tmp.resolve("job"));
        dest = job.resolve("model");
    }

    // ---- extraction ----

    @Test
    void extractsFilesAndDirectoriesAndListsTheFilesSorted() throws IOException {
        Path archive = tarGz(tar -> {
            dir(tar, "./");
            file(tar, "./b.txt", "bee".getBytes(UTF_8));
            dir(tar, "a/");
            file(tar, "a/c.txt", "sea".getBytes(UTF_8));
            file(tar, "z/y/x.bin", new byte[] {1, 2, 3}); // parents only implied
            dir(tar, "empty/");
            dir(tar, "a/"); // a directory listed twice is harmless
        });

        ModelArchive extracted = ModelArchive.extract(archive, dest, ArchiveLimits.defaults());

        assertEquals(dest.toRealPath(), extracted.root());
        assertEquals(List.of("a/c.txt", "b.txt", "z/y/x.bin"), extracted.files());
        assertEquals("sea", Files.readString(dest.resolve("a/c.txt")));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(dest.resolve("z/y/x.bin")));
        assertTrue(Files.isDirectory(dest.resolve("empty")));
    }

    @Test
    void extractsIntoAnEmptyDirectoryAndLeavesItEmptyWhenRefused() throws IOException {
        Files.createDirectory(dest);
        ModelArchive.extract(tarGzOf("model.onnx"), dest, ArchiveLimits.defaults());
        assertTrue(Files.isRegularFile(dest.resolve("model.onnx")));

        Path other = job.resolve("other");
        Files.createDirectory(other);
        Path hostile = tarGzOf("model.onnx", "../evil");
        assertThrows(ArchiveException.class, () -> ModelArchive.extract(hostile, other, ArchiveLimits.defaults()));
        try (Stream<Path> left = Files.list(other)) {
            assertEquals(0, left.count());
        }
        assertFalse(Files.exists(job.resolve("evil")));
    }

    @Test
    void refusesADestinationThatIsNotEmpty() throws IOException {
        Files.createDirectories(dest);
        Files.writeString(dest.resolve("keep.txt"), "mine");
        Path archive = tarGzOf("model.onnx");

        assertThrows(DirectoryNotEmptyException.class,
                () -> ModelArchive.extract(archive, dest, ArchiveLimits.defaults()));
        assertEquals("mine", Files.readString(dest.resolve("keep.txt")));
        assertFalse(Files.exists(dest.resolve("model.onnx")));
    }

    @Test
    void keepsGlobalPaxHeadersAsGitArchiveWritesThem() throws IOException {
        Path archive = tarGz(tar -> {
            TarArchiveEntry global = new TarArchiveEntry("pax_global_header",
                    TarConstants.LF_PAX_GLOBAL_EXTENDED_HEADER);
            global.addPaxHeader("comment", "0123456789abcdef0123456789abcdef01234567");
            tar.putArchiveEntry(global);
            file(tar, "model.onnx", "onnx".getBytes(UTF_8));
        });

        assertEquals(List.of("model.onnx"), ModelArchive.extract(archive, dest, ArchiveLimits.defaults()).files());
    }

    @ParameterizedTest
    @ValueSource(strings = {"../evil", "a/../../evil", "a/b/../../../evil", "..", "a/../b", "a\\..\\..\\evil",
        "./../evil"})
    void refusesNamesThatClimbOut(String name) throws IOException {
        ArchiveException e = refused(tarGzOf("good.onnx", name));
        assertEquals(PREFIX + "Entry " + name + " climbs out of the archive with '..'", e.getMessage());
    }

    @ParameterizedTest
    @ValueSource(strings = {"/abs", "/etc/x", "C:\\evil", "c:/evil", "C:evil", "\\evil", "\\\\server\\share\\x"})
    void refusesAbsoluteNames(String name) throws IOException {
        Path archive = tarGz(tar -> {
            file(tar, "good.onnx", "onnx".getBytes(UTF_8));
            TarArchiveEntry absolute = new TarArchiveEntry(name, true);
            absolute.setSize(4);
            tar.putArchiveEntry(absolute);
            tar.write("evil".getBytes(UTF_8));
            tar.closeArchiveEntry();
        });

        ArchiveException e = refused(archive);
        assertEquals(PREFIX + "Entry " + name + " has an absolute path; entry names must be relative",
                e.getMessage());
    }

    static Stream<Arguments> specialEntries() {
        return Stream.of(
                Arguments.of(TarConstants.LF_SYMLINK, "/etc/passwd", "a symbolic link (to /etc/passwd)"),
                Arguments.of(TarConstants.LF_SYMLINK, "../../outside", "a symbolic link (to ../../outside)"),
                Arguments.of(TarConstants.LF_LINK, "good.onnx", "a hard link (to good.onnx)"),
                Arguments.of(TarConstants.LF_CHR, "", "a character device"),
                Arguments.of(TarConstants.LF_BLK, "", "a block device"),
                Arguments.of(TarConstants.LF_FIFO, "", "a FIFO"),
                Arguments.of((byte) 'V', "", "of tar type 'V'"));
    }

    @ParameterizedTest
    @MethodSource("specialEntries")
    void refusesEverythingButFilesAndDirectories(byte type, String linkName, String kind) throws IOException {
        Path archive = tarGz(tar -> {
            file(tar, "good.onnx", "onnx".getBytes(UTF_8));
            TarArchiveEntry special = new TarArchiveEntry("special", type);
            special.setLinkName(linkName);
            tar.putArchiveEntry(special);
            tar.closeArchiveEntry();
            file(tar, "special/through.txt", "x".getBytes(UTF_8));
        });

        ArchiveException e = refused(archive);
        assertEquals(PREFIX + "Entry special is " + kind
                + "; a model archive may hold only regular files and directories", e.getMessage());
    }

    @Test
    void refusesAtTheFirstEntryOverTheEntryLimit() throws IOException {
        Path archive = tarGz(tar -> {
            for (int i = 0; i < 10_000; i++) {
                file(tar, "f" + i, new byte[] {(byte) i});
            }
        });

        ArchiveException e = refused(archive, new ArchiveLimits(Long.MAX_VALUE, 100, Long.MAX_VALUE));
        assertEquals(PREFIX + "The model archive has more than 100 entries, the limit; refused at entry f100",
                e.getMessage());
    }

    @Test
    void acceptsExactlyTheEntryLimit() throws IOException {
        Path archive = tarGzOf("m/", "m/a.onnx", "m/b.txt");
        assertEquals(List.of("m/a.onnx", "m/b.txt"),
                ModelArchive.extract(archive, dest, new ArchiveLimits(Long.MAX_VALUE, 3, Long.MAX_VALUE)).files());
    }

    @Test
    void stopsAGzipBombAtThePerFileLimit() throws IOException {
        Path bomb = zeros("zeros.bin", 50 * MIB);
        assertTrue(Files.size(bomb) < MIB, "50 MB of zeros compresses to little");

        ArchiveException e = refused(bomb, new ArchiveLimits(Long.MAX_VALUE, 10, MIB));
        assertEquals(PREFIX + "Entry zeros.bin expands past the per-file limit of 1048576 bytes", e.getMessage());
    }

    @Test
    void stopsAGzipBombAtTheTotalLimit() throws IOException {
        ArchiveException e = refused(zeros("zeros.bin", 50 * MIB), new ArchiveLimits(MIB, 10, Long.MAX_VALUE));
        assertEquals(PREFIX + "The model archive expands past its limit of 1048576 bytes in entry zeros.bin",
                e.getMessage());
    }

    @Test
    void acceptsAFileOfExactlyThePerFileLimit() throws IOException {
        ArchiveLimits limits = new ArchiveLimits(Long.MAX_VALUE, 10, 1000);
        ModelArchive.extract(tarGz(tar -> file(tar, "w.bin", new byte[1000])), dest, limits);
        assertEquals(1000, Files.size(dest.resolve("w.bin")));

        Path over = tarGz(tar -> file(tar, "w.bin", new byte[1001]));
        dest = job.resolve("second");
        assertEquals(PREFIX + "Entry w.bin expands past the per-file limit of 1000 bytes",
                refused(over, limits).getMessage());
    }

    @Test
    void countsAllFilesAgainstTheTotalLimit() throws IOException {
        ArchiveLimits limits = new ArchiveLimits(MIB, 10, MIB);
        Path fits = tarGz(tar -> {
            file(tar, "a.bin", new byte[400_000]);
            file(tar, "b.bin", new byte[400_000]);
        });
        assertEquals(List.of("a.bin", "b.bin"), ModelArchive.extract(fits, dest, limits).files());

        Path over = tarGz(tar -> {
            file(tar, "a.bin", new byte[600_000]);
            file(tar, "b.bin", new byte[600_000]);
        });
        dest = job.resolve("second");
        assertEquals(PREFIX + "The model archive expands past its limit of 1048576 bytes in entry b.bin",
                refused(over, limits).getMessage());
    }

    @Test
    void aHeaderThatUnderstatesItsContentSmugglesNothingIn() throws IOException {
        TarArchiveEntry liar = new TarArchiveEntry("liar.bin");
        liar.setSize(10);
        byte[] header = new byte[512];
        liar.writeEntryHeader(header);
        byte[] content = new byte[5 * MIB];
        Arrays.fill(content, (byte) 'A');

        ArchiveException e = refused(gzip(header, content));
        assertTrue(e.getMessage().startsWith(PREFIX + "The model archive is damaged after entry liar.bin: "),
                e.getMessage());
    }

    @Test
    void countsWhatIsExpandedNotWhatTheUstarHeaderClaims() throws IOException {
        // A PAX record overrides the ustar size field: the reader then hands out 5 MiB for a "10 byte" file.
        byte[] record = "16 size=5242880\n".getBytes(UTF_8);
        TarArchiveEntry pax = new TarArchiveEntry("PaxHeaders/big.bin", TarConstants.LF_PAX_EXTENDED_HEADER_LC);
        pax.setSize(record.length);
        TarArchiveEntry big = new TarArchiveEntry("big.bin");
        big.setSize(10);
        Path archive = gzip(header(pax), Arrays.copyOf(record, 512), header(big), new byte[5 * MIB + 1024]);

        ArchiveException e = refused(archive, new ArchiveLimits(Long.MAX_VALUE, 10, MIB));
        assertEquals(PREFIX + "Entry big.bin expands past the per-file limit of 1048576 bytes", e.getMessage());
    }

    @Test
    void boundsTheTarHeadersTheReaderWouldHoldInMemory() throws IOException {
        // A GNU long-name entry is read into memory whole: this one claims a 2 MiB name.
        TarArchiveEntry longName = new TarArchiveEntry(TarConstants.GNU_LONGLINK, TarConstants.LF_GNUTYPE_LONGNAME);
        longName.setSize(2 * MIB);
        byte[] name = new byte[2 * MIB];
        Arrays.fill(name, (byte) 'a');
        Path archive = gzip(header(longName), name, header(new TarArchiveEntry("x")), new byte[1024]);

        ArchiveException e = refused(archive);
        assertEquals(PREFIX + "The model archive has more than 1048576 bytes of tar headers before its first entry",
                e.getMessage());
    }

    @Test
    void refusesAnArchiveCutInHalf() throws IOException {
        byte[] whole = Files.readAllBytes(tarGz(tar -> file(tar, "model.onnx", random(200_000))));
        ArchiveException e = refused(write(Arrays.copyOf(whole, whole.length / 2)));
        assertEquals(PREFIX + "The model archive is truncated: it ends in entry model.onnx", e.getMessage());
    }

    @Test
    void refusesAnArchiveMissingOnlyItsGzipTrailer() throws IOException {
        byte[] whole = Files.readAllBytes(tarGz(tar -> file(tar, "model.onnx", random(200_000))));
        ArchiveException e = refused(write(Arrays.copyOf(whole, whole.length - 4)));
        assertEquals(PREFIX + "The model archive is truncated: it ends after entry model.onnx", e.getMessage());
    }

    @Test
    void readsToTheEndOfTheGzipStreamPastTheTarReadersLastRecord() throws IOException {
        // Written with 64 KiB records (tar -b 128), the tar ends well before the gzip stream does.
        ByteArrayOutputStream blocked = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(blocked),
                64 * 1024)) {
            file(tar, "model.onnx", random(1000));
        }
        byte[] whole = blocked.toByteArray();
        assertEquals(List.of("model.onnx"),
                ModelArchive.extract(write(whole), dest, ArchiveLimits.defaults()).files());

        dest = job.resolve("second");
        ArchiveException e = refused(write(Arrays.copyOf(whole, whole.length - 4)));
        assertEquals(PREFIX + "The model archive is truncated: it ends after entry model.onnx", e.getMessage());
    }

    @Test
    void refusesACompleteGzipOfATruncatedTar() throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry("model.onnx");
        entry.setSize(200_000);
        ArchiveException e = refused(gzip(header(entry), random(1000)));
        assertEquals(PREFIX + "The model archive is damaged in entry model.onnx: Truncated TAR archive",
                e.getMessage());
    }

    @Test
    void refusesWhatIsNotGzip() throws IOException {
        ByteArrayOutputStream plainTar = new ByteArrayOutputStream();
        try (TarArchiveOutputStream tar = new TarArchiveOutputStream(plainTar)) {
            file(tar, "model.onnx", "onnx".getBytes(UTF_8));
        }
        for (byte[] content : List.of(plainTar.toByteArray(), "{\"model\": 1}".getBytes(UTF_8), new byte[0],
                new byte[] {0x1f})) {
            ArchiveException e = refused(write(content));
            assertEquals(PREFIX + "The model archive must be a gzip-compressed tar (.tar.gz)", e.getMessage());
        }
    }

    @Test
    void refusesAGzipThatHoldsNoTar() throws IOException {
        ArchiveException e = refused(gzip("{\"not\": \"a tar\"}".repeat(100).getBytes(UTF_8)));
        assertTrue(e.getMessage().startsWith(PREFIX + "The model archive must be a gzip-compressed tar (.tar.gz); "
                + "it could not be read as one: "), e.getMessage());
    }

    @Test
    void refusesAtTheOffendingEntryWithoutReadingFurther() throws IOException {
        // What follows the hostile entry is cut off: the refusal names the entry, so reading stopped there.
        byte[] whole = Files.readAllBytes(tarGz(tar -> {
            file(tar, "good.onnx", random(10_000));
            file(tar, "../evil", "evil".getBytes(UTF_8));
            file(tar, "later.bin", random(500_000));
        }));
        ArchiveException e = refused(write(Arrays.copyOf(whole, whole.length - 100_000)));
        assertEquals(PREFIX + "Entry ../evil climbs out of the archive with '..'", e.getMessage());
    }

    @Test
    void refusesDuplicateFiles() throws IOException {
        assertEquals(PREFIX + "The model archive holds model.onnx more than once; duplicate entries are not allowed",
                refused(tarGzOf("model.onnx", "model.onnx")).getMessage());
        assertEquals(PREFIX + "The model archive holds m/model.onnx more than once; duplicate entries are not allowed",
                refused(tarGzOf("m/model.onnx", "./m//model.onnx")).getMessage());
    }

    @Test
    void refusesANameUsedForBothAFileAndADirectory() throws IOException {
        assertEquals(PREFIX + "Entry m/x lies under m, which the archive holds as a file",
                refused(tarGzOf("m", "m/x")).getMessage());
        assertEquals(PREFIX + "Entry m/ is a directory, but the archive also holds m as a file",
                refused(tarGzOf("m", "m/")).getMessage());
        assertEquals(PREFIX + "Entry m is a file, but the archive also holds m/ as a directory",
                refused(tarGzOf("m/x", "m")).getMessage());
    }

    @Test
    void refusesAnArchiveWithoutFiles() throws IOException {
        assertEquals(PREFIX + "The model archive holds no files", refused(tarGz(tar -> { })).getMessage());
        assertEquals(PREFIX + "The model archive holds no files", refused(tarGzOf("./", "a/", "a/b/")).getMessage());
    }

    @Test
    void limitsMustBePositive() {
        assertEquals(new ArchiveLimits(4L << 30, 10_000, 2L << 30), ArchiveLimits.defaults());
        assertThrows(IllegalArgumentException.class, () -> new ArchiveLimits(0, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> new ArchiveLimits(1, 0, 1));
        assertThrows(IllegalArgumentException.class, () -> new ArchiveLimits(1, 1, -1));
    }

    // ---- finding files ----

    @Test
    void containsFindsAFileByRelativePathOrByNameAtAnyDepth() throws IOException {
        ModelArchive archive = extract("model.onnx", "meta/labels.txt", "synset.txt");

        assertTrue(archive.contains("synset.txt"));
        assertTrue(archive.contains("./synset.txt"));
        assertTrue(archive.contains("labels.txt"));
        assertTrue(archive.contains("meta/labels.txt"));
        assertFalse(archive.contains("abels.txt"));
        assertFalse(archive.contains("meta"));
        assertFalse(archive.contains("other/labels.txt"));
        assertFalse(archive.contains(""));
    }

    static Stream<Arguments> layouts() {
        return Stream.of(
                Arguments.of(Framework.ONNX, List.of("model/resnet.onnx", "model/._resnet.onnx", ".DS_Store",
                        "__MACOSX/model/._resnet.onnx", "readme.txt"), "model/resnet.onnx", Map.of()),
                Arguments.of(Framework.ONNX, List.of("RESNET.ONNX"), "RESNET.ONNX", Map.of()),
                Arguments.of(Framework.TENSORFLOW, List.of("saved_model.pb", "fingerprint.pb",
                        "variables/variables.index", "variables/variables.data-00000-of-00001", "assets/vocab.txt"),
                        "saved_model.pb", Map.of(Part.VARIABLES, "variables")),
                Arguments.of(Framework.TENSORFLOW, List.of("export/1/saved_model.pbtxt", "export/1/saved_model.pb",
                        "export/1/variables/variables.index"),
                        "export/1/saved_model.pb", Map.of(Part.VARIABLES, "export/1/variables")),
                Arguments.of(Framework.TENSORFLOW, List.of("sm/saved_model.pbtxt"), "sm/saved_model.pbtxt", Map.of()),
                Arguments.of(Framework.TENSORFLOW, List.of("frozen.pb", "labels.txt", "._frozen.pb"), "frozen.pb",
                        Map.of()),
                Arguments.of(Framework.KERAS, List.of("model.h5", "config.json"), "model.h5", Map.of()),
                Arguments.of(Framework.PYTORCH, List.of("model.pth"), "model.pth", Map.of()),
                Arguments.of(Framework.PYTORCH, List.of("code/inference.py", "model.pt"), "model.pt", Map.of()),
                Arguments.of(Framework.TFLITE, List.of("mobilenet.tflite", "labels.txt"), "mobilenet.tflite",
                        Map.of()),
                Arguments.of(Framework.SKLEARN, List.of("model.joblib"), "model.joblib", Map.of()),
                Arguments.of(Framework.SKLEARN, List.of("pipeline.pkl", "requirements.txt"), "pipeline.pkl",
                        Map.of()),
                Arguments.of(Framework.MXNET, List.of("resnet-symbol.json", "resnet-0000.params", "synset.txt"),
                        "resnet-symbol.json", Map.of(Part.PARAMS, "resnet-0000.params")),
                Arguments.of(Framework.MXNET, List.of("m/ssd-symbol.json", "m/ssd-0012.params", "other-0000.params"),
                        "m/ssd-symbol.json", Map.of(Part.PARAMS, "m/ssd-0012.params")),
                Arguments.of(Framework.DARKNET, List.of("yolov3.cfg", "yolov3.weights", "coco.names"), "yolov3.cfg",
                        Map.of(Part.WEIGHTS, "yolov3.weights")),
                Arguments.of(Framework.XGBOOST, List.of("xgboost-model"), "xgboost-model", Map.of()),
                Arguments.of(Framework.XGBOOST, List.of("model.json", "notes.txt"), "model.json", Map.of()),
                Arguments.of(Framework.XGBOOST, List.of("booster.ubj", ".DS_Store"), "booster.ubj", Map.of()));
    }

    @ParameterizedTest
    @MethodSource("layouts")
    void locatesModelFilesAsNeoExpects(Framework framework, List<String> files, String primary,
            Map<Part, String> parts) throws IOException {
        ModelArchive archive = extract(files.toArray(String[]::new));

        ModelFiles found = archive.modelFiles(framework);

        assertEquals(archive.root().resolve(primary), found.primary());
        assertEquals(parts.entrySet().stream()
                .collect(Collectors.toMap(Map.Entry::getKey, p -> archive.root().resolve(p.getValue()))),
                found.parts());
        assertTrue(Files.isRegularFile(found.primary()));
    }

    static Stream<Arguments> misplacedModels() {
        List<String> manyOnnx = IntStream.range(0, 25).mapToObj(i -> String.format("m%02d.onnx", i)).toList();
        return Stream.of(
                Arguments.of(Framework.ONNX, List.of("a.onnx", "sub/b.onnx"),
                        "Exactly one .onnx file is allowed for ONNX models; found 2: a.onnx, sub/b.onnx"),
                Arguments.of(Framework.ONNX, List.of("weights.bin", "readme.txt"),
                        "No .onnx file found in the model archive; it holds: readme.txt, weights.bin"),
                Arguments.of(Framework.ONNX, List.of(".DS_Store", "__MACOSX/._model.onnx"),
                        "No .onnx file found in the model archive; it holds: nothing but hidden files"),
                Arguments.of(Framework.ONNX, manyOnnx, "Exactly one .onnx file is allowed for ONNX models; found 25: "
                        + String.join(", ", manyOnnx.subList(0, 20)) + " and 5 more"),
                Arguments.of(Framework.KERAS, List.of("model.onnx"),
                        "No .h5 file found in the model archive; it holds: model.onnx"),
                Arguments.of(Framework.KERAS, List.of("a.h5", "b.h5"),
                        "Exactly one .h5 file is allowed for Keras models; found 2: a.h5, b.h5"),
                Arguments.of(Framework.PYTORCH, List.of("a.pt", "b.pth"),
                        "Exactly one .pt or .pth file is allowed for PyTorch models; found 2: a.pt, b.pth"),
                Arguments.of(Framework.PYTORCH, List.of("model.bin"),
                        "No .pt or .pth file found in the model archive; it holds: model.bin"),
                Arguments.of(Framework.TFLITE, List.of("model.pb"),
                        "No .tflite file found in the model archive; it holds: model.pb"),
                Arguments.of(Framework.TFLITE, List.of("a.tflite", "b.tflite"),
                        "Exactly one .tflite file is allowed for TFLite models; found 2: a.tflite, b.tflite"),
                Arguments.of(Framework.SKLEARN, List.of("a.pkl", "b.joblib"), "Exactly one .pkl, .pickle or .joblib "
                        + "file is allowed for scikit-learn models; found 2: a.pkl, b.joblib"),
                Arguments.of(Framework.SKLEARN, List.of("model.json"),
                        "No .pkl, .pickle or .joblib file found in the model archive; it holds: model.json"),
                Arguments.of(Framework.XGBOOST, List.of("a.txt", "b.csv"), "No XGBoost model file (.model, .json, "
                        + ".ubj or .bin, or a lone file of any name) found in the model archive; it holds: a.txt, b.csv"),
                Arguments.of(Framework.XGBOOST, List.of("a.model", "b.json"), "Exactly one .model, .json, .ubj or "
                        + ".bin file is allowed for XGBoost models; found 2: a.model, b.json"),
                Arguments.of(Framework.TENSORFLOW, List.of("model/frozen.pb"), "No TensorFlow model found in the "
                        + "model archive: expected a SavedModel directory (holding saved_model.pb or "
                        + "saved_model.pbtxt) or one frozen graph .pb file at the top level; it holds: model/frozen.pb"),
                Arguments.of(Framework.TENSORFLOW, List.of("a.pb", "b.pb"), "Exactly one frozen graph .pb file at the "
                        + "top level is allowed for TensorFlow models; found 2: a.pb, b.pb"),
                Arguments.of(Framework.TENSORFLOW, List.of("a/saved_model.pb", "saved_model.pbtxt"), "Exactly one "
                        + "SavedModel directory is allowed for TensorFlow models; found 2: the top level, a/"),
                Arguments.of(Framework.TENSORFLOW, List.of("sm/saved_model.pb", "frozen.pb"), "The model archive "
                        + "holds both a SavedModel (sm/) and a frozen graph (frozen.pb); a TensorFlow model is one "
                        + "or the other"),
                Arguments.of(Framework.MXNET, List.of("resnet-0000.params"), "No symbol file (PREFIX-symbol.json) "
                        + "found in the model archive; it holds: resnet-0000.params"),
                Arguments.of(Framework.MXNET, List.of("a-symbol.json", "b-symbol.json"), "Exactly one symbol file "
                        + "(PREFIX-symbol.json) is allowed for MXNet models; found 2: a-symbol.json, b-symbol.json"),
                Arguments.of(Framework.MXNET, List.of("resnet-symbol.json", "vgg-0000.params"), "The MXNet symbol "
                        + "file resnet-symbol.json has no matching parameter file resnet-NNNN.params; the parameter "
                        + "files found do not pair with it: vgg-0000.params"),
                Arguments.of(Framework.MXNET, List.of("resnet-symbol.json", "sub/resnet-0000.params"), "The MXNet "
                        + "symbol file resnet-symbol.json has no matching parameter file resnet-NNNN.params; the "
                        + "parameter files found do not pair with it: sub/resnet-0000.params"),
                Arguments.of(Framework.MXNET, List.of("resnet-symbol.json", "resnet.params"), "The MXNet symbol "
                        + "file resnet-symbol.json has no matching parameter file resnet-NNNN.params; it holds: "
                        + "resnet-symbol.json, resnet.params"),
                Arguments.of(Framework.MXNET, List.of("resnet-symbol.json", "resnet-0000.params",
                        "resnet-0010.params"), "Exactly one parameter file resnet-NNNN.params is allowed for MXNet "
                        + "models; found 2: resnet-0000.params, resnet-0010.params"),
                Arguments.of(Framework.DARKNET, List.of("yolo.cfg"),
                        "No .weights file found in the model archive; it holds: yolo.cfg"),
                Arguments.of(Framework.DARKNET, List.of("a.cfg", "b.cfg", "yolo.weights"),
                        "Exactly one .cfg file is allowed for Darknet models; found 2: a.cfg, b.cfg"));
    }

    @ParameterizedTest
    @MethodSource("misplacedModels")
    void namesWhatWasFoundAndWhatWasExpected(Framework framework, List<String> files, String problem)
            throws IOException {
        ModelArchive archive = extract(files.toArray(String[]::new));

        ArchiveException e = assertThrows(ArchiveException.class, () -> archive.modelFiles(framework));
        assertEquals(PREFIX + problem, e.getMessage());
    }

    // ---- helpers ----

    private ModelArchive extract(String... names) throws IOException {
        return ModelArchive.extract(tarGzOf(names), dest, ArchiveLimits.defaults());
    }

    private ArchiveException refused(Path archive) throws IOException {
        return refused(archive, ArchiveLimits.defaults());
    }

    /** Asserts that the archive is refused and that nothing of it is left, in dest or anywhere else. */
    private ArchiveException refused(Path archive, ArchiveLimits limits) throws IOException {
        Set<Path> before = everything();
        ArchiveException e = assertThrows(ArchiveException.class, () -> ModelArchive.extract(archive, dest, limits));
        assertTrue(e.getMessage().startsWith(PREFIX), e.getMessage());
        assertFalse(Files.exists(dest), "the destination is removed");
        assertEquals(before, everything());
        return e;
    }

    private Set<Path> everything() throws IOException {
        try (Stream<Path> paths = Files.walk(tmp)) {
            return paths.collect(Collectors.toCollection(HashSet::new));
        }
    }

    interface Entries {
        void write(TarArchiveOutputStream tar) throws IOException;
    }

    private Path tarGz(Entries entries) throws IOException {
        Path file = next();
        try (OutputStream out = Files.newOutputStream(file);
             TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(out))) {
            tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
            entries.write(tar);
        }
        return file;
    }

    /** An archive of these names: directories where a name ends in '/', else files holding their own name. */
    private Path tarGzOf(String... names) throws IOException {
        return tarGz(tar -> {
            for (String name : names) {
                if (name.endsWith("/")) {
                    dir(tar, name);
                } else {
                    file(tar, name, name.getBytes(UTF_8));
                }
            }
        });
    }

    /** One entry of that many zero bytes, streamed, so that the test never holds it whole. */
    private Path zeros(String name, long size) throws IOException {
        return tarGz(tar -> {
            TarArchiveEntry entry = new TarArchiveEntry(name);
            entry.setSize(size);
            tar.putArchiveEntry(entry);
            byte[] block = new byte[64 * 1024];
            for (long left = size; left > 0; left -= block.length) {
                tar.write(block, 0, (int) Math.min(block.length, left));
            }
            tar.closeArchiveEntry();
        });
    }

    /** Raw tar bytes, hand-made, gzip-compressed: for headers the tar writer would not write. */
    private Path gzip(byte[]... parts) throws IOException {
        Path file = next();
        try (OutputStream out = new GzipCompressorOutputStream(Files.newOutputStream(file))) {
            for (byte[] part : parts) {
                out.write(part);
            }
        }
        return file;
    }

    private Path write(byte[] content) throws IOException {
        return Files.write(next(), content);
    }

    private Path next() {
        return tmp.resolve("archive-" + archives++ + ".tar.gz");
    }

    private static byte[] header(TarArchiveEntry entry) {
        byte[] header = new byte[512];
        entry.writeEntryHeader(header);
        return header;
    }

    private static byte[] random(int size) {
        byte[] bytes = new byte[size];
        new Random(size).nextBytes(bytes);
        return bytes;
    }

    private static void file(TarArchiveOutputStream tar, String name, byte[] content) throws IOException {
        TarArchiveEntry entry = new TarArchiveEntry(name);
        entry.setSize(content.length);
        tar.putArchiveEntry(entry);
        tar.write(content);
        tar.closeArchiveEntry();
    }

    private static void dir(TarArchiveOutputStream tar, String name) throws IOException {
        tar.putArchiveEntry(new TarArchiveEntry(name, TarConstants.LF_DIR));
        tar.closeArchiveEntry();
    }
}
