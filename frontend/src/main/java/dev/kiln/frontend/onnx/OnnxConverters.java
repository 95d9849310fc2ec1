package dev.kiln.frontend.onnx;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/** Converters for ONNX ops whose form differs from the IR op of the same name; the rest pass through. */
final class OnnxConverters {
    private static final Map<String, OnnxOpConverter> TABLE = load();

    private OnnxConverters() {}

    private static Map<String, OnnxOpConverter> load() {
        Map<String, OnnxOpConverter> m = new HashMap<>();
        ElementwiseConverters.register(m);
        ReductionConverters.register(m);
        NnConverters.register(m);
        QuantizationConverters.register(m);
        RecurrentConverters.register(m);
        ShapeConverters.register(m);
        return Collections.unmodifiableMap(m);
    }

    /** The converter for an ONNX op of the default domain, or null when it maps one to one. */
    static OnnxOpConverter forOp(String opType) { return TABLE.get(opType); }
}
