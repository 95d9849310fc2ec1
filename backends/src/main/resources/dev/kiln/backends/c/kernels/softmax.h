/*
 * Kiln CPU kernel: softmax and log-softmax over one axis, whole rows per thread (results independent of the
 * thread count). A contiguous row (inner 1) goes a vector of its elements at a time (rows of one vector or less
 * four at a time); strided rows a vector of neighbouring rows (along inner) at a time. The exponentials go through y before the row is finished from
 * them; every element takes the same vector functions, partial vectors at the ends.
 */


typedef struct {
    long axis, inner;
    int log;
    const float* x;
    float* y;
} kiln_softmax_args;

/* The n contiguous values at src into dst. */
static void kiln_softmax_row(long n, int log, const float* src, float* dst) {
    kiln_vf top = kiln_vsplat(-INFINITY);
    long full = n / KILN_VL * KILN_VL, rest = n - full;
    for (long i = 0; i < full; i += KILN_VL) {
        kiln_vf x = kiln_vload(src + i);
        top = kiln_vselect(x > top, x, top);
    }
    float m = kiln_vmax(top);
    for (long i = full; i < n; i++) m = src[i] > m ? src[i] : m;
    kiln_vf mv = kiln_vsplat(m), sum = kiln_vsplat(0.0f);
    for (long i = 0; i < full; i += KILN_VL) {
        kiln_vf e = kiln_exp_v(kiln_vload(src + i) - mv);
        if (!log) kiln_vstore(dst + i, e);
        sum += e;
    }
    if (rest) {
        float e[KILN_VL];
        kiln_vstore(e, kiln_exp_v(kiln_vload_part(src + full, rest) - mv));
        if (!log) memcpy(dst + full, e, (size_t) rest * sizeof(float));
        sum += kiln_vload_part(e, rest);
    }
    float total = kiln_vsum(sum);
    if (log) {
        kiln_vf shift = kiln_vsplat(m + logf(total));
        for (long i = 0; i < n; i += KILN_VL) {
            long lanes = n - i < KILN_VL ? n - i : KILN_VL;
            kiln_vstore_part(dst + i, kiln_vload_part(src + i, lanes) - shift, lanes);
        }
    } else {
        kiln_vf inv = kiln_vsplat(1.0f / total);
        for (long i = 0; i < full; i += KILN_VL) kiln_vstore(dst + i, kiln_vload(dst + i) * inv);
        if (rest) kiln_vstore_part(dst + full, kiln_vload_part(dst + full, rest) * inv, rest);
    }
}

/*
 * count (1 to 4) rows of n <= KILN_VL contiguous values, rows n apart, each one vector, side by side: their
 * chains of dependent steps (maximum, exponentials, sum, reciprocal) overlap.
 */
static inline __attribute__((always_inline)) void kiln_softmax_short(const int count, long n, int log, const float* src, float* dst) {
    kiln_vi inside = kiln_vlanes_below(n);
    kiln_vf x[4], e[4];
    for (int k = 0; k < count; k++) x[k] = kiln_vselect(inside, kiln_vload_part(src + k * n, n), kiln_vsplat(-INFINITY));
    for (int k = 0; k < count; k++) {
        kiln_vf m = kiln_vsplat(kiln_vmax(x[k]));
        e[k] = kiln_vselect(inside, kiln_exp_v(x[k] - m), kiln_vsplat(0.0f));
        if (log) e[k] = x[k] - (m + logf(kiln_vsum(e[k])));
        else e[k] *= 1.0f / kiln_vsum(e[k]);
    }
    for (int k = 0; k < count; k++) kiln_vstore_part(dst + k * n, e[k], n);
}

/* The `lanes` rows (neighbours along inner) of axis values inner apart at src into dst. */
static void kiln_softmax_columns(long axis, long inner, long lanes, int log, const float* src, float* dst) {
    kiln_vf m = kiln_vsplat(-INFINITY), sum = kiln_vsplat(0.0f);
    for (long t = 0; t < axis; t++) {
        kiln_vf x = kiln_vload_part(src + t * inner, lanes);
        m = kiln_vselect(x > m, x, m);
    }
    for (long t = 0; t < axis; t++) {
        kiln_vf e = kiln_exp_v(kiln_vload_part(src + t * inner, lanes) - m);
        if (!log) kiln_vstore_part(dst + t * inner, e, lanes);
        sum += e;
    }
    if (log) {
        for (int l = 0; l < KILN_VL; l++) m[l] += logf(sum[l]);
        for (long t = 0; t < axis; t++) kiln_vstore_part(dst + t * inner, kiln_vload_part(src + t * inner, lanes) - m, lanes);
    } else {
        kiln_vf inv = 1.0f / sum;
        for (long t = 0; t < axis; t++) kiln_vstore_part(dst + t * inner, kiln_vload_part(dst + t * inner, lanes) * inv, lanes);
    }
}

/* Rows [begin, end) of [outer, axis, inner] (one row: one outer index) */
static void kiln_softmax_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_softmax_args* a = ctx;
    long axis = a->axis, inner = a->inner;
    if (inner == 1 && axis <= KILN_VL && axis > 0) {
        long o = begin;
        for (; o + 4 <= end; o += 4) kiln_softmax_short(4, axis, a->log, a->x + o * axis, a->y + o * axis);
        for (; o < end; o++) kiln_softmax_short(1, axis, a->log, a->x + o * axis, a->y + o * axis);
        return;
    }
    for (long o = begin; o < end; o++) {
        const float* src = a->x + o * axis * inner;
        float* dst = a->y + o * axis * inner;
        if (inner == 1) {
            kiln_softmax_row(axis, a->log, src, dst);
            continue;
        }
        for (long i = 0; i < inner; i += KILN_VL) {
            kiln_softmax_columns(axis, inner, inner - i < KILN_VL ? inner - i : KILN_VL, a->log, src + i, dst + i);
        }
    }
}

/* Softmax over the middle axis of [outer, axis, inner], or log-softmax with log. */
static void kiln_softmax(long outer, long axis, long inner, int log, const float* x, float* y) {
    kiln_softmax_args a = {axis, inner, log, x, y};
    kiln_parallel_for(outer, axis * inner * 8, kiln_softmax_rows, &a, 0);
}
