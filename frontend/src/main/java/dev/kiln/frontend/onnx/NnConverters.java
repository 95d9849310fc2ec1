package dev.kiln.frontend.onnx;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Older ONNX forms of the NN family rewritten into the newest:
 * <ul>
 * <li>BatchNormalization before opset 14: {@code consumed_inputs} (before 6) and {@code is_test}
 *     (before 7) are dropped, {@code spatial=0} (before 9) becomes elementwise arithmetic over
 *     per-activation statistics, and the running/saved statistics outputs of inference are the
 *     given estimates;</li>
 * <li>ConvTranspose before opset 11 with {@code output_shape}: the padding that output_shape implies
 *     puts an odd extra element at the end (at the start for SAME_UPPER), the reverse of opset 11,
 *     so it becomes explicit pads;</li>
 * <li>InstanceNormalization before opset 6: {@code consumed_inputs} is dropped;</li>
 * <li>Gemm before opset 7: the {@code broadcast} flag is dropped (the IR always broadcasts C);</li>
 * <li>LpPool and GlobalLpPool before opset 2: a float {@code p} becomes an int;</li>
 * <li>GroupNormalization before opset 21: per-group scale and bias are repeated per channel.</li>
 * </ul>
 * Conv, the other pools, LRN, MatMul, MatMulInteger and Einsum only gained
 * attributes with neutral defaults or dtypes, so their older forms pass through unchanged.
 */
final class NnConverters {
    private NnConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
        table.put("BatchNormalization", NnConverters::batchNormalization);
        table.put("ConvTranspose", NnConverters::convTranspose);
        table.put("InstanceNormalization", (n, ctx) -> emit(n, ctx, inputs(n, ctx), without(n, "consumed_inputs")));
        table.put("Gemm", (n, ctx) -> emit(n, ctx, inputs(n, ctx), without(n, "broadcast")));
        table.put("LpPool", NnConverters::lpPool);
        table.put("GlobalLpPool", NnConverters::lpPool);
        table.put("GroupNormalization", NnConverters::groupNormalization);
    }

    private static void batchNormalization(OnnxNode n, ImportContext ctx) {
        List<Value> inputs = inputs(n, ctx);
        if (n.opset() >= 14) {
            emit(n, ctx, inputs, n.attributes());
            return;
        }
        if (inputs.size() != 5) throw ctx.fail(n, "needs 5 inputs (X, scale, B, mean, var), got " + inputs.size());
        Map<String, Attribute> attrs = without(n, "consumed_inputs", "is_test", "spatial");
        String y = n.outputs().get(0);
        boolean perActivation = n.attribute("spatial") instanceof Attribute.Int s && s.value() == 0 && inputs.get(1).type().rank() > 1;
        if (perActivation) {
            perActivationBatchNorm(n, ctx, inputs, attrs, y);
        } else {
            ctx.emit("BatchNormalization", n.name(), inputs, attrs, List.of(y));
        }
        // Outputs 1-4 (running mean and variance, saved mean and variance) are the estimates in inference.
        for (int i = 1; i < n.outputs().size(); i++) {
            if (!n.outputs().get(i).isEmpty()) ctx.bind(n.outputs().get(i), inputs.get(i % 2 == 1 ? 3 : 4));
        }
    }

    /** spatial=0: statistics of shape (C, D1, ..., Dn) per activation; Y = (X - mean) / sqrt(var + epsilon) * scale + B. */
    private static void perActivationBatchNorm(OnnxNode n, ImportContext ctx, List<Value> in, Map<String, Attribute> attrs, String y) {
        float epsilon = attrs.get("epsilon") instanceof Attribute.Float f ? f.value() : 1e-5f;
        String name = n.name();
        Value eps = ctx.constantScalar(name + "_epsilon", DType.F32, epsilon);
        if (in.get(4).type().dtype() != DType.F32) eps = ctx.emitInternal("CastLike", name + "_epsilon_cast", List.of(eps, in.get(4)), Map.of());
        Value std = ctx.emitInternal("Sqrt", name + "_std", List.of(ctx.emitInternal("Add", name + "_var_eps", List.of(in.get(4), eps), Map.of())), Map.of());
        Value centered = ctx.emitInternal("Sub", name + "_centered", List.of(in.get(0), in.get(3)), Map.of());
        Value normalized = ctx.emitInternal("Div", name + "_normalized", List.of(centered, std), Map.of());
        Value scaled = ctx.emitInternal("Mul", name + "_scaled", List.of(normalized, in.get(1)), Map.of());
        ctx.emit("Add", name, List.of(scaled, in.get(2)), Map.of(), List.of(y));
    }

    private static void convTranspose(OnnxNode n, ImportContext ctx) {
        List<Value> inputs = inputs(n, ctx);
        long[] outputShape = n.attribute("output_shape") instanceof Attribute.Ints o ? o.values() : null;
        long[] pads = n.opset() < 11 && outputShape != null ? legacyTransposePads(n, inputs, outputShape) : null;
        if (pads == null) {
            emit(n, ctx, inputs, n.attributes());
            return;
        }
        Map<String, Attribute> attrs = without(n, "output_shape", "auto_pad");
        attrs.put("pads", Attribute.of(pads));
        emit(n, ctx, inputs, attrs);
    }

    /**
     * The explicit pads that opset 1's rule gives for output_shape, or null when the sizes are not
     * all static (the two rules then can only differ for odd padding, which cannot be known here).
     */
    private static long[] legacyTransposePads(OnnxNode n, List<Value> inputs, long[] outputShape) {
        Shape x = inputs.get(0).type().shape();
        Shape w = inputs.get(1).type().shape();
        int spatial = x.rank() - 2;
        if (spatial < 1 || w.rank() != x.rank() || outputShape.length < spatial) return null;
        boolean sameUpper = n.attribute("auto_pad") instanceof Attribute.Str a && a.value().equals("SAME_UPPER");
        long[] pads = new long[2 * spatial];
        for (int i = 0; i < spatial; i++) {
            Dim in = x.dim(2 + i);
            Dim k = w.dim(2 + i);
            if (!in.isStatic() || !k.isStatic()) return null;
            long total = entry(n, "strides", i, 1) * (in.size() - 1) + entry(n, "output_padding", i, 0)
                    + (k.size() - 1) * entry(n, "dilations", i, 1) + 1 - outputShape[outputShape.length - spatial + i];
            pads[i] = sameUpper ? total - total / 2 : total / 2;
            pads[i + spatial] = total - pads[i];
        }
        return pads;
    }

    /** Entry i of an INTS attribute, or the default when it is absent or too short. */
    private static long entry(OnnxNode n, String attr, int i, long dflt) {
        return n.attribute(attr) instanceof Attribute.Ints v && i < v.values().length ? v.values()[i] : dflt;
    }

    /** Before opset 2, p was a float. */
    private static void lpPool(OnnxNode n, ImportContext ctx) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        if (attrs.get("p") instanceof Attribute.Float p) {
            if (p.value() != Math.rint(p.value()) || p.value() < 1) throw ctx.fail(n, "p must be a positive integer, got " + p.value());
            attrs.put("p", Attribute.of((long) p.value()));
        }
        emit(n, ctx, inputs(n, ctx), attrs);
    }

    /** Opset 18 scaled and shifted per group; opset 21 per channel, so each group's value repeats over its channels. */
    private static void groupNormalization(OnnxNode n, ImportContext ctx) {
        List<Value> inputs = inputs(n, ctx);
        if (n.opset() >= 21) {
            emit(n, ctx, inputs, n.attributes());
            return;
        }
        if (!(n.attribute("num_groups") instanceof Attribute.Int groups) || groups.value() < 1) {
            throw ctx.fail(n, "needs a positive int attribute num_groups");
        }
        Value x = inputs.get(0);
        Dim c = x.type().rank() > 1 ? x.type().shape().dim(1) : null;
        if (c == null || !c.isStatic() || c.size() % groups.value() != 0) {
            throw ctx.fail(n, "needs a static channel count divisible by num_groups " + groups.value() + " to expand per-group scale and bias, got " + x.type());
        }
        long perGroup = c.size() / groups.value();
        long[] groupOfChannel = new long[(int) c.size()];
        for (int i = 0; i < groupOfChannel.length; i++) groupOfChannel[i] = i / perGroup;
        Value index = ctx.constantLongs(n.name() + "_group_of_channel", groupOfChannel);
        List<Value> expanded = new ArrayList<>(List.of(x));
        for (int i = 1; i < 3; i++) {
            expanded.add(ctx.emitInternal("Gather", n.name() + "_per_channel", List.of(inputs.get(i), index), Map.of("axis", Attribute.of(0L))));
        }
        emit(n, ctx, expanded, n.attributes());
    }

    private static List<Value> inputs(OnnxNode n, ImportContext ctx) {
        List<Value> inputs = new ArrayList<>();
        for (String in : n.inputs()) inputs.add(ctx.value(in));
        while (!inputs.isEmpty() && inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        return inputs;
    }

    /** Emits the node's op with the given inputs and attributes; omitted trailing outputs are left off. */
    private static void emit(OnnxNode n, ImportContext ctx, List<Value> inputs, Map<String, Attribute> attrs) {
        List<String> outputs = new ArrayList<>(n.outputs());
        while (!outputs.isEmpty() && outputs.get(outputs.size() - 1).isEmpty()) outputs.remove(outputs.size() - 1);
        ctx.emit(n.opType(), n.name(), inputs, attrs, outputs);
    }

    private static Map<String, Attribute> without(OnnxNode n, String... names) {
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        for (String name : names) attrs.remove(name);
        return attrs;
    }
}
