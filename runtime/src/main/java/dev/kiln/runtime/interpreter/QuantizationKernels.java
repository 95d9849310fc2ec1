package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.NnArrays.broadcastIndex;
import static dev.kiln.runtime.interpreter.NnArrays.roundTo;

/**
 * Linear quantization kernels. Arithmetic follows the ONNX reference implementation: divisions
 * and scale products are rounded to the precision numpy would use, rounding is half to even,
 * and results saturate to the range of the quantized type.
 */
final class QuantizationKernels {
    private QuantizationKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("QuantizeLinear", QuantizationKernels::quantizeLinear);
        table.put("DequantizeLinear", QuantizationKernels::dequantizeLinear);
        table.put("DynamicQuantizeLinear", QuantizationKernels::dynamicQuantizeLinear);
        table.put("QLinearMatMul", QuantizationKernels::qlinearMatMul);
        table.put("QLinearConv", QuantizationKernels::qlinearConv);
        table.put("ConvInteger", QuantizationKernels::convInteger);
    }

    private static List<Tensor> quantizeLinear(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor scale = ctx.input(1);
        Tensor zero = ctx.optionalInput(2);
        QuantParams params = QuantParams.of(ctx, x.shape(), scale, zero);
        long precisionCode = ctx.intAttr("precision");
        DType precision = precisionCode != 0 ? floatDType(ctx, precisionCode) : divisionType(x.dtype(), scale.dtype());
        DType out = ctx.outputDType(0);
        long min = minOf(out);
        long max = maxOf(out);
        Tensor y = Tensor.allocate(out, x.shape());
        for (int i = 0; i < x.size(); i++) {
            int p = params.index(i);
            // numpy casts both operands to the division type before dividing.
            double q = Math.rint(roundTo(precision, roundTo(precision, x.getDouble(i)) / roundTo(precision, scale.getDouble(p))));
            if (zero != null) q += zero.getLong(p);
            y.setLong(i, (long) Math.max(min, Math.min(max, q)));
        }
        return List.of(y);
    }

    private static List<Tensor> dequantizeLinear(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor scale = ctx.input(1);
        Tensor zero = ctx.optionalInput(2);
        QuantParams params = QuantParams.of(ctx, x.shape(), scale, zero);
        // numpy: float32(x) - zero_point stays float32, except that an int32 zero point promotes to float64.
        boolean wide = zero != null && x.dtype() == DType.I32;
        Tensor y = Tensor.allocate(ctx.outputDType(0), x.shape());
        for (int i = 0; i < x.size(); i++) {
            int p = params.index(i);
            double shifted = (float) x.getDouble(i);
            if (zero != null) shifted = wide ? shifted - zero.getLong(p) : (float) (shifted - zero.getLong(p));
            double v = shifted * scale.getDouble(p);
            y.setDouble(i, wide ? v : (float) v);
        }
        return List.of(y);
    }

    private static List<Tensor> dynamicQuantizeLinear(KernelContext ctx) {
        Tensor x = ctx.input(0);
        float[] v = x.toFloatArray();
        float lo = 0f;
        float hi = 0f;
        for (float f : v) {
            lo = Math.min(lo, f);
            hi = Math.max(hi, f);
        }
        // The range always contains 0; it is empty only when x is all zeros, and the scale is then 1.
        float scale = hi == lo ? 1f : (hi - lo) / 255f;
        float zeroPoint = (float) Math.rint(Math.max(0f, Math.min(255f, 0f - lo / scale)));
        Tensor y = Tensor.allocate(DType.U8, x.shape());
        for (int i = 0; i < v.length; i++) {
            y.setLong(i, (long) Math.max(0.0, Math.min(255.0, Math.rint(v[i] / scale) + zeroPoint)));
        }
        Tensor s = Tensor.ofFloats(new float[] {scale});
        Tensor z = Tensor.allocate(DType.U8);
        z.setLong(0, (long) zeroPoint);
        return List.of(y, s, z);
    }

    private static List<Tensor> qlinearMatMul(KernelContext ctx) {
        Tensor a = ctx.input(0);
        Tensor aScale = ctx.input(1);
        Tensor aZero = ctx.input(2);
        Tensor b = ctx.input(3);
        Tensor bScale = ctx.input(4);
        Tensor bZero = ctx.input(5);
        Tensor yScale = ctx.input(6);
        Tensor yZero = ctx.input(7);
        // numpy.matmul promotion: a 1-D a is a row, a 1-D b a column.
        long[] aShape = a.rank() == 1 ? new long[] {1, a.dim(0)} : a.shape();
        long[] bShape = b.rank() == 1 ? new long[] {b.dim(0), 1} : b.shape();
        int m = (int) aShape[aShape.length - 2];
        int k = (int) aShape[aShape.length - 1];
        int n = (int) bShape[bShape.length - 1];
        if (bShape[bShape.length - 2] != k) throw ctx.fail("inner dimensions differ: " + Arrays.toString(a.shape()) + " x " + Arrays.toString(b.shape()));
        // a's parameters are per tensor or per row (a 1-D vector of length m); b's per tensor or per column.
        int[] aScaleAt = broadcastIndex(ctx, perRow(aScale.shape(), m), aShape);
        int[] bScaleAt = broadcastIndex(ctx, bScale.shape(), bShape);
        int[] av = shifted(a, aZero, broadcastIndex(ctx, perRow(aZero.shape(), m), aShape));
        int[] bv = shifted(b, bZero, broadcastIndex(ctx, bZero.shape(), bShape));

        long[] aBatch = Arrays.copyOf(aShape, aShape.length - 2);
        long[] bBatch = Arrays.copyOf(bShape, bShape.length - 2);
        long[] batch = Broadcasting.shape(ctx, aBatch, bBatch);
        int[] aBatchAt = broadcastIndex(ctx, aBatch, batch);
        int[] bBatchAt = broadcastIndex(ctx, bBatch, batch);
        long[] outShape = GemmKernels.matMulShape(a.shape(), b.shape(), batch);
        int[] yScaleAt = broadcastIndex(ctx, yScale.shape(), outShape);
        int[] yZeroAt = broadcastIndex(ctx, yZero.shape(), outShape);
        DType scaleType = commonScaleType(aScale.dtype(), bScale.dtype(), yScale.dtype());
        DType out = ctx.outputDType(0);
        long min = minOf(out);
        long max = maxOf(out);
        Tensor y = Tensor.allocate(out, outShape);
        int i = 0;
        for (int bt = 0; bt < aBatchAt.length; bt++) {
            int aBase = aBatchAt[bt] * m * k;
            int bBase = bBatchAt[bt] * k * n;
            for (int r = 0; r < m; r++) {
                for (int c = 0; c < n; c++, i++) {
                    int acc = 0;
                    for (int t = 0; t < k; t++) acc += av[aBase + r * k + t] * bv[bBase + t * n + c];
                    // As numpy does it: a_scale * b_scale / y_scale in the scales' dtype, its product with the int32 sum in float64.
                    double product = roundTo(scaleType, aScale.getDouble(aScaleAt[aBase + r * k]) * bScale.getDouble(bScaleAt[bBase + c]));
                    double multiplier = roundTo(scaleType, product / yScale.getDouble(yScaleAt[i]));
                    double q = Math.rint(acc * multiplier + yZero.getLong(yZeroAt[i]));
                    y.setLong(i, (long) Math.max(min, Math.min(max, q)));
                }
            }
        }
        return List.of(y);
    }

    private static List<Tensor> qlinearConv(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor w = ctx.input(3);
        ConvKernels.Layer layer = ConvKernels.convLayer(ctx, x.shape(), w.shape());
        int outChannels = layer.outChannels();
        float xScale = (float) single(ctx, ctx.input(1), "x_scale").getDouble(0);
        float yScale = (float) single(ctx, ctx.input(6), "y_scale").getDouble(0);
        Tensor wScale = perChannel(ctx, ctx.input(4), outChannels, "w_scale");
        long yZero = single(ctx, ctx.input(7), "y_zero_point").getLong(0);
        Tensor bias = ctx.optionalInput(8);
        if (bias != null && (bias.rank() != 1 || bias.size() != outChannels)) {
            throw ctx.fail("B must have shape [" + outChannels + "], got " + Arrays.toString(bias.shape()));
        }
        double[] sums = integerConv(ctx, layer, x, ctx.input(2), w, ctx.input(5));
        ConvKernels.addBias(sums, bias, layer);
        int[] acc = int32(sums);
        DType out = ctx.outputDType(0);
        long min = minOf(out);
        long max = maxOf(out);
        Tensor y = Tensor.allocate(out, layer.outputShape());
        int perChannel = acc.length / (layer.batch() * outChannels);
        for (int i = 0; i < acc.length; i++) {
            int m = (i / perChannel) % outChannels;
            // As numpy does it: the multiplier in float32, its product with the int32 sum in float64.
            float multiplier = xScale * (float) wScale.getDouble(wScale.size() == 1 ? 0 : m) / yScale;
            double q = Math.rint((double) acc[i] * multiplier + yZero);
            y.setLong(i, (long) Math.max(min, Math.min(max, q)));
        }
        return List.of(y);
    }

    private static List<Tensor> convInteger(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor w = ctx.input(1);
        ConvKernels.Layer layer = ConvKernels.convLayer(ctx, x.shape(), w.shape());
        double[] sums = integerConv(ctx, layer, x, ctx.optionalInput(2), w, ctx.optionalInput(3));
        return List.of(Tensor.ofInts(int32(sums), layer.outputShape()));
    }

    /**
     * The convolution of x and w less their zero points, computed in double. It is exact: every
     * product is below 2^16 in magnitude, so every partial sum stays far below 2^53.
     */
    private static double[] integerConv(KernelContext ctx, ConvKernels.Layer layer, Tensor x, Tensor xZero, Tensor w, Tensor wZero) {
        return ConvKernels.convDouble(shiftedByScalar(ctx, x, xZero), shiftedPerChannel(ctx, w, wZero), layer);
    }

    /** Exact integer sums wrapped to 32 bits: what ONNX's int32 accumulation gives. */
    private static int[] int32(double[] sums) {
        int[] r = new int[sums.length];
        for (int i = 0; i < r.length; i++) r[i] = (int) (long) sums[i];
        return r;
    }

    /** A per-tensor parameter, checked to have one element. */
    private static Tensor single(KernelContext ctx, Tensor t, String name) {
        if (t.size() != 1) throw ctx.fail(name + " must have one element, got shape " + Arrays.toString(t.shape()));
        return t;
    }

    /** A parameter with one element or one per output channel. */
    private static Tensor perChannel(KernelContext ctx, Tensor t, int channels, String name) {
        if (t.size() != 1 && (t.rank() != 1 || t.size() != channels)) {
            throw ctx.fail(name + " must have 1 or " + channels + " elements, got shape " + Arrays.toString(t.shape()));
        }
        return t;
    }

    /** The input minus its per-tensor zero point (none when omitted). */
    private static double[] shiftedByScalar(KernelContext ctx, Tensor t, Tensor zero) {
        long z = zero == null ? 0 : single(ctx, zero, "x_zero_point").getLong(0);
        double[] v = new double[t.size()];
        for (int i = 0; i < v.length; i++) v[i] = t.getLong(i) - z;
        return v;
    }

    /** Weights (M, ...) minus a zero point that is per tensor or per output channel m. */
    private static double[] shiftedPerChannel(KernelContext ctx, Tensor w, Tensor zero) {
        int channels = (int) w.dim(0);
        if (zero != null) perChannel(ctx, zero, channels, "w_zero_point");
        double[] v = new double[w.size()];
        int perChannel = channels == 0 ? 0 : v.length / channels;
        for (int i = 0; i < v.length; i++) {
            long z = zero == null ? 0 : zero.getLong(zero.size() == 1 ? 0 : i / perChannel);
            v[i] = w.getLong(i) - z;
        }
        return v;
    }

    private static int[] shifted(Tensor t, Tensor zero, int[] zeroIndex) {
        int[] v = new int[t.size()];
        for (int i = 0; i < v.length; i++) v[i] = (int) (t.getLong(i) - zero.getLong(zeroIndex[i]));
        return v;
    }

    /** A 1-D parameter of length rows (rows > 1) seen as a column [rows, 1], so that it applies per row. */
    private static long[] perRow(long[] shape, long rows) {
        return shape.length == 1 && shape[0] == rows && rows > 1 ? new long[] {rows, 1} : shape;
    }

    /** The float type numpy divides x by y_scale in: the promotion of their two types. */
    private static DType divisionType(DType x, DType scale) {
        if (x == DType.I32 || scale == DType.I32) return DType.F64;
        if (x == scale) return x;
        return commonScaleType(x, scale);
    }

    /** numpy promotion among f32, f16 and bf16: equal types stay, mixed ones meet in f32. */
    private static DType commonScaleType(DType... types) {
        for (DType t : types) if (t != types[0]) return DType.F32;
        return types[0];
    }

    private static DType floatDType(KernelContext ctx, long onnxCode) {
        return switch ((int) onnxCode) {
            case 1 -> DType.F32;
            case 10 -> DType.F16;
            case 11 -> DType.F64;
            case 16 -> DType.BF16;
            default -> throw ctx.fail("precision " + onnxCode + " is not a floating-point type");
        };
    }

    private static long minOf(DType t) {
        return switch (t) {
            case I8 -> Byte.MIN_VALUE;
            case I16 -> Short.MIN_VALUE;
            default -> 0;
        };
    }

    private static long maxOf(DType t) {
        return switch (t) {
            case I8 -> Byte.MAX_VALUE;
            case U8 -> 255;
            case I16 -> Short.MAX_VALUE;
            case U16 -> 65535;
            default -> throw new IllegalArgumentException("not a quantized type: " + t);
        };
    }
}
