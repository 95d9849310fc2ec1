/*
 * Kiln CPU kernels: ConvTranspose between NCHW{B}c values (blocked.h), one group, 1-D (h 1) or 2-D, computed
 * output by output, without a scatter: output position o of an axis gathers the input positions i with
 * i * stride + k * dilation - pad = o, for each tap k that gives an integral i. The outputs of one phase
 * (o mod stride) of a row see the same taps, each reading input positions that step by one as o steps by the
 * stride, so a run of T outputs of one phase is a tile of a stride-1 convolution: per tap and input channel, T
 * input values broadcast against J output blocks' weights into J x T vector accumulators.
 */

/* The largest tiles, as blocked_conv.h's: arrays of these sizes indexed by constants stay in registers. */
#define KILN_CONVTB_MAX_J 8
#define KILN_CONVTB_MAX_T 16

typedef struct {
    long n, cb, h, w;        /* input: batch, channel blocks, height, width */
    long mb, oh, ow;         /* output: channel blocks, height, width */
    long kh, kw, sh, sw, dh, dw, pt, pl;
} kiln_convtb_shape;

struct kiln_convtb_args;
/* The outputs (oy, px + sw * (j0 + t)), t < count (at most the tile's T), of image b, output blocks [ocb, ocb + J). */
typedef void (*kiln_convtb_tile_fn)(const struct kiln_convtb_args* a, long b, long ocb, long oy, long px, long j0, long count);

/*
 * The generator packs the filter W(c, m, ky, kx) (ConvTranspose's [c][m][kh][kw], channels padded to whole
 * blocks) in groups of J output blocks: the group of output block o holds W(c * B + ic, (o + jj) * B + lane, ky, kx)
 * at w[o * cb * kh * kw * B * B + ((((c * kh + ky) * kw + kx) * B + ic) * J + jj) * B + lane], so that a tile reads
 * each tap's weights front to back. Work items are (image, group of J output blocks, output row, phase along
 * the row), each covering the phase's outputs of the row in tiles of T.
 */
typedef struct kiln_convtb_args {
    const kiln_convtb_shape* s;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;   /* bias per (padded) output channel, residual shaped like y */
    long J, T;
    kiln_convtb_tile_fn tile;
} kiln_convtb_args;

static inline __attribute__((always_inline)) void kiln_convtb_tile(const int J, const int T, const kiln_convtb_args* a, long b, long ocb,
                                                                   long oy, long px, long j0, long count) {
    const kiln_convtb_shape* s = a->s;
    kiln_vb acc[KILN_CONVTB_MAX_J][KILN_CONVTB_MAX_T];
    for (int j = 0; j < J; j++) {
        for (int t = 0; t < T; t++) acc[j][t] = (kiln_vb) {0};
    }
    const float* xb = a->x + b * s->cb * s->h * s->w * KILN_CB;
    const float* wg = a->w + ocb * s->cb * s->kh * s->kw * KILN_CB * KILN_CB;
    for (long ky = 0; ky < s->kh; ky++) {
        long ry = oy + s->pt - ky * s->dh;
        if (ry < 0 || ry % s->sh != 0 || ry / s->sh >= s->h) continue;
        long iy = ry / s->sh;
        for (long kx = 0; kx < s->kw; kx++) {
            long rx = px + s->pl - kx * s->dw;
            if (rx % s->sw != 0) continue;
            /* the tile's input positions: ix0 + t, those outside the row reading zeros */
            long ix0 = rx / s->sw + j0;
            int interior = ix0 >= 0 && ix0 + T <= s->w;
            for (long c = 0; c < s->cb; c++) {
                const float* row = xb + (c * s->h + iy) * s->w * KILN_CB;
                const float* wt = wg + ((c * s->kh + ky) * s->kw + kx) * KILN_CB * J * KILN_CB;
                if (interior) {
                    const float* px0 = row + ix0 * KILN_CB;
                    for (int ic = 0; ic < KILN_CB; ic++) {
                        kiln_vb wv[KILN_CONVTB_MAX_J];
                        for (int j = 0; j < J; j++) wv[j] = kiln_bload(wt + (ic * J + j) * KILN_CB);
                        for (int t = 0; t < T; t++) {
                            kiln_vb xv = kiln_bsplat(px0[t * KILN_CB + ic]);
                            for (int j = 0; j < J; j++) acc[j][t] += wv[j] * xv;
                        }
                    }
                } else {
                    const float* from[KILN_CONVTB_MAX_T];
                    for (int t = 0; t < T; t++) {
                        long ix = ix0 + t;
                        from[t] = ix >= 0 && ix < s->w ? row + ix * KILN_CB : kiln_zero_block;
                    }
                    for (int ic = 0; ic < KILN_CB; ic++) {
                        kiln_vb wv[KILN_CONVTB_MAX_J];
                        for (int j = 0; j < J; j++) wv[j] = kiln_bload(wt + (ic * J + j) * KILN_CB);
                        for (int t = 0; t < T; t++) {
                            kiln_vb xv = kiln_bsplat(from[t][ic]);
                            for (int j = 0; j < J; j++) acc[j][t] += wv[j] * xv;
                        }
                    }
                }
            }
        }
    }
    const kiln_epilogue* e = a->e;
    for (int j = 0; j < J; j++) {
        float* yrow = a->y + ((b * s->mb + ocb + j) * s->oh + oy) * s->ow * KILN_CB;
        kiln_vb bias = e->bias ? kiln_bload(e->bias + (ocb + j) * KILN_CB) * e->beta : (kiln_vb) {0};
        for (int t = 0; t < T; t++) {
            if (t >= count) break;
            float* yp = yrow + (px + s->sw * (j0 + t)) * KILN_CB;
            kiln_vb v = acc[j][t] * e->alpha + bias;
            if (e->residual) v += kiln_bload(e->residual + (yp - a->y));
            kiln_bstore(yp, v);
            kiln_activate_row(yp, KILN_CB, e->act, e->p0, e->p1);
        }
    }
}

/* Defines the tile kiln_convtb_J_T (see kiln_convtb_tile); the generator instantiates the ones its nodes use. */
#define KILN_CONVTB_TILE(J, T) \
    static void kiln_convtb_##J##_##T(const kiln_convtb_args* a, long b, long ocb, long oy, long px, long j0, long count) { \
        kiln_convtb_tile(J, T, a, b, ocb, oy, px, j0, count); \
    }

static void kiln_convtb_task(void* ctx, long begin, long end, float* ws) {
    const kiln_convtb_args* a = ctx;
    const kiln_convtb_shape* s = a->s;
    (void) ws;
    long groups = s->mb / a->J;
    for (long item = begin; item < end; item++) {
        long px = item % s->sw, oy = item / s->sw % s->oh, g = item / s->sw / s->oh % groups, b = item / s->sw / s->oh / groups;
        long outputs = px < s->ow ? (s->ow - px + s->sw - 1) / s->sw : 0;
        for (long j0 = 0; j0 < outputs; j0 += a->T) a->tile(a, b, g * a->J, oy, px, j0, outputs - j0 < a->T ? outputs - j0 : a->T);
    }
}

/* The transposed convolution of kiln_convtb_args (s->mb a multiple of J), the pool's threads splitting its work items. */
static void kiln_convtb(const kiln_convtb_args* a) {
    const kiln_convtb_shape* s = a->s;
    long items = s->n * (s->mb / a->J) * s->oh * s->sw;
    long macs = a->J * KILN_CB * s->ow / s->sw * s->cb * KILN_CB * ((s->kh + s->sh - 1) / s->sh) * ((s->kw + s->sw - 1) / s->sw);
    kiln_parallel_for(items, macs > 0 ? macs : 1, kiln_convtb_task, (void*) a, 0);
}
