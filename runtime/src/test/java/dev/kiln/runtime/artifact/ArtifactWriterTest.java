package dev.kiln.runtime.artifact;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ArtifactWriterTest {
    /** The ArtifactDigest of the fixed fixture artifact; it changes only when the format (or deflate's output) does. */
    private static final String FIXTURE_DIGEST = "2ec95ff11455ac6dcb44235cceda48f4d3c7f4e4ba3189e8b94eca30d90498a3"
            + "91267f022e7dddcfe37097dd501a13d1ea1affef6c3d6e51e8a8eabf7c68778c";

    @TempDir Path dir;

    private ArtifactWriter.Written writeFixture(String sub) throws Exception {
        return ArtifactWriter.write(ArtifactFixtures.content(dir.resolve(sub + "-content")), ArtifactFixtures.manifest(), dir.resolve(sub + "-out"));
    }

    @Test
    void fixedArtifactHasPinnedDigest() throws Exception {
        ArtifactWriter.Written w = writeFixture("a");
        assertEquals(dir.resolve("a-out/squeezenet-ml_c5.tar.gz"), w.artifact());
        assertEquals(Blake2.hex(w.artifact()), w.digest());
        assertEquals(FIXTURE_DIGEST, w.digest());
        Optional<String> b2sum = ArtifactFixtures.b2sum(w.artifact());
        b2sum.ifPresent(expected -> assertEquals(expected, w.digest()));
        assertEquals(PosixFilePermissions.fromString("rw-r--r--"), Files.getPosixFilePermissions(w.artifact()));
    }

    @Test
    void sameInputsGiveIdenticalBytes() throws Exception {
        ArtifactWriter.Written first = writeFixture("a");
        // Other folder, other file times: nothing of that may reach the artifact.
        Path other = ArtifactFixtures.content(dir.resolve("elsewhere/content"));
        try (Stream<Path> files = Files.list(other)) {
            for (Path f : files.toList()) Files.setLastModifiedTime(f, FileTime.fromMillis(1_234_567_890_000L));
        }
        ArtifactWriter.Written second = ArtifactWriter.write(other, ArtifactFixtures.manifest(), dir.resolve("b-out"));
        assertArrayEquals(Files.readAllBytes(first.artifact()), Files.readAllBytes(second.artifact()));
        assertEquals(first.digest(), second.digest());
        // Writing again over an existing artifact replaces it with the same bytes.
        ArtifactWriter.Written again = ArtifactWriter.write(other, ArtifactFixtures.manifest(), dir.resolve("b-out"));
        assertEquals(first.digest(), Blake2.hex(again.artifact()));
    }

    @Test
    void gzipHeaderIsFixed() throws Exception {
        byte[] bytes = Files.readAllBytes(writeFixture("a").artifact());
        // magic, deflate, no flags (no name), mtime 0, XFL 2 (level 9), OS 255 (unknown)
        byte[] expected = {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0, 2, (byte) 0xff};
        assertArrayEquals(expected, Arrays.copyOf(bytes, 10));
    }

    @Test
    void entriesAreSortedUstarFilesWithFixedMetadata() throws Exception {
        ArtifactWriter.Written w = writeFixture("a");
        List<String> names = new ArrayList<>();
        try (InputStream in = Files.newInputStream(w.artifact());
             TarArchiveInputStream tar = new TarArchiveInputStream(new GzipCompressorInputStream(in))) {
            for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                names.add(e.getName());
                assertEquals(TarArchiveEntry.LF_NORMAL, e.getLinkFlag(), e.getName());
                assertEquals(0100644, e.getMode(), e.getName());
                assertEquals(0, e.getModTime().getTime(), e.getName());
                assertEquals(0, e.getLongUserId(), e.getName());
                assertEquals(0, e.getLongGroupId(), e.getName());
                assertEquals("", e.getUserName(), e.getName());
                assertEquals("", e.getGroupName(), e.getName());
                assertFalse(e.isPaxHeader() || e.isGNULongNameEntry(), e.getName());
            }
        }
        assertEquals(List.of("libmodel.so", "manifest.json", "model.ir", "weights.bin"), names);

        byte[] tar;
        try (InputStream in = new GzipCompressorInputStream(Files.newInputStream(w.artifact()))) {
            tar = in.readAllBytes();
        }
        // The first header block: POSIX ustar magic and version, empty user and group names.
        assertEquals("ustar\0" + "00", new String(tar, 257, 8, StandardCharsets.US_ASCII));
        assertArrayEquals(new byte[64], Arrays.copyOfRange(tar, 265, 329));
        // 512-byte blocks: 4 headers, data rounded up, two zero blocks at the end.
        assertEquals(4 * 512 + 512 + 1536 + 512 + 100_352 + 1024, tar.length);
        assertArrayEquals(new byte[1024], Arrays.copyOfRange(tar, tar.length - 1024, tar.length));
    }

    @Test
    void manifestListsEveryOtherFile() throws Exception {
        Path content = ArtifactFixtures.content(dir.resolve("content"));
        ArtifactWriter.Written w = ArtifactWriter.write(content, ArtifactFixtures.manifest(), dir.resolve("out"));
        Map<String, byte[]> entries = new java.util.TreeMap<>();
        for (ArtifactFixtures.Entry e : ArtifactFixtures.read(w.artifact())) entries.put(e.name(), e.data());
        Manifest parsed = Manifest.parse(entries.get(Manifest.FILE_NAME));
        assertEquals(w.manifest(), parsed);
        assertArrayEquals(w.manifest().toJson(), entries.get(Manifest.FILE_NAME));
        assertEquals(3, parsed.files().size());
        for (Manifest.FileEntry f : parsed.files()) {
            Path source = content.resolve(f.name());
            assertEquals(Files.size(source), f.size(), f.name());
            assertEquals(Blake2.hex(source), f.blake2b(), f.name());
            assertArrayEquals(Files.readAllBytes(source), entries.get(f.name()), f.name());
        }
    }

    @Test
    void nestedFilesKeepTheirRelativePath() throws Exception {
        Path content = ArtifactFixtures.content(dir.resolve("content"));
        Files.createDirectories(content.resolve("kernels"));
        Files.writeString(content.resolve("kernels/avx512.o"), "object");
        ArtifactWriter.Written w = ArtifactWriter.write(content, ArtifactFixtures.manifest(), dir.resolve("out"));
        assertEquals(List.of("kernels/avx512.o", "libmodel.so", "manifest.json", "model.ir", "weights.bin"),
                ArtifactFixtures.read(w.artifact()).stream().map(ArtifactFixtures.Entry::name).toList());
    }

    @Test
    void refusesBadContentAndLeavesNothingBehind() throws Exception {
        Path out = dir.resolve("out");
        Path content = ArtifactFixtures.content(dir.resolve("c1"));
        Files.writeString(content.resolve("manifest.json"), "{}");
        assertRefused(content, ArtifactFixtures.manifest(), out, "'manifest.json' is written by the artifact writer");

        content = ArtifactFixtures.content(dir.resolve("c2"));
        Files.createSymbolicLink(content.resolve("link.so"), content.resolve("libmodel.so"));
        assertRefused(content, ArtifactFixtures.manifest(), out, "'link.so' is not a regular file");

        content = ArtifactFixtures.content(dir.resolve("c3"));
        Files.writeString(content.resolve("bad name.txt"), "x");
        assertRefused(content, ArtifactFixtures.manifest(), out, "unsafe file name 'bad name.txt'");

        content = ArtifactFixtures.content(dir.resolve("c4"));
        Files.delete(content.resolve("model.ir"));
        assertRefused(content, ArtifactFixtures.manifest(), out, "component 'ir' names 'model.ir'");

        content = ArtifactFixtures.content(dir.resolve("c5"));
        assertRefused(content, ArtifactFixtures.manifest(), content.resolve("out"), "lies inside the content folder");

        if (Files.exists(out)) {
            try (Stream<Path> left = Files.list(out)) {
                assertEquals(List.of(), left.toList(), "no partial artifact");
            }
        }
    }

    private static void assertRefused(Path content, Manifest manifest, Path out, String message) {
        ArtifactException e = assertThrows(ArtifactException.class, () -> ArtifactWriter.write(content, manifest, out));
        assertTrue(e.getMessage().contains(message), e.getMessage());
    }
}
