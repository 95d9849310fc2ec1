package dev.kiln.frontend.onnx;

import java.util.Map;

final class QuantizationConverters {
    private QuantizationConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
