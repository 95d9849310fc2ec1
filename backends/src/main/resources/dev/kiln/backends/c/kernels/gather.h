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

