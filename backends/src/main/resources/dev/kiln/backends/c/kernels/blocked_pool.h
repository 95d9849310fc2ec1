/* Kiln CPU kernels: pooling on the blocked layout (blocked.h), the shape of pool.h. */
#if defined(__ARM_NEON)
#include <arm_neon.h>
#endif

typedef struct {
    const kiln_pool_shape* s;    /* planes: batch x channel blocks */
    const float* x;
    float* y;
    int average;
} kiln_poolb_args;

/* The larger of a and b lane by lane, for lanes without NaN (callers track NaN apart). */
static inline kiln_vb kiln_bmax(kiln_vb a, kiln_vb b) {
#if defined(__AVX512F__) && KILN_CB == 16
    return (kiln_vb) _mm512_max_ps((__m512) a, (__m512) b);
#elif defined(__AVX__) && KILN_CB == 8
    return (kiln_vb) _mm256_max_ps((__m256) a, (__m256) b);
#elif defined(__ARM_NEON) && KILN_CB == 4
    return (kiln_vb) vmaxq_f32((float32x4_t) a, (float32x4_t) b);
#else
    return kiln_bselect(a > b, a, b);
#endif
}

/*
 * T outputs from (oy, ox) on, whose taps are all inside the row: T independent maxima (NaN anywhere in a window
 * giving NaN) or sums in registers, a sum divided by the row's divisor.
 */
static inline __attribute__((always_inline)) void kiln_poolb_interior(const int T, const int average, const kiln_pool_shape* s,
                                                                      const float* plane, long oy, long ox, float divisor, float* yrow) {
    kiln_vb acc[8];
    kiln_vbi nan = {0};
    for (int t = 0; t < T; t++) acc[t] = average ? (kiln_vb) {0} : kiln_bsplat(-INFINITY);
    for (long ky = 0; ky < s->kh; ky++) {
        long iy = oy * s->sh - s->pt + ky * s->dh;
        if (iy < 0 || iy >= s->h) continue;
        const float* px = plane + (iy * s->w + ox * s->sw - s->pl) * KILN_CB;
        for (long kx = 0; kx < s->kw; kx++) {
            const float* pk = px + kx * s->dw * KILN_CB;
            for (int t = 0; t < T; t++) {
                kiln_vb v = kiln_bload(pk + t * s->sw * KILN_CB);
                if (average) {
                    acc[t] += v;
                } else {
                    acc[t] = kiln_bmax(acc[t], v);
                    nan |= v != v;
                }
            }
        }
    }
    for (int t = 0; t < T; t++) {
        kiln_vb v = average ? (divisor > 0 ? acc[t] / divisor : (kiln_vb) {0}) : kiln_bselect(nan, kiln_bsplat(NAN), acc[t]);
        kiln_bstore(yrow + (ox + t) * KILN_CB, v);
    }
}

/* The interior tiles of a row: 8, 4 or 1 outputs at a time. */
static inline __attribute__((always_inline)) int kiln_poolb_run(const int average, const kiln_pool_shape* s, const float* plane, long oy, long ox,
                                                                long hi, float divisor, float* yrow) {
    int n = ox + 8 <= hi ? 8 : ox + 4 <= hi ? 4 : 1;
    if (n == 8) kiln_poolb_interior(8, average, s, plane, oy, ox, divisor, yrow);
    else if (n == 4) kiln_poolb_interior(4, average, s, plane, oy, ox, divisor, yrow);
    else kiln_poolb_interior(1, average, s, plane, oy, ox, divisor, yrow);
    return n;
}

/*
 * Max (NaN anywhere in the window gives NaN) or average over each window, B channels per vector. The columns
 * whose taps are all inside the row run without bounds checks, up to 8 at a time; an average there divides by
 * its row's count of taps (inside the rows, or inside the rows' padding with count_include_pad).
 */
static void kiln_poolb_task(void* ctx, long begin, long end, float* ws) {
    const kiln_poolb_args* a = ctx;
    const kiln_pool_shape* s = a->s;
    (void) ws;
    long lo, hi;
    kiln_interior_columns(s->w, s->ow, s->kw, s->sw, s->dw, s->pl, &lo, &hi);
    for (long item = begin; item < end; item++) {
        long oy = item / s->planes, p = item % s->planes;
        const float* plane = a->x + p * s->h * s->w * KILN_CB;
        float* yrow = a->y + (p * s->oh + oy) * s->ow * KILN_CB;
        long rows = 0, padded_rows = 0;
        for (long ky = 0; ky < s->kh; ky++) {
            long iy = oy * s->sh - s->pt + ky * s->dh;
            rows += iy >= 0 && iy < s->h;
            padded_rows += iy >= -s->pt && iy < s->h + s->pb;
        }
        float divisor = (float) ((s->count_include_pad ? padded_rows : rows) * s->kw);
        for (long ox = 0; ox < s->ow; ox++) {
            if (ox >= lo && ox < hi) {
                ox += (a->average ? kiln_poolb_run(1, s, plane, oy, ox, hi, divisor, yrow) : kiln_poolb_run(0, s, plane, oy, ox, hi, divisor, yrow)) - 1;
                continue;
            }
            kiln_vb acc = a->average ? (kiln_vb) {0} : kiln_bsplat(-INFINITY);
            long count = 0, padded = 0;
            for (long ky = 0; ky < s->kh; ky++) {
                long iy = oy * s->sh - s->pt + ky * s->dh;
                if (iy < -s->pt || iy >= s->h + s->pb) continue;
                for (long kx = 0; kx < s->kw; kx++) {
                    long ix = ox * s->sw - s->pl + kx * s->dw;
                    if (ix < -s->pl || ix >= s->w + s->pr) continue;
                    padded++;
                    if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                    kiln_vb v = kiln_bload(plane + (iy * s->w + ix) * KILN_CB);
                    count++;
                    if (a->average) acc += v;
                    else acc = kiln_bselect((v > acc) | (v != v), v, acc);
                }
            }
            if (a->average) {
                long div = s->count_include_pad ? padded : count;
                acc = div > 0 ? acc / (float) div : (kiln_vb) {0};
            }
            kiln_bstore(yrow + ox * KILN_CB, acc);
        }
    }
}

/*
 * MaxPool and AveragePool on blocked tensors, the pool's threads splitting the output rows: row by row over
 * every plane, so that each thread pools the rows a convolution split by rows left in its own cache.
 */
static void kiln_poolb(const kiln_poolb_args* a) {
    const kiln_pool_shape* s = a->s;
    kiln_parallel_for(s->planes * s->oh, s->ow * s->kh * s->kw * KILN_CB, kiln_poolb_task, (void*) a, 0);
}

/* GlobalAveragePool: planes (batch x channel blocks) of size positions, summed in position order. */
static void kiln_global_average_poolb(long planes, long size, const float* x, float* y) {
    for (long p = 0; p < planes; p++) {
        kiln_vb sum = (kiln_vb) {0};
        for (long i = 0; i < size; i++) sum += kiln_bload(x + (p * size + i) * KILN_CB);
        kiln_bstore(y + p * KILN_CB, sum / (float) size);
    }
}

