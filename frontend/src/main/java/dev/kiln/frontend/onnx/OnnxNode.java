package dev.kiln.frontend.onnx;

import dev.kiln.ir.Attribute;

import java.util.List;
import java.util.Map;

/**
 * One ONNX node as converters see it: ONNX value names ("" for an omitted optional input or output),
 * attributes already decoded, and the opset version the model imports for the node's domain.
 */
record OnnxNode(String name, String opType, String domain, int opset, List<String> inputs, List<String> outputs,
                Map<String, Attribute> attributes) {

    /** ONNX input name i, or "" when omitted. */
    String input(int i) { return i < inputs.size() ? inputs.get(i) : ""; }

    boolean hasInput(int i) { return !input(i).isEmpty(); }

    Attribute attribute(String key) { return attributes.get(key); }

    /** A description for error messages, as in {@code Conv (ai.onnx, opset 13) at node conv1}. */
    String describe() {
        return opType + " (" + (domain.isEmpty() ? "ai.onnx" : domain) + ", opset " + opset + ") at node " + name;
    }
}
