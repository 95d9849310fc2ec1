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

/*
 * The transforms move B x B squares (B channels x B positions) through registers, transposed there: log2(B)
 * rounds of interleaving each row k with row k + B/2 turn row r, column c into row c, column r (each round
 * rotates the bits of r and c, side by side, by one). Other block sizes move element by element.
 */
#if KILN_CB == 16
#define KILN_ZIP_LO {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}
#define KILN_ZIP_HI {8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31}
#elif KILN_CB == 8
#define KILN_ZIP_LO {0, 8, 1, 9, 2, 10, 3, 11}
#define KILN_ZIP_HI {4, 12, 5, 13, 6, 14, 7, 15}
#elif KILN_CB == 4
#define KILN_ZIP_LO {0, 4, 1, 5}
#define KILN_ZIP_HI {2, 6, 3, 7}
#endif

#ifdef KILN_ZIP_LO
static inline __attribute__((always_inline)) void kiln_transpose_square(kiln_vb* r) {
    for (int round = 1; round < KILN_CB; round *= 2) {
        kiln_vb t[KILN_CB];
        for (int k = 0; k < KILN_CB / 2; k++) {
            t[2 * k] = __builtin_shuffle(r[k], r[k + KILN_CB / 2], (kiln_vbi) KILN_ZIP_LO);
            t[2 * k + 1] = __builtin_shuffle(r[k], r[k + KILN_CB / 2], (kiln_vbi) KILN_ZIP_HI);
        }
        for (int k = 0; k < KILN_CB; k++) r[k] = t[k];
    }
}
#endif

/*
 * A transform between NCHW [n][c][size] and NCHW{B}c [n][cb][size][B]: plain channels from valid on (at most
 * c) are zero in the blocked tensor, blocked channels from c on are not written to the plain one. Work items
 * are spans of KILN_LAYOUT_SPAN positions of one image's channel block.
 */
typedef struct {
    long n, c, valid, cb, size;
    const float* x;
    float* y;
} kiln_layout_args;

#define KILN_LAYOUT_SPAN 256

static void kiln_to_blocked_task(void* ctx, long begin, long end, float* ws) {
    const kiln_layout_args* a = ctx;
    (void) ws;
    long spans = (a->size + KILN_LAYOUT_SPAN - 1) / KILN_LAYOUT_SPAN;
    for (long item = begin; item < end; item++) {
        long plane = item / spans, b = plane / a->cb, k = plane % a->cb, i0 = item % spans * KILN_LAYOUT_SPAN;
        long len = a->size - i0 < KILN_LAYOUT_SPAN ? a->size - i0 : KILN_LAYOUT_SPAN, squares = len / KILN_CB;
        float* dst = a->y + (plane * a->size + i0) * KILN_CB;
        const float* src[KILN_CB];
        for (long lane = 0; lane < KILN_CB; lane++) {
            long ch = k * KILN_CB + lane;
            src[lane] = ch < a->valid ? a->x + (b * a->c + ch) * a->size + i0 : 0;
        }
#ifdef KILN_ZIP_LO
        for (long q = 0; q < squares; q++) {
            kiln_vb r[KILN_CB];
            for (int lane = 0; lane < KILN_CB; lane++) r[lane] = src[lane] ? kiln_bload(src[lane] + q * KILN_CB) : (kiln_vb) {0};
            kiln_transpose_square(r);
            for (int p = 0; p < KILN_CB; p++) kiln_bstore(dst + (q * KILN_CB + p) * KILN_CB, r[p]);
        }
#else
        squares = 0;
#endif
        for (long i = squares * KILN_CB; i < len; i++) {
            for (long lane = 0; lane < KILN_CB; lane++) dst[i * KILN_CB + lane] = src[lane] ? src[lane][i] : 0.0f;
        }
    }
}

static void kiln_from_blocked_task(void* ctx, long begin, long end, float* ws) {
    const kiln_layout_args* a = ctx;
    (void) ws;
    long spans = (a->size + KILN_LAYOUT_SPAN - 1) / KILN_LAYOUT_SPAN, blocks = (a->c + KILN_CB - 1) / KILN_CB;
    for (long item = begin; item < end; item++) {
        long b = item / spans / blocks, k = item / spans % blocks, i0 = item % spans * KILN_LAYOUT_SPAN;
        long len = a->size - i0 < KILN_LAYOUT_SPAN ? a->size - i0 : KILN_LAYOUT_SPAN, squares = len / KILN_CB;
        long lanes = a->c - k * KILN_CB < KILN_CB ? a->c - k * KILN_CB : KILN_CB;
        const float* src = a->x + ((b * a->cb + k) * a->size + i0) * KILN_CB;
        float* dst = a->y + (b * a->c + k * KILN_CB) * a->size + i0;
#ifdef KILN_ZIP_LO
        for (long q = 0; q < squares; q++) {
            kiln_vb r[KILN_CB];
            for (int p = 0; p < KILN_CB; p++) r[p] = kiln_bload(src + (q * KILN_CB + p) * KILN_CB);
            kiln_transpose_square(r);
            for (int lane = 0; lane < lanes; lane++) kiln_bstore(dst + lane * a->size + q * KILN_CB, r[lane]);
        }
#else
        squares = 0;
#endif
        for (long i = squares * KILN_CB; i < len; i++) {
            for (long lane = 0; lane < lanes; lane++) dst[lane * a->size + i] = src[i * KILN_CB + lane];
        }
    }
}

/* NCHW [n][c][size] to NCHW{B}c [n][cb][size][B], channels from valid (at most c) on zero. */
static void kiln_to_blocked(long n, long c, long valid, long cb, long size, const float* x, float* y) {
    kiln_layout_args a = {n, c, valid, cb, size, x, y};
    kiln_parallel_for(n * cb * ((size + KILN_LAYOUT_SPAN - 1) / KILN_LAYOUT_SPAN), KILN_LAYOUT_SPAN * KILN_CB, kiln_to_blocked_task, &a, 0);
}

/* NCHW{B}c [n][cb][size][B] to NCHW [n][c][size], dropping the channels from c on. */
static void kiln_from_blocked(long n, long c, long cb, long size, const float* x, float* y) {
    kiln_layout_args a = {n, c, c, cb, size, x, y};
    kiln_parallel_for(n * ((c + KILN_CB - 1) / KILN_CB) * ((size + KILN_LAYOUT_SPAN - 1) / KILN_LAYOUT_SPAN), KILN_LAYOUT_SPAN * KILN_CB,
                      kiln_from_blocked_task, &a, 0);
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
