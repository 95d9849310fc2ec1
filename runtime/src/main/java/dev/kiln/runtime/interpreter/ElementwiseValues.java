package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.HalfFloats;
import dev.kiln.runtime.Tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Tensors to and from the two arrays elementwise kernels compute in: double for floating-point
 * dtypes, long for integers and bool (u64 as raw bits). Conversions follow the ONNX Cast rules:
 * floating point rounds to nearest even in one step, float to integer truncates toward zero and
 * wraps to the target width, integers wrap, anything to bool is "non-zero".
 */
final class ElementwiseValues {
    private ElementwiseValues() {}

    /** A tensor of dtype {@code type} holding {@code values} converted. */
    static Tensor fromDoubles(DType type, long[] shape, double[] values) {
        switch (type) {
            case F64:
                return Tensor.ofDoubles(values, shape);
            case F32: {
                float[] f = new float[values.length];
                for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
                return Tensor.ofFloats(f, shape);
            }
            case F16:
            case BF16: {
                ByteBuffer b = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < values.length; i++) b.putShort(i * 2, type == DType.F16 ? toHalf(values[i]) : toBfloat16(values[i]));
                return Tensor.wrap(type, shape, b);
            }
            default: {
                Tensor t = Tensor.allocate(type, shape);
                for (int i = 0; i < values.length; i++) t.setDouble(i, values[i]);
                return t;
            }
        }
    }

    /**
     * A tensor of dtype {@code type} holding integer {@code values} converted; {@code unsigned64}
     * says the values are u64 bit patterns (which matters when converting to floating point).
     */
    static Tensor fromLongs(DType type, long[] shape, long[] values, boolean unsigned64) {
        switch (type) {
            case I64:
            case U64:
                return Tensor.wrap(type, shape, longBytes(values));
            case F32: {
                float[] f = new float[values.length];
                for (int i = 0; i < f.length; i++) f[i] = unsigned64 ? unsignedToFloat(values[i]) : (float) values[i];
                return Tensor.ofFloats(f, shape);
            }
            case F64:
            case F16:
            case BF16: {
                double[] d = new double[values.length];
                for (int i = 0; i < d.length; i++) d[i] = unsigned64 ? unsignedToDouble(values[i]) : (double) values[i];
                return fromDoubles(type, shape, d);
            }
            default: {
                Tensor t = Tensor.allocate(type, shape);
                for (int i = 0; i < values.length; i++) t.setLong(i, values[i]);
                return t;
            }
        }
    }

    /** Bool tensor of the given flags. */
    static Tensor fromBooleans(long[] shape, boolean[] values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (values[i] ? 1 : 0);
        return Tensor.wrap(DType.BOOL, shape, ByteBuffer.wrap(b));
    }

    static double unsignedToDouble(long v) {
        // Halving with the low bit kept sticky rounds exactly once.
        return v >= 0 ? (double) v : (double) ((v >>> 1) | (v & 1)) * 2.0;
    }

    static float unsignedToFloat(long v) {
        return v >= 0 ? (float) v : (float) ((v >>> 1) | (v & 1)) * 2.0f;
    }

    /** Double to IEEE half, rounding to nearest even once (not via a rounded float). */
    static short toHalf(double v) { return HalfFloats.floatToHalf(roundToOddFloat(v)); }

    /** Double to bfloat16, rounding to nearest even once. */
    static short toBfloat16(double v) { return HalfFloats.floatToBfloat16(roundToOddFloat(v)); }

    /**
     * Double to float rounding to odd: a float with at least two more bits than the final target
     * type, so that its later round-to-nearest-even gives the correctly rounded result.
     */
    private static float roundToOddFloat(double v) {
        float f = (float) v;
        if (f == v || Double.isNaN(v) || Float.isInfinite(f)) return f;
        float truncated = Math.abs(f) > Math.abs(v) ? Math.nextAfter(f, 0.0) : f;
        return Float.intBitsToFloat(Float.floatToRawIntBits(truncated) | 1);
    }

    private static ByteBuffer longBytes(long[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(values);
        return b;
    }
}
