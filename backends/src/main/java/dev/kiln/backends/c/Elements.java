package dev.kiln.backends.c;

import dev.kiln.ir.DType;

/**
 * Elements of any dtype read as a 64-bit integer or a double, and doubles stored as any dtype, converting
 * as the reference interpreter does (base.h's kiln_f64_to_i64 and friends): integers truncated toward
 * zero and wrapped to their width, NaN read as 0, bool as v != 0, u64 by its own rule. OneHot's depth and
 * indices and Resize's interpolation go through these, so integer results agree bitwise.
 */
final class Elements {
    private Elements() {}

    /** The stored element as a C long long. */
    static String asLong(DType t, String stored) {
        return t.isFloatingPoint() ? "kiln_f64_to_i64(" + asDouble(t, stored) + ")" : "((long long) " + stored + ")";
    }

    /** The stored element as a C double. */
    static String asDouble(DType t, String stored) {
        return switch (t) {
            case U64 -> "kiln_u64_to_f64(" + stored + ")";
            case F16, BF16 -> "((double) " + CTypes.load(t, stored) + ")";
            default -> "((double) " + stored + ")";
        };
    }

    /** The C expression of a double v stored as the dtype. */
    static String fromDouble(DType t, String v) {
        return switch (t) {
            case F64 -> v;
            case F32 -> "((float) " + v + ")";
            case F16, BF16 -> CTypes.store(t, "(float) " + v);
            case BOOL -> "((uint8_t) (" + v + " != 0.0))";
            case U64 -> "kiln_f64_to_u64(" + v + ")";
            default -> "((" + CTypes.storage(t) + ") kiln_f64_to_i64(" + v + "))";
        };
    }
}
