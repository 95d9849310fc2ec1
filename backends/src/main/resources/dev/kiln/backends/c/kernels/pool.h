/* Kiln CPU kernels: max and average pooling of NCHW planes, planes split over the pool's threads. */

typedef struct {
    long planes, h, w, oh, ow;
    long kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int count_include_pad;
} kiln_pool_shape;

/*
 * Max pooling one tap at a time over each output row: columns whose tap falls inside the input run in a
 * loop without bounds checks that the compiler vectorises. A NaN anywhere in the window gives NaN.
 */
static void kiln_max_pool_planes(const kiln_pool_shape* s, const float* x, float* y, long p0, long p1) {
    for (long p = p0; p < p1; p++) {
        const float* plane = x + p * s->h * s->w;
        float* out = y + p * s->oh * s->ow;
        for (long oy = 0; oy < s->oh; oy++) {
            float* row = out + oy * s->ow;
            for (long ox = 0; ox < s->ow; ox++) row[ox] = -INFINITY;
            for (long ky = 0; ky < s->kh; ky++) {
                long iy = oy * s->sh - s->pt + ky * s->dh;
                if (iy < 0 || iy >= s->h) continue;
                const float* src = plane + iy * s->w;
                for (long kx = 0; kx < s->kw; kx++) {
                    long off = kx * s->dw - s->pl;
                    /* ox in [lo, hi) reads columns ox * sw + off inside [0, w) */
                    long lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
                    long hi = s->w - off <= 0 ? 0 : (s->w - off + s->sw - 1) / s->sw;
                    if (hi > s->ow) hi = s->ow;
                    if (s->sw == 1) {
                        const float* sp = src + off;
                        for (long ox = lo; ox < hi; ox++) row[ox] = sp[ox] > row[ox] || sp[ox] != sp[ox] ? sp[ox] : row[ox];
                    } else if (s->sw == 2) {
                        const float* sp = src + off;
                        long ox = lo;
#if defined(__AVX512F__)
                        /* 16 outputs from 32 consecutive inputs (masked to the row's end and the outputs left) */
                        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                        for (; ox < hi; ox += 16) {
                            long n = hi - ox < 16 ? hi - ox : 16, valid = s->w - (2 * ox + off);
                            uint16_t lo16 = valid >= 16 ? 0xFFFF : (uint16_t) ((1u << valid) - 1);
                            uint16_t hi16 = valid >= 32 ? 0xFFFF : valid <= 16 ? 0 : (uint16_t) ((1u << (valid - 16)) - 1);
                            uint16_t out = n == 16 ? 0xFFFF : (uint16_t) ((1u << n) - 1);
                            __m512 v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(lo16, sp + 2 * ox), even, _mm512_maskz_loadu_ps(hi16, sp + 2 * ox + 16));
                            __m512 m = _mm512_maskz_loadu_ps(out, row + ox);
                            uint16_t take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
                            _mm512_mask_storeu_ps(row + ox, out, _mm512_mask_blend_ps(take, m, v));
                        }
#endif
                        for (; ox < hi; ox++) row[ox] = sp[2 * ox] > row[ox] || sp[2 * ox] != sp[2 * ox] ? sp[2 * ox] : row[ox];
                    } else {
                        for (long ox = lo; ox < hi; ox++) {
                            float v = src[ox * s->sw + off];
                            row[ox] = v > row[ox] || v != v ? v : row[ox];
                        }
                    }
                }
            }
        }
    }
}

/* Average over the window's elements inside the input, or (count_include_pad) inside the padded input. */
static void kiln_average_pool_planes(const kiln_pool_shape* s, const float* x, float* y, long p0, long p1) {
    for (long p = p0; p < p1; p++) {
        const float* plane = x + p * s->h * s->w;
        float* out = y + p * s->oh * s->ow;
        for (long oy = 0; oy < s->oh; oy++) {
            for (long ox = 0; ox < s->ow; ox++) {
                float sum = 0.0f;
                long count = 0, padded = 0;
                for (long ky = 0; ky < s->kh; ky++) {
                    long iy = oy * s->sh - s->pt + ky * s->dh;
                    if (iy < -s->pt || iy >= s->h + s->pb) continue;
                    for (long kx = 0; kx < s->kw; kx++) {
                        long ix = ox * s->sw - s->pl + kx * s->dw;
                        if (ix < -s->pl || ix >= s->w + s->pr) continue;
                        padded++;
                        if (iy < 0 || iy >= s->h || ix < 0 || ix >= s->w) continue;
                        sum += plane[iy * s->w + ix];
                        count++;
                    }
                }
                long div = s->count_include_pad ? padded : count;
                out[oy * s->ow + ox] = div > 0 ? sum / (float) div : 0.0f;
            }
        }
    }
}

typedef struct {
    const kiln_pool_shape* s;
    const float* x;
    float* y;
    int average;
} kiln_pool_args;

static void kiln_pool_task(void* ctx, long begin, long end, float* ws) {
    const kiln_pool_args* a = ctx;
    (void) ws;
    if (a->average) kiln_average_pool_planes(a->s, a->x, a->y, begin, end);
    else kiln_max_pool_planes(a->s, a->x, a->y, begin, end);
}

/* Max and average pooling, the pool's threads splitting the planes. */
static void kiln_max_pool(const kiln_pool_shape* s, const float* x, float* y) {
    kiln_pool_args a = {s, x, y, 0};
    kiln_parallel_for(s->planes, s->kh * s->kw * s->oh * s->ow, kiln_pool_task, &a, 0);
}

static void kiln_average_pool(const kiln_pool_shape* s, const float* x, float* y) {
    kiln_pool_args a = {s, x, y, 1};
    kiln_parallel_for(s->planes, s->kh * s->kw * s->oh * s->ow, kiln_pool_task, &a, 0);
}

static void kiln_global_average_pool(long planes, long size, const float* x, float* y) {
    for (long p = 0; p < planes; p++) {
        double sum = 0.0;
        for (long i = 0; i < size; i++) sum += x[p * size + i];
        y[p] = (float) (sum / (double) size);
    }
}

