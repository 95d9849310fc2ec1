/*
 * Kiln CPU kernel: layer normalisation over trailing elements, whole rows per thread. The mean (of the
 * differences from the row's first element, exact where values are close, so that a large mean loses no
 * precision), then the variance about it (two passes over a row in L1: no cancellation), a vector at a time
 * with partial vectors at the ends; rows of one vector or less four side by side, so that their dependent steps
 * overlap.
 */


typedef struct {
    long size;
    const float* x;
    const float* scale;
    long scale_stride;
    const float* bias;
    long bias_stride;
    float epsilon;
    float* y;
} kiln_layer_norm_args;

/* The `lanes` scale (or bias) values from element i: a vector of them, or of the one value (stride 0). */
static inline kiln_vf kiln_layer_norm_param(const float* p, long stride, long i, long lanes) {
    return stride ? kiln_vload_part(p + i, lanes) : kiln_vsplat(p[0]);
}

/* y = (x - mean) * inv * scale + bias for the row at src: whole vectors, then a partial one. */
static inline void kiln_layer_norm_store(const kiln_layer_norm_args* a, const float* src, float* dst, float mean, float inv) {
    kiln_vf mv = kiln_vsplat(mean), iv = kiln_vsplat(inv);
    long full = a->size / KILN_VL * KILN_VL;
    if (a->scale_stride == 1 && a->bias && a->bias_stride == 1) {
        for (long i = 0; i < full; i += KILN_VL) {
            kiln_vstore(dst + i, (kiln_vload(src + i) - mv) * iv * kiln_vload(a->scale + i) + kiln_vload(a->bias + i));
        }
    } else {
        for (long i = 0; i < full; i += KILN_VL) {
            kiln_vf v = (kiln_vload(src + i) - mv) * iv * kiln_layer_norm_param(a->scale, a->scale_stride, i, KILN_VL);
            kiln_vstore(dst + i, a->bias ? v + kiln_layer_norm_param(a->bias, a->bias_stride, i, KILN_VL) : v);
        }
    }
    long lanes = a->size - full;
    if (!lanes) return;
    kiln_vf v = (kiln_vload_part(src + full, lanes) - mv) * iv * kiln_layer_norm_param(a->scale, a->scale_stride, full, lanes);
    if (a->bias) v += kiln_layer_norm_param(a->bias, a->bias_stride, full, lanes);
    kiln_vstore_part(dst + full, v, lanes);
}

/* count (1 to 4) rows of size <= KILN_VL, side by side. */
static inline __attribute__((always_inline)) void kiln_layer_norm_short(const int count, const kiln_layer_norm_args* a, long r) {
    long size = a->size;
    kiln_vi inside = kiln_vlanes_below(size);
    kiln_vf x[4], mean[4], inv[4];
    for (int k = 0; k < count; k++) {
        x[k] = kiln_vload_part(a->x + (r + k) * size, size);
        kiln_vf first = kiln_vsplat(x[k][0]);
        mean[k] = first + kiln_vsum(kiln_vselect(inside, x[k] - first, kiln_vsplat(0.0f))) / (float) size;
    }
    for (int k = 0; k < count; k++) {
        kiln_vf d = kiln_vselect(inside, x[k] - mean[k], kiln_vsplat(0.0f));
        inv[k] = kiln_vsplat(1.0f / sqrtf(kiln_vsum(d * d) / (float) size + a->epsilon));
    }
    kiln_vf scale = kiln_layer_norm_param(a->scale, a->scale_stride, 0, size);
    kiln_vf bias = a->bias ? kiln_layer_norm_param(a->bias, a->bias_stride, 0, size) : kiln_vsplat(0.0f);
    for (int k = 0; k < count; k++) kiln_vstore_part(a->y + (r + k) * size, (x[k] - mean[k]) * inv[k] * scale + bias, size);
}

static void kiln_layer_norm_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_layer_norm_args* a = ctx;
    long size = a->size;
    if (size > 0 && size <= KILN_VL) {
        long r = begin;
        for (; r + 4 <= end; r += 4) kiln_layer_norm_short(4, a, r);
        for (; r < end; r++) kiln_layer_norm_short(1, a, r);
        return;
    }
    long full = size / KILN_VL * KILN_VL, lanes = size - full;
    kiln_vi inside = kiln_vlanes_below(lanes);
    for (long r = begin; r < end; r++) {
        const float* src = a->x + r * size;
        kiln_vf first = kiln_vsplat(src[0]), sum = kiln_vsplat(0.0f);
        if (lanes) sum = kiln_vselect(inside, kiln_vload_part(src + full, lanes) - first, sum);
        for (long i = 0; i < full; i += KILN_VL) sum += kiln_vload(src + i) - first;
        float mean = src[0] + kiln_vsum(sum) / (float) size;
        kiln_vf mv = kiln_vsplat(mean), squares = kiln_vsplat(0.0f);
        if (lanes) {
            kiln_vf d = kiln_vselect(inside, kiln_vload_part(src + full, lanes) - mv, squares);
            squares = d * d;
        }
        for (long i = 0; i < full; i += KILN_VL) {
            kiln_vf d = kiln_vload(src + i) - mv;
            squares += d * d;
        }
        kiln_layer_norm_store(a, src, a->y + r * size, mean, 1.0f / sqrtf(kiln_vsum(squares) / (float) size + a->epsilon));
    }
}

/* LayerNormalization over the last `size` elements of each of `rows` rows; scale/bias have `size` elements or 1 (stride 0). */
static void kiln_layer_norm(long rows, long size, const float* x, const float* scale, long scale_stride,
                            const float* bias, long bias_stride, float epsilon, float* y) {
    kiln_layer_norm_args a = {size, x, scale, scale_stride, bias, bias_stride, epsilon, y};
    kiln_parallel_for(rows, size * 6, kiln_layer_norm_rows, &a, 0);
}
