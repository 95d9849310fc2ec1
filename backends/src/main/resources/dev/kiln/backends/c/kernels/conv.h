/* Kiln CPU kernels: convolution (im2col + GEMM, 1x1 as plain GEMM, depthwise direct) and pooling. */

typedef struct {
    long n, c, h, w;          /* input */
    long m, oh, ow;           /* output channels and spatial size */
    long kh, kw, sh, sw, dh, dw, pt, pl; /* kernel, strides, dilations, top/left pads */
    long group;
} kiln_conv_shape;

/* col[(ci * kh * kw + y * kw + x) * oh * ow + oy * ow + ox] for input channels [c0, c1) of one group. */
static void kiln_im2col_channels(const kiln_conv_shape* s, long c0, long c1, const float* x, float* col) {
    long ohw = s->oh * s->ow;
    for (long ci = c0; ci < c1; ci++) {
        const float* plane = x + ci * s->h * s->w;
        for (long ky = 0; ky < s->kh; ky++) {
            for (long kx = 0; kx < s->kw; kx++) {
                float* dst = col + ((ci * s->kh + ky) * s->kw + kx) * ohw;
                for (long oy = 0; oy < s->oh; oy++) {
                    long iy = oy * s->sh - s->pt + ky * s->dh;
                    float* row = dst + oy * s->ow;
                    if (iy < 0 || iy >= s->h) {
                        memset(row, 0, (size_t) s->ow * sizeof(float));
                        continue;
                    }
                    const float* src = plane + iy * s->w;
                    for (long ox = 0; ox < s->ow; ox++) {
                        long ix = ox * s->sw - s->pl + kx * s->dw;
                        row[ox] = ix >= 0 && ix < s->w ? src[ix] : 0.0f;
                    }
                }
            }
        }
    }
}

typedef struct {
    const kiln_conv_shape* s;
    const float* x;
    float* col;
} kiln_im2col_args;

static void kiln_im2col_task(void* ctx, long begin, long end, float* ws) {
    const kiln_im2col_args* a = ctx;
    (void) ws;
    kiln_im2col_channels(a->s, begin, end, a->x, a->col);
}

/* The im2col matrix of one group's input channels, the pool's threads splitting the channels. */
static void kiln_im2col(const kiln_conv_shape* s, long channels, const float* x, float* col) {
    kiln_im2col_args a = {s, x, col};
    kiln_parallel_for(channels, s->kh * s->kw * s->oh * s->ow, kiln_im2col_task, &a, 0);
}

/* Workspace floats kiln_conv needs beyond the GEMM's (the im2col matrix of one group; none for 1x1 stride 1 unpadded). */
static long kiln_conv_col_floats(const kiln_conv_shape* s) {
    int direct = s->kh == 1 && s->kw == 1 && s->sh == 1 && s->sw == 1 && s->pt == 0 && s->pl == 0;
    return direct ? 0 : (s->c / s->group) * s->kh * s->kw * s->oh * s->ow;
}

/* y = epilogue(conv(x, w)), NCHW; bias (per output channel) and residual (y's shape) in e, which this adjusts per group. */
/* packed_w: for one group, w as kiln_pack_a_all packed it (or NULL). */
static void kiln_conv(const kiln_conv_shape* s, const float* x, const float* w, const float* packed_w, float* y,
                      const kiln_epilogue* e, float* workspace) {
    long cg = s->c / s->group, mg = s->m / s->group, ohw = s->oh * s->ow, k = cg * s->kh * s->kw;
    float* col = workspace;
    float* gemm_ws = workspace + kiln_conv_col_floats(s);
    for (long b = 0; b < s->n; b++) {
        for (long g = 0; g < s->group; g++) {
            const float* xg = x + (b * s->c + g * cg) * s->h * s->w;
            float* yg = y + (b * s->m + g * mg) * ohw;
            kiln_epilogue eg = *e;
            if (eg.bias) eg.bias += g * mg;
            if (eg.residual) eg.residual += (b * s->m + g * mg) * ohw;
            const float* bmat = xg;
            if (kiln_conv_col_floats(s) > 0) {
                kiln_im2col(s, cg, xg, col);
                bmat = col;
            }
            kiln_sgemm(mg, ohw, k, w + g * mg * k, k, 1, s->group == 1 ? packed_w : 0, bmat, ohw, 1, yg, ohw, &eg, gemm_ws);
        }
    }
}

/*
 * One output row of a 3x3 depthwise convolution (dilation 1) whose three input rows r0..r2 are all inside the
 * plane: row[ox] = sum over the taps in (ky, kx) order, as the general path sums them. Interior columns [lo, hi)
 * read columns ox * sw + off .. + 2 without bounds checks, in loops over contiguous outputs the compiler
 * vectorises (stride 1 and 2 spelled out so it sees constant strides); the border columns skip their
 * out-of-plane taps.
 */
static void kiln_dw3x3_row(const float* restrict r0, const float* restrict r1, const float* restrict r2,
                           const float* restrict wk, long w, long ow, long sw, long off, float* restrict row) {
    const float w0 = wk[0], w1 = wk[1], w2 = wk[2], w3 = wk[3], w4 = wk[4], w5 = wk[5], w6 = wk[6], w7 = wk[7], w8 = wk[8];
    long lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
    long hi = w - 3 - off < 0 ? 0 : (w - 3 - off) / sw + 1;
    if (lo > ow) lo = ow;
    if (hi > ow) hi = ow;
    if (hi < lo) hi = lo;
    if (sw == 1) {
        for (long ox = lo; ox < hi; ox++) {
            long i = ox + off;
            float acc = 0.0f;
            acc += w0 * r0[i]; acc += w1 * r0[i + 1]; acc += w2 * r0[i + 2];
            acc += w3 * r1[i]; acc += w4 * r1[i + 1]; acc += w5 * r1[i + 2];
            acc += w6 * r2[i]; acc += w7 * r2[i + 1]; acc += w8 * r2[i + 2];
            row[ox] = acc;
        }
    } else if (sw == 2) {
        for (long ox = lo; ox < hi; ox++) {
            long i = 2 * ox + off;
            float acc = 0.0f;
            acc += w0 * r0[i]; acc += w1 * r0[i + 1]; acc += w2 * r0[i + 2];
            acc += w3 * r1[i]; acc += w4 * r1[i + 1]; acc += w5 * r1[i + 2];
            acc += w6 * r2[i]; acc += w7 * r2[i + 1]; acc += w8 * r2[i + 2];
            row[ox] = acc;
        }
    } else {
        for (long ox = lo; ox < hi; ox++) {
            long i = ox * sw + off;
            float acc = 0.0f;
            acc += w0 * r0[i]; acc += w1 * r0[i + 1]; acc += w2 * r0[i + 2];
            acc += w3 * r1[i]; acc += w4 * r1[i + 1]; acc += w5 * r1[i + 2];
            acc += w6 * r2[i]; acc += w7 * r2[i + 1]; acc += w8 * r2[i + 2];
            row[ox] = acc;
        }
    }
    const float* rows[3] = {r0, r1, r2};
    for (long ox = 0; ox < ow; ox++) {
        if (ox == lo) ox = hi;
        if (ox >= ow) break;
        float acc = 0.0f;
        for (long ky = 0; ky < 3; ky++) {
            for (long kx = 0; kx < 3; kx++) {
                long ix = ox * sw + off + kx;
                if (ix >= 0 && ix < w) acc += wk[ky * 3 + kx] * rows[ky][ix];
            }
        }
        row[ox] = acc;
    }
}

/*
 * Depthwise convolution (group == c == m): one output channel per input channel. Rows are computed
 * into a buffer (3x3 rows with all input rows inside the plane by kiln_dw3x3_row; other rows one kernel tap
 * at a time, the interior of a row without bounds checks), then stored through the epilogue.
 * Planes (batch x channel) [p0, p1).
 */
static void kiln_conv_depthwise_planes(const kiln_conv_shape* s, const float* x, const float* w, float* y, const kiln_epilogue* e,
                                       long p0, long p1, float* row) {
    long ohw = s->oh * s->ow;
    int is3x3 = s->kh == 3 && s->kw == 3 && s->dh == 1 && s->dw == 1;
    for (long p = p0; p < p1; p++) {
        long b = p / s->c, ch = p % s->c;
        const float* plane = x + (b * s->c + ch) * s->h * s->w;
        const float* wk = w + ch * s->kh * s->kw;
        float* out = y + (b * s->c + ch) * ohw;
        const float* res = e->residual ? e->residual + (b * s->c + ch) * ohw : 0;
        float bias = e->bias ? e->beta * e->bias[ch * e->bias_rs] : 0.0f;
        for (long oy = 0; oy < s->oh; oy++) {
            long iy0 = oy * s->sh - s->pt;
            if (is3x3 && iy0 >= 0 && iy0 + 2 < s->h) {
                const float* src = plane + iy0 * s->w;
                kiln_dw3x3_row(src, src + s->w, src + 2 * s->w, wk, s->w, s->ow, s->sw, -s->pl, row);
            } else {
                for (long ox = 0; ox < s->ow; ox++) row[ox] = 0.0f;
                for (long ky = 0; ky < s->kh; ky++) {
                    long iy = iy0 + ky * s->dh;
                    if (iy < 0 || iy >= s->h) continue;
                    const float* src = plane + iy * s->w;
                    for (long kx = 0; kx < s->kw; kx++) {
                        float wv = wk[ky * s->kw + kx];
                        long off = kx * s->dw - s->pl;
                        /* ox in [lo, hi) reads columns ox * sw + off inside [0, w). */
                        long lo = off >= 0 ? 0 : (-off + s->sw - 1) / s->sw;
                        long hi = s->w - off <= 0 ? 0 : (s->w - off + s->sw - 1) / s->sw;
                        if (hi > s->ow) hi = s->ow;
                        if (s->sw == 1) {
                            const float* sp = src + off;
                            for (long ox = lo; ox < hi; ox++) row[ox] += wv * sp[ox];
                        } else {
                            for (long ox = lo; ox < hi; ox++) row[ox] += wv * src[ox * s->sw + off];
                        }
                    }
                }
            }
            float* orow = out + oy * s->ow;
            for (long ox = 0; ox < s->ow; ox++) row[ox] = row[ox] * e->alpha + bias;
            if (res) for (long ox = 0; ox < s->ow; ox++) row[ox] += res[oy * s->ow + ox];
            kiln_activate_row(row, s->ow, e->act, e->p0, e->p1);
            memcpy(orow, row, (size_t) s->ow * sizeof(float));
        }
    }
}

typedef struct {
    const kiln_conv_shape* s;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;
} kiln_depthwise_args;

static void kiln_depthwise_task(void* ctx, long begin, long end, float* ws) {
    const kiln_depthwise_args* a = ctx;
    kiln_conv_depthwise_planes(a->s, a->x, a->w, a->y, a->e, begin, end, ws);
}

/* Depthwise convolution, the pool's threads splitting the planes; row: ow floats (thread 0's). */
static void kiln_conv_depthwise(const kiln_conv_shape* s, const float* x, const float* w, float* y, const kiln_epilogue* e,
                                float* row) {
    kiln_depthwise_args a = {s, x, w, y, e};
    kiln_parallel_for(s->n * s->c, s->kh * s->kw * s->oh * s->ow, kiln_depthwise_task, &a, row);
}

typedef struct {
    long planes, h, w, oh, ow;
    long kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
    int count_include_pad;
} kiln_pool_shape;

static void kiln_max_pool_planes(const kiln_pool_shape* s, const float* x, float* y, long p0, long p1) {
    for (long p = p0; p < p1; p++) {
        const float* plane = x + p * s->h * s->w;
        float* out = y + p * s->oh * s->ow;
        for (long oy = 0; oy < s->oh; oy++) {
            for (long ox = 0; ox < s->ow; ox++) {
                float m = -INFINITY;
                for (long ky = 0; ky < s->kh; ky++) {
                    long iy = oy * s->sh - s->pt + ky * s->dh;
                    if (iy < 0 || iy >= s->h) continue;
                    for (long kx = 0; kx < s->kw; kx++) {
                        long ix = ox * s->sw - s->pl + kx * s->dw;
                        if (ix < 0 || ix >= s->w) continue;
                        float v = plane[iy * s->w + ix];
                        if (v > m || isnan(v)) m = v;
                    }
                }
                out[oy * s->ow + ox] = m;
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

