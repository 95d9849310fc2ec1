/*
 * Kiln CPU kernels for the blocked activation layout NCHW{B}c, B = KILN_CB channels per block (one vector
 * register of the target): x[n][c / B][h][w][c % B]. The block's vector type, and the transforms to and from NCHW.
 * 1-D tensors (NCW{B}c) are the 2-D case with h = 1.
 */
#ifndef KILN_CB
#define KILN_CB KILN_VL
#endif
typedef float kiln_vb __attribute__((vector_size(KILN_CB * 4)));
typedef int32_t kiln_vbi __attribute__((vector_size(KILN_CB * 4)));
typedef float kiln_vb_u __attribute__((vector_size(KILN_CB * 4), aligned(4)));

static inline kiln_vb kiln_bload(const float* p) { return *(const kiln_vb_u*) p; }
static inline void kiln_bstore(float* p, kiln_vb v) { *(kiln_vb_u*) p = v; }
/* x in every lane: lane 0 broadcast (adding x to a zero vector would be an addition, as -0.0 + 0.0 is not -0.0) */
static inline kiln_vb kiln_bsplat(float x) { return __builtin_shuffle((kiln_vb) {x}, (kiln_vbi) {0}); }
/* mask ? a : b lane by lane (mask lanes all ones or zero, as comparisons give) */
static inline kiln_vb kiln_bselect(kiln_vbi mask, kiln_vb a, kiln_vb b) { return (kiln_vb) (((kiln_vbi) a & mask) | ((kiln_vbi) b & ~mask)); }

/* What the out-of-plane taps of a tile read: one block of zeros. */

/* The output columns [lo, hi) of a row whose every tap (ox * sw - pl + kx * dw) falls inside [0, w). */
static void kiln_interior_columns(long w, long ow, long kw, long sw, long dw, long pl, long* lo, long* hi) {
    long reach = (kw - 1) * dw - pl; /* the last tap's column is ox * sw + reach */
    *lo = pl <= 0 ? 0 : (pl + sw - 1) / sw;
    *hi = w - 1 - reach < 0 ? 0 : (w - 1 - reach) / sw + 1;
    if (*hi > ow) *hi = ow;
    if (*lo > *hi) *lo = *hi;
}

/* ---- layout transforms ------------------------------------------------------------------------------------------- */

/*
 * The transforms move tiles of KILN_CB channels x KILN_CB positions: KILN_CB vector loads, a transpose in
 * registers (log2(KILN_CB) rounds of two-vector shuffles, each swapping one bit of the row index with the same
 * bit of the lane index), KILN_CB vector stores; positions past the last whole tile go one by one. Work items
 * are (image, channel block, run of KILN_TRANSFORM_RUN positions), split over the threads.
 */
#define KILN_TRANSFORM_RUN 512L

#if KILN_CB == 16
#define KILN_BLANES {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
#elif KILN_CB == 8
#define KILN_BLANES {0, 1, 2, 3, 4, 5, 6, 7}
#elif KILN_CB == 4
#define KILN_BLANES {0, 1, 2, 3}
#endif

/* Transposes the KILN_CB x KILN_CB matrix whose rows are r[0 .. KILN_CB). */
static inline __attribute__((always_inline)) void kiln_btranspose(kiln_vb* r) {
#ifndef KILN_BLANES
    float t[KILN_CB][KILN_CB];
    for (int i = 0; i < KILN_CB; i++) for (int j = 0; j < KILN_CB; j++) t[j][i] = r[i][j];
    for (int i = 0; i < KILN_CB; i++) memcpy(&r[i], t[i], sizeof r[i]);
#else
    const kiln_vbi lane = KILN_BLANES;
#pragma GCC unroll 4
    for (int bit = KILN_CB / 2; bit >= 1; bit /= 2) {
        kiln_vbi has = (lane & bit) != 0;
        /* row i (bit clear) keeps its lanes without the bit and takes row i + bit's lanes without it; row i + bit the rest */
        kiln_vbi low = (has & ((lane ^ bit) + KILN_CB)) | (~has & lane);
        kiln_vbi high = (has & (lane + KILN_CB)) | (~has & (lane ^ bit));
#pragma GCC unroll 16
        for (int i = 0; i < KILN_CB; i++) {
            if (i & bit) continue;
            kiln_vb a = r[i], b = r[i + bit];
            r[i] = __builtin_shuffle(a, b, low);
            r[i + bit] = __builtin_shuffle(a, b, high);
        }
    }
#endif
}

typedef struct {
    long c, valid, cb, size, runs;
    const float* x;
    float* y;
} kiln_transform_args;

/* Items [begin, end) of kiln_to_blocked: item (image, block, run) fills the block's lanes at the run's positions. */
static void kiln_to_blocked_task(void* ctx, long begin, long end, float* ws) {
    const kiln_transform_args* a = ctx;
    (void) ws;
    for (long item = begin; item < end; item++) {
        long run = item % a->runs, k = item / a->runs % a->cb, b = item / a->runs / a->cb;
        long p0 = run * KILN_TRANSFORM_RUN, p1 = p0 + KILN_TRANSFORM_RUN < a->size ? p0 + KILN_TRANSFORM_RUN : a->size;
        long lanes = a->valid - k * KILN_CB;
        lanes = lanes < 0 ? 0 : lanes > KILN_CB ? KILN_CB : lanes;
        const float* src = a->x + (b * a->c + k * KILN_CB) * a->size;
        float* dst = a->y + (b * a->cb + k) * a->size * KILN_CB;
        long p = p0;
        for (; p + KILN_CB <= p1; p += KILN_CB) {
            kiln_vb r[KILN_CB];
            if (lanes == KILN_CB) {
                for (int l = 0; l < KILN_CB; l++) r[l] = kiln_bload(src + l * a->size + p);
            } else {
                for (int l = 0; l < KILN_CB; l++) r[l] = l < lanes ? kiln_bload(src + l * a->size + p) : (kiln_vb) {0};
            }
            kiln_btranspose(r);
            for (int q = 0; q < KILN_CB; q++) kiln_bstore(dst + (p + q) * KILN_CB, r[q]);
        }
        for (; p < p1; p++) {
            for (long l = 0; l < KILN_CB; l++) dst[p * KILN_CB + l] = l < lanes ? src[l * a->size + p] : 0.0f;
        }
    }
}

/* Items [begin, end) of kiln_from_blocked: item (image, block, run) writes the block's channels below c at the run's positions. */
static void kiln_from_blocked_task(void* ctx, long begin, long end, float* ws) {
    const kiln_transform_args* a = ctx;
    (void) ws;
    for (long item = begin; item < end; item++) {
        long run = item % a->runs, k = item / a->runs % a->cb, b = item / a->runs / a->cb;
        long p0 = run * KILN_TRANSFORM_RUN, p1 = p0 + KILN_TRANSFORM_RUN < a->size ? p0 + KILN_TRANSFORM_RUN : a->size;
        long lanes = a->c - k * KILN_CB;
        lanes = lanes > KILN_CB ? KILN_CB : lanes;
        const float* src = a->x + (b * a->cb + k) * a->size * KILN_CB;
        float* dst = a->y + (b * a->c + k * KILN_CB) * a->size;
        long p = p0;
        for (; p + KILN_CB <= p1; p += KILN_CB) {
            kiln_vb r[KILN_CB];
            for (int q = 0; q < KILN_CB; q++) r[q] = kiln_bload(src + (p + q) * KILN_CB);
            kiln_btranspose(r);
            if (lanes == KILN_CB) {
                for (int l = 0; l < KILN_CB; l++) kiln_bstore(dst + l * a->size + p, r[l]);
            } else {
                for (int l = 0; l < lanes; l++) kiln_bstore(dst + l * a->size + p, r[l]);
            }
        }
        for (; p < p1; p++) {
            for (long l = 0; l < lanes; l++) dst[l * a->size + p] = src[p * KILN_CB + l];
        }
    }
}

/* NCHW [n][c][size] to NCHW{B}c [n][cb][size][B], channels from valid (at most c) on zero. */
static void kiln_to_blocked(long n, long c, long valid, long cb, long size, const float* x, float* y) {
    kiln_transform_args a = {c, valid, cb, size, (size + KILN_TRANSFORM_RUN - 1) / KILN_TRANSFORM_RUN, x, y};
    kiln_parallel_for(n * cb * a.runs, KILN_TRANSFORM_RUN * KILN_CB, kiln_to_blocked_task, &a, 0);
}

/* NCHW{B}c [n][cb][size][B] to NCHW [n][c][size], dropping the channels from c on. */
static void kiln_from_blocked(long n, long c, long cb, long size, const float* x, float* y) {
    kiln_transform_args a = {c, c, cb, size, (size + KILN_TRANSFORM_RUN - 1) / KILN_TRANSFORM_RUN, x, y};
    long blocks = (c + KILN_CB - 1) / KILN_CB;
    kiln_parallel_for(n * blocks * a.runs, KILN_TRANSFORM_RUN * KILN_CB, kiln_from_blocked_task, &a, 0);
}

/* A blocked tensor copied with the channels from c on set to zero. */
static void kiln_zero_blocked_padding(long n, long c, long cb, long size, const float* x, float* y) {
    for (long b = 0; b < n; b++) {
        for (long k = 0; k < cb; k++) {
            long valid = c - k * KILN_CB;
            valid = valid < 0 ? 0 : valid > KILN_CB ? KILN_CB : valid;
            const float* src = x + (b * cb + k) * size * KILN_CB;
            float* dst = y + (b * cb + k) * size * KILN_CB;
            for (long i = 0; i < size; i++) {
                for (long lane = 0; lane < KILN_CB; lane++) dst[i * KILN_CB + lane] = lane < valid ? src[i * KILN_CB + lane] : 0.0f;
            }
        }
    }
}
