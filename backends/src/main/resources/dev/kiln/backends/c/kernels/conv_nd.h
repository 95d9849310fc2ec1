/*
 * Kiln CPU kernels: convolutions over any number of spatial axes (conv.h takes 1-D and 2-D ones).
 *
 * Single precision: Conv as one GEMM per batch item and group, its im2col columns packed straight from the
 * input (kiln_pack_b_conv_nd); ConvTranspose as the GEMM of the transposed weights with the input followed by
 * a col2im scatter of the columns into the output. Double precision (f64, and ConvInteger, whose integer sums
 * double holds exactly): a direct convolution, each output plane summing input channel by channel and kernel
 * tap by tap along rows of the last axis. Every output element is computed by one thread in an order fixed by
 * the shapes, so results do not depend on the thread count.
 */

/* The most spatial axes (ConvGeometryNd.MAX_SPATIAL on the Java side). */
#define KILN_CONV_AXES 8

/*
 * A convolution's geometry: batch n, input channels c, output channels m, groups; per spatial axis the input
 * and output sizes, kernel, strides, dilations and begin pads. For ConvTranspose, in and out are its own input
 * and output: input position i reaches output position i * s + t * d - p through kernel tap t.
 */
typedef struct {
    int rank;
    long n, c, m, group;
    long in[KILN_CONV_AXES], out[KILN_CONV_AXES], k[KILN_CONV_AXES], s[KILN_CONV_AXES], d[KILN_CONV_AXES], p[KILN_CONV_AXES];
} kiln_conv_nd_shape;

static long kiln_conv_nd_product(int rank, const long* sizes) {
    long n = 1;
    for (int a = 0; a < rank; a++) n *= sizes[a];
    return n;
}

/* The row-major coordinates of flat index i within sizes. */
static void kiln_conv_nd_coords(int rank, const long* sizes, long i, long* coords) {
    for (int a = rank - 1; a >= 0; a--) {
        coords[a] = i % sizes[a];
        i /= sizes[a];
    }
}

/* Advances row-major coordinates over all axes but the last by one; 1 when they wrapped around. */
static int kiln_conv_nd_next_row(int rank, const long* sizes, long* coords) {
    for (int a = rank - 2; a >= 0; a--) {
        if (++coords[a] < sizes[a]) return 0;
        coords[a] = 0;
    }
    return 1;
}

/* Advances row-major coordinates by one; 1 when they wrapped around. */
static int kiln_conv_nd_next(int rank, const long* sizes, long* coords) {
    for (int a = rank - 1; a >= 0; a--) {
        if (++coords[a] < sizes[a]) return 0;
        coords[a] = 0;
    }
    return 1;
}

/*
 * The positions j of [0, n) for which j * stride + off lies in [0, limit): [*lo, *hi) (empty when *lo == *hi).
 */
static void kiln_conv_nd_span(long n, long stride, long off, long limit, long* lo, long* hi) {
    long a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    long b = limit - off <= 0 ? 0 : (limit - off + stride - 1) / stride;
    if (b > n) b = n;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* ---- single precision Conv: GEMM over packed im2col columns --------------------------------------------------- */

/* The im2col matrix of one group's input: B(ci * taps + tap, output position), never stored. */
typedef struct {
    const kiln_conv_nd_shape* s;
    const float* x;
    long in_size, taps;
} kiln_conv_nd_b;

/*
 * kiln_pack_b_fn of the im2col matrix: the block's columns split into segments inside one row of the output's
 * last axis and one panel; each segment gathers every row of the block.
 */
static void kiln_pack_b_conv_nd(const void* src, long pc, long kc, long jc, long nc, float* dst) {
    const kiln_conv_nd_b* cb = src;
    const kiln_conv_nd_shape* s = cb->s;
    int last = s->rank - 1;
    long o[KILN_CONV_AXES], t0[KILN_CONV_AXES];
    kiln_conv_nd_coords(s->rank, s->out, jc, o);
    kiln_conv_nd_coords(s->rank, s->k, pc % cb->taps, t0);
    long tail = nc % KILN_NR, last_panel = nc / KILN_NR;
    for (long n = 0; n < nc;) {
        long col = n % KILN_NR, len = nc - n;
        if (len > s->out[last] - o[last]) len = s->out[last] - o[last];
        if (len > KILN_NR - col) len = KILN_NR - col;
        float* d = dst + n / KILN_NR * kc * KILN_NR + col;
        long ci = pc / cb->taps, t[KILN_CONV_AXES];
        memcpy(t, t0, sizeof t);
        for (long kk = 0; kk < kc; kk++, d += KILN_NR) {
            long row = 0;
            int inside = 1;
            for (int a = 0; a < last && inside; a++) {
                long i = o[a] * s->s[a] + t[a] * s->d[a] - s->p[a];
                inside = i >= 0 && i < s->in[a];
                row = row * s->in[a] + i;
            }
            if (!inside) {
                for (long c = 0; c < len; c++) d[c] = 0.0f;
            } else {
                kiln_gather_segment(d, cb->x + ci * cb->in_size + row * s->in[last], o[last] * s->s[last] + t[last] * s->d[last] - s->p[last],
                                    len, s->s[last], s->in[last]);
            }
            if (kiln_conv_nd_next(s->rank, s->k, t)) ci++;
        }
        n += len;
        o[last] += len;
        if (o[last] == s->out[last]) {
            o[last] = 0;
            kiln_conv_nd_next_row(s->rank, s->out, o);
        }
    }
    if (tail) {
        for (long kk = 0; kk < kc; kk++) for (long c = tail; c < KILN_NR; c++) dst[(last_panel * kc + kk) * KILN_NR + c] = 0.0f;
    }
}

/*
 * y = epilogue(conv(x, w)) in single precision, one GEMM per batch item and group (a 1x1 stride-1 unpadded
 * convolution reads x as B directly). w: [m, c / group * taps] row-major; packed_w: w packed for the GEMM as
 * conv.h's kiln_conv takes it, or NULL; bias (per output channel) and residual (y's shape) in e.
 */
static void kiln_conv_nd_f32(const kiln_conv_nd_shape* s, const float* x, const float* w, const float* packed_w, float* y, const kiln_epilogue* e,
                             float* workspace) {
    long in_size = kiln_conv_nd_product(s->rank, s->in), out_size = kiln_conv_nd_product(s->rank, s->out);
    long taps = kiln_conv_nd_product(s->rank, s->k), cg = s->c / s->group, mg = s->m / s->group, k = cg * taps;
    int direct = taps == 1 && in_size == out_size;
    for (int a = 0; a < s->rank; a++) direct = direct && s->s[a] == 1 && s->p[a] == 0;
    for (long b = 0; b < s->n; b++) {
        for (long g = 0; g < s->group; g++) {
            const float* xg = x + (b * s->c + g * cg) * in_size;
            float* yg = y + (b * s->m + g * mg) * out_size;
            const float* wg = w ? w + g * mg * k : 0;
            const float* packed_wg = packed_w ? packed_w + g * ((mg + KILN_PANEL - 1) / KILN_PANEL * KILN_PANEL) * k : 0;
            kiln_epilogue eg = *e;
            if (eg.bias) eg.bias += g * mg * eg.bias_rs;
            if (eg.residual) eg.residual += (b * s->m + g * mg) * out_size;
            if (direct) {
                kiln_matrix_b mb = {xg, out_size, 1};
                kiln_sgemm_packing(mg, out_size, k, wg, k, 1, packed_wg, kiln_pack_b_matrix, &mb, yg, out_size, &eg, workspace);
            } else {
                kiln_conv_nd_b cb = {s, xg, in_size, taps};
                kiln_sgemm_packing(mg, out_size, k, wg, k, 1, packed_wg, kiln_pack_b_conv_nd, &cb, yg, out_size, &eg, workspace);
            }
        }
    }
}

/* ---- single precision ConvTranspose: GEMM, then col2im -------------------------------------------------------- */

typedef struct {
    const kiln_conv_nd_shape* s;
    const float* col;         /* [mg * taps, len]: the columns of input positions [p0, p0 + len) */
    long p0, len, taps, out_size;
    float* y;                 /* the group's first output plane */
} kiln_col2im_args;

/* Adds the columns of output channels [begin, end) of the group to their planes. */
static void kiln_col2im_task(void* ctx, long begin, long end, float* ws) {
    const kiln_col2im_args* a = ctx;
    const kiln_conv_nd_shape* s = a->s;
    int last = s->rank - 1;
    (void) ws;
    long first[KILN_CONV_AXES];
    kiln_conv_nd_coords(s->rank, s->in, a->p0, first);
    for (long mi = begin; mi < end; mi++) {
        float* plane = a->y + mi * a->out_size;
        long t[KILN_CONV_AXES] = {0};
        for (long q = 0; q < a->taps; q++, kiln_conv_nd_next(s->rank, s->k, t)) {
            const float* c = a->col + (mi * a->taps + q) * a->len;
            long off = t[last] * s->d[last] - s->p[last], lo, hi;
            kiln_conv_nd_span(s->in[last], s->s[last], off, s->out[last], &lo, &hi);
            long i[KILN_CONV_AXES];
            memcpy(i, first, sizeof i);
            for (long n = 0; n < a->len;) {
                long seg = s->in[last] - i[last];
                if (seg > a->len - n) seg = a->len - n;
                long row = 0;
                int inside = 1;
                for (int ax = 0; ax < last && inside; ax++) {
                    long o = i[ax] * s->s[ax] + t[ax] * s->d[ax] - s->p[ax];
                    inside = o >= 0 && o < s->out[ax];
                    row = row * s->out[ax] + o;
                }
                if (inside) {
                    /* input positions ix of the segment, read at c[ix + shift], reach output ix * stride + off */
                    float* yrow = plane + row * s->out[last];
                    long shift = n - i[last];
                    long from = lo > i[last] ? lo : i[last], to = hi < i[last] + seg ? hi : i[last] + seg;
                    long st = s->s[last];
                    if (st == 1) {
                        for (long ix = from; ix < to; ix++) yrow[ix + off] += c[ix + shift];
                    } else {
                        for (long ix = from; ix < to; ix++) yrow[ix * st + off] += c[ix + shift];
                    }
                }
                n += seg;
                i[last] += seg;
                if (i[last] == s->in[last]) {
                    i[last] = 0;
                    kiln_conv_nd_next_row(s->rank, s->in, i);
                }
            }
        }
    }
}

/*
 * y = epilogue(alpha * y + beta * bias[channel] + residual) over planes of size elements, channel = plane % channels
 * (e's bias_rs steps between channels; its residual has y's shape).
 */
static void kiln_epilogue_planes(float* y, long planes, long channels, long size, const kiln_epilogue* e) {
    if (e->alpha == 1.0f && !e->bias && !e->residual && e->act == KILN_ACT_NONE) return;
    for (long p = 0; p < planes; p++) {
        float* v = y + p * size;
        float bias = e->bias ? e->beta * e->bias[p % channels * e->bias_rs] : 0.0f;
        const float* z = e->residual ? e->residual + p * size : 0;
        for (long i = 0; i < size; i++) v[i] = v[i] * e->alpha + bias;
        if (z) for (long i = 0; i < size; i++) v[i] += z[i];
        kiln_activate_row(v, size, e->act, e->p0, e->p1);
    }
}

/*
 * y = epilogue(conv_transpose(x, w)) in single precision. w: [c, m / group, taps] as ONNX lays it out; the input
 * positions go through the GEMM band positions at a time, their columns in col (m / group * taps * band floats);
 * workspace: the GEMM's.
 */
static void kiln_conv_transpose_f32(const kiln_conv_nd_shape* s, const float* x, const float* w, float* y, const kiln_epilogue* e, float* col,
                                    long band, float* workspace) {
    long in_size = kiln_conv_nd_product(s->rank, s->in), out_size = kiln_conv_nd_product(s->rank, s->out);
    long taps = kiln_conv_nd_product(s->rank, s->k), cg = s->c / s->group, mg = s->m / s->group, rows = mg * taps;
    kiln_epilogue plain = {1.0f, 0.0f, 0, 0, 0, 0, 0, KILN_ACT_NONE, 0.0f, 0.0f};
    memset(y, 0, (size_t) (s->n * s->m * out_size) * sizeof(float));
    for (long b = 0; b < s->n; b++) {
        for (long g = 0; g < s->group; g++) {
            const float* xg = x + (b * s->c + g * cg) * in_size;
            /* A(mi * taps + q, ci) = w[((g * cg + ci) * mg + mi) * taps + q] */
            const float* wg = w + g * cg * rows;
            for (long p0 = 0; p0 < in_size; p0 += band) {
                long len = in_size - p0 < band ? in_size - p0 : band;
                kiln_sgemm(rows, len, cg, wg, 1, rows, 0, xg + p0, in_size, 1, col, len, &plain, workspace);
                kiln_col2im_args a = {s, col, p0, len, taps, out_size, y + (b * s->m + g * mg) * out_size};
                kiln_parallel_for(mg, taps * len, kiln_col2im_task, &a, 0);
            }
        }
    }
    kiln_epilogue_planes(y, s->n * s->m, s->m, out_size, e);
}

/* ---- double precision: direct convolution and its transpose ----------------------------------------------------- */

typedef struct {
    const kiln_conv_nd_shape* s;
    int transposed;
    const double* x;
    const double* w;
    double* y;
} kiln_conv_nd_f64_args;

/*
 * Output planes (batch x output channel) [begin, end): each sums over its group's input channels, then the kernel
 * taps, then the rows of the last axis of whichever of input (Conv) and output (ConvTranspose) the other one's
 * positions step through with the stride.
 */
static void kiln_conv_nd_f64_planes(void* ctx, long begin, long end, float* ws) {
    const kiln_conv_nd_f64_args* a = ctx;
    const kiln_conv_nd_shape* s = a->s;
    int last = s->rank - 1;
    (void) ws;
    long in_size = kiln_conv_nd_product(s->rank, s->in), out_size = kiln_conv_nd_product(s->rank, s->out);
    long taps = kiln_conv_nd_product(s->rank, s->k), cg = s->c / s->group, mg = s->m / s->group;
    /* the positions each row loop runs over (the output's for Conv, the input's for ConvTranspose) and those it reaches */
    const long* from = a->transposed ? s->in : s->out;
    const long* to = a->transposed ? s->out : s->in;
    for (long plane = begin; plane < end; plane++) {
        long b = plane / s->m, oc = plane % s->m, g = oc / mg;
        double* yp = a->y + plane * out_size;
        for (long i = 0; i < out_size; i++) yp[i] = 0.0;
        for (long ci = 0; ci < cg; ci++) {
            const double* xp = a->x + (b * s->c + g * cg + ci) * in_size;
            const double* wp = a->transposed ? a->w + ((g * cg + ci) * mg + oc % mg) * taps : a->w + (oc * cg + ci) * taps;
            long t[KILN_CONV_AXES] = {0};
            for (long q = 0; q < taps; q++, kiln_conv_nd_next(s->rank, s->k, t)) {
                double wv = wp[q];
                long off = t[last] * s->d[last] - s->p[last], lo, hi;
                kiln_conv_nd_span(from[last], s->s[last], off, to[last], &lo, &hi);
                if (lo == hi) continue;
                long pos[KILN_CONV_AXES] = {0};
                do {
                    long row = 0;
                    int inside = 1;
                    for (int ax = 0; ax < last && inside; ax++) {
                        long c = pos[ax] * s->s[ax] + t[ax] * s->d[ax] - s->p[ax];
                        inside = c >= 0 && c < to[ax];
                        row = row * to[ax] + c;
                    }
                    if (!inside) continue;
                    long rows_from = 0;
                    for (int ax = 0; ax < last; ax++) rows_from = rows_from * from[ax] + pos[ax];
                    long st = s->s[last];
                    if (a->transposed) {
                        double* yrow = yp + row * to[last];
                        const double* xrow = xp + rows_from * from[last];
                        for (long j = lo; j < hi; j++) yrow[j * st + off] += wv * xrow[j];
                    } else {
                        double* yrow = yp + rows_from * from[last];
                        const double* xrow = xp + row * to[last];
                        for (long j = lo; j < hi; j++) yrow[j] += wv * xrow[j * st + off];
                    }
                } while (!kiln_conv_nd_next_row(s->rank, from, pos));
            }
        }
    }
}

/*
 * y = conv(x, w) (transposed: conv_transpose(x, w)) in double, no bias. w: [m, c / group, taps] for Conv,
 * [c, m / group, taps] for ConvTranspose.
 */
static void kiln_conv_nd_f64(const kiln_conv_nd_shape* s, int transposed, const double* x, const double* w, double* y) {
    kiln_conv_nd_f64_args a = {s, transposed, x, w, y};
    long taps = kiln_conv_nd_product(s->rank, s->k), work = s->c / s->group * taps;
    work *= kiln_conv_nd_product(s->rank, transposed ? s->in : s->out);
    kiln_parallel_for(s->n * s->m, work, kiln_conv_nd_f64_planes, &a, 0);
}
