/*
 * Kiln CPU kernels: depthwise convolution on the blocked layout (blocked.h), each channel with its own filter,
 * KILN_CB channels per vector. x, y: NCHW{B}c with the same (padded) channel blocks; w: OIHW{B}o, w[cb][ky][kx][lane].
 *
 * Work items are output rows (image, channel block, row), so that threads split channel blocks x rows. A row is
 * its left border columns, its interior columns (every tap inside the row) in tiles of KILN_DWB_T positions held
 * in registers, and its right border columns; the taps above and below the plane are skipped for the whole row,
 * those left and right of it for each border column, so no tap is tested. Row kernels are specialised for the
 * common kernel widths and strides (dilation 1), where the compiler unrolls the taps and loads each input vector
 * of a tile once for all the taps that read it; the others read the geometry from the shape.
 */

/* Positions of an interior tile: accumulators and the input vectors they read stay in registers. */
#define KILN_DWB_T 8

struct kiln_dwb_args;
/* The row kernel: output row oy of channel block c of image b. */
typedef void (*kiln_dwb_row_fn)(const struct kiln_dwb_args* a, long b, long c, long oy);

typedef struct kiln_dwb_args {
    const kiln_convb_shape* s;   /* cb == mb */
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;      /* bias per (padded) channel, residual shaped like y */
    kiln_dwb_row_fn row;
    long lo, hi;                 /* the interior columns, which kiln_dwb finds */
} kiln_dwb_args;

/* Taps [*k0, *k1) of a kernel of k taps dilated by d that fall inside [0, n) from position i0 (the first tap's). */
static inline void kiln_dwb_taps(long i0, long n, long k, long d, long* k0, long* k1) {
    long first = i0 >= 0 ? 0 : d == 1 ? -i0 : (-i0 + d - 1) / d;
    long last = n - i0 <= 0 ? 0 : d == 1 ? n - i0 : (n - i0 - 1) / d + 1;
    *k0 = first;
    *k1 = last < k ? last : k;
    if (*k1 < *k0) *k1 = *k0;
}

/*
 * T positions from ox0 of an interior tile, rows [ky0, ky1): KW and S the kernel width and stride when
 * specialised (dilation 1), else 0 (from the shape). The sums run over the taps in (ky, kx) order. Specialised,
 * a row's input vectors are loaded once each, in column order, and multiplied into every position that reads
 * them (left alone, the compiler would load a vector again for each tap, as a memory operand of each
 * multiply-add, and loads would bound the speed).
 */
static inline __attribute__((always_inline)) void kiln_dwb_tile(const int T, const int KW, const int S, const kiln_convb_shape* s,
                                                                const float* plane, const float* wk, long oy, long ky0, long ky1,
                                                                long ox0, kiln_vb* acc) {
    for (int t = 0; t < T; t++) acc[t] = (kiln_vb) {0};
    if (KW) {
        for (long ky = ky0; ky < ky1; ky++) {
            const float* row = plane + ((oy * s->sh - s->pt + ky * s->dh) * s->w + ox0 * S - s->pl) * KILN_CB;
            kiln_vb wv[KW];
#pragma GCC unroll 8
            for (int kx = 0; kx < KW; kx++) wv[kx] = kiln_bload(wk + (ky * KW + kx) * KILN_CB);
#pragma GCC unroll 64
            for (int i = 0; i < (T - 1) * S + KW; i++) {
                kiln_vb xv = kiln_bload(row + i * KILN_CB);
#pragma GCC unroll 8
                for (int kx = 0; kx < KW; kx++) {
                    int t = (i - kx) / S;
                    if (i >= kx && (i - kx) % S == 0 && t < T) acc[t] += wv[kx] * xv;
                }
            }
        }
        return;
    }
    for (long ky = ky0; ky < ky1; ky++) {
        const float* row = plane + ((oy * s->sh - s->pt + ky * s->dh) * s->w + ox0 * s->sw - s->pl) * KILN_CB;
        for (long kx = 0; kx < s->kw; kx++) {
            kiln_vb wv = kiln_bload(wk + (ky * s->kw + kx) * KILN_CB);
            const float* p = row + kx * s->dw * KILN_CB;
            for (int t = 0; t < T; t++) acc[t] += wv * kiln_bload(p + t * s->sw * KILN_CB);
        }
    }
}

/* One border position: the taps of rows [ky0, ky1) and of the columns inside the row. */
static inline kiln_vb kiln_dwb_border(const kiln_convb_shape* s, const float* plane, const float* wk, long oy, long ky0, long ky1, long ox) {
    long ix0 = ox * s->sw - s->pl, kx0, kx1;
    kiln_dwb_taps(ix0, s->w, s->kw, s->dw, &kx0, &kx1);
    kiln_vb acc = (kiln_vb) {0};
    for (long ky = ky0; ky < ky1; ky++) {
        const float* row = plane + (oy * s->sh - s->pt + ky * s->dh) * s->w * KILN_CB;
        for (long kx = kx0; kx < kx1; kx++) {
            acc += kiln_bload(wk + (ky * s->kw + kx) * KILN_CB) * kiln_bload(row + (ix0 + kx * s->dw) * KILN_CB);
        }
    }
    return acc;
}

/* Stores n finished positions from ox of an output row (residual, when any, at the same place). */
static inline __attribute__((always_inline)) void kiln_dwb_store(const kiln_dwb_args* a, float* yrow, long ox, const int n,
                                                                 const kiln_vb* acc, kiln_vb bias) {
    const kiln_epilogue* e = a->e;
    const float* res = e->residual ? e->residual + (yrow - a->y) + ox * KILN_CB : 0;
    for (int t = 0; t < n; t++) kiln_bstore(yrow + (ox + t) * KILN_CB, kiln_bfinish(acc[t], e, bias, res ? res + t * KILN_CB : 0));
}

static inline __attribute__((always_inline)) void kiln_dwb_row(const int KW, const int S, const kiln_dwb_args* a, long b, long c, long oy) {
    const kiln_convb_shape* s = a->s;
    const float* plane = a->x + (b * s->cb + c) * s->h * s->w * KILN_CB;
    const float* wk = a->w + c * s->kh * s->kw * KILN_CB;
    float* yrow = a->y + ((b * s->cb + c) * s->oh + oy) * s->ow * KILN_CB;
    const kiln_epilogue* e = a->e;
    kiln_vb bias = e->bias ? kiln_bload(e->bias + c * KILN_CB) * e->beta : (kiln_vb) {0};
    long ky0, ky1, lo = a->lo, hi = a->hi;
    kiln_dwb_taps(oy * s->sh - s->pt, s->h, s->kh, s->dh, &ky0, &ky1);
    kiln_vb acc[KILN_DWB_T];
    for (long ox = 0; ox < lo; ox++) {
        acc[0] = kiln_dwb_border(s, plane, wk, oy, ky0, ky1, ox);
        kiln_dwb_store(a, yrow, ox, 1, acc, bias);
    }
    long ox = lo;
    for (; ox + KILN_DWB_T <= hi; ox += KILN_DWB_T) {
        kiln_dwb_tile(KILN_DWB_T, KW, S, s, plane, wk, oy, ky0, ky1, ox, acc);
        kiln_dwb_store(a, yrow, ox, KILN_DWB_T, acc, bias);
    }
    if (ox + KILN_DWB_T / 2 <= hi) {
        kiln_dwb_tile(KILN_DWB_T / 2, KW, S, s, plane, wk, oy, ky0, ky1, ox, acc);
        kiln_dwb_store(a, yrow, ox, KILN_DWB_T / 2, acc, bias);
        ox += KILN_DWB_T / 2;
    }
    if (ox + 2 <= hi) {
        kiln_dwb_tile(2, KW, S, s, plane, wk, oy, ky0, ky1, ox, acc);
        kiln_dwb_store(a, yrow, ox, 2, acc, bias);
        ox += 2;
    }
    for (; ox < hi; ox++) {
        kiln_dwb_tile(1, KW, S, s, plane, wk, oy, ky0, ky1, ox, acc);
        kiln_dwb_store(a, yrow, ox, 1, acc, bias);
    }
    for (; ox < s->ow; ox++) {
        acc[0] = kiln_dwb_border(s, plane, wk, oy, ky0, ky1, ox);
        kiln_dwb_store(a, yrow, ox, 1, acc, bias);
    }
}

/* Defines the row kernel kiln_dwb_row_KW_S (0 0: any geometry); the generator instantiates the ones its convolutions use. */
#define KILN_DWB_ROW(KW, S) \
    static void kiln_dwb_row_##KW##_##S(const kiln_dwb_args* a, long b, long c, long oy) { kiln_dwb_row(KW, S, a, b, c, oy); }

static void kiln_dwb_task(void* ctx, long begin, long end, float* ws) {
    const kiln_dwb_args* a = ctx;
    const kiln_convb_shape* s = a->s;
    (void) ws;
    for (long item = begin; item < end; item++) a->row(a, item / (s->oh * s->cb), item % s->cb, item / s->cb % s->oh);
}

/*
 * The depthwise convolution of kiln_dwb_args, the pool's threads splitting its output rows: row by row over
 * every channel block, so that each thread reads the rows a layer before split by rows left in its own cache.
 */
static void kiln_dwb(kiln_dwb_args* a) {
    const kiln_convb_shape* s = a->s;
    kiln_interior_columns(s->w, s->ow, s->kw, s->sw, s->dw, s->pl, &a->lo, &a->hi);
    kiln_parallel_for(s->n * s->cb * s->oh, s->ow * s->kh * s->kw * KILN_CB, kiln_dwb_task, (void*) a, 0);
}
