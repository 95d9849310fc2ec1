package dev.kiln.frontend.onnx;

import java.util.Map;

final class NnConverters {
    private NnConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
