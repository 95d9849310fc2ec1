package dev.kiln.cli;

import dev.kiln.jobs.ModelArchiveWriter;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * A model named on the command line as a bare file ({@code model.onnx}) or a directory (a SavedModel, a symbol
 * and its params ...), packed into the {@code .tar.gz} a compilation job takes, where Neo's rules look for it.
 */
final class ModelPacking {
    private ModelPacking() {}

    /** The local file or directory a model location names, or null for an archive or a remote location. */
    static Path bareModel(String model) {
        if (model.startsWith("s3://") || model.startsWith("https://") || model.startsWith("http://")) return null;
        Path p = model.startsWith("file://") ? Path.of(URI.create(model)) : Path.of(model);
        if (Files.isDirectory(p)) return p;
        if (!Files.isRegularFile(p) || p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".tar.gz")) return null;
        return p;
    }

    /**
     * Packs a bare model into {@code dir}/&lt;its name&gt;.tar.gz (resnet.onnx as resnet.tar.gz, so that the artifact is
     * resnet-&lt;target&gt;.tar.gz, as it would be from an archive the user made) and returns the archive.
     */
    static Path pack(Path model, Path dir) throws IOException {
        String file = model.toAbsolutePath().normalize().getFileName().toString();
        String base = Files.isDirectory(model) ? file : file.replaceFirst("\\.[^.]*$", "");
        Path archive = dir.resolve((base.isEmpty() ? "model" : base) + ".tar.gz");
        try {
            ModelArchiveWriter.write(model, archive);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage() + "; name a model file, a directory of plain files or a .tar.gz", e);
        }
        return archive;
    }
}
