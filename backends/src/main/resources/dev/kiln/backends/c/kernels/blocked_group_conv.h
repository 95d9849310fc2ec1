/*
 * Kiln CPU kernels: grouped convolution on the blocked layout NCHW{B}c (blocked_conv.h). Two forms:
 *
 * kiln_gconvb, groups of whole blocks: each group (or each run of groups whose channels fill whole blocks,
 * its filter then zero between groups) is a convolution of its own slice of blocks, run by blocked_conv.h's
 * tiles. kiln_gconvg, any other grouping: output lane o of a block reads input channel (o / cout) * cin + k as
 * its k-th input, so a work item first gathers, for each of its output blocks and each k, the vector of those
 * channels over its rows of the input (one shuffle of one or two input blocks per position), then multiplies
 * them with vectors of weights, lane by lane: every multiply-add serves a real filter tap, whatever the group
 * width. Both keep partial sums in y between chunks of input channels and apply the epilogue on the last.
 */

/* ---- groups of whole blocks --------------------------------------------------------------------------------- */

/*
 * a: one group's convolution (a.s: its cb input and mb output blocks, n 1; a.x, a.y: group 0 of image 0; a.w:
 * group 0's filter, packed as kiln_convb reads it; a.e: the epilogue of the whole output). The groups follow one
 * another in x, y, the filter (w_group floats apart) and the bias.
 */
typedef struct {
    kiln_convb_args a;
    long n, groups;
    long w_group;
} kiln_gconvb_args;

static void kiln_gconvb_task(void* ctx, long begin, long end, float* ws) {
    const kiln_gconvb_args* ga = ctx;
    const kiln_convb_shape* s = ga->a.s;
    (void) ws;
    long x_group = s->cb * s->h * s->w * KILN_CB, y_group = s->mb * s->oh * s->ow * KILN_CB;
    long tiles_per_row = (s->ow + ga->a.T - 1) / ga->a.T, tiles = s->oh * tiles_per_row;
    long jgroups = (s->mb + ga->a.J - 1) / ga->a.J, ranges = (tiles + ga->a.tiles_per_item - 1) / ga->a.tiles_per_item;
    for (long item = begin; item < end; item++) {
        long r = item % ranges, jg = item / ranges % jgroups, g = item / (ranges * jgroups);
        /* the group's slice: image g / groups, group g % groups */
        kiln_convb_args a = ga->a;
        kiln_epilogue e = *ga->a.e;
        a.x += g * x_group;
        a.y += g * y_group;
        a.w += g % ga->groups * ga->w_group;
        if (e.bias) e.bias += g % ga->groups * s->mb * KILN_CB;
        if (e.residual) e.residual += g * y_group;
        a.e = &e;
        long ocb = jg * a.J, t0 = r * a.tiles_per_item, t1 = t0 + a.tiles_per_item < tiles ? t0 + a.tiles_per_item : tiles;
        int partial = ocb + a.J > s->mb;
        for (long c0 = 0; c0 < s->cb; c0 += a.chunk) {
            long c1 = c0 + a.chunk < s->cb ? c0 + a.chunk : s->cb;
            for (long t = t0; t < t1; t++) {
                long oy = t / tiles_per_row, ox0 = t % tiles_per_row * a.T;
                a.tiles[partial][ox0 + a.T > s->ow](&a, 0, ocb, oy, ox0, c0, c1, c0 == 0, c1 == s->cb, t == t0);
            }
        }
    }
}

static void kiln_gconvb(const kiln_gconvb_args* ga) {
    const kiln_convb_shape* s = ga->a.s;
    long tiles = s->oh * ((s->ow + ga->a.T - 1) / ga->a.T);
    long items = ga->n * ga->groups * ((s->mb + ga->a.J - 1) / ga->a.J) * ((tiles + ga->a.tiles_per_item - 1) / ga->a.tiles_per_item);
    long macs = ga->a.J * KILN_CB * ga->a.tiles_per_item * ga->a.T * s->cb * KILN_CB * s->kh * s->kw;
    kiln_parallel_for(items, macs, kiln_gconvb_task, (void*) ga, 0);
}

/* ---- any grouping: gathered input channels ------------------------------------------------------------------ */

struct kiln_gconvg_args;
/*
 * One tile: output blocks [ob, ob + J) x positions (oy, ox0 .. ox0 + T), from the gathered rows g (see
 * kiln_gconvg_args) of gathered channels [k0, k0 + kn); first: no partial sums in y yet; last: the epilogue applies.
 */
typedef void (*kiln_gconvg_tile_fn)(const struct kiln_gconvg_args* a, const float* g, long iy0, long rows, long b, long ob,
                                     long oy, long ox0, long k0, long kn, int first, int last);

/*
 * x, y: NCHW{B}c (s: cb, mb blocks); m output channels, lanes past them zero. Output channel o reads input
 * channels (o / cout) * cin + k, k < cin. w: the filter as w[ob][tap][k][lane], of output channel ob * B + lane.
 * A work item: image, J output blocks, band output rows; it gathers the input rows those read, kc channels at
 * a time, each block's rows as g[j][row][column][k][lane] with pl zero columns on the left and zeros past the
 * row up to wpad columns, so that tiles read every tap at a constant offset; tiles[r][q]: J blocks (r 0) or the
 * last fewer (r 1), T positions (q 0) or a row's last fewer (q 1). The gathered rows take ws floats per thread.
 */
typedef struct kiln_gconvg_args {
    const kiln_convb_shape* s;
    long m, cin, cout;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;
    long J, T, band, kc, pl, wpad;
    kiln_gconvg_tile_fn tiles[2][2];
} kiln_gconvg_args;

/* Applies the epilogue to T vectors of output block ob at yt (acc already scaled to alpha) and stores them. */
static inline __attribute__((always_inline)) void kiln_gconv_store(const int T, const kiln_epilogue* e, kiln_vb* acc, long ob,
                                                                   float* yt, const float* res, int last) {
    if (last) {
        kiln_vb bias = e->bias ? kiln_bload(e->bias + ob * KILN_CB) * e->beta : (kiln_vb) {0};
        for (int t = 0; t < T; t++) {
            kiln_vb v = acc[t] * e->alpha + bias;
            if (res) v += kiln_bload(res + t * KILN_CB);
            if (e->act == KILN_ACT_RELU) v = kiln_bselect(v > 0.0f, v, (kiln_vb) {0});
            else if (e->act == KILN_ACT_CLIP) {
                v = kiln_bselect(v < e->p0, kiln_bsplat(e->p0), v);
                v = kiln_bselect(v > e->p1, kiln_bsplat(e->p1), v);
            }
            acc[t] = v;
        }
    }
    for (int t = 0; t < T; t++) kiln_bstore(yt + t * KILN_CB, acc[t]);
    if (last && e->act != KILN_ACT_NONE && e->act != KILN_ACT_RELU && e->act != KILN_ACT_CLIP) {
        kiln_activate_row(yt, T * KILN_CB, e->act, e->p0, e->p1);
    }
}

/* The tile kernel: J blocks, T positions, S the horizontal stride when 1 or 2 (0: read from the shape). */
static inline __attribute__((always_inline)) void kiln_gconvg_tile(const int J, const int T, const int S, const kiln_gconvg_args* a,
                                                                   const float* g, long iy0, long rows, long b, long ob, long oy,
                                                                   long ox0, long k0, long kn, int first, int last) {
    const kiln_convb_shape* s = a->s;
    const long sw = S ? S : s->sw, yplane = s->oh * s->ow * KILN_CB, wblock = s->kh * s->kw * a->cin * KILN_CB;
    const long row = a->wpad * kn * KILN_CB, gblock = rows * row;
    float* yt = a->y + ((b * s->mb + ob) * s->oh + oy) * s->ow * KILN_CB + ox0 * KILN_CB;
    kiln_vb acc[KILN_CONVB_MAX_J][KILN_CONVB_MAX_T];
    for (int j = 0; j < J; j++) {
        for (int t = 0; t < T; t++) acc[j][t] = first ? (kiln_vb) {0} : kiln_bload(yt + j * yplane + t * KILN_CB);
    }
    const float* wb = a->w + ob * wblock + k0 * KILN_CB;
    for (long ky = 0; ky < s->kh; ky++) {
        long r = oy * s->sh - s->pt + ky * s->dh - iy0;
        if (r < 0 || r >= rows) continue;
        for (long kx = 0; kx < s->kw; kx++) {
            const float* gp = g + r * row + (ox0 * sw + kx * s->dw) * kn * KILN_CB;
            const float* wp = wb + (ky * s->kw + kx) * a->cin * KILN_CB;
            for (long k = 0; k < kn; k++, gp += KILN_CB, wp += KILN_CB) {
                kiln_vb wv[KILN_CONVB_MAX_J];
                for (int j = 0; j < J; j++) wv[j] = kiln_bload(wp + j * wblock);
                for (int t = 0; t < T; t++) {
                    for (int j = 0; j < J; j++) acc[j][t] += wv[j] * kiln_bload(gp + j * gblock + t * sw * kn * KILN_CB);
                }
            }
        }
    }
    const kiln_epilogue* e = a->e;
    for (int j = 0; j < J; j++) {
        float* yj = yt + j * yplane;
        kiln_gconv_store(T, e, acc[j], ob + j, yj, e->residual ? e->residual + (yj - a->y) : 0, last);
    }
}

/* Defines the tile kiln_gconvg_J_T_S (see kiln_gconvg_tile); the generator instantiates the ones its convolutions use. */
#define KILN_GCONVG_TILE(J, T, S) \
    static void kiln_gconvg_##J##_##T##_##S(const kiln_gconvg_args* a, const float* g, long iy0, long rows, long b, long ob, \
                                            long oy, long ox0, long k0, long kn, int first, int last) { \
        kiln_gconvg_tile(J, T, S, a, g, iy0, rows, b, ob, oy, ox0, k0, kn, first, last); \
    }

/*
 * Gathers input rows [iy0, iy0 + rows) of image b for output block ob, channels [k0, k0 + kn), into g (one
 * block's rows, laid out as kiln_gconvg_args says). Lane o of gathered channel k is input channel
 * (o / cout) * cin + k: the lanes' channels come from one or two input blocks when they span few groups (one
 * shuffle per position), else lane by lane.
 */
static void kiln_gconvg_gather(const kiln_gconvg_args* a, float* g, long b, long ob, long iy0, long rows, long k0, long kn) {
    const kiln_convb_shape* s = a->s;
    const long plane = s->h * s->w * KILN_CB, wpad = a->wpad;
    const float* xb = a->x + b * s->cb * plane + iy0 * s->w * KILN_CB;
    for (long r = 0; r < rows; r++) {
        float* gr = g + r * wpad * kn * KILN_CB;
        for (long col = 0; col < a->pl; col++) memset(gr + col * kn * KILN_CB, 0, (size_t) (kn * KILN_CB) * sizeof(float));
        for (long col = a->pl + s->w; col < wpad; col++) memset(gr + col * kn * KILN_CB, 0, (size_t) (kn * KILN_CB) * sizeof(float));
    }
    /*
     * Lane o's group's first input channel; lanes past the channels repeat the last real lane's (keep 0 there),
     * so that channels, and their blocks, never decrease across the lanes.
     */
    kiln_vbi first = {0}, keep = {0};
    for (int lane = 0; lane < KILN_CB; lane++) {
        long o = ob * KILN_CB + lane;
        keep[lane] = o < a->m ? -1 : 0;
        first[lane] = o < a->m ? (int32_t) (o / a->cout * a->cin) : lane > 0 ? first[lane - 1] : 0;
    }
    for (long k = 0; k < kn; k++) {
        kiln_vbi src = first + (int32_t) (k0 + k), blk = src / KILN_CB;
        int32_t lo = blk[0], hi = blk[KILN_CB - 1];
        kiln_vbi high = blk != lo, between = high & (blk != hi);
        int two = 1;
        for (int lane = 0; lane < KILN_CB; lane++) two &= between[lane] == 0;
        kiln_vbi idx = src % KILN_CB + (high & KILN_CB);
        for (long r = 0; r < rows; r++) {
            float* gp = g + (r * wpad + a->pl) * kn * KILN_CB + k * KILN_CB;
            const float* xr = xb + r * s->w * KILN_CB;
            if (two) {
                const float* x0 = xr + lo * plane;
                const float* x1 = xr + hi * plane;
                for (long ix = 0; ix < s->w; ix++) {
                    kiln_vb v = __builtin_shuffle(kiln_bload(x0 + ix * KILN_CB), kiln_bload(x1 + ix * KILN_CB), idx);
                    kiln_bstore(gp + ix * kn * KILN_CB, (kiln_vb) ((kiln_vbi) v & keep));
                }
            } else {
                for (long ix = 0; ix < s->w; ix++) {
                    for (int lane = 0; lane < KILN_CB; lane++) {
                        long c = src[lane];
                        gp[ix * kn * KILN_CB + lane] = keep[lane] ? xr[c / KILN_CB * plane + ix * KILN_CB + c % KILN_CB] : 0.0f;
                    }
                }
            }
        }
    }
}

static void kiln_gconvg_task(void* ctx, long begin, long end, float* ws) {
    const kiln_gconvg_args* a = ctx;
    const kiln_convb_shape* s = a->s;
    long tiles_per_row = (s->ow + a->T - 1) / a->T;
    long jgroups = (s->mb + a->J - 1) / a->J, bands = (s->oh + a->band - 1) / a->band;
    for (long item = begin; item < end; item++) {
        long b = item / (jgroups * bands), ob = item / bands % jgroups * a->J, band = item % bands;
        long nj = ob + a->J <= s->mb ? a->J : s->mb - ob;
        long oy0 = band * a->band, oy1 = oy0 + a->band < s->oh ? oy0 + a->band : s->oh;
        /* the input rows the band reads, within the image */
        long iy0 = oy0 * s->sh - s->pt, iy1 = (oy1 - 1) * s->sh - s->pt + (s->kh - 1) * s->dh + 1;
        iy0 = iy0 < 0 ? 0 : iy0;
        iy1 = iy1 > s->h ? s->h : iy1;
        long rows = iy1 > iy0 ? iy1 - iy0 : 0;
        for (long k0 = 0; k0 < a->cin; k0 += a->kc) {
            long kn = k0 + a->kc < a->cin ? a->kc : a->cin - k0;
            for (long j = 0; j < nj; j++) kiln_gconvg_gather(a, ws + j * rows * a->wpad * kn * KILN_CB, b, ob + j, iy0, rows, k0, kn);
            for (long oy = oy0; oy < oy1; oy++) {
                for (long t = 0; t < tiles_per_row; t++) {
                    long ox0 = t * a->T;
                    a->tiles[nj < a->J][ox0 + a->T > s->ow](a, ws, iy0, rows, b, ob, oy, ox0, k0, kn, k0 == 0, k0 + kn == a->cin);
                }
            }
        }
    }
}

/* The grouped convolution of kiln_gconvg_args, the pool's threads splitting its work items; ws0: the caller's rows. */
static void kiln_gconvg(const kiln_gconvg_args* a, float* ws0) {
    const kiln_convb_shape* s = a->s;
    long items = s->n * ((s->mb + a->J - 1) / a->J) * ((s->oh + a->band - 1) / a->band);
    long macs = a->J * KILN_CB * a->band * s->ow * a->cin * s->kh * s->kw;
    kiln_parallel_for(items, macs, kiln_gconvg_task, (void*) a, ws0);
}
