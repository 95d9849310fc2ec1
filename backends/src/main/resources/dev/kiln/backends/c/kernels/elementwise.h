/*
 * Kiln CPU kernels: what the elementwise ops need beyond activations.h. Conversions by the IR's rules (those of
 * Java's casts: a float to an integer truncates toward zero, saturates at the int64 range and takes NaN to 0,
 * then wraps to the target's width), max and min that propagate NaN, and wrap-around integer arithmetic that
 * C would leave undefined (INT64_MIN / -1, powers).
 */

/*
 * v rounded to float toward zero with the lowest bit set when inexact ("round to odd"): rounding that float to
 * f16 or bf16 then rounds v correctly, once, as a direct conversion from double would.
 */
static inline float kiln_f64_to_f32_odd(double v) {
    /* the bits, not the float: where float math keeps excess precision (x87) they are the value rounded to float */
    int32_t bits = kiln_float_bits((float) v);
    double f = (double) kiln_bits_float(bits);
    if (f == v || v != v || isinf(f)) return kiln_bits_float(bits); /* exact, NaN or infinite */
    if (fabs(f) > fabs(v)) bits -= 1; /* one step toward zero, whatever the sign */
    return kiln_bits_float(bits | 1);
}

/* Max and min as Java's Math.max and Math.min: NaN when either is NaN. */
static inline float kiln_max_f(float a, float b) { return a != a || a >= b ? a : b; }
static inline double kiln_max_d(double a, double b) { return a != a || a >= b ? a : b; }
static inline float kiln_min_f(float a, float b) { return a != a || a <= b ? a : b; }
static inline double kiln_min_d(double a, double b) { return a != a || a <= b ? a : b; }

/* x at least lo, then at most hi (hi wins where lo > hi, as numpy.clip); NaN passes. */
static inline float kiln_clip_f(float x, float lo, float hi) { float t = x < lo ? lo : x; return t > hi ? hi : t; }
static inline double kiln_clip_d(double x, double lo, double hi) { double t = x < lo ? lo : x; return t > hi ? hi : t; }

/* x clamped to [0, 1]; NaN passes. */
static inline float kiln_unit_f(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline double kiln_unit_d(double x) { return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x); }

/* Integer division and remainders in int64 (narrower signed types widen to it); the divisor is not 0. */
static inline int64_t kiln_div_i64(int64_t a, int64_t b) { return b == -1 ? (int64_t) (0 - (uint64_t) a) : a / b; }
static inline int64_t kiln_rem_i64(int64_t a, int64_t b) { return b == -1 ? 0 : a % b; }
/* The remainder with the divisor's sign (Python's %, Java's Math.floorMod). */
static inline int64_t kiln_floor_mod_i64(int64_t a, int64_t b) {
    int64_t m = kiln_rem_i64(a, b);
    return m != 0 && (m < 0) != (b < 0) ? m + b : m;
}

/* base^e wrapped to 64 bits, by squaring. */
static inline uint64_t kiln_pow_u64(uint64_t base, uint64_t e) {
    uint64_t r = 1;
    for (; e != 0; e >>= 1, base *= base) {
        if (e & 1) r *= base;
    }
    return r;
}

/* An integer base to a negative exponent: 1 / base^|e| truncated toward zero (the base is not 0). */
static inline int64_t kiln_pow_negative_i64(int64_t base, int64_t e) {
    if (base == 1) return 1;
    if (base == -1) return (e & 1) ? -1 : 1;
    return 0;
}
