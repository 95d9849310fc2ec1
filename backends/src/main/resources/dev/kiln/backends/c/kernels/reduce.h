/*
 * Kiln CPU kernels: what the reductions share. Doubles stored into integer tensors the way the reference
 * interpreter stores them (Java's conversions): truncated toward zero, saturated to 64 bits, NaN as 0, then
 * wrapped to the element's width by the caller's cast.
 */

static inline int64_t kiln_double_to_i64(double v) {
    if (isnan(v)) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t) v;
}

/* u64: values from 2^63 up keep their high bit; below, as i64 (negative values wrap). */
static inline uint64_t kiln_double_to_u64(double v) {
    if (v >= 9223372036854775808.0) return v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t) v;
    return (uint64_t) kiln_double_to_i64(v);
}
