package dev.kiln.frontend.onnx;

import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.ShapeFolding;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The graph under construction and the binding of ONNX value names to IR values. */
final class ImportContext {
    private final Graph graph;
    private final Map<String, Value> bound = new HashMap<>();

    ImportContext(Graph graph) { this.graph = graph; }

    Graph graph() { return graph; }

    /** The IR value bound to an ONNX name; null for "" (an omitted optional input). */
    Value value(String onnxName) {
        if (onnxName.isEmpty()) return null;
        Value v = bound.get(onnxName);
        if (v == null) throw ImportException.client("value '" + onnxName + "' is used but never defined");
        return v;
    }

    boolean isBound(String onnxName) { return bound.containsKey(onnxName); }

    void bind(String onnxName, Value v) {
        if (bound.putIfAbsent(onnxName, v) != null) throw ImportException.client("value '" + onnxName + "' is defined twice");
    }

    /** A name no value or node uses yet. */
    String freshName(String hint) { return graph.freshName(hint); }

    /** A new constant; its name is derived from {@code hint}. */
    Constant constant(String hint, TensorType type, ByteBuffer data) {
        return graph.addConstant(freshName(hint), type, data);
    }

    /** A new 1-D i64 constant. */
    Constant constantLongs(String hint, long... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        b.flip();
        return constant(hint, TensorType.of(DType.I64, Shape.of(values.length)), b);
    }

    /** A new scalar constant of a given dtype holding {@code value}. */
    Constant constantScalar(String hint, DType dtype, double value) {
        ByteBuffer b = ByteBuffer.allocate(dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        switch (dtype) {
            case F32 -> b.putFloat((float) value);
            case F64 -> b.putDouble(value);
            case I64, U64 -> b.putLong((long) value);
            case I32, U32 -> b.putInt((int) value);
            case I16, U16 -> b.putShort((short) value);
            case I8, U8, BOOL -> b.put((byte) value);
            default -> throw new IllegalArgumentException("no scalar constants of " + dtype);
        }
        b.flip();
        return constant(hint, TensorType.of(dtype, Shape.scalar()), b);
    }

    /**
     * Adds an IR node; its outputs get the given ONNX names ("" for an omitted output gets a fresh
     * name) and are bound so later nodes find them. Shape arithmetic over known values becomes
     * constants instead (see {@link ShapeFolding}). Type inference failures become import errors.
     */
    List<Value> emit(String op, String nodeName, List<Value> inputs, Map<String, Attribute> attrs, List<String> outputNames) {
        List<String> irNames = new ArrayList<>(outputNames.size());
        for (int i = 0; i < outputNames.size(); i++) {
            // Names are registered only when the node is added, so omitted outputs get distinct hints.
            String n = outputNames.get(i);
            irNames.add(n.isEmpty() || graph.value(n) != null ? freshName(n.isEmpty() ? nodeName + "_unused" + i : n) : n);
        }
        List<Value> outs = add(op, graph.node(nodeName) == null ? nodeName : freshName(nodeName), inputs, attrs, irNames);
        for (int i = 0; i < outputNames.size(); i++) {
            if (!outputNames.get(i).isEmpty()) bind(outputNames.get(i), outs.get(i));
        }
        return outs;
    }

    /** Adds an IR node with a single, internal output (a step of a rewrite). */
    Value emitInternal(String op, String nodeName, List<Value> inputs, Map<String, Attribute> attrs) {
        return add(op, freshName(nodeName), inputs, attrs, List.of(freshName(nodeName + "_out"))).get(0);
    }

    private List<Value> add(String op, String nodeName, List<Value> inputs, Map<String, Attribute> attrs, List<String> outputNames) {
        try {
            List<TensorType> types = OpRegistry.spec(op).inferTypes(nodeName, inputs, attrs, outputNames.size());
            List<Attribute.Tensor> folded = ShapeFolding.fold(op, inputs, attrs, types);
            if (folded != null) {
                List<Value> outs = new ArrayList<>(folded.size());
                for (int i = 0; i < folded.size(); i++) {
                    outs.add(graph.addConstant(outputNames.get(i), folded.get(i).type(), folded.get(i).data()));
                }
                return outs;
            }
            return graph.addNode(nodeName, op, inputs, attrs, outputNames, types).outputs();
        } catch (IrException e) {
            throw new ImportException("OperatorAttributeValueNotValid", e.getMessage(), e);
        }
    }

    ImportException fail(OnnxNode node, String message) {
        return new ImportException("OperatorAttributeValueNotValid", node.describe() + ": " + message);
    }
}
