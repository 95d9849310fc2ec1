/*
 * Kiln CPU kernels: indices read from data (Gather, Scatter, OneHot ...). An index counts from the end of its
 * axis when negative; one outside the axis makes kiln_run fail naming it, so no kernel reads or writes outside
 * a buffer.
 */

/* Index i of an axis of d elements, counted from the end when negative; -1 when it is outside the axis. */
static inline long long kiln_wrap_index(long long i, long long d) {
    if (i < 0) i += d;
    return i >= 0 && i < d ? i : -1;
}

static int kiln_index_fail(const char* what, long long index, long long size) {
    snprintf(kiln_error_text, sizeof kiln_error_text, "%s: index %lld is out of range for a dimension of size %lld", what, index, size);
    return KILN_RUN_FAILED;
}

/*
 * A double as a 64-bit integer the way the reference converts one (Java's (long) cast): truncated toward
 * zero, NaN as 0, values beyond the range saturated; C leaves those cases undefined.
 */
static inline long long kiln_double_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return 9223372036854775807LL;
    if (v <= -9223372036854775808.0) return -9223372036854775807LL - 1;
    return (long long) v;
}

/* A u64 element as the reference reads it into a double: the high 63 bits rounded, then the low bit added. */
static inline double kiln_u64_to_double(uint64_t v) {
    if ((int64_t) v >= 0) return (double) (int64_t) v;
    return (double) (int64_t) (v >> 1) * 2.0 + (double) (v & 1u);
}

/* A double stored as u64 the way the reference stores one: from 2^63 up offset by 2^63, else as a signed value. */
static inline uint64_t kiln_double_to_u64(double v) {
    if (v >= 9223372036854775808.0) return (uint64_t) kiln_double_to_i64(v - 9223372036854775808.0) ^ 0x8000000000000000ull;
    return (uint64_t) kiln_double_to_i64(v);
}
