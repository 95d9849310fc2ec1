package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl.TensorProto.DataType;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Older ONNX forms of elementwise ops rewritten into the IR's (newest) form:
 * <ul>
 * <li>opsets before 6: a {@code consumed_inputs} attribute on many ops, which is dropped;</li>
 * <li>opsets before 7: binary ops broadcast only B onto A, and only with {@code broadcast=1}, aligned
 *     at {@code axis} when given; the IR broadcasts like numpy, so B gets trailing 1-dims instead;
 *     likewise PRelu's slope is per channel (aligned at axis 1);</li>
 * <li>Cast before opset 6 names its target type as a string;</li>
 * <li>Clip before opset 11 takes min and max as attributes;</li>
 * <li>Dropout before 12 has a ratio attribute (and {@code is_test} before 7), and a mask of the data's
 *     dtype before 10.</li>
 * </ul>
 * Cast and BitCast also check their target here, so that a type Kiln lacks (float8, int4, string, ...)
 * is reported as an unsupported data type.
 */
final class ElementwiseConverters {
    private static final List<String> CONSUMED_INPUTS_OPS = List.of("Abs", "Ceil", "Elu", "Exp", "Floor", "HardSigmoid",
            "LeakyRelu", "Log", "Max", "Mean", "Min", "Neg", "Reciprocal", "Relu", "Selu", "Sigmoid", "Sqrt", "Sum", "Tanh");
    private static final List<String> LEGACY_BROADCAST_OPS = List.of("Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor",
            "Equal", "Less", "Greater");

    private ElementwiseConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
        for (String op : CONSUMED_INPUTS_OPS) table.put(op, ElementwiseConverters::withoutConsumedInputs);
        for (String op : LEGACY_BROADCAST_OPS) table.put(op, ElementwiseConverters::legacyBroadcast);
        table.put("PRelu", ElementwiseConverters::prelu);
        table.put("Clip", ElementwiseConverters::clip);
        table.put("Dropout", ElementwiseConverters::dropout);
        table.put("Cast", ElementwiseConverters::cast);
        table.put("BitCast", ElementwiseConverters::cast);
    }

    private static void withoutConsumedInputs(OnnxNode node, ImportContext ctx) {
        emit(node, ctx, inputs(node, ctx), withoutAttributes(node, "consumed_inputs"));
    }

    /** Before opset 7, B broadcasts onto A from {@code axis} (trailing-aligned when absent) if {@code broadcast=1}. */
    private static void legacyBroadcast(OnnxNode node, ImportContext ctx) {
        Map<String, Attribute> attrs = withoutAttributes(node, "consumed_inputs", "broadcast", "axis");
        List<Value> inputs = inputs(node, ctx);
        if (node.opset() < 7 && inputs.size() == 2 && node.attribute("broadcast") instanceof Attribute.Int b && b.value() == 1
                && node.attribute("axis") instanceof Attribute.Int axis) {
            int rankA = inputs.get(0).type().rank();
            int rankB = inputs.get(1).type().rank();
            long start = axis.value() < 0 ? axis.value() + rankA : axis.value();
            long trailing = rankA - start - rankB;
            if (start < 0 || trailing < 0) {
                throw ctx.fail(node, "axis " + axis.value() + " does not place B of rank " + rankB + " within A of rank " + rankA);
            }
            inputs.set(1, withTrailingOnes(node, ctx, inputs.get(1), rankA - start));
        }
        emit(node, ctx, inputs, attrs);
    }

    /** v with 1-dims appended up to {@code rank}, so that numpy broadcasting aligns its leading axes. */
    private static Value withTrailingOnes(OnnxNode node, ImportContext ctx, Value v, long rank) {
        int have = v.type().rank();
        if (have >= rank) return v;
        long[] axes = new long[(int) rank - have];
        for (int i = 0; i < axes.length; i++) axes[i] = have + i;
        return ctx.emitInternal("Unsqueeze", node.name() + "_broadcast", List.of(v, ctx.constantLongs(node.name() + "_axes", axes)), Map.of());
    }

    /** Before opset 7 PRelu's slope is one value or one per channel (axis 1), not numpy-aligned to X's last axes. */
    private static void prelu(OnnxNode node, ImportContext ctx) {
        List<Value> inputs = inputs(node, ctx);
        if (node.opset() < 7) inputs.set(1, withTrailingOnes(node, ctx, inputs.get(1), inputs.get(0).type().rank() - 1));
        emit(node, ctx, inputs, withoutAttributes(node, "consumed_inputs"));
    }

    /** Before opset 6 Cast's target is a type name such as "FLOAT"; the IR takes the ONNX type code. */
    private static void cast(OnnxNode node, ImportContext ctx) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(node.attributes());
        Attribute to = node.attribute("to");
        if (to instanceof Attribute.Str name) {
            DataType type;
            try {
                type = DataType.valueOf(name.value().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw ctx.fail(node, "'to' names no ONNX data type: '" + name.value() + "'");
            }
            attrs.put("to", Attribute.of((long) type.getNumber()));
        }
        if (attrs.get("to") instanceof Attribute.Int code) {
            OnnxTensors.dtype((int) code.value(), node.describe() + ": the cast target");
        }
        emit(node, ctx, inputs(node, ctx), attrs);
    }

    /** Before opset 11 Clip's bounds are float attributes; the IR takes them as optional scalar inputs of X's dtype. */
    private static void clip(OnnxNode node, ImportContext ctx) {
        if (node.opset() >= 11) {
            emit(node, ctx, inputs(node, ctx), node.attributes());
            return;
        }
        Value x = ctx.value(node.input(0));
        List<Value> inputs = new ArrayList<>(List.of(x));
        inputs.add(bound(node, ctx, x.type().dtype(), "min"));
        inputs.add(bound(node, ctx, x.type().dtype(), "max"));
        while (inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        ctx.emit("Clip", node.name(), inputs, Map.of(), List.of(node.outputs().get(0)));
    }

    /** A Clip bound attribute as a scalar constant of the data's dtype; null when absent (no bound). */
    private static Value bound(OnnxNode node, ImportContext ctx, DType dtype, String name) {
        if (!(node.attribute(name) instanceof Attribute.Float f)) return null;
        String hint = node.name() + "_" + name;
        return switch (dtype) {
            case F32, F64 -> ctx.constantScalar(hint, dtype, f.value());
            case F16, BF16 -> ctx.emitInternal("Cast", hint + "_cast", List.of(ctx.constantScalar(hint, DType.F32, f.value())),
                    Map.of("to", Attribute.of((long) onnxCode(dtype))));
            default -> throw ctx.fail(node, "Clip before opset 11 is defined for float tensors only, got " + dtype);
        };
    }

    /**
     * Before opset 12 Dropout has a ratio attribute and no training input: as inference it is the
     * identity, so its attributes are dropped. Before opset 10 its mask has the data's dtype, not bool.
     */
    private static void dropout(OnnxNode node, ImportContext ctx) {
        if (node.opset() >= 12) {
            emit(node, ctx, inputs(node, ctx), node.attributes());
            return;
        }
        Value x = ctx.value(node.input(0));
        String output = node.outputs().get(0);
        String mask = node.outputs().size() > 1 ? node.outputs().get(1) : "";
        if (mask.isEmpty()) {
            ctx.emit("Dropout", node.name(), List.of(x), Map.of(), List.of(output));
        } else if (node.opset() >= 10) {
            ctx.emit("Dropout", node.name(), List.of(x), Map.of(), List.of(output, mask));
        } else {
            List<Value> outs = ctx.emit("Dropout", node.name(), List.of(x), Map.of(), List.of(output, ""));
            ctx.emit("Cast", node.name() + "_mask", List.of(outs.get(1)),
                    Map.of("to", Attribute.of((long) onnxCode(x.type().dtype()))), List.of(mask));
        }
    }

    private static List<Value> inputs(OnnxNode node, ImportContext ctx) {
        List<Value> inputs = new ArrayList<>();
        for (String in : node.inputs()) inputs.add(ctx.value(in));
        while (!inputs.isEmpty() && inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        return inputs;
    }

    /** Emits the node's op with the given inputs and attributes; omitted trailing outputs are left off. */
    private static void emit(OnnxNode node, ImportContext ctx, List<Value> inputs, Map<String, Attribute> attrs) {
        List<String> outputs = new ArrayList<>(node.outputs());
        while (!outputs.isEmpty() && outputs.get(outputs.size() - 1).isEmpty()) outputs.remove(outputs.size() - 1);
        ctx.emit(node.opType(), node.name(), inputs, attrs, outputs);
    }

    private static Map<String, Attribute> withoutAttributes(OnnxNode node, String... names) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(node.attributes());
        for (String n : names) attrs.remove(n);
        return attrs;
    }

    private static int onnxCode(DType floatType) {
        return switch (floatType) {
            case F16 -> DataType.FLOAT16_VALUE;
            case BF16 -> DataType.BFLOAT16_VALUE;
            case F32 -> DataType.FLOAT_VALUE;
            case F64 -> DataType.DOUBLE_VALUE;
            default -> throw new ImportException("UnsupportedDataType", "no ONNX floating-point type for " + floatType);
        };
    }
}
