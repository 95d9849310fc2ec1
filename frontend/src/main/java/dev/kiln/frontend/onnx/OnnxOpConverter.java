package dev.kiln.frontend.onnx;

/** Rewrites one ONNX node into IR nodes; used where an op's ONNX form differs from the IR's (older opsets). */
@FunctionalInterface
interface OnnxOpConverter {
    void convert(OnnxNode node, ImportContext ctx);
}
