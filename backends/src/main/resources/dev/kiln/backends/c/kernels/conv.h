/* Kiln CPU kernels: convolution (GEMM packing im2col columns on the fly, 1x1 as plain GEMM; depthwise in depthwise.h). */

typedef struct {
    long n, c, h, w;          /* input */
    long m, oh, ow;           /* output channels and spatial size */
    long kh, kw, sh, sw, dh, dw, pt, pl; /* kernel, strides, dilations, top/left pads */
    long group;
} kiln_conv_shape;

/* The im2col matrix of one group's input, B(ci * kh * kw + ky * kw + kx, oy * ow + ox), never stored: packed as the GEMM needs it. */
typedef struct {
    const kiln_conv_shape* s;
    const float* x;
} kiln_conv_b;

/* d[c] = row[ix0 + c * sw] for c < len, 0 where ix0 + c * sw is outside [0, w). */
static inline void kiln_gather_segment(float* d, const float* row, long ix0, long len, long sw, long w) {
#if defined(__AVX512F__)
    if (sw == 1 || sw == 2) {
        /* source positions [ix0, ix0 + sw * 32) as two (sw 1) or four (sw 2) masked 16-lane loads, then the lanes taken */
        long lo = -ix0 > 0 ? -ix0 : 0, hi = w - ix0;
        for (int half = 0; half < 2 && half * 16 < len; half++) {
            long n = len - half * 16 < 16 ? len - half * 16 : 16;
            uint16_t store = (uint16_t) ((1u << n) - 1);
            __m512 v;
            if (sw == 1) {
                long a = lo - half * 16, b = hi - half * 16;
                a = a < 0 ? 0 : a;
                b = b > n ? n : b;
                uint16_t load = a >= b ? 0 : (uint16_t) (((1u << b) - 1) & ~((1u << a) - 1));
                v = _mm512_maskz_loadu_ps(load, row + ix0 + half * 16);
            } else {
                __m512 part[2];
                for (int q = 0; q < 2; q++) {
                    long base = half * 32 + q * 16;
                    long a = lo - base, b = hi - base;
                    a = a < 0 ? 0 : a;
                    b = b > 16 ? 16 : b;
                    uint16_t load = a >= b ? 0 : (uint16_t) (((1u << b) - 1) & ~((1u << a) - 1));
                    part[q] = _mm512_maskz_loadu_ps(load, row + ix0 + base);
                }
                const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                v = _mm512_permutex2var_ps(part[0], even, part[1]);
            }
            _mm512_mask_storeu_ps(d + half * 16, store, v);
        }
        return;
    }
#endif
    if (sw == 1 && ix0 >= 0 && ix0 + len <= w) {
        for (long c = 0; c < len; c++) d[c] = row[ix0 + c];
        return;
    }
    for (long c = 0; c < len; c++) {
        long ix = ix0 + c * sw;
        d[c] = ix >= 0 && ix < w ? row[ix] : 0.0f;
    }
}

/*
 * kiln_pack_b_fn of the im2col matrix: the block's columns split into segments inside one output row and
 * one panel; each segment gathers every row of the block.
 */
static void kiln_pack_b_conv(const void* src, long pc, long kc, long jc, long nc, float* dst) {
    const kiln_conv_b* cb = src;
    const kiln_conv_shape* s = cb->s;
    long taps = s->kh * s->kw, tail = nc % KILN_NR, last_panel = nc / KILN_NR;
    long oy = jc / s->ow, ox = jc % s->ow;
    for (long n = 0; n < nc;) {
        long col = n % KILN_NR, len = nc - n;
        if (len > s->ow - ox) len = s->ow - ox;
        if (len > KILN_NR - col) len = KILN_NR - col;
        float* d = dst + n / KILN_NR * kc * KILN_NR + col;
        long ci = pc / taps, ky = pc % taps / s->kw, kx = pc % s->kw;
        for (long kk = 0; kk < kc; kk++, d += KILN_NR) {
            long iy = oy * s->sh + ky * s->dh - s->pt;
            if (iy < 0 || iy >= s->h) {
                for (long c = 0; c < len; c++) d[c] = 0.0f;
            } else {
                kiln_gather_segment(d, cb->x + (ci * s->h + iy) * s->w, ox * s->sw + kx * s->dw - s->pl, len, s->sw, s->w);
            }
            if (++kx == s->kw) {
                kx = 0;
                if (++ky == s->kh) ky = 0, ci++;
            }
        }
        n += len;
        ox += len;
        if (ox == s->ow) ox = 0, oy++;
    }
    if (tail) {
        for (long kk = 0; kk < kc; kk++) for (long c = tail; c < KILN_NR; c++) dst[(last_panel * kc + kk) * KILN_NR + c] = 0.0f;
    }
}

/*
 * y = epilogue(conv(x, w)), NCHW, as one GEMM per group (1x1 stride-1 unpadded convolutions read x as B directly);
 * bias (per output channel) and residual (y's shape) in e, which this adjusts per group. packed_w: w packed
 * for the GEMM (gemm.h), group after group, each group's roundup(m / group, 12) * k floats, or NULL to pack
 * w (row-major [m, k]) as the GEMM goes; workspace: the GEMM's.
 */
static void kiln_conv(const kiln_conv_shape* s, const float* x, const float* w, const float* packed_w, float* y, const kiln_epilogue* e,
                      float* workspace) {
    long cg = s->c / s->group, mg = s->m / s->group, ohw = s->oh * s->ow, k = cg * s->kh * s->kw;
    int direct = s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0;
    for (long b = 0; b < s->n; b++) {
        for (long g = 0; g < s->group; g++) {
            const float* xg = x + (b * s->c + g * cg) * s->h * s->w;
            float* yg = y + (b * s->m + g * mg) * ohw;
            const float* wg = w + g * mg * k;
            const float* packed_wg = packed_w ? packed_w + g * ((mg + KILN_PANEL - 1) / KILN_PANEL * KILN_PANEL) * k : 0;
            kiln_epilogue eg = *e;
            if (eg.bias) eg.bias += g * mg;
            if (eg.residual) eg.residual += (b * s->m + g * mg) * ohw;
            if (direct) {
                kiln_matrix_b mb = {xg, ohw, 1};
                kiln_sgemm_packing(mg, ohw, k, wg, k, 1, packed_wg, kiln_pack_b_matrix, &mb, yg, ohw, &eg, workspace);
            } else {
                kiln_conv_b cb = {s, xg};
                kiln_sgemm_packing(mg, ohw, k, wg, k, 1, packed_wg, kiln_pack_b_conv, &cb, yg, ohw, &eg, workspace);
            }
        }
    }
}
