package dev.kiln.frontend.onnx;

import java.util.Map;

final class ElementwiseConverters {
    private ElementwiseConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
