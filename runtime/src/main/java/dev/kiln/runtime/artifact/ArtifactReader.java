package dev.kiln.runtime.artifact;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.stream.Stream;

/**
 * Opens an artifact: extracts it safely (only regular files with plain relative names; at most
 * {@link Limits#maxFiles} entries and {@link Limits#maxBytes} bytes), parses manifest.json and checks every
 * file's size and BLAKE2b-512 against it before returning. Anything refused leaves no extracted file behind.
 */
public final class ArtifactReader {
    /** manifest.json is read into memory to be parsed; a bigger one is not a manifest. */
    static final long MAX_MANIFEST_BYTES = 16L << 20;
    private static final int BUFFER = 1 << 16;
    private static final long MAX_TRAILING_PADDING = 10_240;

    private ArtifactReader() {}

    /** How much an artifact may expand to. */
    public record Limits(int maxFiles, long maxBytes) {
        public static final Limits DEFAULT = new Limits(256, 16L << 30);

        public Limits {
            if (maxFiles < 1 || maxBytes < 0) throw new IllegalArgumentException("bad artifact limits: " + maxFiles + " files, " + maxBytes + " bytes");
        }
    }

    /** An extracted, verified artifact. {@code digest} is its ArtifactDigest (BLAKE2b-512 of the .tar.gz). */
    public record Artifact(Path directory, Manifest manifest, String digest) {
        /** The extracted file playing a part (e.g. "library", "weights", "ir"). */
        public Path component(String part) {
            return directory.resolve(manifest.component(part).name());
        }
    }

    public static Artifact extract(Path artifact, Path destination) throws IOException {
        return extract(artifact, destination, Limits.DEFAULT);
    }

    /** Extracts and verifies; also refuses the artifact unless its ArtifactDigest equals {@code expectedDigest}. */
    public static Artifact extract(Path artifact, Path destination, String expectedDigest) throws IOException {
        Objects.requireNonNull(expectedDigest, "expectedDigest");
        Artifact a = extract(artifact, destination, Limits.DEFAULT);
        if (!a.digest().equals(expectedDigest)) {
            deleteContents(destination);
            throw new ArtifactException("artifact " + artifact + " has digest " + a.digest() + ", expected " + expectedDigest);
        }
        return a;
    }

    /** {@code destination} must not exist or be an empty directory. */
    public static Artifact extract(Path artifact, Path destination, Limits limits) throws IOException {
        if (Files.exists(destination, LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(destination, LinkOption.NOFOLLOW_LINKS)) throw new ArtifactException("cannot extract into " + destination + ": not a directory");
            try (Stream<Path> s = Files.list(destination)) {
                if (s.findAny().isPresent()) throw new ArtifactException("cannot extract into " + destination + ": not empty");
            }
        }
        Files.createDirectories(destination);
        Path root = destination.toRealPath();
        try {
            Extraction x = unpack(artifact, root, limits);
            Manifest manifest = verify(artifact.toString(), x.manifestJson, x.files);
            return new Artifact(root, manifest, x.digest);
        } catch (IOException | RuntimeException e) {
            deleteContents(root);
            throw e;
        }
    }

    /** Checks an already extracted artifact directory again: every file against manifest.json, nothing extra. */
    public static Manifest verify(Path directory) throws IOException {
        Path manifestFile = directory.resolve(Manifest.FILE_NAME);
        if (!Files.isRegularFile(manifestFile, LinkOption.NOFOLLOW_LINKS)) throw new ArtifactException(directory + " has no " + Manifest.FILE_NAME);
        if (Files.size(manifestFile) > MAX_MANIFEST_BYTES) throw new ArtifactException(Manifest.FILE_NAME + " in " + directory + " is larger than " + MAX_MANIFEST_BYTES + " bytes");
        byte[] manifestJson = Files.readAllBytes(manifestFile);
        TreeMap<String, Facts> files = new TreeMap<>();
        try (Stream<Path> walk = Files.walk(directory)) {
            for (Path p : (Iterable<Path>) walk::iterator) {
                if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) continue;
                String name = directory.relativize(p).toString().replace(p.getFileSystem().getSeparator(), "/");
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) throw new ArtifactException("'" + name + "' in " + directory + " is not a regular file");
                if (!name.equals(Manifest.FILE_NAME)) files.put(name, new Facts(Files.size(p), Blake2.hex(p)));
            }
        }
        return verify(directory.toString(), manifestJson, files);
    }

    private record Facts(long size, String blake2b) {}

    private record Extraction(byte[] manifestJson, Map<String, Facts> files, String digest) {}

    private static Manifest verify(String where, byte[] manifestJson, Map<String, Facts> files) throws ArtifactException {
        if (manifestJson == null) throw new ArtifactException("artifact " + where + " has no " + Manifest.FILE_NAME);
        Manifest manifest = Manifest.parse(manifestJson);
        for (Manifest.FileEntry listed : manifest.files()) {
            Facts found = files.get(listed.name());
            if (found == null) {
                throw new ArtifactException("artifact " + where + ": '" + listed.name() + "' is listed in " + Manifest.FILE_NAME + " but missing");
            }
            if (found.size() != listed.size()) {
                throw new ArtifactException("artifact " + where + ": '" + listed.name() + "' is " + found.size() + " bytes, "
                        + Manifest.FILE_NAME + " says " + listed.size() + " (tampered or corrupt)");
            }
            if (!found.blake2b().equals(listed.blake2b())) {
                throw new ArtifactException("artifact " + where + ": '" + listed.name() + "' does not match its BLAKE2b-512 digest in "
                        + Manifest.FILE_NAME + " (tampered or corrupt)");
            }
        }
        for (String name : files.keySet()) {
            boolean listed = manifest.files().stream().anyMatch(f -> f.name().equals(name));
            if (!listed) throw new ArtifactException("artifact " + where + ": '" + name + "' is not listed in " + Manifest.FILE_NAME);
        }
        return manifest;
    }

    private static Extraction unpack(Path artifact, Path root, Limits limits) throws IOException {
        TreeMap<String, Facts> files = new TreeMap<>();
        byte[] manifestJson = null;
        long bytes = 0;
        int count = 0;
        try (DigestingInputStream raw = new DigestingInputStream(new BufferedInputStream(Files.newInputStream(artifact), BUFFER))) {
            try {
                // Concatenated members are read so that anything after the first one is seen (and refused below).
                GzipCompressorInputStream gzip = GzipCompressorInputStream.builder().setInputStream(raw).setDecompressConcatenated(true).get();
                TarArchiveInputStream tar = new TarArchiveInputStream(gzip, StandardCharsets.US_ASCII.name());
                for (TarArchiveEntry e; (e = tar.getNextEntry()) != null; ) {
                    String name = e.getName();
                    if (++count > limits.maxFiles()) throw refuse(artifact, "holds more than " + limits.maxFiles() + " entries");
                    checkEntry(artifact, e);
                    if (files.containsKey(name) || (manifestJson != null && name.equals(Manifest.FILE_NAME))) {
                        throw refuse(artifact, "holds '" + name + "' twice");
                    }
                    if (e.getSize() > limits.maxBytes() - bytes) throw refuse(artifact, "expands to more than " + limits.maxBytes() + " bytes (at '" + name + "')");
                    if (name.equals(Manifest.FILE_NAME) && e.getSize() > MAX_MANIFEST_BYTES) {
                        throw refuse(artifact, "has a " + Manifest.FILE_NAME + " larger than " + MAX_MANIFEST_BYTES + " bytes");
                    }
                    Path out = root.resolve(name).normalize();
                    if (!out.startsWith(root) || out.equals(root)) throw refuse(artifact, "has an entry outside the destination: '" + name + "'");
                    ByteArrayOutputStream manifestCopy = name.equals(Manifest.FILE_NAME) ? new ByteArrayOutputStream() : null;
                    Facts facts;
                    try {
                        Files.createDirectories(out.getParent());
                        try (OutputStream file = Files.newOutputStream(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                            facts = copy(tar, file, manifestCopy, limits.maxBytes() - bytes, artifact, name);
                        }
                    } catch (FileAlreadyExistsException clash) {
                        throw refuse(artifact, "holds '" + name + "', which clashes with another entry's path");
                    }
                    bytes += facts.size();
                    if (manifestCopy != null) {
                        manifestJson = manifestCopy.toByteArray();
                    } else {
                        files.put(name, facts);
                    }
                }
                checkOnlyPaddingFollows(artifact, gzip);
                raw.transferTo(OutputStream.nullOutputStream());
            } catch (ArtifactException e) {
                throw e;
            } catch (IOException | IllegalArgumentException e) {
                throw new ArtifactException("artifact " + artifact + " is not a readable .tar.gz (truncated or corrupt): " + e.getMessage(), e);
            }
            return new Extraction(manifestJson, files, raw.hex());
        }
    }

    /**
     * Nothing may follow the tar archive but zero padding (at most one 10 KiB record). Bytes inside the record
     * the tar reader has already skipped after the end blocks are ignored, as every tar reader does; the
     * ArtifactDigest covers them.
     */
    private static void checkOnlyPaddingFollows(Path artifact, InputStream gzip) throws IOException {
        byte[] buffer = new byte[BUFFER];
        long padding = 0;
        for (int n; (n = gzip.read(buffer)) >= 0; ) {
            padding += n;
            for (int i = 0; i < n; i++) {
                if (buffer[i] != 0 || padding > MAX_TRAILING_PADDING) throw refuse(artifact, "has data after the end of the tar archive");
            }
        }
    }

    private static void checkEntry(Path artifact, TarArchiveEntry e) throws ArtifactException {
        String name = e.getName();
        byte flag = e.getLinkFlag();
        if (e.isSymbolicLink() || e.isLink()) throw refuse(artifact, "holds a link: '" + name + "' -> '" + e.getLinkName() + "'");
        if (e.isCharacterDevice() || e.isBlockDevice() || e.isFIFO()) throw refuse(artifact, "holds a device or FIFO: '" + name + "'");
        if (e.isDirectory()) throw refuse(artifact, "holds a directory entry: '" + name + "' (only regular files are allowed)");
        if (e.isSparse() || (flag != TarConstants.LF_NORMAL && flag != TarConstants.LF_OLDNORM)) {
            throw refuse(artifact, "holds '" + name + "' of tar type '" + (char) flag + "' (only regular files are allowed)");
        }
        try {
            Manifest.checkPath(name);
        } catch (IllegalArgumentException ex) {
            throw refuse(artifact, "holds an " + ex.getMessage());
        }
    }

    /** Copies one entry, hashing it and stopping as soon as it goes over the byte budget. */
    private static Facts copy(InputStream in, OutputStream out, ByteArrayOutputStream alsoTo, long budget, Path artifact, String name) throws IOException {
        Blake2 digest = Blake2.incremental();
        byte[] buffer = new byte[BUFFER];
        long copied = 0;
        for (int n; (n = in.read(buffer)) >= 0; ) {
            copied += n;
            if (copied > budget) throw refuse(artifact, "expands to more bytes than allowed (at '" + name + "')");
            out.write(buffer, 0, n);
            if (alsoTo != null) alsoTo.write(buffer, 0, n);
            digest.update(buffer, 0, n);
        }
        return new Facts(copied, digest.finish());
    }

    private static ArtifactException refuse(Path artifact, String why) {
        return new ArtifactException("artifact " + artifact + " refused: it " + why);
    }

    /** Removes everything under {@code root}, keeping {@code root} itself. */
    private static void deleteContents(Path root) throws IOException {
        List<Path> paths = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(root)) {
            walk.filter(p -> !p.equals(root)).forEach(paths::add);
        }
        paths.sort(Comparator.reverseOrder());
        for (Path p : paths) Files.deleteIfExists(p);
    }

    /** An input stream that hashes everything read through it. */
    private static final class DigestingInputStream extends FilterInputStream {
        private final Blake2 digest = Blake2.incremental();

        DigestingInputStream(InputStream in) {
            super(in);
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = in.read(b, off, len);
            if (n > 0) digest.update(b, off, n);
            return n;
        }

        @Override
        public long skip(long n) throws IOException {
            byte[] buffer = new byte[(int) Math.min(BUFFER, Math.max(n, 1))];
            long skipped = 0;
            while (skipped < n) {
                int r = read(buffer, 0, (int) Math.min(buffer.length, n - skipped));
                if (r < 0) break;
                skipped += r;
            }
            return skipped;
        }

        @Override
        public boolean markSupported() {
            return false;
        }

        String hex() {
            return digest.finish();
        }
    }
}
