/*
 * Kiln CPU kernel: softmax and log-softmax over one axis, whole rows per thread (results independent of the
 * thread count). The exponentials go through y before the row is finished from them.
 */


typedef struct {
    long axis, inner;
    int log;
    const float* x;
    float* y;
} kiln_softmax_args;

/* Rows [begin, end) of [outer, axis, inner] (one row: one outer index) */
static void kiln_softmax_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_softmax_args* a = ctx;
    long axis = a->axis, inner = a->inner;
    for (long o = begin; o < end; o++) {
        const float* src = a->x + o * axis * inner;
        float* dst = a->y + o * axis * inner;
        if (inner == 1) {
            float m = -INFINITY;
            for (long i = 0; i < axis; i++) m = src[i] > m ? src[i] : m;
            for (long i = 0; i < axis; i++) dst[i] = kiln_exp(src[i] - m);
            float sum = kiln_sum(dst, axis);
            if (a->log) {
                float shift = m + logf(sum);
                for (long i = 0; i < axis; i++) dst[i] = src[i] - shift;
            } else {
                float inv = 1.0f / sum;
                for (long i = 0; i < axis; i++) dst[i] *= inv;
            }
            continue;
        }
        for (long i = 0; i < inner; i++) {
            float m = -INFINITY;
            for (long t = 0; t < axis; t++) m = src[t * inner + i] > m ? src[t * inner + i] : m;
            float sum = 0.0f;
            for (long t = 0; t < axis; t++) {
                float v = kiln_exp(src[t * inner + i] - m);
                dst[t * inner + i] = v;
                sum += v;
            }
            if (a->log) {
                float shift = m + logf(sum);
                for (long t = 0; t < axis; t++) dst[t * inner + i] = src[t * inner + i] - shift;
            } else {
                float inv = 1.0f / sum;
                for (long t = 0; t < axis; t++) dst[t * inner + i] *= inv;
            }
        }
    }
}

/* Softmax over the middle axis of [outer, axis, inner], or log-softmax with log. */
static void kiln_softmax(long outer, long axis, long inner, int log, const float* x, float* y) {
    kiln_softmax_args a = {axis, inner, log, x, y};
    kiln_parallel_for(outer, axis * inner * 8, kiln_softmax_rows, &a, 0);
}

