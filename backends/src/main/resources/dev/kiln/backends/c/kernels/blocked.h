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

/* A fused epilogue's activation on a block in registers (kiln_activate_v, so each value's result is the same as in a row). */
static inline __attribute__((always_inline)) kiln_vb kiln_bactivate(kiln_vb v, int code, float p0, float p1) {
#if KILN_CB == KILN_VL
    if (kiln_activation_is_vector(code)) return (kiln_vb) kiln_activate_v((kiln_vf) v, code, p0, p1);
#endif
    float lanes[KILN_CB];
    kiln_bstore(lanes, v);
    kiln_activate_row(lanes, KILN_CB, code, p0, p1);
    return kiln_bload(lanes);
}

/* act(alpha * acc + bias (+ residual at r, when not null)) of the epilogue e on one block. */
static inline __attribute__((always_inline)) kiln_vb kiln_bfinish(kiln_vb acc, const kiln_epilogue* e, kiln_vb bias, const float* r) {
    kiln_vb v = acc * e->alpha + bias;
    if (r) v += kiln_bload(r);
    return e->act == KILN_ACT_NONE ? v : kiln_bactivate(v, e->act, e->p0, e->p1);
}

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

/* Positions of the tiles the layout transforms move through a small buffer, so that reads and writes both stay in lines. */
#define KILN_TRANSFORM_TILE 16

/* NCHW [n][c][size] to NCHW{B}c [n][cb][size][B], channels from valid (at most c) on zero. */
static void kiln_to_blocked(long n, long c, long valid, long cb, long size, const float* x, float* y) {
    for (long b = 0; b < n; b++) {
        for (long k = 0; k < cb; k++) {
            float* dst = y + (b * cb + k) * size * KILN_CB;
            const float* src[KILN_CB];
            for (long lane = 0; lane < KILN_CB; lane++) {
                long ch = k * KILN_CB + lane;
                src[lane] = ch < valid ? x + (b * c + ch) * size : 0;
            }
            for (long i0 = 0; i0 < size; i0 += KILN_TRANSFORM_TILE) {
                long m = size - i0 < KILN_TRANSFORM_TILE ? size - i0 : KILN_TRANSFORM_TILE;
                float tile[KILN_TRANSFORM_TILE][KILN_CB];
                for (long lane = 0; lane < KILN_CB; lane++) {
                    if (src[lane]) for (long t = 0; t < m; t++) tile[t][lane] = src[lane][i0 + t];
                    else for (long t = 0; t < m; t++) tile[t][lane] = 0.0f;
                }
                for (long t = 0; t < m; t++) kiln_bstore(dst + (i0 + t) * KILN_CB, kiln_bload(tile[t]));
            }
        }
    }
}

/* NCHW{B}c [n][cb][size][B] to NCHW [n][c][size], dropping the channels from c on. */
static void kiln_from_blocked(long n, long c, long cb, long size, const float* x, float* y) {
    for (long b = 0; b < n; b++) {
        for (long k = 0; k < cb; k++) {
            long lanes = c - k * KILN_CB < KILN_CB ? c - k * KILN_CB : KILN_CB;
            const float* src = x + (b * cb + k) * size * KILN_CB;
            for (long i0 = 0; i0 < size; i0 += KILN_TRANSFORM_TILE) {
                long m = size - i0 < KILN_TRANSFORM_TILE ? size - i0 : KILN_TRANSFORM_TILE;
                for (long lane = 0; lane < lanes; lane++) {
                    float* dst = y + (b * c + k * KILN_CB + lane) * size + i0;
                    for (long t = 0; t < m; t++) dst[t] = src[(i0 + t) * KILN_CB + lane];
                }
            }
        }
    }
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
