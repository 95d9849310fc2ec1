/* Kiln CPU kernel: layer normalisation over trailing elements, whole rows per thread. */


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

static void kiln_layer_norm_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_layer_norm_args* a = ctx;
    long size = a->size;
    for (long r = begin; r < end; r++) {
        const float* src = a->x + r * size;
        float* dst = a->y + r * size;
        float mean = kiln_sum(src, size) / (float) size;
        kiln_vf acc = {0};
        long full = size / KILN_VL * KILN_VL;
        for (long i = 0; i < full; i += KILN_VL) {
            kiln_vf d = kiln_vload(src + i) - mean;
            acc += d * d;
        }
        float var = kiln_vsum(acc);
        for (long i = full; i < size; i++) var += (src[i] - mean) * (src[i] - mean);
        float inv = 1.0f / sqrtf(var / (float) size + a->epsilon);
        if (a->scale_stride == 1 && a->bias && a->bias_stride == 1) {
            for (long i = 0; i < size; i++) dst[i] = (src[i] - mean) * inv * a->scale[i] + a->bias[i];
        } else {
            for (long i = 0; i < size; i++) {
                float v = (src[i] - mean) * inv * a->scale[i * a->scale_stride];
                dst[i] = a->bias ? v + a->bias[i * a->bias_stride] : v;
            }
        }
    }
}

/* LayerNormalization over the last `size` elements of each of `rows` rows; scale/bias have `size` elements or 1 (stride 0). */
static void kiln_layer_norm(long rows, long size, const float* x, const float* scale, long scale_stride,
                            const float* bias, long bias_stride, float epsilon, float* y) {
    kiln_layer_norm_args a = {size, x, scale, scale_stride, bias, bias_stride, epsilon, y};
    kiln_parallel_for(rows, size * 6, kiln_layer_norm_rows, &a, 0);
}

