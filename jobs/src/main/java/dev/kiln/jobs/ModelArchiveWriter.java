package dev.kiln.jobs;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveOutputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorOutputStream;

/** Packs a model file into the {@code .tar.gz} a compilation job takes, as a user would before uploading it. */
public final class ModelArchiveWriter {
    private ModelArchiveWriter() {}

    /**
     * Writes {@code archive} holding {@code modelFile} at its top level. The entry's time and owner are fixed,
     * so the same model always packs to the same bytes.
     */
    public static void write(Path modelFile, Path archive) throws IOException {
        Path parent = archive.toAbsolutePath().getParent();
        Files.createDirectories(parent);
        Path temp = Files.createTempFile(parent, "." + archive.getFileName(), ".partial");
        try {
            try (OutputStream out = Files.newOutputStream(temp);
                 TarArchiveOutputStream tar = new TarArchiveOutputStream(new GzipCompressorOutputStream(out))) {
                TarArchiveEntry entry = new TarArchiveEntry(modelFile.getFileName().toString());
                entry.setSize(Files.size(modelFile));
                entry.setModTime(0);
                entry.setMode(0100644);
                tar.putArchiveEntry(entry);
                Files.copy(modelFile, tar);
                tar.closeArchiveEntry();
            }
            Files.move(temp, archive, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(temp);
        }
    }
}
