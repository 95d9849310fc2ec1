package dev.kiln.testmodels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Locates the model zoo in the repository's {@code testmodels/zoo/} folder (made by {@code testmodels/make_zoo.py};
 * see testmodels/README.md). Each model folder holds {@code model.onnx}, the golden inputs {@code input0.npy},
 * {@code input1.npy} ... (the model's inputs {@code input0} ... in order) and torch's outputs {@code output0.npy} ...
 */
public final class Zoo {
    /** Every model the script knows, in the script's order; the last {@link #ON_DEMAND} ones are not committed. */
    public static final List<String> MODELS = List.of(
            "resnet_mini", "resnext_mini", "wide_resnet_mini", "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
            "efficientnet_b0", "efficientnet_v2", "regnet_x", "regnet_y", "mnasnet", "shufflenet_v2", "squeezenet1_0",
            "densenet_mini", "googlenet_mini", "inception_mini", "convnext_mini", "vit_mini", "swin_mini", "fcn_mini",
            "deeplabv3_mini", "lraspp_mini", "unet_mini", "qdq_convnet", "ssdlite_mini", "retinanet_mini",
            "fasterrcnn_rpn_mini", "yolo_mini", "detect_postprocess", "lstm_classifier", "gru_tagger", "token_encoder",
            "gpt_mini", "audio_m5", "wavenet_mini", "dscnn_kws", "tabular_mlp", "wide_and_deep",
            "resnet50", "efficientnet_b0_full", "convnext_tiny");
    /** Full-size models the script makes on demand (git-ignored). */
    public static final List<String> ON_DEMAND = List.of("resnet50", "efficientnet_b0_full", "convnext_tiny");

    private static final String FOLDER = "zoo";
    private static final String SCRIPT = "make_zoo.py";

    private Zoo() {}

    /** The {@code testmodels/zoo} folder. */
    public static Path root() {
        return Fixtures.root().resolve(FOLDER);
    }

    /** The folder of one model (which may not exist: see {@link #isPresent}). */
    public static Path dir(String model) {
        if (!MODELS.contains(model)) throw new IllegalArgumentException("unknown zoo model '" + model + "'; known: " + MODELS);
        return root().resolve(model);
    }

    /** Whether the model has been made: its model.onnx, first input and first output are there. */
    public static boolean isPresent(String model) {
        Path dir = dir(model);
        return Stream.of("model.onnx", "input0.npy", "output0.npy").allMatch(f -> Files.isRegularFile(dir.resolve(f)));
    }

    /** The golden inputs, input0.npy, input1.npy ... in order. */
    public static List<Path> inputs(String model) {
        return numbered(model, "input");
    }

    /** torch's outputs, output0.npy, output1.npy ... in order. */
    public static List<Path> outputs(String model) {
        return numbered(model, "output");
    }

    /** The model folders under zoo/ (to check the script and {@link #MODELS} agree). */
    public static List<String> folders() {
        try (Stream<Path> dirs = Files.list(root())) {
            return dirs.filter(Files::isDirectory).map(d -> d.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The command, run from the repository root, that makes a model's files. */
    public static String makeCommand(String model) {
        return "/usr/bin/python3 testmodels/" + SCRIPT + " " + model;
    }

    private static List<Path> numbered(String model, String prefix) {
        List<Path> files = new ArrayList<>();
        for (int i = 0; Files.isRegularFile(dir(model).resolve(prefix + i + ".npy")); i++) files.add(dir(model).resolve(prefix + i + ".npy"));
        return files;
    }
}
