/*
 * Kiln CPU kernels: max, average and Lp pooling over any number of spatial axes, in double (pool.h takes f32
 * 1-D and 2-D planes). The generator converts other dtypes to and from double around these kernels; double
 * holds every value of theirs exactly, so max pooling is exact and sums are as the reference computes them.
 */

/* The most spatial axes (ConvGeometryNd.MAX_SPATIAL on the Java side). */
#define KILN_POOL_AXES 8

enum { KILN_POOL_MAX = 0, KILN_POOL_AVERAGE = 1, KILN_POOL_LP = 2 };

/*
 * A pooling's geometry over planes (batch x channels): per spatial axis the input and output sizes, kernel,
 * strides, dilations, begin and end pads. Output position o's window reads input positions
 * o * s - pb + t * d for taps t in [0, k) that fall inside the input.
 */
typedef struct {
    int rank;
    long planes;
    long in[KILN_POOL_AXES], out[KILN_POOL_AXES], k[KILN_POOL_AXES], s[KILN_POOL_AXES], d[KILN_POOL_AXES];
    long pb[KILN_POOL_AXES], pe[KILN_POOL_AXES];
    int kind;
    int count_include_pad;    /* AveragePool: divide by the taps inside the padded input rather than inside the input */
    int column_major;         /* MaxPool's storage_order: Indices count positions column-major within a plane */
    long p;                   /* LpPool's exponent */
} kiln_pool_nd_shape;

/* Entries of the window table: three per output position of every axis. */
static long kiln_pool_nd_table_size(const kiln_pool_nd_shape* s) {
    long n = 0;
    for (int a = 0; a < s->rank; a++) n += 3 * s->out[a];
    return n;
}

/*
 * Per axis, in turn: for each output position the first tap inside the input, the tap past the last one
 * inside it, and the count of taps inside the input extended by its pads (taps past that, which ceil_mode
 * adds, never count).
 */
static void kiln_pool_nd_table(const kiln_pool_nd_shape* s, long* table) {
    for (int a = 0; a < s->rank; a++) {
        long n = s->out[a];
        for (long o = 0; o < n; o++) {
            long start = o * s->s[a] - s->pb[a], lo = s->k[a], hi = 0, padded = 0;
            for (long t = 0; t < s->k[a]; t++) {
                long c = start + t * s->d[a];
                if (c >= 0 && c < s->in[a]) {
                    if (t < lo) lo = t;
                    hi = t + 1;
                }
                if (o * s->s[a] + t * s->d[a] < s->in[a] + s->pb[a] + s->pe[a]) padded++;
            }
            table[o] = lo < hi ? lo : 0;
            table[n + o] = lo < hi ? hi : 0;
            table[2 * n + o] = padded;
        }
        table += 3 * n;
    }
}

typedef struct {
    const kiln_pool_nd_shape* s;
    const long* table;
    const double* x;
    double* y;
    int64_t* indices;         /* MaxPool's Indices, or NULL */
} kiln_pool_nd_args;

/* Takes v, the element at input offset off (column: its column-major offset), into the running maximum and its position. */
static inline void kiln_pool_nd_argmax(double v, long off, long column, int column_major, double* best, int64_t* at) {
    if (*at < 0 || v > *best || (v != v && *best == *best)) {
        *best = v;
        *at = column_major ? column : off;
    }
}

/*
 * Planes [begin, end), one output row (all axes but the last fixed) at a time: for each tap of the window, in
 * window order, every output position of the row whose tap falls inside the input, in a loop along the row.
 * Max: the first maximum in window order, a NaN winning over numbers; with Indices, its position in the plane.
 */
static void kiln_pool_nd_task(void* ctx, long begin, long end, float* ws) {
    const kiln_pool_nd_args* a = ctx;
    const kiln_pool_nd_shape* s = a->s;
    int rank = s->rank, last = rank - 1;
    (void) ws;
    long in_size = 1, out_size = 1, row_stride[KILN_POOL_AXES], column_stride[KILN_POOL_AXES];
    const long* lo[KILN_POOL_AXES];
    const long* hi[KILN_POOL_AXES];
    const long* padded[KILN_POOL_AXES];
    const long* table = a->table;
    for (int ax = rank - 1; ax >= 0; ax--) {
        row_stride[ax] = in_size;
        in_size *= s->in[ax];
    }
    for (int ax = 0; ax < rank; ax++) {
        column_stride[ax] = ax == 0 ? 1 : column_stride[ax - 1] * s->in[ax - 1];
        out_size *= s->out[ax];
        lo[ax] = table;
        hi[ax] = table + s->out[ax];
        padded[ax] = table + 2 * s->out[ax];
        table += 3 * s->out[ax];
    }
    long width = s->out[last], sw = s->s[last];
    int max = s->kind == KILN_POOL_MAX;
    for (long plane = begin; plane < end; plane++) {
        const double* xp = a->x + plane * in_size;
        long o[KILN_POOL_AXES] = {0};
        for (long row = 0; row < out_size; row += width) {
            double* y = a->y + plane * out_size + row;
            int64_t* at = a->indices ? a->indices + plane * out_size + row : 0;
            for (long ox = 0; ox < width; ox++) y[ox] = max && !at ? -INFINITY : 0.0;
            if (at) for (long ox = 0; ox < width; ox++) at[ox] = -1;
            /* the window's taps over the leading axes, in window order, then along the row */
            long t[KILN_POOL_AXES], lead = 1;
            for (int ax = 0; ax < last; ax++) {
                t[ax] = lo[ax][o[ax]];
                lead *= hi[ax][o[ax]] - t[ax];
            }
            for (long q = 0; q < lead; q++) {
                long base = 0, column = 0;
                for (int ax = 0; ax < last; ax++) {
                    long c = o[ax] * s->s[ax] - s->pb[ax] + t[ax] * s->d[ax];
                    base += c * row_stride[ax];
                    column += c * column_stride[ax];
                }
                const double* xr = xp + base;
                for (long kx = 0; kx < s->k[last]; kx++) {
                    /* output positions ox in [from, to) read input column ox * sw + off inside [0, in) */
                    long off = kx * s->d[last] - s->pb[last];
                    long from = off >= 0 ? 0 : (-off + sw - 1) / sw;
                    long to = s->in[last] - off <= 0 ? 0 : (s->in[last] - off + sw - 1) / sw;
                    if (to > width) to = width;
                    if (at) {
                        for (long ox = from; ox < to; ox++) {
                            long ix = ox * sw + off;
                            kiln_pool_nd_argmax(xr[ix], base + ix, column + ix * column_stride[last], s->column_major, &y[ox], &at[ox]);
                        }
                    } else if (max) {
                        for (long ox = from; ox < to; ox++) {
                            double v = xr[ox * sw + off];
                            y[ox] = v > y[ox] || (v != v && y[ox] == y[ox]) ? v : y[ox];
                        }
                    } else if (s->kind == KILN_POOL_AVERAGE || s->p == 1) {
                        if (s->kind == KILN_POOL_AVERAGE) for (long ox = from; ox < to; ox++) y[ox] += xr[ox * sw + off];
                        else for (long ox = from; ox < to; ox++) y[ox] += fabs(xr[ox * sw + off]);
                    } else if (s->p == 2) {
                        for (long ox = from; ox < to; ox++) y[ox] += xr[ox * sw + off] * xr[ox * sw + off];
                    } else {
                        for (long ox = from; ox < to; ox++) y[ox] += pow(fabs(xr[ox * sw + off]), (double) s->p);
                    }
                }
                for (int ax = last - 1; ax >= 0; ax--) {
                    if (++t[ax] < hi[ax][o[ax]]) break;
                    t[ax] = lo[ax][o[ax]];
                }
            }
            /* the taps inside the input and inside the padded input */
            long count = 1, pads = 1;
            for (int ax = 0; ax < last; ax++) {
                count *= hi[ax][o[ax]] - lo[ax][o[ax]];
                pads *= padded[ax][o[ax]];
            }
            for (long ox = 0; ox < width; ox++) {
                long n = count * (hi[last][ox] - lo[last][ox]);
                if (max) {
                    if (n == 0) y[ox] = NAN;
                    if (at) at[ox] += plane * in_size;
                } else if (s->kind == KILN_POOL_AVERAGE) {
                    y[ox] /= (double) (s->count_include_pad ? pads * padded[last][ox] : n);
                } else {
                    y[ox] = pow(y[ox], 1.0 / (double) s->p);
                }
            }
            for (int ax = last - 1; ax >= 0; ax--) {
                if (++o[ax] < s->out[ax]) break;
                o[ax] = 0;
            }
        }
    }
}

/* Pools x into y (and indices, when not NULL); table: kiln_pool_nd_table_size(s) longs of scratch. */
static void kiln_pool_nd(const kiln_pool_nd_shape* s, long* table, const double* x, double* y, int64_t* indices) {
    kiln_pool_nd_table(s, table);
    kiln_pool_nd_args a = {s, table, x, y, indices};
    long work = 1;
    for (int ax = 0; ax < s->rank; ax++) work *= s->out[ax] * s->k[ax];
    kiln_parallel_for(s->planes, work, kiln_pool_nd_task, &a, 0);
}
