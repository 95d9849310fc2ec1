package dev.kiln.runtime.artifact;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipParameters;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Writes {@code <model>-<target>.tar.gz} byte for byte reproducibly: ustar entries sorted by name, mtime 0,
 * uid/gid 0, empty user/group names, mode 0644; a gzip header with no file name, mtime 0 and OS 255, level 9.
 * {@code manifest.json} is added with the size and BLAKE2b-512 of every other file. The archive is written to
 * a temporary file beside the target and renamed at the end, so no partial artifact is ever visible.
 */
public final class ArtifactWriter {
    /** gzip's "unknown" operating system: the header must not depend on the machine. */
    static final int GZIP_OS_UNKNOWN = 255;
    static final int FILE_MODE = 0100644;
    private static final int BUFFER = 1 << 16;

    private ArtifactWriter() {}

    /** The written artifact and its ArtifactDigest (BLAKE2b-512 of the .tar.gz, as b2sum prints it). */
    public record Written(Path artifact, String digest, Manifest manifest) {}

    public static String fileName(Manifest manifest) {
        return manifest.model() + "-" + manifest.target().name() + ".tar.gz";
    }

    /**
     * Packs every regular file under {@code contentDir} with {@code manifest} (its file list is replaced by
     * the files found) into {@code outputDir}. Links, special files and unsafe names are refused.
     */
    public static Written write(Path contentDir, Manifest manifest, Path outputDir) throws IOException {
        if (outputDir.toAbsolutePath().normalize().startsWith(contentDir.toAbsolutePath().normalize())) {
            throw new ArtifactException("the output folder " + outputDir + " lies inside the content folder " + contentDir);
        }
        TreeMap<String, Path> sources = listFiles(contentDir);
        List<Manifest.FileEntry> entries = new ArrayList<>();
        for (var e : sources.entrySet()) {
            entries.add(new Manifest.FileEntry(e.getKey(), Files.size(e.getValue()), Blake2.hex(e.getValue())));
        }
        Manifest complete = manifest.withFiles(entries);
        try {
            complete.checkComponents();
        } catch (IllegalArgumentException e) {
            throw new ArtifactException(e.getMessage(), e);
        }
        byte[] manifestJson = complete.toJson();

        Files.createDirectories(outputDir);
        Path target = outputDir.resolve(fileName(complete));
        Path temp = Files.createTempFile(outputDir, "." + target.getFileName(), ".partial");
        try {
            String digest;
            try (Blake2.DigestingOutputStream digesting =
                         new Blake2.DigestingOutputStream(new BufferedOutputStream(Files.newOutputStream(temp), BUFFER))) {
                try (GzipCompressorOutputStream gzip = new GzipCompressorOutputStream(digesting, gzipParameters());
                     TarArchiveOutputStream tar = new TarArchiveOutputStream(gzip, StandardCharsets.US_ASCII.name())) {
                    tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_ERROR);
                    // Base-256 sizes in the header itself: no PAX header (whose fields vary) for files over 8 GiB.
                    tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_STAR);
                    TreeMap<String, Object> all = new TreeMap<>(sources);
                    all.put(Manifest.FILE_NAME, manifestJson);
                    for (var e : all.entrySet()) {
                        if (e.getValue() instanceof byte[] bytes) {
                            tar.putArchiveEntry(entry(e.getKey(), bytes.length));
                            tar.write(bytes);
                        } else {
                            Manifest.FileEntry listed = complete.file(e.getKey());
                            tar.putArchiveEntry(entry(e.getKey(), listed.size()));
                            copyUnchanged((Path) e.getValue(), listed, tar);
                        }
                        tar.closeArchiveEntry();
                    }
                    tar.finish();
                }
                // The gzip stream has closed (and flushed) the digesting stream: everything written is hashed.
                digest = digesting.hex();
            }
            // The temporary file was created owner-only; the artifact is readable like any other file written here.
            if (Files.getFileStore(temp).supportsFileAttributeView(PosixFileAttributeView.class)) {
                Files.setPosixFilePermissions(temp, PosixFilePermissions.fromString("rw-r--r--"));
            }
            try {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
            }
            return new Written(target, digest, complete);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    static GzipParameters gzipParameters() {
        GzipParameters p = new GzipParameters();
        p.setCompressionLevel(9);
        p.setModificationTime(0);
        p.setOperatingSystem(GZIP_OS_UNKNOWN);
        return p;
    }

    private static TarArchiveEntry entry(String name, long size) {
        TarArchiveEntry e = new TarArchiveEntry(name);
        e.setSize(size);
        e.setMode(FILE_MODE);
        e.setModTime(FileTime.fromMillis(0));
        e.setUserId(0);
        e.setGroupId(0);
        e.setUserName("");
        e.setGroupName("");
        return e;
    }

    /** Copies exactly the bytes that were digested; a file changed meanwhile fails the write. */
    private static void copyUnchanged(Path source, Manifest.FileEntry listed, OutputStream out) throws IOException {
        Blake2 digest = Blake2.incremental();
        long copied = 0;
        byte[] buffer = new byte[BUFFER];
        try (InputStream in = Files.newInputStream(source)) {
            for (int n; copied < listed.size() && (n = in.read(buffer, 0, (int) Math.min(buffer.length, listed.size() - copied))) >= 0; ) {
                out.write(buffer, 0, n);
                digest.update(buffer, 0, n);
                copied += n;
            }
            if (copied != listed.size() || in.read() >= 0 || !digest.finish().equals(listed.blake2b())) {
                throw new ArtifactException("'" + listed.name() + "' changed while the artifact was being written");
            }
        }
    }

    private static TreeMap<String, Path> listFiles(Path contentDir) throws IOException {
        if (!Files.isDirectory(contentDir, LinkOption.NOFOLLOW_LINKS)) throw new ArtifactException("not a directory: " + contentDir);
        TreeMap<String, Path> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(contentDir)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (p.equals(contentDir) || Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) continue;
                String name = contentDir.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/");
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) throw new ArtifactException("'" + name + "' is not a regular file (links and special files are not packed)");
                if (name.equals(Manifest.FILE_NAME)) throw new ArtifactException("'" + Manifest.FILE_NAME + "' is written by the artifact writer; remove it from " + contentDir);
                try {
                    Manifest.checkPath(name);
                } catch (IllegalArgumentException e) {
                    throw new ArtifactException(e.getMessage(), e);
                }
                files.put(name, p);
            }
        }
        return files;
    }
}
