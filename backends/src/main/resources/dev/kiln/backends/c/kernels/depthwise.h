/*
 * Kiln CPU kernels: depthwise convolution (group == c == m) on NCHW, where a plane's channel has no neighbours to
 * share a vector with (blocked tensors have blocked_depthwise.h). Each plane is copied into the thread's workspace
 * with the zeros of its padding around it, so that every tap of every position is inside the copy; an output row
 * is then computed KILN_VL positions at a time from unaligned vector loads of the copy (stride 2: two loads and
 * their even lanes), four or two vectors side by side to hide the multiply-add latency, the epilogue applied in
 * registers. The sums run over the taps in (ky, kx) order. The pool's threads split the planes.
 */

#if KILN_VL == 16
#define KILN_EVEN_LANES ((kiln_vi) {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30})
#elif KILN_VL == 8
#define KILN_EVEN_LANES ((kiln_vi) {0, 2, 4, 6, 8, 10, 12, 14})
#else
#define KILN_EVEN_LANES ((kiln_vi) {0, 2, 4, 6})
#endif

/* Rows and columns of a plane's padded copy (those the taps reach). */
static inline void kiln_dwp_padded(const kiln_conv_shape* s, long* ph, long* pw) {
    *ph = (s->oh - 1) * s->sh + (s->kh - 1) * s->dh + 1;
    *pw = (s->ow - 1) * s->sw + (s->kw - 1) * s->dw + 1;
}

/* Floats of workspace a thread needs: the padded copy, and past its end what the last vector loads reach. */
static inline long kiln_dwp_workspace(const kiln_conv_shape* s) {
    long ph, pw;
    kiln_dwp_padded(s, &ph, &pw);
    return ph * pw + KILN_VL * (s->sw > 2 ? s->sw : 2);
}

/* KILN_VL positions from p, sw floats apart (S: sw when 1 or 2, else 0). */
static inline __attribute__((always_inline)) kiln_vf kiln_dwp_load(const int S, const float* p, long sw) {
    if (S == 1) return kiln_vload(p);
    if (S == 2) return __builtin_shuffle(kiln_vload(p), kiln_vload(p + KILN_VL), KILN_EVEN_LANES);
    float lanes[KILN_VL];
    for (int l = 0; l < KILN_VL; l++) lanes[l] = p[l * sw];
    return kiln_vload(lanes);
}

/* V vectors of output positions from ox of row oy, summed over every tap of the padded copy pad (pw floats a row). */
static inline __attribute__((always_inline)) void kiln_dwp_sum(const int V, const int S, const kiln_conv_shape* s, const float* pad,
                                                               long pw, const float* wk, long oy, long ox, kiln_vf* acc) {
    const long sw = S ? S : s->sw;
    for (int v = 0; v < V; v++) acc[v] = (kiln_vf) {0};
    for (long ky = 0; ky < s->kh; ky++) {
        const float* row = pad + (oy * s->sh + ky * s->dh) * pw + ox * sw;
        for (long kx = 0; kx < s->kw; kx++) {
            kiln_vf wv = kiln_vsplat(wk[ky * s->kw + kx]);
            const float* p = row + kx * s->dw;
            for (int v = 0; v < V; v++) acc[v] += wv * kiln_dwp_load(S, p + v * KILN_VL * sw, sw);
        }
    }
}

/* Stores n (at most KILN_VL) finished positions of acc at out: act(alpha * acc + bias + residual). */
static inline __attribute__((always_inline)) void kiln_dwp_store(kiln_vf acc, const kiln_epilogue* e, float bias, const float* res, float* out, long n) {
    float lanes[KILN_VL];
    kiln_vf v = acc * e->alpha + bias;
    if (res) {
        if (n == KILN_VL) {
            v += kiln_vload(res);
        } else {
            for (long l = 0; l < KILN_VL; l++) lanes[l] = l < n ? res[l] : 0.0f;
            v += kiln_vload(lanes);
        }
    }
    if (e->act != KILN_ACT_NONE && kiln_activation_is_vector(e->act)) v = kiln_activate_v(v, e->act, e->p0, e->p1);
    if (n == KILN_VL) {
        kiln_vstore(out, v);
    } else {
        kiln_vstore(lanes, v);
        for (long l = 0; l < n; l++) out[l] = lanes[l];
    }
    if (e->act != KILN_ACT_NONE && !kiln_activation_is_vector(e->act)) kiln_activate_row(out, n, e->act, e->p0, e->p1);
}

/* Copies the plane at x into pad (ph x pw) with the zeros of its padding around it, and zeros past its end. */
static void kiln_dwp_pad(const kiln_conv_shape* s, const float* x, float* pad, long ph, long pw, long slack) {
    for (long r = 0; r < ph; r++) {
        long iy = r - s->pt;
        float* dst = pad + r * pw;
        long left = s->pl < pw ? s->pl : pw;
        long inside = iy >= 0 && iy < s->h ? s->w : 0;
        if (inside > pw - left) inside = pw - left;
        /* whole vectors where they fit: a scalar loop here would take as long as the convolution */
        const float* src = x + iy * s->w - left;
        long q = 0;
        for (; q < left; q++) dst[q] = 0.0f;
        for (; q + KILN_VL <= left + inside; q += KILN_VL) kiln_vstore(dst + q, kiln_vload(src + q));
        for (; q < left + inside; q++) dst[q] = src[q];
        for (; q + KILN_VL <= pw; q += KILN_VL) kiln_vstore(dst + q, (kiln_vf) {0});
        for (; q < pw; q++) dst[q] = 0.0f;
    }
    for (long q = 0; q < slack; q++) pad[ph * pw + q] = 0.0f;
}

typedef struct {
    const kiln_conv_shape* s;
    const float* x;
    const float* w;
    float* y;
    const kiln_epilogue* e;
} kiln_depthwise_args;

/* The output rows of plane p from its padded copy pad (S: the stride when 1 or 2, else 0). */
static inline __attribute__((always_inline)) void kiln_dwp_rows(const int S, const kiln_depthwise_args* a, long p, const float* pad, long pw) {
    const kiln_conv_shape* s = a->s;
    const kiln_epilogue* e = a->e;
    long ch = p % s->c, ohw = s->oh * s->ow;
    const float* wk = a->w + ch * s->kh * s->kw;
    float bias = e->bias ? e->beta * e->bias[ch * e->bias_rs] : 0.0f;
    for (long oy = 0; oy < s->oh; oy++) {
        float* out = a->y + p * ohw + oy * s->ow;
        const float* res = e->residual ? e->residual + p * ohw + oy * s->ow : 0;
        kiln_vf acc[4];
        long ox = 0;
        for (; ox + 4 * KILN_VL <= s->ow; ox += 4 * KILN_VL) {
            kiln_dwp_sum(4, S, s, pad, pw, wk, oy, ox, acc);
            for (int v = 0; v < 4; v++) kiln_dwp_store(acc[v], e, bias, res ? res + ox + v * KILN_VL : 0, out + ox + v * KILN_VL, KILN_VL);
        }
        for (; ox + 2 * KILN_VL <= s->ow; ox += 2 * KILN_VL) {
            kiln_dwp_sum(2, S, s, pad, pw, wk, oy, ox, acc);
            for (int v = 0; v < 2; v++) kiln_dwp_store(acc[v], e, bias, res ? res + ox + v * KILN_VL : 0, out + ox + v * KILN_VL, KILN_VL);
        }
        for (; ox < s->ow; ox += KILN_VL) {
            kiln_dwp_sum(1, S, s, pad, pw, wk, oy, ox, acc);
            kiln_dwp_store(acc[0], e, bias, res ? res + ox : 0, out + ox, s->ow - ox < KILN_VL ? s->ow - ox : KILN_VL);
        }
    }
}

static void kiln_depthwise_task(void* ctx, long begin, long end, float* ws) {
    const kiln_depthwise_args* a = ctx;
    const kiln_conv_shape* s = a->s;
    long ph, pw;
    kiln_dwp_padded(s, &ph, &pw);
    for (long p = begin; p < end; p++) {
        kiln_dwp_pad(s, a->x + p * s->h * s->w, ws, ph, pw, kiln_dwp_workspace(s) - ph * pw);
        if (s->sw == 1) kiln_dwp_rows(1, a, p, ws, pw);
        else if (s->sw == 2) kiln_dwp_rows(2, a, p, ws, pw);
        else kiln_dwp_rows(0, a, p, ws, pw);
    }
}

/* Depthwise convolution of NCHW planes; ws: kiln_dwp_workspace floats (thread 0's), as each worker's. */
static void kiln_conv_depthwise(const kiln_conv_shape* s, const float* x, const float* w, float* y, const kiln_epilogue* e, float* ws) {
    kiln_depthwise_args a = {s, x, w, y, e};
    if (s->oh <= 0 || s->ow <= 0) return;
    kiln_parallel_for(s->n * s->c, s->kh * s->kw * s->oh * s->ow, kiln_depthwise_task, &a, ws);
}
