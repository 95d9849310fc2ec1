package dev.kiln.frontend.onnx;

import java.util.Map;

final class ReductionConverters {
    private ReductionConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
