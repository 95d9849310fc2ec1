package dev.kiln.jobs;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/**
 * Packs a model file, or a directory of model files (a SavedModel, a symbol with its params ...), into the
 * {@code .tar.gz} a compilation job takes, as a user would before uploading it.
 */
public final class ModelArchiveWriter {
    private ModelArchiveWriter() {}

    /**
     * Writes {@code archive} holding {@code model} at its top level: a file under its own name, a directory's
     * files under their names relative to it. Entry times and owners are fixed and entries sorted, so the same
     * model always packs to the same bytes.
     *
     * @throws IllegalArgumentException for a directory holding a link, or no file
     */
    public static void write(Path model, Path archive) throws IOException {
        List<Path> files = new ArrayList<>();
        Path root = model.toAbsolutePath().getParent();
        if (Files.isDirectory(model)) {
            root = model.toAbsolutePath();
            try (Stream<Path> walk = Files.walk(root)) {
                for (Path p : walk.sorted().toList()) {
                    if (Files.isSymbolicLink(p)) throw new IllegalArgumentException("model directory " + model + " holds a link, " + root.relativize(p));
                    if (Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) files.add(p);
                }
            }
            if (files.isEmpty()) throw new IllegalArgumentException("model directory " + model + " holds no files");
        } else {
            files.add(model.toAbsolutePath());
        }
        Path parent = archive.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempFile(parent, "." + archive.getFileName(), ".partial");
        try {
            try (OutputStream out = Files.newOutputStream(temp);
                 TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(out), StandardCharsets.UTF_8.name())) {
                tar.setLongFileMode(TarArchiveOutputStream.LONGFILE_POSIX);
                tar.setBigNumberMode(TarArchiveOutputStream.BIGNUMBER_POSIX);
                for (Path f : files) {
                    TarArchiveEntry entry = new TarArchiveEntry(root.relativize(f).toString().replace('\\', '/'));
                    entry.setSize(Files.size(f));
                    entry.setModTime(0);
                    entry.setMode(0100644);
                    tar.putArchiveEntry(entry);
                    Files.copy(f, tar);
                    tar.closeArchiveEntry();
                }
            }
            Files.move(temp, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temp);
        }
    }
}
