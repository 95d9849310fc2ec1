package dev.kiln.runtime.artifact;

import dev.kiln.runtime.artifact.ArtifactFixtures.Entry;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArtifactReaderTest {
    @TempDir Path dir;
    private Path content;
    private ArtifactWriter.Written written;

    @BeforeEach
    void writeFixture() throws Exception {
        content = ArtifactFixtures.content(dir.resolve("content"));
        written = ArtifactWriter.write(content, ArtifactFixtures.manifest(), dir.resolve("out"));
    }

    @Test
    void roundTrip() throws Exception {
        ArtifactReader.Artifact a = ArtifactReader.extract(written.artifact(), dir.resolve("x"));
        assertEquals(dir.resolve("x").toRealPath(), a.directory());
        assertEquals(written.manifest(), a.manifest());
        assertEquals(written.digest(), a.digest());
        for (String name : List.of("libmodel.so", "model.ir", "weights.bin")) {
            assertArrayEquals(Files.readAllBytes(content.resolve(name)), Files.readAllBytes(a.directory().resolve(name)), name);
        }
        assertArrayEquals(written.manifest().toJson(), Files.readAllBytes(a.directory().resolve("manifest.json")));
        assertEquals(a.directory().resolve("weights.bin"), a.component("weights"));
        assertEquals(written.manifest(), ArtifactReader.verify(a.directory()));
        assertEquals(written.digest(), ArtifactReader.extract(written.artifact(), dir.resolve("y"), written.digest()).digest());
    }

    @Test
    void extractedDirectoryIsCheckedAgain() throws Exception {
        Path x = ArtifactReader.extract(written.artifact(), dir.resolve("x")).directory();
        byte[] weights = Files.readAllBytes(x.resolve("weights.bin"));
        weights[500] ^= 1;
        Files.write(x.resolve("weights.bin"), weights);
        assertMessage(assertThrows(ArtifactException.class, () -> ArtifactReader.verify(x)),
                "'weights.bin' does not match its BLAKE2b-512 digest in manifest.json");
        Files.delete(x.resolve("weights.bin"));
        assertMessage(assertThrows(ArtifactException.class, () -> ArtifactReader.verify(x)), "'weights.bin' is listed in manifest.json but missing");
    }

    @Test
    void changedByteIsRefused() throws Exception {
        assertTampered(entries -> replace(entries, "weights.bin", data -> {
            byte[] b = data.clone();
            b[12_345] ^= 0x40;
            return b;
        }), "'weights.bin' does not match its BLAKE2b-512 digest in manifest.json");
        assertTampered(entries -> replace(entries, "model.ir", data -> "graph evil {}\n".getBytes(StandardCharsets.UTF_8)),
                "'model.ir' is 14 bytes, manifest.json says 46");
    }

    @Test
    void missingFileIsRefused() throws Exception {
        assertTampered(entries -> entries.stream().filter(e -> !e.name().equals("libmodel.so")).toList(),
                "'libmodel.so' is listed in manifest.json but missing");
        assertTampered(entries -> entries.stream().filter(e -> !e.name().equals("manifest.json")).toList(), "has no manifest.json");
    }

    @Test
    void extraFileIsRefused() throws Exception {
        assertTampered(entries -> {
            List<Entry> more = new ArrayList<>(entries);
            more.add(Entry.file("preload.so", "evil"));
            return more;
        }, "'preload.so' is not listed in manifest.json");
    }

    @Test
    void manifestDigestMismatchIsRefused() throws Exception {
        String real = written.manifest().file("libmodel.so").blake2b();
        String other = Blake2.hex("something else".getBytes(StandardCharsets.UTF_8));
        assertTampered(entries -> replace(entries, "manifest.json",
                json -> new String(json, StandardCharsets.UTF_8).replace(real, other).getBytes(StandardCharsets.UTF_8)),
                "'libmodel.so' does not match its BLAKE2b-512 digest in manifest.json");
        assertTampered(entries -> replace(entries, "manifest.json", json -> "{\"format\": 1,".getBytes(StandardCharsets.UTF_8)),
                "manifest.json is invalid");
    }

    @Test
    void corruptOrTruncatedArchiveIsRefused() throws Exception {
        byte[] bytes = Files.readAllBytes(written.artifact());
        byte[] flipped = bytes.clone();
        flipped[bytes.length / 2] ^= 0x10;
        assertRefused(Files.write(dir.resolve("flipped.tar.gz"), flipped), ArtifactReader.Limits.DEFAULT, "artifact ");
        byte[] truncated = java.util.Arrays.copyOf(bytes, bytes.length - 100);
        assertRefused(Files.write(dir.resolve("truncated.tar.gz"), truncated), ArtifactReader.Limits.DEFAULT, "truncated or corrupt");
        assertRefused(Files.writeString(dir.resolve("text.tar.gz"), "not an archive"), ArtifactReader.Limits.DEFAULT, "truncated or corrupt");
        byte[] badCrc = bytes.clone();
        badCrc[bytes.length - 6] ^= 1;
        assertRefused(Files.write(dir.resolve("crc.tar.gz"), badCrc), ArtifactReader.Limits.DEFAULT, "CRC32");
    }

    @Test
    void dataAfterTheArchiveIsRefused() throws Exception {
        byte[] bytes = Files.readAllBytes(written.artifact());
        byte[] appended = java.util.Arrays.copyOf(bytes, bytes.length + 5);
        assertRefused(Files.write(dir.resolve("appended.tar.gz"), appended), ArtifactReader.Limits.DEFAULT, "after a valid .gz stream");

        byte[] tar;
        try (var in = new GzipCompressorInputStream(Files.newInputStream(written.artifact()))) {
            tar = in.readAllBytes();
        }
        java.io.ByteArrayOutputStream hidden = new java.io.ByteArrayOutputStream();
        try (var gz = new GzipCompressorOutputStream(hidden)) {
            // Tar readers skip to the end of a 10 KiB record after the end blocks; what follows that is refused.
            gz.write(tar);
            gz.write(new byte[10_240]);
            gz.write("a hidden payload after the tar archive".getBytes(StandardCharsets.UTF_8));
        }
        assertRefused(Files.write(dir.resolve("hidden.tar.gz"), hidden.toByteArray()), ArtifactReader.Limits.DEFAULT,
                "has data after the end of the tar archive");
    }

    @Test
    void unexpectedArtifactDigestIsRefused() throws Exception {
        Path x = dir.resolve("x");
        String wrong = Blake2.hex(new byte[0]);
        assertMessage(assertThrows(ArtifactException.class, () -> ArtifactReader.extract(written.artifact(), x, wrong)),
                "has digest " + written.digest() + ", expected " + wrong);
        assertEmpty(x);
    }

    @Test
    void unsafeArchivesAreRefused() throws Exception {
        List<Entry> good = ArtifactFixtures.read(written.artifact());
        Object[][] cases = {
                {Entry.file("/etc/evil", "x"), "unsafe file name '/etc/evil'"},
                {Entry.file("../evil", "x"), "unsafe file name '../evil'"},
                {Entry.file("a/../../evil", "x"), "unsafe file name 'a/../../evil'"},
                {Entry.file("./weights.bin", "x"), "unsafe file name './weights.bin'"},
                {Entry.file("x".repeat(120) + "/../../evil", "x"), "file name longer than 100 characters"},
                {Entry.special("lib.so", TarArchiveEntry.LF_SYMLINK, "/etc/passwd"), "holds a link: 'lib.so' -> '/etc/passwd'"},
                {Entry.special("hard", TarArchiveEntry.LF_LINK, "weights.bin"), "holds a link: 'hard' -> 'weights.bin'"},
                {Entry.special("tty", TarArchiveEntry.LF_CHR, ""), "holds a device or FIFO: 'tty'"},
                {Entry.special("disk", TarArchiveEntry.LF_BLK, ""), "holds a device or FIFO: 'disk'"},
                {Entry.special("pipe", TarArchiveEntry.LF_FIFO, ""), "holds a device or FIFO: 'pipe'"},
                {Entry.special("sub/", TarArchiveEntry.LF_DIR, ""), "holds a directory entry: 'sub/'"},
                {Entry.file("weights.bin", "again"), "holds 'weights.bin' twice"},
                {Entry.file("weights.bin/inner", "x"), "holds 'weights.bin/inner', which clashes with another entry's path"},
        };
        for (Object[] c : cases) {
            List<Entry> entries = new ArrayList<>(good);
            entries.add((Entry) c[0]);
            Path a = ArtifactFixtures.write(dir.resolve("unsafe.tar.gz"), entries);
            assertRefused(a, ArtifactReader.Limits.DEFAULT, (String) c[1]);
        }
        assertFalse(Files.exists(dir.resolve("evil")));
        assertFalse(Files.exists(Path.of("/etc/evil")));
    }

    @Test
    void limitsAreEnforced() throws Exception {
        assertRefused(written.artifact(), new ArtifactReader.Limits(3, 1L << 30), "holds more than 3 entries");
        assertRefused(written.artifact(), new ArtifactReader.Limits(100, 50_000), "expands to more than 50000 bytes (at 'weights.bin')");
        // A small archive that inflates hugely: refused by its declared size before anything is written.
        Path bomb = ArtifactFixtures.write(dir.resolve("bomb.tar.gz"), List.of(Entry.file("zeros.bin", new byte[20 << 20])));
        assertTrue(Files.size(bomb) < 100_000);
        assertRefused(bomb, new ArtifactReader.Limits(100, 1 << 20), "expands to more than 1048576 bytes (at 'zeros.bin')");
    }

    @Test
    void destinationMustBeEmpty() throws Exception {
        Path x = Files.createDirectories(dir.resolve("x"));
        Files.writeString(x.resolve("old"), "old");
        assertMessage(assertThrows(ArtifactException.class, () -> ArtifactReader.extract(written.artifact(), x)), "not empty");
        assertEquals("old", Files.readString(x.resolve("old")));
    }

    /** Rewrites the fixture's entries, then expects extraction to be refused and nothing left extracted. */
    private void assertTampered(UnaryOperator<List<Entry>> change, String message) throws Exception {
        Path a = ArtifactFixtures.write(dir.resolve("tampered.tar.gz"), change.apply(ArtifactFixtures.read(written.artifact())));
        assertRefused(a, ArtifactReader.Limits.DEFAULT, message);
    }

    private void assertRefused(Path artifact, ArtifactReader.Limits limits, String message) throws Exception {
        Path x = dir.resolve("x");
        assertMessage(assertThrows(ArtifactException.class, () -> ArtifactReader.extract(artifact, x, limits)), message);
        assertEmpty(x);
    }

    private static List<Entry> replace(List<Entry> entries, String name, UnaryOperator<byte[]> change) {
        return entries.stream().map(e -> e.name().equals(name) ? Entry.file(name, change.apply(e.data())) : e).toList();
    }

    private static void assertMessage(ArtifactException e, String message) {
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }

    private static void assertEmpty(Path x) throws Exception {
        if (!Files.exists(x)) return;
        try (Stream<Path> s = Files.list(x)) {
            assertEquals(List.of(), s.toList(), "nothing extracted is left behind");
        }
    }
}
