package dev.kiln.frontend.onnx;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Older ONNX forms of the shape family rewritten into the newest: attributes that became inputs
 * (Slice before 10, Split, Squeeze and Unsqueeze before 13, Pad before 11), Upsample and Resize 10
 * as Resize with their asymmetric coordinates, the roi and scales placeholders of Resize 11-18,
 * the deprecated Scatter as ScatterElements, and the first forms of Reshape (shape attribute),
 * Concat (axis defaulting to 1) and Tile (tiles and axis inputs).
 */
final class ShapeConverters {
    private ShapeConverters() {}

    static void register(Map<String, OnnxOpConverter> table) {
        table.put("Reshape", ShapeConverters::reshape);
        table.put("Concat", ShapeConverters::concat);
        table.put("Tile", ShapeConverters::tile);
        table.put("Slice", ShapeConverters::slice);
        table.put("Split", ShapeConverters::split);
        table.put("Squeeze", (n, ctx) -> axesToInput(n, ctx, 13));
        table.put("Unsqueeze", (n, ctx) -> axesToInput(n, ctx, 13));
        table.put("Pad", ShapeConverters::pad);
        table.put("Upsample", ShapeConverters::upsample);
        table.put("Resize", ShapeConverters::resize);
        table.put("OneHot", ShapeConverters::oneHot);
        table.put("Scatter", (n, ctx) -> ctx.emit("ScatterElements", n.name(), inputs(n, ctx), n.attributes(), n.outputs()));
    }

    /** Before opset 5, Reshape took its shape as an attribute. */
    private static void reshape(OnnxNode n, ImportContext ctx) {
        if (n.opset() >= 5) {
            passThrough(n, ctx);
            return;
        }
        Value shape = ctx.constantLongs(n.name() + "_shape", ints(n, ctx, "shape", true));
        ctx.emit("Reshape", n.name(), List.of(ctx.value(n.input(0)), shape), Map.of(), n.outputs());
    }

    /** Before opset 4, Concat's axis was optional with default 1. */
    private static void concat(OnnxNode n, ImportContext ctx) {
        Map<String, Attribute> attrs = n.attribute("axis") == null ? Map.of("axis", Attribute.of(1L)) : n.attributes();
        ctx.emit("Concat", n.name(), inputs(n, ctx), attrs, n.outputs());
    }

    /** Before opset 6, Tile repeated along one axis given as a scalar input, with the count as another. */
    private static void tile(OnnxNode n, ImportContext ctx) {
        if (n.opset() >= 6) {
            passThrough(n, ctx);
            return;
        }
        Value x = ctx.value(n.input(0));
        if (!(ctx.value(n.input(1)) instanceof Constant tiles) || !(ctx.value(n.input(2)) instanceof Constant axis)) {
            throw ctx.fail(n, "needs constant tiles and axis inputs in this opset");
        }
        int rank = x.type().rank();
        long a = scalarLong(n, ctx, axis);
        if (a < -rank || a >= rank) throw ctx.fail(n, "axis " + a + " is out of range for rank " + rank);
        long[] repeats = new long[rank];
        Arrays.fill(repeats, 1);
        repeats[(int) (a < 0 ? a + rank : a)] = scalarLong(n, ctx, tiles);
        ctx.emit("Tile", n.name(), List.of(x, ctx.constantLongs(n.name() + "_repeats", repeats)), Map.of(), n.outputs());
    }

    private static long scalarLong(OnnxNode n, ImportContext ctx, Constant c) {
        long[] v = constantLongs(n, ctx, c);
        if (v.length != 1) throw ctx.fail(n, "input '" + c.name() + "' of shape " + c.type().shape() + " is not a scalar");
        return v[0];
    }

    /** The values of an integer or float constant (old opsets gave counts as float tensors) as longs. */
    private static long[] constantLongs(OnnxNode n, ImportContext ctx, Constant c) {
        ByteBuffer b = c.data();
        long[] v = new long[(int) c.type().shape().elementCount()];
        for (int i = 0; i < v.length; i++) {
            v[i] = switch (c.type().dtype()) {
                case I64 -> b.getLong(i * 8);
                case I32 -> b.getInt(i * 4);
                case F32 -> (long) b.getFloat(i * 4);
                case F64 -> (long) b.getDouble(i * 8);
                default -> throw ctx.fail(n, "input '" + c.name() + "' of dtype " + c.type().dtype() + " does not hold integer counts");
            };
        }
        return v;
    }

    /** Before opset 10, Slice took starts, ends and axes as attributes. */
    private static void slice(OnnxNode n, ImportContext ctx) {
        if (n.opset() >= 10) {
            passThrough(n, ctx);
            return;
        }
        List<Value> inputs = new ArrayList<>(List.of(ctx.value(n.input(0))));
        inputs.add(ctx.constantLongs(n.name() + "_starts", ints(n, ctx, "starts", true)));
        inputs.add(ctx.constantLongs(n.name() + "_ends", ints(n, ctx, "ends", true)));
        long[] axes = ints(n, ctx, "axes", false);
        if (axes != null) inputs.add(ctx.constantLongs(n.name() + "_axes", axes));
        ctx.emit("Slice", n.name(), inputs, Map.of(), n.outputs());
    }

    /** Before opset 13, Split took its sizes as an attribute; opset 1 also as a second input of the data's dtype. */
    private static void split(OnnxNode n, ImportContext ctx) {
        if (n.opset() >= 13) {
            passThrough(n, ctx);
            return;
        }
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        attrs.remove("split");
        List<Value> inputs = new ArrayList<>(List.of(ctx.value(n.input(0))));
        long[] split = ints(n, ctx, "split", false);
        if (n.opset() < 2 && n.hasInput(1)) {
            if (!(ctx.value(n.input(1)) instanceof Constant sizes)) throw ctx.fail(n, "needs a constant split input in this opset");
            split = constantLongs(n, ctx, sizes);
        }
        if (split != null && split.length > 0) inputs.add(ctx.constantLongs(n.name() + "_split", split));
        ctx.emit("Split", n.name(), inputs, attrs, n.outputs());
    }

    /** Before {@code inputSince}, Squeeze and Unsqueeze took their axes as an attribute. */
    private static void axesToInput(OnnxNode n, ImportContext ctx, int inputSince) {
        if (n.opset() >= inputSince) {
            passThrough(n, ctx);
            return;
        }
        List<Value> inputs = new ArrayList<>(List.of(ctx.value(n.input(0))));
        long[] axes = ints(n, ctx, "axes", n.opType().equals("Unsqueeze"));
        if (axes != null) inputs.add(ctx.constantLongs(n.name() + "_axes", axes));
        ctx.emit(n.opType(), n.name(), inputs, Map.of(), n.outputs());
    }

    /** Before opset 11, Pad took pads and the float value as attributes. */
    private static void pad(OnnxNode n, ImportContext ctx) {
        if (n.opset() >= 11) {
            passThrough(n, ctx);
            return;
        }
        Value data = ctx.value(n.input(0));
        List<Value> inputs = new ArrayList<>(List.of(data, ctx.constantLongs(n.name() + "_pads", ints(n, ctx, "pads", true))));
        float value = n.attribute("value") instanceof Attribute.Float f ? f.value() : 0f;
        if (value != 0f) inputs.add(constantLike(n, ctx, data, value));
        Map<String, Attribute> attrs = n.attribute("mode") == null ? Map.of() : Map.of("mode", n.attribute("mode"));
        ctx.emit("Pad", n.name(), inputs, attrs, n.outputs());
    }

    /**
     * OneHot 9 gave negative indices all off values; since 11 they count from the end. The rewrite
     * moves negative indices out of range (to the dtype's largest value) so that they stay all off.
     */
    private static void oneHot(OnnxNode n, ImportContext ctx) {
        Value indices = ctx.value(n.input(0));
        DType t = indices.type().dtype();
        if (n.opset() >= 11 || t.isUnsignedInteger()) {
            passThrough(n, ctx);
            return;
        }
        double outOfRange = switch (t) {
            case I8 -> Byte.MAX_VALUE;
            case I16 -> Short.MAX_VALUE;
            case I32 -> Integer.MAX_VALUE;
            case I64 -> Long.MAX_VALUE;
            case F32, F64 -> Double.POSITIVE_INFINITY;
            default -> throw ctx.fail(n, "indices of dtype " + t + " are not supported in this opset");
        };
        Value negative = ctx.emitInternal("Less", n.name() + "_negative", List.of(indices, ctx.constantScalar(n.name() + "_zero", t, 0)), Map.of());
        Value kept = ctx.emitInternal("Where", n.name() + "_indices",
                List.of(negative, ctx.constantScalar(n.name() + "_off", t, outOfRange), indices), Map.of());
        ctx.emit("OneHot", n.name(), List.of(kept, ctx.value(n.input(1)), ctx.value(n.input(2))), n.attributes(), n.outputs());
    }

    /** A scalar of data's dtype; half-precision values go through CastLike, which rounds as the IR does. */
    private static Value constantLike(OnnxNode n, ImportContext ctx, Value data, float value) {
        DType t = data.type().dtype();
        if (t != DType.F16 && t != DType.BF16) return ctx.constantScalar(n.name() + "_value", t, value);
        Constant f32 = ctx.constantScalar(n.name() + "_value", DType.F32, value);
        return ctx.emitInternal("CastLike", n.name() + "_value", List.of(f32, data), Map.of());
    }

    /**
     * Upsample (opsets 7-9, and the deprecated 10) is Resize with asymmetric coordinates, flooring
     * for nearest; its scales were an attribute in opset 7. "bilinear" was the opset 7 name of linear.
     */
    private static void upsample(OnnxNode n, ImportContext ctx) {
        Value scales;
        if (n.opset() < 9) {
            if (!(n.attribute("scales") instanceof Attribute.Floats f)) throw ctx.fail(n, "needs the floats attribute scales in this opset");
            scales = floatsConstant(n, ctx, f.values());
        } else {
            scales = ctx.value(n.input(1));
        }
        String mode = n.attribute("mode") instanceof Attribute.Str s ? s.value() : "nearest";
        if (mode.equals("bilinear")) mode = "linear";
        emitAsymmetricResize(n, ctx, scales, mode);
    }

    private static void emitAsymmetricResize(OnnxNode n, ImportContext ctx, Value scales, String mode) {
        if (!mode.equals("nearest") && !mode.equals("linear")) throw ctx.fail(n, "mode '" + mode + "' is not nearest or linear");
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        attrs.put("mode", Attribute.of(mode));
        attrs.put("coordinate_transformation_mode", Attribute.of("asymmetric"));
        if (mode.equals("nearest")) attrs.put("nearest_mode", Attribute.of("floor"));
        ctx.emit("Resize", n.name(), Arrays.asList(ctx.value(n.input(0)), null, scales), attrs, n.outputs());
    }

    /**
     * Resize 10 took only scales and sampled asymmetrically (nearest flooring). Resize 11-18 required
     * roi and scales inputs even when unused (empty tensors or names), and had tf_half_pixel_for_nn:
     * x = (o + 0.5) / scale, which is half_pixel shifted by half a pixel, so its rounding becomes
     * the neighbouring rounding of half_pixel.
     */
    private static void resize(OnnxNode n, ImportContext ctx) {
        if (n.opset() < 11) {
            String mode = n.attribute("mode") instanceof Attribute.Str s ? s.value() : "nearest";
            emitAsymmetricResize(n, ctx, ctx.value(n.input(1)), mode);
            return;
        }
        Map<String, Attribute> attrs = new LinkedHashMap<>(n.attributes());
        String transform = attrs.get("coordinate_transformation_mode") instanceof Attribute.Str s ? s.value() : "half_pixel";
        if (transform.equals("tf_half_pixel_for_nn")) {
            String mode = attrs.get("mode") instanceof Attribute.Str s ? s.value() : "nearest";
            String nearest = attrs.get("nearest_mode") instanceof Attribute.Str s ? s.value() : "round_prefer_floor";
            String shifted = switch (nearest) {
                case "round_prefer_floor" -> "ceil";
                case "floor" -> "round_prefer_ceil";
                default -> null;
            };
            if (!mode.equals("nearest") || shifted == null) {
                throw ctx.fail(n, "tf_half_pixel_for_nn is supported with mode nearest and nearest_mode round_prefer_floor or floor");
            }
            attrs.put("coordinate_transformation_mode", Attribute.of("half_pixel"));
            attrs.put("nearest_mode", Attribute.of(shifted));
        }
        Value roi = transform.equals("tf_crop_and_resize") ? present(ctx, n.input(1)) : null;
        Value scales = present(ctx, n.input(2));
        Value sizes = present(ctx, n.input(3));
        List<Value> inputs = new ArrayList<>(Arrays.asList(ctx.value(n.input(0)), roi, scales, sizes));
        while (inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        ctx.emit("Resize", n.name(), inputs, attrs, n.outputs());
    }

    /** The value of an optional input, or null when it is omitted or an empty tensor (a placeholder). */
    private static Value present(ImportContext ctx, String onnxName) {
        Value v = ctx.value(onnxName);
        if (v == null) return null;
        Shape s = v.type().shape();
        boolean empty = s.rank() == 1 && s.dim(0).isStatic() && s.dim(0).size() == 0;
        return empty ? null : v;
    }

    private static Value floatsConstant(OnnxNode n, ImportContext ctx, float[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : values) b.putFloat(f);
        b.flip();
        return ctx.constant(n.name() + "_scales", TensorType.of(DType.F32, values.length), b);
    }

    private static long[] ints(OnnxNode n, ImportContext ctx, String name, boolean required) {
        Attribute a = n.attribute(name);
        if (a == null && !required) return null;
        if (!(a instanceof Attribute.Ints list)) throw ctx.fail(n, "needs the ints attribute " + name + " in this opset");
        return list.values();
    }

    private static List<Value> inputs(OnnxNode n, ImportContext ctx) {
        List<Value> inputs = new ArrayList<>(n.inputs().size());
        for (String in : n.inputs()) inputs.add(ctx.value(in));
        while (!inputs.isEmpty() && inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        return inputs;
    }

    private static void passThrough(OnnxNode n, ImportContext ctx) {
        List<String> outputs = new ArrayList<>(n.outputs());
        while (!outputs.isEmpty() && outputs.get(outputs.size() - 1).isEmpty()) outputs.remove(outputs.size() - 1);
        ctx.emit(n.opType(), n.name(), inputs(n, ctx), n.attributes(), outputs);
    }
}
