/*
 * Kiln CPU kernels: squeeze and excitation (SqueezeExcite) of f32 tensors, NCHW or NCHW{B}c, in one call and
 * without intermediate tensors: per image the spatial mean of every channel (the squeeze), the two small
 * products and their activations (the excitation, one value per channel), then the input scaled by it.
 * The means and the scale and multiply are split over the pool's threads by planes; the products, a few
 * thousand multiply-adds, run on the calling thread.
 */

/*
 * x, y: n images of planes planes of size positions x lanes channels (NCHW: lanes 1; NCHW{B}c: KILN_CB).
 * The generator packs the weights transposed, their rows padded with zeros to whole vectors (rp, c2p:
 * multiples of 16): w1t = W1 transposed [c1][rp], b1 [rp], w2t = W2 transposed [r][c2p], b2 [c2p]
 * (zeros where the node has no bias). ws: n * cw floats (cw: planes * lanes rounded up to 16), the means,
 * then the scales, and rp more for the reduced channels.
 */
typedef struct {
    long n, planes, size, lanes;
    long c1, r, rp, c2, c2p, cw;
    const float* x;
    float* y;
    const float* w1t;
    const float* b1;
    const float* w2t;
    const float* b2;
    int act, gate;
    float a0, a1, g0, g1;
    float* ws;
} kiln_se_args;

/* The sum of x[0, n): a vector of partial sums, then the tail. */
static inline float kiln_se_plane_sum(const float* x, long n) {
    kiln_vf acc = {0};
    long full = n / KILN_VL * KILN_VL;
    for (long i = 0; i < full; i += KILN_VL) acc += kiln_vload(x + i);
    float s = kiln_vsum(acc);
    for (long i = full; i < n; i++) s += x[i];
    return s;
}

/* The mean of each channel of planes [begin, end) (over all images) into ws. */
static void kiln_se_squeeze(void* ctx, long begin, long end, float* unused) {
    const kiln_se_args* a = ctx;
    (void) unused;
    for (long item = begin; item < end; item++) {
        long b = item / a->planes, p = item % a->planes;
        const float* x = a->x + item * a->size * a->lanes;
        float* mean = a->ws + b * a->cw + p * a->lanes;
        if (a->lanes == 1) {
            mean[0] = kiln_se_plane_sum(x, a->size) / (float) a->size;
            continue;
        }
        kiln_vb sum = (kiln_vb) {0};
        for (long i = 0; i < a->size; i++) sum += kiln_bload(x + i * KILN_CB);
        kiln_bstore(mean, sum / (float) a->size);
    }
}

/*
 * out[0, cols) = bias + sum over k of wt[k][.] * v[k], cols a multiple of 16: four vectors of outputs at a
 * time, so that their sums proceed side by side.
 */
static void kiln_se_product(const float* wt, long rows, long cols, const float* v, const float* bias, float* out) {
    long c = 0;
    for (; c + 4 * KILN_VL <= cols; c += 4 * KILN_VL) {
        kiln_vf acc[4];
        for (int q = 0; q < 4; q++) acc[q] = kiln_vload(bias + c + q * KILN_VL);
        for (long k = 0; k < rows; k++) {
            kiln_vf s = kiln_vsplat(v[k]);
            for (int q = 0; q < 4; q++) acc[q] += kiln_vload(wt + k * cols + c + q * KILN_VL) * s;
        }
        for (int q = 0; q < 4; q++) kiln_vstore(out + c + q * KILN_VL, acc[q]);
    }
    for (; c < cols; c += KILN_VL) {
        kiln_vf acc = kiln_vload(bias + c);
        for (long k = 0; k < rows; k++) acc += kiln_vload(wt + k * cols + c) * kiln_vsplat(v[k]);
        kiln_vstore(out + c, acc);
    }
}

/* Replaces one image's means (cw floats at v) by its scales, gate(W2 act(W1 mean + b1) + b2) and 0 past c2. */
static void kiln_se_excite(const kiln_se_args* a, float* v, float* reduced) {
    kiln_se_product(a->w1t, a->c1, a->rp, v, a->b1, reduced);
    kiln_activate_row(reduced, a->r, a->act, a->a0, a->a1);
    kiln_se_product(a->w2t, a->r, a->c2p, reduced, a->b2, v);
    kiln_activate_row(v, a->c2, a->gate, a->g0, a->g1);
    for (long c = a->c2; c < a->cw; c++) v[c] = 0.0f;
}

/* y = x * scale for planes [begin, end) (over all images). */
static void kiln_se_scale(void* ctx, long begin, long end, float* unused) {
    const kiln_se_args* a = ctx;
    (void) unused;
    for (long item = begin; item < end; item++) {
        long b = item / a->planes, p = item % a->planes;
        const float* x = a->x + item * a->size * a->lanes;
        float* y = a->y + item * a->size * a->lanes;
        const float* scale = a->ws + b * a->cw + p * a->lanes;
        if (a->lanes == 1) {
            float s = scale[0];
            for (long i = 0; i < a->size; i++) y[i] = x[i] * s;
            continue;
        }
        kiln_vb s = kiln_bload(scale);
        for (long i = 0; i < a->size; i++) kiln_bstore(y + i * KILN_CB, kiln_bload(x + i * KILN_CB) * s);
    }
}

/* The squeeze and excitation of kiln_se_args; reduced: rp floats of the caller's. */
static void kiln_se(kiln_se_args* a, float* reduced) {
    long planes = a->n * a->planes, work = a->size * a->lanes;
    kiln_parallel_for(planes, work, kiln_se_squeeze, a, 0);
    for (long b = 0; b < a->n; b++) kiln_se_excite(a, a->ws + b * a->cw, reduced);
    kiln_parallel_for(planes, work, kiln_se_scale, a, 0);
}
