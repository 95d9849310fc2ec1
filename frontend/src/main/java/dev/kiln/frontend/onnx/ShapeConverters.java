package dev.kiln.frontend.onnx;

import java.util.Map;

final class ShapeConverters {
    private ShapeConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
    }
}
