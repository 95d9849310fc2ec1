package dev.kiln.passes;

import dev.kiln.ir.DType;

/** f32 to f16 and bf16 at compile time, rounding to nearest even. */
final class ReducedFloats {
    private static final float HALF_MAX = 65504f;

    private ReducedFloats() {}

    /** The bits of {@code f} in {@code type} (F16 or BF16). */
    static short bits(DType type, float f) {
        return switch (type) {
            case F16 -> half(f);
            case BF16 -> bfloat16(f);
            default -> throw new IllegalArgumentException("not a reduced float type: " + type);
        };
    }

    /**
     * IEEE half precision. Finite values beyond its range saturate to +-65504 instead of becoming infinite: weights
     * and masks such as -1e9 or -FLT_MAX then stay finite, so that e.g. a masked softmax row cannot turn into NaN.
     */
    static short half(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        if (Float.isNaN(f)) return (short) (sign | 0x7e00);
        if (Float.isInfinite(f)) return (short) (sign | 0x7c00);
        if (Math.abs(f) >= HALF_MAX) return (short) (sign | 0x7bff);
        int exponent = ((bits >>> 23) & 0xff) - 127 + 15;
        int mantissa = bits & 0x7fffff;
        if (exponent <= 0) {
            if (exponent < -10) return (short) sign;
            // Subnormal: the implicit bit joins the mantissa, shifted down to the 2^-24 grid.
            return (short) (sign | roundShift(mantissa | 0x800000, 14 - exponent));
        }
        // A carry out of the mantissa correctly moves on to the next exponent.
        return (short) (sign | ((exponent << 10) + roundShift(mantissa, 13)));
    }

    static short bfloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    /** value / 2^shift rounded to nearest, ties to even. */
    private static int roundShift(int value, int shift) {
        int kept = value >>> shift;
        int rest = value & ((1 << shift) - 1);
        int half = 1 << (shift - 1);
        return rest > half || rest == half && (kept & 1) != 0 ? kept + 1 : kept;
    }
}
