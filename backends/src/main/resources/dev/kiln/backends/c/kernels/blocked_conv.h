/* Kiln CPU kernels: direct and depthwise convolution on the blocked layout (blocked.h). */

static const float kiln_zero_block[KILN_CB] __attribute__((aligned(64)));

/* The largest tiles: arrays of these sizes, indexed by constants once inlined, stay in registers (variable-length ones would not). */
#define KILN_CONVB_MAX_J 8
#define KILN_CONVB_MAX_T 16

typedef struct {
    long n, cb, h, w;        /* input: batch, channel blocks (of a plain input: channels), height, width */
    long mb, oh, ow;         /* output: channel blocks, height, width */
    long kh, kw, sh, sw, dh, dw, pt, pl;
} kiln_convb_shape;

struct kiln_convb_args;
/*
 * One tile: output blocks [ocb, ocb + J) x positions (oy, ox0 .. ox0 + T) of image b, input channel blocks [c0, c1);
 * first: no partial sums in y yet; last: the epilogue applies; fetch: the chunk's filter is not in cache yet.
 */
typedef void (*kiln_convb_tile_fn)(const struct kiln_convb_args* a, long b, long ocb, long oy, long ox0, long c0, long c1,
                                   int first, int last, int fetch);

/*
 * A direct convolution into NCHW{B}c, from NCHW{B}c or (in_block 1) from NCHW. The generator packs the
 * filter for its tiles: the output blocks in groups of J, group after group; a group of j blocks starting
 * at block o holds W((o + jj) * B + lane, c * in_block + ic, ky, kx) at
 * w[o * cb * taps * in_block * B + (((c * taps + tap) * in_block + ic) * j + jj) * B + lane], so that a tile
 * reads it front to back. tiles[r][q]: the tile of J output blocks (r 0) or of the last group's fewer (r 1),
 * of T positions (q 0) or of a row's last fewer (q 1). Work items are (image, group of J output blocks, range
 * of at most tiles_per_item tiles in row-major order); each item walks the input channel blocks in chunks of
 * chunk (so that the chunk's filter stays in cache over the item's tiles), keeping partial sums in y between
 * chunks. Every tile sums its outputs in the same order however the tiles are grouped into items, so items
 * may be made smaller for more threads (kiln_convb) without changing a bit of the result.
 */
typedef struct kiln_convb_args {
    const kiln_convb_shape* s;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;   /* bias per (padded) output channel, residual shaped like y */
    long J, T, chunk, tiles_per_item;
    kiln_convb_tile_fn tiles[2][2];
    long in_block;            /* input channels per input block: KILN_CB, or 1 for a plain input */
    int rows_first;           /* items ordered (image, range, group) rather than (image, group, range) */
} kiln_convb_args;

/*
 * The tile kernel: IB input channels per block (KILN_CB or 1), J output blocks, T positions, S the
 * horizontal stride when 1 or 2 (0: read from the shape). Interior tiles (every tap of every position
 * inside the row) read the input at constant offsets from one pointer; border tiles point their
 * out-of-row taps at zeros. A tile that reads its chunk's filter first (fetch) prefetches it
 * KILN_CONVB_PREFETCH bytes ahead: weights that do not fit in the caches come from memory faster than the
 * hardware would fetch them.
 */
#define KILN_CONVB_PREFETCH 16384
static inline __attribute__((always_inline)) void kiln_convb_tile(const int IB, const int J, const int T, const int S,
                                                                  const kiln_convb_args* a, long b, long ocb, long oy, long ox0,
                                                                  long c0, long c1, int first, int last, int fetch) {
    const kiln_convb_shape* s = a->s;
    const long sw = S ? S : s->sw, taps = s->kh * s->kw, yplane = s->oh * s->ow * KILN_CB;
    float* yt = a->y + ((b * s->mb + ocb) * s->oh + oy) * s->ow * KILN_CB + ox0 * KILN_CB;
    kiln_vb acc[KILN_CONVB_MAX_J][KILN_CONVB_MAX_T];
    for (int j = 0; j < J; j++) {
        for (int t = 0; t < T; t++) acc[j][t] = first ? (kiln_vb) {0} : kiln_bload(yt + j * yplane + t * KILN_CB);
    }
    const long ix_first = ox0 * sw - s->pl;
    const int interior = ix_first >= 0 && ix_first + (T - 1) * sw + (s->kw - 1) * s->dw < s->w;
    const float* xb = a->x + b * s->cb * s->h * s->w * IB;
    const float* wg = a->w + ocb * s->cb * taps * IB * KILN_CB;
    for (long c = c0; c < c1; c++) {
        const float* xc = xb + c * s->h * s->w * IB;
        for (long ky = 0; ky < s->kh; ky++) {
            long iy = oy * s->sh - s->pt + ky * s->dh;
            if (iy < 0 || iy >= s->h) continue;
            const float* row = xc + iy * s->w * IB;
            const float* wt = wg + (c * taps + ky * s->kw) * IB * J * KILN_CB;
            for (long kx = 0; kx < s->kw; kx++, wt += IB * J * KILN_CB) {
                long ix0 = ix_first + kx * s->dw;
                if (fetch) {
                    for (int line = 0; line < IB * J * KILN_CB * 4; line += 64) __builtin_prefetch((const char*) wt + KILN_CONVB_PREFETCH + line);
                }
                if (interior) {
                    const float* px = row + ix0 * IB;
                    for (int ic = 0; ic < IB; ic++) {
                        kiln_vb wv[KILN_CONVB_MAX_J];
                        for (int j = 0; j < J; j++) wv[j] = kiln_bload(wt + (ic * J + j) * KILN_CB);
                        for (int t = 0; t < T; t++) {
                            kiln_vb xv = kiln_bsplat(px[t * sw * IB + ic]);
                            for (int j = 0; j < J; j++) acc[j][t] += wv[j] * xv;
                        }
                    }
                } else {
                    const float* px[KILN_CONVB_MAX_T];
                    for (int t = 0; t < T; t++) {
                        long ix = ix0 + t * sw;
                        px[t] = ix >= 0 && ix < s->w ? row + ix * IB : kiln_zero_block;
                    }
                    for (int ic = 0; ic < IB; ic++) {
                        kiln_vb wv[KILN_CONVB_MAX_J];
                        for (int j = 0; j < J; j++) wv[j] = kiln_bload(wt + (ic * J + j) * KILN_CB);
                        for (int t = 0; t < T; t++) {
                            kiln_vb xv = kiln_bsplat(px[t][ic]);
                            for (int j = 0; j < J; j++) acc[j][t] += wv[j] * xv;
                        }
                    }
                }
            }
        }
    }
    const kiln_epilogue* e = a->e;
    for (int j = 0; j < J; j++) {
        float* yj = yt + j * yplane;
        if (last) {
            kiln_vb bias = e->bias ? kiln_bload(e->bias + (ocb + j) * KILN_CB) * e->beta : (kiln_vb) {0};
            const float* res = e->residual ? e->residual + (yj - a->y) : 0;
            for (int t = 0; t < T; t++) acc[j][t] = kiln_bfinish(acc[j][t], e, bias, res ? res + t * KILN_CB : 0);
        }
        for (int t = 0; t < T; t++) kiln_bstore(yj + t * KILN_CB, acc[j][t]);
    }
}

/* Defines the tile kiln_convb_IB_J_T_S (see kiln_convb_tile); the generator instantiates the ones its convolutions use. */
#define KILN_CONVB_TILE(IB, J, T, S) \
    static void kiln_convb_##IB##_##J##_##T##_##S(const kiln_convb_args* a, long b, long ocb, long oy, long ox0, long c0, long c1, \
                                                  int first, int last, int fetch) { \
        kiln_convb_tile(IB, J, T, S, a, b, ocb, oy, ox0, c0, c1, first, last, fetch); \
    }

static void kiln_convb_task(void* ctx, long begin, long end, float* ws) {
    const kiln_convb_args* a = ctx;
    const kiln_convb_shape* s = a->s;
    (void) ws;
    long tiles_per_row = (s->ow + a->T - 1) / a->T, tiles = s->oh * tiles_per_row;
    long groups = (s->mb + a->J - 1) / a->J, ranges = (tiles + a->tiles_per_item - 1) / a->tiles_per_item;
    for (long item = begin; item < end; item++) {
        long b = item / (groups * ranges), g = a->rows_first ? item % groups : item / ranges % groups;
        long r = a->rows_first ? item / groups % ranges : item % ranges;
        long ocb = g * a->J, t0 = r * a->tiles_per_item, t1 = t0 + a->tiles_per_item < tiles ? t0 + a->tiles_per_item : tiles;
        int partial_group = ocb + a->J > s->mb;
        for (long c0 = 0; c0 < s->cb; c0 += a->chunk) {
            long c1 = c0 + a->chunk < s->cb ? c0 + a->chunk : s->cb;
            for (long t = t0; t < t1; t++) {
                long oy = t / tiles_per_row, ox0 = t % tiles_per_row * a->T;
                a->tiles[partial_group][ox0 + a->T > s->ow](a, b, ocb, oy, ox0, c0, c1, c0 == 0, c1 == s->cb, t == t0);
            }
        }
    }
}

/*
 * The convolution of kiln_convb_args, the pool's threads splitting its work items. Each thread reads its own
 * part of the filter or of the input, whichever is the larger: the items go by groups of output blocks first
 * where the filter outweighs the input, else by rows first, so that each thread computes the rows of every
 * channel whose inputs a layer before split by rows left in its own cache. With several threads, an image's
 * group of output blocks whose tiles would make too few items for every thread to have some (a few each, for
 * balance) is split into more, smaller ranges of tiles; one whose filter is streamed once per item (an item
 * covering the whole plane) only into one range per thread, since each range reads the filter again.
 */
static void kiln_convb(const kiln_convb_args* a) {
    const kiln_convb_shape* s = a->s;
    long tiles = s->oh * ((s->ow + a->T - 1) / a->T), groups = (s->mb + a->J - 1) / a->J;
    kiln_convb_args split = *a;
    long ranges = (tiles + a->tiles_per_item - 1) / a->tiles_per_item, threads = kiln_threads();
    if (threads > 1) {
        split.rows_first = (double) s->cb * a->in_block * s->h * s->w >= (double) s->mb * KILN_CB * s->cb * a->in_block * s->kh * s->kw;
        long wanted = a->tiles_per_item >= tiles ? threads : threads * KILN_CHUNKS_PER_THREAD;
        if (s->n * groups * ranges < wanted) {
            long per_image_group = (wanted + s->n * groups - 1) / (s->n * groups);
            split.tiles_per_item = (tiles + per_image_group - 1) / per_image_group;
            ranges = (tiles + split.tiles_per_item - 1) / split.tiles_per_item;
        }
    }
    long macs = a->J * KILN_CB * split.tiles_per_item * a->T * s->cb * a->in_block * s->kh * s->kw;
    kiln_parallel_for(s->n * groups * ranges, macs, kiln_convb_task, &split, 0);
}

/*
 * Any other convolution between blocked tensors (grouped, or a filter that is not a constant), one output
 * element at a time. x, y: NCHW{B}c with c and m (padded) channels; the filter w(o, i, ky, kx), i within
 * o's group, laid out plain OIHW (w_form 0), OIHW{B}o (1) or OIHW{B}i{B}o (2).
 */
typedef struct {
    const kiln_convb_shape* s;
    long group, w_form;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;
} kiln_convb_any_args;

static void kiln_convb_any_task(void* ctx, long begin, long end, float* ws) {
    const kiln_convb_any_args* a = ctx;
    const kiln_convb_shape* s = a->s;
    (void) ws;
    long c = s->cb * KILN_CB, m = s->mb * KILN_CB, cg = c / a->group, mg = m / a->group;
    for (long item = begin; item < end; item++) {
        long b = item / m, o = item % m, g = o / mg;
        for (long oy = 0; oy < s->oh; oy++) {
            for (long ox = 0; ox < s->ow; ox++) {
                float acc = 0.0f;
                for (long i = 0; i < cg; i++) {
                    long ci = g * cg + i;
                    for (long ky = 0; ky < s->kh; ky++) {
                        long iy = oy * s->sh - s->pt + ky * s->dh;
                        if (iy < 0 || iy >= s->h) continue;
                        for (long kx = 0; kx < s->kw; kx++) {
                            long ix = ox * s->sw - s->pl + kx * s->dw;
                            if (ix < 0 || ix >= s->w) continue;
                            long wi;
                            if (a->w_form == 0) wi = ((o * cg + i) * s->kh + ky) * s->kw + kx;
                            else if (a->w_form == 1) wi = (((o / KILN_CB * cg + i) * s->kh + ky) * s->kw + kx) * KILN_CB + o % KILN_CB;
                            else wi = (((((o / KILN_CB) * (cg / KILN_CB) + i / KILN_CB) * s->kh + ky) * s->kw + kx) * KILN_CB + i % KILN_CB) * KILN_CB + o % KILN_CB;
                            acc += a->w[wi] * a->x[(((b * s->cb + ci / KILN_CB) * s->h + iy) * s->w + ix) * KILN_CB + ci % KILN_CB];
                        }
                    }
                }
                long yi = (((b * s->mb + o / KILN_CB) * s->oh + oy) * s->ow + ox) * KILN_CB + o % KILN_CB;
                float v = acc * a->e->alpha;
                if (a->e->bias) v += a->e->beta * a->e->bias[o];
                if (a->e->residual) v += a->e->residual[yi];
                a->y[yi] = kiln_activate(v, a->e->act, a->e->p0, a->e->p1);
            }
        }
    }
}

static void kiln_convb_any(const kiln_convb_any_args* a) {
    const kiln_convb_shape* s = a->s;
    kiln_parallel_for(s->n * s->mb * KILN_CB, s->oh * s->ow * s->cb * KILN_CB / a->group * s->kh * s->kw, kiln_convb_any_task, (void*) a, 0);
}
