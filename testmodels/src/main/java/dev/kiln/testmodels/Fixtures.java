package dev.kiln.testmodels;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Locates the real-model fixtures in the repository's {@code testmodels/} folder (made by
 * {@code testmodels/make_fixtures.py}; see its README). Each model folder holds {@code model.onnx},
 * {@code model.pt}, the golden input {@code input0.npy} and torch's output {@code output0.npy}.
 */
public final class Fixtures {
    /** Every model the script knows, committed ones first. */
    public static final List<String> MODELS = List.of("squeezenet1_1", "mobilenet_v2", "transformer_encoder", "resnet18");
    /** The files the script writes into each model folder. */
    public static final List<String> FILES = List.of("model.onnx", "model.pt", "input0.npy", "output0.npy");

    private static final String FOLDER = "testmodels";
    private static final String SCRIPT = "make_fixtures.py";

    private Fixtures() {}

    /**
     * The {@code testmodels} folder, found from the working directory upwards (a module's tests run in the
     * module folder, so it is usually {@code ../testmodels}).
     */
    public static Path root() {
        Path start = Path.of("").toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve(FOLDER).resolve(SCRIPT))) return dir.resolve(FOLDER);
        }
        throw new IllegalStateException("no " + FOLDER + "/" + SCRIPT + " found from " + start + " upwards");
    }

    /** The folder of one model (which may not exist: see {@link #isPresent}). */
    public static Path dir(String model) {
        if (!MODELS.contains(model)) throw new IllegalArgumentException("unknown fixture model '" + model + "'; known: " + MODELS);
        return root().resolve(model);
    }

    /** Whether all of a model's files have been made (models not committed are made on demand). */
    public static boolean isPresent(String model) {
        Path dir = dir(model);
        return FILES.stream().allMatch(file -> Files.isRegularFile(dir.resolve(file)));
    }

    /** The command, run from the repository root, that makes a model's files. */
    public static String makeCommand(String model) {
        return "/usr/bin/python3 " + FOLDER + "/" + SCRIPT + " " + model;
    }
}
