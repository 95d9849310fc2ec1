package dev.kiln.cli;

import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Verifier;
import dev.kiln.ir.text.IrFiles;
import dev.kiln.runtime.Model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Turns what the user names on the command line into a graph. */
final class ModelFiles {
    private ModelFiles() {}

    /** A compiled artifact ({@code <model>-<target>.tar.gz}) rather than a model to interpret. */
    static boolean isArtifact(Path model) {
        return model.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".tar.gz");
    }

    /** Loads a compiled artifact: verified against its manifest, refused when built for another machine. */
    static Model loadArtifact(Path artifact, int threads) {
        if (!Files.isRegularFile(artifact)) throw new UsageException("artifact " + artifact + " does not exist");
        try {
            return Model.load(artifact, threads);
        } catch (IOException e) {
            throw new UsageException("cannot load artifact " + artifact + ": " + e.getMessage(), e);
        }
    }

    static Graph load(Path model, String dataInputConfig) {
        if (!Files.exists(model)) throw new UsageException("model " + model + " does not exist");
        if (Files.isDirectory(model)) throw new UsageException("model " + model + " is a directory; name the .onnx or .ir file");
        String name = model.getFileName().toString().toLowerCase(java.util.Locale.ROOT);
        Graph g;
        if (name.endsWith(".onnx")) {
            g = OnnxFrontend.load(model, dataInputConfig);
        } else if (name.endsWith(".ir")) {
            if (dataInputConfig != null) throw new UsageException("--data-input-config applies to model files, not to .ir files, whose shapes are fixed");
            try {
                g = IrFiles.read(model);
            } catch (IOException e) {
                throw new UsageException("cannot read " + model + ": " + e.getMessage(), e);
            } catch (IrException e) {
                throw new UsageException(model.getFileName() + ": " + e.getMessage(), e);
            }
        } else {
            throw new UsageException("cannot tell the format of " + model.getFileName() + "; expected an .onnx model, an .ir file or a compiled .tar.gz artifact");
        }
        Verifier.verify(g);
        return g;
    }
}
