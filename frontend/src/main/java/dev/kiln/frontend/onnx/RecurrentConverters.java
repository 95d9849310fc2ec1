package dev.kiln.frontend.onnx;

import java.util.Map;

final class RecurrentConverters {
    private RecurrentConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
