package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and the integer
 * Conv and MatMul forms QLinearConv, QLinearMatMul, ConvInteger. Float8 and 4-bit types are not
 * IR dtypes, so only the integer quantized types are accepted.
 */
final class QuantizationOps {
    private QuantizationOps() {}

    private static final Set<DType> QUANTIZED = Set.of(DType.I8, DType.U8, DType.I16, DType.U16);
    private static final Set<DType> BYTES = Set.of(DType.I8, DType.U8);
    private static final Set<DType> SCALES = Set.of(DType.F32, DType.F16, DType.BF16);

    static List<OpSpec> specs() {
        return List.of(quantizeLinear(), dequantizeLinear(), dynamicQuantizeLinear(), qlinearConv(), qlinearMatMul(), convInteger());
    }

    private static OpSpec quantizeLinear() {
        return OpSpec.builder("QuantizeLinear").inputs(2, 3)
                .attr("axis", Kind.INT, new Attribute.Int(1))
                .attr("block_size", Kind.INT, new Attribute.Int(0))
                .attr("output_dtype", Kind.INT, new Attribute.Int(0))
                .attr("precision", Kind.INT, new Attribute.Int(0))
                .attr("saturate", Kind.INT, new Attribute.Int(1))
                .infer(ctx -> {
                    Set<DType> inputs = Set.of(DType.F32, DType.F16, DType.BF16, DType.I32);
                    require(ctx, 0, inputs, "x");
                    require(ctx, 1, inputs, "y_scale");
                    DType out = declaredDType(ctx, "output_dtype");
                    if (ctx.hasInput(2)) {
                        DType zero = ctx.dtype(2);
                        if (out != null && out != zero) {
                            throw ctx.fail("output_dtype " + out + " differs from the type " + zero + " of y_zero_point");
                        }
                        out = zero;
                    }
                    if (out == null) out = DType.U8;
                    if (!QUANTIZED.contains(out)) throw ctx.fail("quantizing to " + out + " is not supported; expected one of i8, u8, i16, u16");
                    long precision = ctx.intAttr("precision");
                    if (precision != 0) {
                        DType p = OnnxDataTypes.dtype(precision);
                        if (p == null || !p.isFloatingPoint()) throw ctx.fail("precision " + precision + " is not a floating-point type");
                    }
                    checkQuantParams(ctx, 1, 2);
                    return List.of(TensorType.of(out, ctx.shape(0)));
                })
                .build();
    }

    private static OpSpec dequantizeLinear() {
        return OpSpec.builder("DequantizeLinear").inputs(2, 3)
                .attr("axis", Kind.INT, new Attribute.Int(1))
                .attr("block_size", Kind.INT, new Attribute.Int(0))
                .attr("output_dtype", Kind.INT, new Attribute.Int(0))
                .infer(ctx -> {
                    require(ctx, 0, Set.of(DType.I8, DType.U8, DType.I16, DType.U16, DType.I32), "x");
                    require(ctx, 1, SCALES, "x_scale");
                    if (ctx.hasInput(2) && ctx.dtype(2) != ctx.dtype(0)) {
                        throw ctx.fail("x_zero_point has type " + ctx.dtype(2) + " but x has " + ctx.dtype(0));
                    }
                    DType out = declaredDType(ctx, "output_dtype");
                    if (out == null) out = ctx.dtype(1);
                    if (!SCALES.contains(out)) throw ctx.fail("output_dtype " + out + " is not one of f32, f16, bf16");
                    checkQuantParams(ctx, 1, 2);
                    return List.of(TensorType.of(out, ctx.shape(0)));
                })
                .build();
    }

    private static OpSpec dynamicQuantizeLinear() {
        return OpSpec.builder("DynamicQuantizeLinear").inputs(1).outputs(3)
                .infer(ctx -> {
                    require(ctx, 0, Set.of(DType.F32), "x");
                    return List.of(TensorType.of(DType.U8, ctx.shape(0)), TensorType.of(DType.F32, Shape.scalar()),
                            TensorType.of(DType.U8, Shape.scalar()));
                })
                .build();
    }

    private static OpSpec qlinearConv() {
        return convAttrs(OpSpec.builder("QLinearConv").inputs(8, 9))
                .infer(ctx -> {
                    require(ctx, 0, BYTES, "x");
                    require(ctx, 1, Set.of(DType.F32), "x_scale");
                    require(ctx, 3, BYTES, "w");
                    require(ctx, 4, Set.of(DType.F32), "w_scale");
                    require(ctx, 6, Set.of(DType.F32), "y_scale");
                    require(ctx, 7, BYTES, "y_zero_point");
                    sameType(ctx, 2, 0, "x_zero_point", "x");
                    sameType(ctx, 5, 3, "w_zero_point", "w");
                    if (ctx.hasInput(8)) require(ctx, 8, Set.of(DType.I32), "B");
                    return List.of(TensorType.of(ctx.dtype(7), ConvShapes.convolution(ctx, ctx.shape(0), ctx.shape(3))));
                })
                .build();
    }

    private static OpSpec convInteger() {
        return convAttrs(OpSpec.builder("ConvInteger").inputs(2, 4))
                .infer(ctx -> {
                    require(ctx, 0, BYTES, "x");
                    require(ctx, 1, BYTES, "w");
                    if (ctx.hasInput(2)) sameType(ctx, 2, 0, "x_zero_point", "x");
                    if (ctx.hasInput(3)) sameType(ctx, 3, 1, "w_zero_point", "w");
                    return List.of(TensorType.of(DType.I32, ConvShapes.convolution(ctx, ctx.shape(0), ctx.shape(1))));
                })
                .build();
    }

    private static OpSpec qlinearMatMul() {
        return OpSpec.builder("QLinearMatMul").inputs(8)
                .infer(ctx -> {
                    require(ctx, 0, BYTES, "a");
                    require(ctx, 1, SCALES, "a_scale");
                    require(ctx, 3, BYTES, "b");
                    require(ctx, 4, SCALES, "b_scale");
                    require(ctx, 6, SCALES, "y_scale");
                    require(ctx, 7, BYTES, "y_zero_point");
                    sameType(ctx, 2, 0, "a_zero_point", "a");
                    sameType(ctx, 5, 3, "b_zero_point", "b");
                    return List.of(TensorType.of(ctx.dtype(7), matMulShape(ctx, ctx.shape(0), ctx.shape(3))));
                })
                .build();
    }

    private static OpSpec.Builder convAttrs(OpSpec.Builder b) {
        return b.attr("auto_pad", Kind.STRING, new Attribute.Str("NOTSET"))
                .attr("dilations", Kind.INTS, null)
                .attr("group", Kind.INT, new Attribute.Int(1))
                .attr("kernel_shape", Kind.INTS, null)
                .attr("pads", Kind.INTS, null)
                .attr("strides", Kind.INTS, null);
    }

    private static void require(InferenceContext ctx, int input, Set<DType> allowed, String name) {
        DType t = ctx.dtype(input);
        if (!allowed.contains(t)) throw ctx.fail(name + " has type " + t + "; expected one of " + allowed);
    }

    private static void sameType(InferenceContext ctx, int input, int reference, String name, String referenceName) {
        if (ctx.dtype(input) != ctx.dtype(reference)) {
            throw ctx.fail(name + " has type " + ctx.dtype(input) + " but " + referenceName + " has " + ctx.dtype(reference));
        }
    }

    /** The dtype an output_dtype-style attribute names, or null when it is 0 (not set). */
    private static DType declaredDType(InferenceContext ctx, String attr) {
        long code = ctx.intAttr(attr);
        if (code == 0) return null;
        DType t = OnnxDataTypes.dtype(code);
        if (t == null) throw ctx.fail(attr + " " + code + " is not a supported data type");
        return t;
    }

    /**
     * Checks that scale and zero point have one shape, and that it is per-tensor (one element),
     * per-axis (1-D of the axis length) or blocked (the input's shape with the axis divided by block_size).
     */
    private static void checkQuantParams(InferenceContext ctx, int scale, int zeroPoint) {
        Shape s = ctx.shape(scale);
        if (ctx.hasInput(zeroPoint) && !ctx.shape(zeroPoint).equals(s) && s.isStatic() && ctx.shape(zeroPoint).isStatic()) {
            throw ctx.fail("scale shape " + s + " and zero point shape " + ctx.shape(zeroPoint) + " differ");
        }
        Shape x = ctx.shape(0);
        long blockSize = ctx.intAttr("block_size");
        if (blockSize < 0) throw ctx.fail("block_size " + blockSize + " is negative");
        if (s.isStatic() && s.elementCount() == 1 && blockSize == 0) return;
        if (s.rank() == 0) return;
        int axis = ctx.axis(ctx.intAttr("axis"), x.rank());
        Dim d = x.dim(axis);
        if (blockSize == 0) {
            if (s.rank() != 1) throw ctx.fail("a per-axis scale must be 1-D, got shape " + s + " (blocked quantization needs block_size)");
            if (d.isStatic() && s.dim(0).isStatic() && s.dim(0).size() != d.size()) {
                throw ctx.fail("per-axis scale has " + s.dim(0).size() + " elements but axis " + axis + " of x has " + d.size());
            }
            return;
        }
        if (s.rank() != x.rank()) throw ctx.fail("blocked scale shape " + s + " must have the rank of x " + x);
        for (int i = 0; i < x.rank(); i++) {
            Dim xd = x.dim(i);
            Dim sd = s.dim(i);
            if (!xd.isStatic() || !sd.isStatic()) continue;
            long expected = i == axis ? (xd.size() + blockSize - 1) / blockSize : xd.size();
            if (sd.size() != expected) {
                throw ctx.fail("blocked scale shape " + s + " does not fit x " + x + " with block_size " + blockSize + " on axis " + axis);
            }
        }
    }

    /** numpy.matmul output shape: 1-D operands are promoted and their unit axis dropped; batch axes broadcast. */
    private static Shape matMulShape(InferenceContext ctx, Shape a, Shape b) {
        if (a.rank() == 0 || b.rank() == 0) throw ctx.fail("matmul operands must have rank 1 or more");
        Shape a2 = a.rank() == 1 ? new Shape(List.of(Dim.of(1), a.dim(0))) : a;
        Shape b2 = b.rank() == 1 ? new Shape(List.of(b.dim(0), Dim.of(1))) : b;
        Dim ka = a2.dim(a2.rank() - 1);
        Dim kb = b2.dim(b2.rank() - 2);
        if (ka.isStatic() && kb.isStatic() && ka.size() != kb.size()) {
            throw ctx.fail("inner dimensions differ: " + a + " x " + b);
        }
        Shape batch = ctx.broadcast(List.of(new Shape(a2.dims().subList(0, a2.rank() - 2)), new Shape(b2.dims().subList(0, b2.rank() - 2))));
        List<Dim> out = new ArrayList<>(batch.dims());
        if (a.rank() > 1) out.add(a2.dim(a2.rank() - 2));
        if (b.rank() > 1) out.add(b2.dim(b2.rank() - 1));
        return new Shape(out);
    }
}
