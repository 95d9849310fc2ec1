/*
 * Kiln CPU kernels: Resize (ONNX 19) as the reference computes it. Each output coordinate of a resized axis
 * maps to a real input coordinate by the coordinate transformation; its taps (input positions, edge-clamped)
 * and their weights follow the reference's formulas step for step, in double. Tables of taps are made once
 * per axis (at load for constant scales or sizes, else once per run), never per element.
 *
 * Three ways to apply them:
 *  - nearest: a gather of whole elements through one table of element offsets per axis (every dtype, exact);
 *  - separable: every dtype converted to double, resampled axis after axis in the reference's order and
 *    summation order, then converted back as the reference stores doubles, so integer results agree bitwise;
 *  - f32 images, where only the last two axes resize: one pass per output row in float, the row's vertical
 *    taps summed into a row buffer, then its horizontal taps, split over threads by rows.
 *
 * The tap and separable code is compiled without contracting a * b + c into fused multiply-adds: a fused
 * rounding would move an interpolated integer across its truncation point.
 */

enum { KILN_RESIZE_NEAREST, KILN_RESIZE_LINEAR, KILN_RESIZE_CUBIC };
enum {
    KILN_RESIZE_HALF_PIXEL, KILN_RESIZE_HALF_PIXEL_SYMMETRIC, KILN_RESIZE_PYTORCH_HALF_PIXEL, KILN_RESIZE_ALIGN_CORNERS,
    KILN_RESIZE_ASYMMETRIC, KILN_RESIZE_TF_CROP_AND_RESIZE
};
enum { KILN_RESIZE_ROUND_PREFER_FLOOR, KILN_RESIZE_ROUND_PREFER_CEIL, KILN_RESIZE_FLOOR, KILN_RESIZE_CEIL };
enum { KILN_RESIZE_STRETCH, KILN_RESIZE_NOT_LARGER, KILN_RESIZE_NOT_SMALLER };

/* The attributes that shape the taps. */
typedef struct {
    int mode, transform, nearest, antialias, exclude_outside;
    double cubic_a;
} kiln_resize_filter;

#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

/*
 * The output dims and the scale of each axis from the scales (f32) or sizes given for axes[0..naxes);
 * other axes keep their dims and a scale of 1. Fails naming what when a scale is not positive or a size
 * negative, or when the output would exceed what a value sized at run time may hold.
 */
static __attribute__((noinline)) int kiln_resize_shape(int rank, const long* in_dims, int naxes, const int* axes, const float* scales,
                                                      const long long* sizes, int policy, long* out_dims, double* scale, const char* what) {
    for (int d = 0; d < rank; d++) {
        out_dims[d] = in_dims[d];
        scale[d] = 1.0;
    }
    double elements = 1;
    for (int d = 0; d < rank; d++) elements *= (double) in_dims[d];
    for (int i = 0; i < naxes; i++) {
        int a = axes[i];
        if (scales) {
            if (!(scales[i] > 0)) {
                snprintf(kiln_error_text, sizeof kiln_error_text, "%s: scale %g is not positive", what, (double) scales[i]);
                return KILN_RUN_FAILED;
            }
            scale[a] = scales[i];
        } else {
            if (sizes[i] < 0) {
                snprintf(kiln_error_text, sizeof kiln_error_text, "%s: size %lld is negative", what, sizes[i]);
                return KILN_RUN_FAILED;
            }
            scale[a] = (double) sizes[i] / (double) in_dims[a];
        }
    }
    if (!scales && policy != KILN_RESIZE_STRETCH && naxes > 0) {
        /* one scale for every axis, the smallest or the largest, NaN winning as in the reference */
        double s = scale[axes[0]];
        for (int i = 0; i < naxes; i++) {
            double t = scale[axes[i]];
            s = policy == KILN_RESIZE_NOT_LARGER ? (t < s || t != t ? t : s) : (t > s || t != t ? t : s);
        }
        for (int i = 0; i < naxes; i++) scale[axes[i]] = s;
    }
    for (int i = 0; i < naxes; i++) {
        int a = axes[i];
        double out = scales ? floor((double) in_dims[a] * scale[a])
                   : policy == KILN_RESIZE_STRETCH ? (double) sizes[i] : floor(scale[a] * (double) in_dims[a] + 0.5);
        if (in_dims[a] == 0 && out > 0) {
            snprintf(kiln_error_text, sizeof kiln_error_text, "%s: an empty axis cannot be resized to %g", what, out);
            return KILN_RUN_FAILED;
        }
        elements = in_dims[a] > 0 ? elements / (double) in_dims[a] * out : 0;
        /* an output past what run-time values may hold fails before its element count could overflow */
        if (!(out <= (double) KILN_DYNAMIC_LIMIT) || elements > (double) KILN_DYNAMIC_LIMIT) {
            snprintf(kiln_error_text, sizeof kiln_error_text, "%s: a dim of %g is more than a value sized at run time may hold", what, out);
            return KILN_RUN_FAILED;
        }
        out_dims[a] = (long) out;
    }
    return 0;
}

/* Taps per output coordinate: 2 for nearest and linear, 4 for cubic; antialiasing widens them by 1 / scale when downscaling. */
static __attribute__((noinline)) long kiln_resize_tap_count(const kiln_resize_filter* f, double scale) {
    if (f->mode == KILN_RESIZE_NEAREST) return 2;
    if (!f->antialias) return f->mode == KILN_RESIZE_LINEAR ? 2 : 4;
    double s = scale < 1.0 ? scale : 1.0;
    long long start = kiln_f64_to_i64(floor((f->mode == KILN_RESIZE_LINEAR ? -1 : -2) / s)) + 1;
    return (long) (2 - 2 * start);
}

/* The antialiasing filters: linear (triangle) or cubic, stretched by 1 / scale when downscaling, normalised. */
static void kiln_resize_antialias(const kiln_resize_filter* f, double ratio, double scale, long taps, double* w) {
    double s = scale < 1.0 ? scale : 1.0, a = f->cubic_a, sum = 0;
    long start = 1 - taps / 2;
    for (long j = 0; j < taps; j++) {
        if (f->mode == KILN_RESIZE_LINEAR) {
            double v = 1 - fabs(((double) (start + j) - ratio) * s);
            w[j] = v > 1 ? 1 : v < 0 ? 0 : v;
        } else {
            double x = fabs(s * ((double) (start + j) - ratio));
            w[j] = x <= 1 ? (a + 2) * x * x * x - (a + 3) * x * x + 1
                 : x < 2 ? a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a : 0;
        }
        sum += w[j];
    }
    for (long j = 0; j < taps; j++) w[j] /= sum;
}

/*
 * The taps of output coordinate o of an axis: input positions index[0..taps) and their weights. Returns 1,
 * with nothing written, when the coordinate falls outside the input (tf_crop_and_resize: extrapolated).
 */
static int kiln_resize_coordinate(const kiln_resize_filter* f, long in_len, long out_len, double scale, int from_scales,
                                  double roi_start, double roi_end, long o, long taps, long* index, double* w) {
    /* the fractional output length; with scales it is an f32 product, as in the reference */
    double out_width = from_scales ? (double) (float) (scale * (double) in_len) : scale * (double) in_len;
    double x;
    switch (f->transform) {
        case KILN_RESIZE_HALF_PIXEL: x = ((double) o + 0.5) / scale - 0.5; break;
        case KILN_RESIZE_HALF_PIXEL_SYMMETRIC: {
            double offset = (double) in_len / 2.0 * (1 - (double) out_len / out_width);
            x = offset + ((double) o + 0.5) / scale - 0.5;
            break;
        }
        case KILN_RESIZE_PYTORCH_HALF_PIXEL: x = out_width == 1 ? -0.5 : ((double) o + 0.5) / scale - 0.5; break;
        case KILN_RESIZE_ALIGN_CORNERS: x = out_width == 1 ? 0 : (double) ((long long) o * (in_len - 1)) / (out_width - 1); break;
        case KILN_RESIZE_ASYMMETRIC: x = (double) o / scale; break;
        default:
            x = (out_width == 1 ? (roi_end - roi_start) * (double) (in_len - 1) / 2
                                : (double) o * (roi_end - roi_start) * (double) (in_len - 1) / (out_width - 1))
                + roi_start * (double) (in_len - 1);
            if (x < 0 || x > (double) (in_len - 1)) return 1;
    }
    /* the taps start left of x; an integral x counts as ratio 1 from the tap before it */
    double fl = floor(x);
    int integral = x == fl;
    double ratio = integral ? 1 : x - fl;
    long long base = kiln_f64_to_i64(fl) - (integral ? 1 : 0);
    if (f->mode == KILN_RESIZE_NEAREST) {
        int right = integral || f->nearest == KILN_RESIZE_CEIL
                    || (f->nearest == KILN_RESIZE_ROUND_PREFER_FLOOR && ratio > 0.5)
                    || (f->nearest == KILN_RESIZE_ROUND_PREFER_CEIL && ratio >= 0.5);
        w[0] = right ? 0 : 1;
        w[1] = right ? 1 : 0;
    } else if (f->antialias) {
        kiln_resize_antialias(f, ratio, scale, taps, w);
    } else if (f->mode == KILN_RESIZE_LINEAR) {
        w[0] = 1 - ratio;
        w[1] = ratio;
    } else {
        double a = f->cubic_a, r = ratio, s = 1 - ratio;
        w[0] = ((a * (r + 1) - 5 * a) * (r + 1) + 8 * a) * (r + 1) - 4 * a;
        w[1] = ((a + 2) * r - (a + 3)) * r * r + 1;
        w[2] = ((a + 2) * s - (a + 3)) * s * s + 1;
        w[3] = ((a * (s + 1) - 5 * a) * (s + 1) + 8 * a) * (s + 1) - 4 * a;
    }
    long long first = base - (taps / 2 - 1);
    double sum = 0;
    for (long j = 0; j < taps; j++) {
        long long i = first + j;
        if (f->exclude_outside && (i < 0 || i >= in_len)) w[j] = 0;
        sum += w[j];
        index[j] = (long) (i < 0 ? 0 : i > in_len - 1 ? in_len - 1 : i);
    }
    if (f->exclude_outside) for (long j = 0; j < taps; j++) w[j] /= sum;
    return 0;
}

/*
 * The taps of every output coordinate of an axis: index and weight [out_len][taps], an outside coordinate
 * marked by index -1 at its first tap; weight_f32, when not null, gets the weights as floats. An identity
 * axis (taps 1) gets each coordinate itself with weight 1, and so does nearest with one tap: the nearer of
 * its two, as kiln_resize_nearest_axis picks it.
 */
static __attribute__((noinline)) void kiln_resize_axis(const kiln_resize_filter* f, long in_len, long out_len, double scale, int from_scales,
                                                      double roi_start, double roi_end, int identity, long taps, long* index,
                                                      double* weight, float* weight_f32) {
    for (long o = 0; o < out_len; o++) {
        long* i = index + o * taps;
        double* w = weight + o * taps;
        long two[2];
        double w2[2];
        if (identity) {
            i[0] = o;
            w[0] = 1;
        } else if (f->mode == KILN_RESIZE_NEAREST && taps == 1) {
            int outside = kiln_resize_coordinate(f, in_len, out_len, scale, from_scales, roi_start, roi_end, o, 2, two, w2);
            i[0] = outside ? -1 : w2[0] > w2[1] ? two[0] : two[1];
            w[0] = outside ? 0 : 1;
        } else if (kiln_resize_coordinate(f, in_len, out_len, scale, from_scales, roi_start, roi_end, o, taps, i, w)) {
            for (long j = 0; j < taps; j++) {
                i[j] = -1;
                w[j] = 0;
            }
        }
        if (weight_f32) for (long j = 0; j < taps; j++) weight_f32[o * taps + j] = (float) w[j];
    }
}

/* Nearest: the element offset (its input position times stride) each output coordinate of an axis reads, -1 where extrapolated. */
static __attribute__((noinline)) void kiln_resize_nearest_axis(const kiln_resize_filter* f, long in_len, long out_len, double scale,
                                                              int from_scales, double roi_start, double roi_end, int identity, long stride,
                                                              long* offsets) {
    for (long o = 0; o < out_len; o++) {
        long i[2];
        double w[2];
        if (identity) offsets[o] = o * stride;
        else if (kiln_resize_coordinate(f, in_len, out_len, scale, from_scales, roi_start, roi_end, o, 2, i, w)) offsets[o] = -1;
        else offsets[o] = (w[0] > w[1] ? i[0] : i[1]) * stride;
    }
}

/* Doubles of the largest intermediate of a separable resize: the input, then the axes resized one after another. */
static long kiln_resize_largest(int rank, const long* in_dims, const long* out_dims, const long* taps) {
    long largest = 1, size = 1;
    for (int d = 0; d < rank; d++) largest *= in_dims[d];
    size = largest;
    for (int a = 0; a < rank; a++) {
        if (!taps[a]) continue;
        size = in_dims[a] > 0 ? size / in_dims[a] * out_dims[a] : 0;
        if (size > largest) largest = size;
    }
    return largest;
}

/*
 * A separable resize of a double array: each resized axis (taps[a] > 0) in turn, each output line the sum,
 * in tap order from 0.0, of its taps' input lines times their weights; an outside coordinate's line the
 * extrapolation value. Works back and forth between a (holding the input) and b; returns the one with the result.
 */
static __attribute__((noinline)) double* kiln_resize_separable(double* a, double* b, int rank, const long* in_dims, const long* out_dims,
                                                              const long* taps, long* const* index, double* const* weight,
                                                              double extrapolation) {
    for (int axis = 0; axis < rank; axis++) {
        long t = taps[axis];
        if (!t) continue;
        long outer = 1, inner = 1, in_len = in_dims[axis], out_len = out_dims[axis];
        for (int d = 0; d < axis; d++) outer *= out_dims[d];
        for (int d = axis + 1; d < rank; d++) inner *= in_dims[d];
        for (long o = 0; o < outer; o++) {
            for (long x = 0; x < out_len; x++) {
                double* to = b + (o * out_len + x) * inner;
                const long* i = index[axis] + x * t;
                const double* w = weight[axis] + x * t;
                if (i[0] < 0) {
                    for (long e = 0; e < inner; e++) to[e] = extrapolation;
                    continue;
                }
                if (inner == 1) { /* the last axis: one element per line, the same sum kept in a register */
                    const double* from = a + o * in_len;
                    double sum = 0.0;
                    for (long j = 0; j < t; j++) sum += w[j] * from[i[j]];
                    to[0] = sum;
                    continue;
                }
                for (long e = 0; e < inner; e++) to[e] = 0.0;
                for (long j = 0; j < t; j++) {
                    const double* from = a + (o * in_len + i[j]) * inner;
                    double wj = w[j];
                    for (long e = 0; e < inner; e++) to[e] += wj * from[e];
                }
            }
        }
        double* swap = a;
        a = b;
        b = swap;
    }
    return a;
}

#pragma GCC pop_options

/* ---- nearest: a gather of elements ----------------------------------------------------------------------- */

typedef struct {
    const char* x;
    char* y;
    int size, rank;
    const long* out_dims;
    long* const* offsets;
    const char* fill;
} kiln_resize_gather_args;

/* Output rows [begin, end) (a row: the last axis), each from its coordinates' offsets along the other axes. */
static void kiln_resize_gather_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_resize_gather_args* g = ctx;
    int last = g->rank - 1;
    long width = g->out_dims[last];
    const long* columns = g->offsets[last];
    for (long row = begin; row < end; row++) {
        long base = 0;
        for (long rest = row, d = last - 1; d >= 0; d--) {
            long o = g->offsets[d][rest % g->out_dims[d]];
            rest /= g->out_dims[d];
            base = base < 0 || o < 0 ? -1 : base + o;
        }
        char* to = g->y + (size_t) (row * width) * g->size;
#define KILN_RESIZE_GATHER(T)                                                                     \
        {                                                                                         \
            T fill, *dst = (T*) to;                                                               \
            memcpy(&fill, g->fill, sizeof fill);                                                  \
            if (base < 0) {                                                                       \
                for (long c = 0; c < width; c++) dst[c] = fill;                                   \
            } else {                                                                              \
                const T* src = (const T*) g->x + base;                                            \
                for (long c = 0; c < width; c++) dst[c] = columns[c] < 0 ? fill : src[columns[c]]; \
            }                                                                                     \
        }
        switch (g->size) {
            case 1: KILN_RESIZE_GATHER(uint8_t) break;
            case 2: KILN_RESIZE_GATHER(uint16_t) break;
            case 4: KILN_RESIZE_GATHER(uint32_t) break;
            default: KILN_RESIZE_GATHER(uint64_t) break;
        }
#undef KILN_RESIZE_GATHER
    }
}

/* y[o] = x at the sum of each axis' offset of o, or fill where one is -1: nearest Resize of elements of size bytes. */
static void kiln_resize_gather(const void* x, void* y, int size, int rank, const long* out_dims, long* const* offsets, const void* fill) {
    kiln_resize_gather_args g = {(const char*) x, (char*) y, size, rank, out_dims, offsets, (const char*) fill};
    long rows = 1;
    for (int d = 0; d < rank - 1; d++) rows *= out_dims[d];
    if (out_dims[rank - 1] > 0) kiln_parallel_for(rows, out_dims[rank - 1], kiln_resize_gather_rows, &g, 0);
}

/* ---- f32 images: the last two axes in one pass ---------------------------------------------------------- */

/*
 * Planes of [in_h][in_w] elements of lanes floats (1: plain; a channel block of NCHW{B}c: one position's
 * block) resized to [out_h][out_w] by tap tables: index_h and weight_h [out_h][taps_h] as kiln_resize_axis makes
 * them; the columns' taps transposed by kiln_resize_columns to columns and column_weight [taps_w][out_w], an
 * outside column reading element 0 with weight 0 (index_w, as kiln_resize_axis made it, marks it for the fill).
 * across: each output row sums its taps' input rows resampled across first, each kept while the next output
 * rows read it, so that upsampling resamples an input row across once rather than once per output row; else
 * each output row sums its taps' input rows into one row first, then resamples that row across.
 */
typedef struct {
    const float* x;
    float* y;
    long in_h, in_w, out_h, out_w, lanes, taps_h, taps_w;
    const long* index_h;
    const float* weight_h;
    const long* index_w;
    const int* columns;
    const float* column_weight;
    float fill;
    int across, outside_w;
} kiln_resize_2d_args;

/* The tap tables of the columns, index and weight [out_len][taps], transposed to [taps][out_len], an outside column at element 0 with weight 0. */
static void kiln_resize_columns(long out_len, long taps, const long* index, const float* weight, int* columns, float* column_weight) {
    for (long o = 0; o < out_len; o++) {
        int outside = index[o * taps] < 0;
        for (long k = 0; k < taps; k++) {
            columns[k * out_len + o] = outside ? 0 : (int) index[o * taps + k];
            column_weight[k * out_len + o] = outside ? 0.0f : weight[o * taps + k];
        }
    }
}

/* One row resampled across: dst[c] = the sum over taps k of column_weight[k][c] * src[columns[k][c]], elements of L floats. */
static inline __attribute__((always_inline)) void kiln_resize_across_l(const long L, const kiln_resize_2d_args* a, const float* src, float* dst) {
    long n = a->out_w, tw = a->taps_w;
    const int* col = a->columns;
    const float* cw = a->column_weight;
    if (L == 1 && tw == 2) {
        const int *i0 = col, *i1 = col + n;
        const float *w0 = cw, *w1 = cw + n;
        for (long c = 0; c < n; c++) dst[c] = w0[c] * src[i0[c]] + w1[c] * src[i1[c]];
    } else if (L == 1) {
        for (long c = 0; c < n; c++) dst[c] = cw[c] * src[col[c]];
        for (long k = 1; k < tw; k++) {
            const int* ik = col + k * n;
            const float* wk = cw + k * n;
            for (long c = 0; c < n; c++) dst[c] += wk[c] * src[ik[c]];
        }
    } else {
        for (long c = 0; c < n; c++) {
            float* d = dst + c * L;
            const float* s0 = src + col[c] * L;
            float w0 = cw[c];
            for (long l = 0; l < L; l++) d[l] = w0 * s0[l];
            for (long k = 1; k < tw; k++) {
                const float* sk = src + col[k * n + c] * L;
                float wk = cw[k * n + c];
                for (long l = 0; l < L; l++) d[l] += wk * sk[l];
            }
        }
    }
}

static void kiln_resize_across(const kiln_resize_2d_args* a, const float* src, float* dst) {
    switch (a->lanes) {
        case 1: kiln_resize_across_l(1, a, src, dst); break;
        case 4: kiln_resize_across_l(4, a, src, dst); break;
        case 8: kiln_resize_across_l(8, a, src, dst); break;
        case 16: kiln_resize_across_l(16, a, src, dst); break;
        default: kiln_resize_across_l(a->lanes, a, src, dst); break;
    }
}

/* dst[i] = the sum over taps j of w[j] * rows[j][i], i < n. */
static void kiln_resize_down(const float* const* rows, const float* w, long taps, long n, float* dst) {
    const float* r0 = rows[0];
    float w0 = w[0];
    if (taps == 2) {
        const float* r1 = rows[1];
        float w1 = w[1];
        for (long i = 0; i < n; i++) dst[i] = w0 * r0[i] + w1 * r1[i];
        return;
    }
    for (long i = 0; i < n; i++) dst[i] = w0 * r0[i];
    for (long j = 1; j < taps; j++) {
        const float* rj = rows[j];
        float wj = w[j];
        for (long i = 0; i < n; i++) dst[i] += wj * rj[i];
    }
}

/*
 * Output rows [begin, end) of every plane (row r: plane r / out_h, line r % out_h). ws holds, across, the
 * input rows resampled across in taps_h slots of out_w elements (input row i in slot i % taps_h: one output
 * row's taps are consecutive rows, edge-clamped, so they never share a slot); else one input row.
 */
static void kiln_resize_2d_rows(void* ctx, long begin, long end, float* ws) {
    const kiln_resize_2d_args* a = ctx;
    long L = a->lanes, th = a->taps_h, in_row = a->in_w * L, out_row = a->out_w * L;
    const float* rows[th];
    long held[th];
    for (long j = 0; j < th; j++) held[j] = -1;
    for (long r = begin; r < end; r++) {
        long plane = r / a->out_h, line = r % a->out_h;
        float* out = a->y + r * out_row;
        const long* ih = a->index_h + line * th;
        const float* wh = a->weight_h + line * th;
        if (ih[0] < 0) {
            for (long i = 0; i < out_row; i++) out[i] = a->fill;
            continue;
        }
        const float* in = a->x + plane * a->in_h * in_row;
        if (a->across) {
            for (long j = 0; j < th; j++) {
                long row = plane * a->in_h + ih[j], slot = ih[j] % th;
                float* kept = ws + slot * out_row;
                if (held[slot] != row) {
                    kiln_resize_across(a, in + ih[j] * in_row, kept);
                    held[slot] = row;
                }
                rows[j] = kept;
            }
            kiln_resize_down(rows, wh, th, out_row, out);
        } else {
            for (long j = 0; j < th; j++) rows[j] = in + ih[j] * in_row;
            kiln_resize_down(rows, wh, th, in_row, ws);
            kiln_resize_across(a, ws, out);
        }
        if (a->outside_w) {
            for (long c = 0; c < a->out_w; c++) {
                if (a->index_w[c * a->taps_w] < 0) for (long l = 0; l < L; l++) out[c * L + l] = a->fill;
            }
        }
    }
}

/*
 * Resizes the last two axes of x (planes of [in_h][in_w] elements) by their tap tables, split over threads by
 * output rows; ws and each worker's workspace hold taps_h x out_w elements across, else in_w elements.
 */
static void kiln_resize_2d(kiln_resize_2d_args* a, long planes, float* ws) {
    a->outside_w = 0;
    for (long c = 0; c < a->out_w; c++) a->outside_w |= a->index_w[c * a->taps_w] < 0;
    long row = a->out_w * a->lanes * (a->taps_h + a->taps_w);
    kiln_parallel_for(planes * a->out_h, a->across ? row : row + a->in_w * a->lanes * a->taps_h, kiln_resize_2d_rows, a, ws);
}
