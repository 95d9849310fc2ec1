package dev.kiln.backends.c;

import dev.kiln.ir.DType;

/**
 * Integer elementwise arithmetic as C expressions with the interpreter's semantics: results wrap to the dtype's
 * width (computed in an unsigned type at least as wide as int, where signed C arithmetic would overflow
 * undefinedly), division truncates toward zero and INT_MIN / -1 wraps, u64 compares and divides unsigned.
 * Operands are variables of the dtype's storage type.
 */
final class ElementwiseIntegers {
    private ElementwiseIntegers() {}

    /** The unsigned type the dtype's arithmetic wraps in: uint32_t up to 32 bits (no promotion to signed int), else uint64_t. */
    private static String wide(DType t) { return t.byteSize() <= 4 ? "uint32_t" : "uint64_t"; }

    private static String wrap(DType t, String expression) { return "(" + CTypes.storage(t) + ") (" + expression + ")"; }

    /** a op b wrapped to the dtype: +, - and *. */
    static String arithmetic(DType t, String op, String a, String b) {
        return wrap(t, "(" + wide(t) + ") " + a + " " + op + " (" + wide(t) + ") " + b);
    }

    static String neg(DType t, String a) { return wrap(t, "(" + wide(t) + ") 0 - (" + wide(t) + ") " + a); }

    static String abs(DType t, String a) { return t.isUnsignedInteger() ? a : "(" + a + " < 0 ? " + neg(t, a) + " : " + a + ")"; }

    static String sign(DType t, String a) {
        return t.isUnsignedInteger() ? wrap(t, a + " != 0") : wrap(t, "(" + a + " > 0) - (" + a + " < 0)");
    }

    static String relu(String a) { return "(" + a + " < 0 ? 0 : " + a + ")"; }

    static String bitwiseNot(DType t, String a) { return wrap(t, "~" + a); }

    /** a / b, b checked non-zero before. */
    static String div(DType t, String a, String b) {
        return t.isUnsignedInteger() ? wrap(t, a + " / " + b) : wrap(t, "kiln_div_i64(" + a + ", " + b + ")");
    }

    /** The remainder: with the dividend's sign (fmod = 1) or the divisor's; b checked non-zero before. */
    static String mod(DType t, boolean fmod, String a, String b) {
        if (t.isUnsignedInteger()) return wrap(t, a + " % " + b);
        return wrap(t, (fmod ? "kiln_rem_i64(" : "kiln_floor_mod_i64(") + a + ", " + b + ")");
    }

    /** a shifted by b bits (unsigned dtypes); shifting by 64 or more leaves 0. */
    static String shift(DType t, boolean left, String a, String b) {
        return wrap(t, b + " >= 64 ? 0 : (uint64_t) " + a + (left ? " << " : " >> ") + b);
    }

    static String bitwise(DType t, String op, String a, String b) { return wrap(t, a + " " + op + " " + b); }

    static String max(String a, String b) { return "(" + a + " > " + b + " ? " + a + " : " + b + ")"; }

    static String min(String a, String b) { return "(" + a + " < " + b + " ? " + a + " : " + b + ")"; }

    /** a, or a times the slope where a is negative (unsigned values are never negative). */
    static String prelu(DType t, String a, String slope) {
        return t.isUnsignedInteger() ? a : "(" + a + " < 0 ? " + arithmetic(t, "*", a, slope) + " : " + a + ")";
    }

    /**
     * base^exponent for an integer base and exponent of any integer dtype, wrapped to the base's dtype. A negative
     * exponent gives 1 / base^|e| truncated; a base of 0 there is checked before.
     */
    static String pow(DType base, DType exponent, String b, String e) {
        String positive = wrap(base, "kiln_pow_u64((uint64_t) " + b + ", (uint64_t) " + e + ")");
        if (exponent.isUnsignedInteger()) return positive;
        return "(" + e + " < 0 ? " + wrap(base, "kiln_pow_negative_i64(" + b + ", " + e + ")") + " : " + positive + ")";
    }
}
