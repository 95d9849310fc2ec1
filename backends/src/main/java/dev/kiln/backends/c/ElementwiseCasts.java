package dev.kiln.backends.c;

import dev.kiln.ir.DType;

/**
 * Conversions between dtypes with the interpreter's rules (ElementwiseKernels.cast, Tensor.setDouble): floating
 * point converts by value, rounding to nearest even once (f64 to f16 and bf16 too); to integers it truncates
 * toward zero, saturates at the int64 range (NaN gives 0) and wraps to the width; integers convert by their
 * exact value and wrap; anything non-zero (NaN too) is true. The expressions take and give compute types: f16 and
 * bf16 as float, which the store then rounds.
 */
final class ElementwiseCasts {
    private ElementwiseCasts() {}

    /** {@code x} (of {@code from}'s compute type) as {@code to}'s compute type. */
    static String convert(DType from, DType to, String x) {
        if (from == to || to == DType.BOOL) return x; // the bool store tests x != 0
        if (from.isFloatingPoint()) {
            return switch (to) {
                case F32 -> from == DType.F64 ? "(float) " + x : x;
                case F64 -> "(double) " + x;
                case F16, BF16 -> from == DType.F64 ? "kiln_f64_to_f32_odd(" + x + ")" : x;
                default -> fromDouble(to, "(double) " + x);
            };
        }
        return switch (to) {
            case F32 -> "(float) " + x;
            case F64 -> "(double) " + x;
            // the interpreter goes through double: integers beyond 2^53 round there first
            case F16, BF16 -> "kiln_f64_to_f32_odd((double) " + x + ")";
            default -> "(" + CTypes.storage(to) + ") " + x;
        };
    }

    /** A double expression as {@code to}'s compute type (what the interpreter's fromDoubles stores). */
    static String fromDouble(DType to, String d) {
        return switch (to) {
            case F64, BOOL -> d;
            case F32 -> "(float) (" + d + ")";
            case F16, BF16 -> "kiln_f64_to_f32_odd(" + d + ")";
            case U64 -> "kiln_f64_to_u64(" + d + ")";
            default -> "(" + CTypes.storage(to) + ") kiln_f64_to_i64(" + d + ")";
        };
    }
}
