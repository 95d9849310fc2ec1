package dev.kiln.jobs;

import static java.nio.file.StandardOpenOption.CREATE_NEW;
import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.UUID;

/** Model archives and artifacts on the local filesystem. */
final class LocalStorage {
    /** Bytes per transfer, so that an interrupt stops a large copy soon rather than after the whole file. */
    private static final long CHUNK = 8L << 20;

    private LocalStorage() {}

    /** The path a {@code file:} URI names: {@code file:///abs/path}, {@code file:/abs/path} or {@code file://localhost/abs/path}. */
    static Path fileUriPath(String uri, String part) throws StorageException {
        try {
            URI parsed = new URI(uri);
            if ("localhost".equalsIgnoreCase(parsed.getRawAuthority()))
                parsed = new URI("file", null, parsed.getPath(), parsed.getQuery(), parsed.getFragment());
            return Path.of(parsed);
        } catch (URISyntaxException | IllegalArgumentException e) {
            throw StorageException.clientError(part, uri + " is not a file URI Kiln can use (" + e.getMessage()
                    + "); write file:///ABSOLUTE/PATH, or give a plain path");
        }
    }

    /** Copies {@code source} (named {@code uri} in messages) to the new file {@code dest}. */
    static void fetch(Path source, String uri, Path dest) throws IOException {
        String where = uri + (source.isAbsolute() ? "" : " (" + source.toAbsolutePath() + ")");
        if (!Files.exists(source)) throw StorageException.clientError(Storage.INPUT, "no file " + where);
        if (!Files.isRegularFile(source))
            throw StorageException.clientError(Storage.INPUT, where + " is not a file; give the model archive (.tar.gz) itself");
        if (!Files.isReadable(source)) throw StorageException.clientError(Storage.INPUT, "no permission to read " + where);
        copyToNewFile(source, dest, false);
    }

    /**
     * Writes {@code file} as {@code dir/fileName}, creating {@code dir} if missing. The bytes go to a temporary file in
     * {@code dir} first, which one rename then puts in place (replacing an older artifact), so readers see either the
     * old file or the whole new one.
     */
    static Path put(Path file, Path dir, String fileName) throws IOException {
        try {
            Files.createDirectories(dir);
        } catch (FileAlreadyExistsException e) {
            throw StorageException.clientError(Storage.OUTPUT, dir + " exists and is not a directory");
        } catch (AccessDeniedException e) {
            throw StorageException.clientError(Storage.OUTPUT, "no permission to create " + e.getFile());
        }
        Path target = dir.resolve(fileName);
        if (Files.isDirectory(target))
            throw StorageException.clientError(Storage.OUTPUT, target + " is a directory; the artifact cannot replace it");
        if (!Files.isWritable(dir)) throw StorageException.clientError(Storage.OUTPUT, "no permission to write in " + dir);
        // Hidden and unique, so that a listing of the location or a concurrent put never takes it for an artifact.
        Path temp = dir.resolve("." + fileName + "." + UUID.randomUUID() + ".part");
        copyToNewFile(file, temp, true);
        try {
            // rename(2), and MoveFileEx on Windows, replace an existing target in one step.
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        return target;
    }

    /** Copies through interruptible channels; {@code dest} is removed again if the copy does not finish. */
    private static void copyToNewFile(Path source, Path dest, boolean durable) throws IOException {
        try (FileChannel in = FileChannel.open(source, READ)) {
            FileChannel out = FileChannel.open(dest, CREATE_NEW, WRITE);
            try (out) {
                long size = in.size();
                for (long position = 0; position < size; ) {
                    long copied = in.transferTo(position, Math.min(CHUNK, size - position), out);
                    if (copied == 0) throw new IOException(source + " became shorter while it was copied");
                    position += copied;
                }
                // An artifact is renamed into place only once its bytes are on disk, so a crash cannot leave a torn one.
                if (durable) out.force(true);
            } catch (IOException | RuntimeException e) {
                Files.deleteIfExists(dest);
                throw e;
            }
        }
    }
}
