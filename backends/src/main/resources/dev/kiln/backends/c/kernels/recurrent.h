/*
 * Kiln CPU kernels: one-layer recurrent networks (RNN, GRU, LSTM) as the interpreter computes them, in float
 * (f32, and f16/bf16 converted to it) or double (f64). Per direction, the input projection W x_t + Wb of every
 * step is one matrix product ahead of the time loop (in float the generator emits it, with W packed at load
 * when it is constant); the recurrence then runs the steps (backwards for the reverse direction), each batch
 * entry for its sequence length: output steps past a sequence's end stay zero and Y_h / Y_c hold the state
 * after its last step.
 *
 * In float, each step is one product of the batch's hidden states [batch, hidden] with R^T, packed once as
 * [hidden, gates * Hp] (each gate's columns padded to whole vectors, Hp), register-blocked over the batch and
 * vectors of columns; the pool's threads split its column blocks when there is enough work. The gates of a
 * batch entry are then computed a vector of hidden units at a time. Every element's sums run in one order
 * whatever the thread count, so results do not depend on it. Double runs one batch entry at a time.
 */

enum { KILN_CELL_RNN, KILN_CELL_GRU, KILN_CELL_LSTM };

/* The activations the recurrent ops accept (ONNX names, case-insensitive), with their alpha and beta. */
enum {
    KILN_RA_RELU, KILN_RA_TANH, KILN_RA_SIGMOID, KILN_RA_AFFINE, KILN_RA_LEAKY_RELU, KILN_RA_THRESHOLDED_RELU,
    KILN_RA_SCALED_TANH, KILN_RA_HARD_SIGMOID, KILN_RA_ELU, KILN_RA_SOFTSIGN, KILN_RA_SOFTPLUS
};

typedef struct {
    int code;
    double alpha, beta;
} kiln_rnn_activation;

/*
 * A recurrent node: gates per step (1 RNN, 3 GRU, 4 LSTM), directions (2: forward then backward), layout
 * (batch_first: X [batch, seq, input], Y [batch, seq, directions, hidden], states [batch, directions, hidden];
 * else X [seq, batch, input], Y [seq, directions, batch, hidden], states [directions, batch, hidden]), clip
 * (INFINITY when absent) and each direction's activations f, g, h.
 */
typedef struct {
    long seq, batch, input, hidden;
    int cell, gates, directions, reverse, batch_first, linear_before_reset, input_forget;
    double clip;
    kiln_rnn_activation act[2][3];
} kiln_rnn_shape;

/* Row of X (and of the projections) for step t of batch entry b. */
static inline long kiln_rnn_row(const kiln_rnn_shape* s, long t, long b) { return s->batch_first ? b * s->seq + t : t * s->batch + b; }

/* Element (d, b, 0) of a state (initial_h, Y_h, ...). */
static inline long kiln_rnn_state(const kiln_rnn_shape* s, long d, long b) {
    return (s->batch_first ? b * s->directions + d : d * s->batch + b) * s->hidden;
}

/* Element (t, d, b, 0) of Y. */
static inline long kiln_rnn_output(const kiln_rnn_shape* s, long t, long d, long b) {
    return (s->batch_first ? (b * s->seq + t) * s->directions + d : (t * s->directions + d) * s->batch + b) * s->hidden;
}

/* ---- float ------------------------------------------------------------------------------------------------- */

/* Hidden units rounded up to whole vectors: the stride of each gate's columns in the packed R^T and the states. */
static inline long kiln_rnn_hp(long hidden) { return (hidden + KILN_VL - 1) / KILN_VL * KILN_VL; }

/*
 * Packs R [directions][gates * hidden][hidden] as R^T per direction: dst[((d * hidden + j) * gates + q) * Hp + i]
 * = R[d][q * hidden + i][j], zero for i >= hidden: directions * hidden * gates * Hp floats.
 */
static void kiln_rnn_pack_r(long directions, long gates, long hidden, const float* r, float* dst) {
    long hp = kiln_rnn_hp(hidden), gh = gates * hidden;
    for (long d = 0; d < directions; d++) {
        for (long j = 0; j < hidden; j++) {
            for (long q = 0; q < gates; q++) {
                for (long i = 0; i < hp; i++) *dst++ = i < hidden ? r[(d * gh + q * hidden + i) * hidden + j] : 0.0f;
            }
        }
    }
}

static inline kiln_vf kiln_rnn_act_v(const kiln_rnn_activation* a, kiln_vf v) {
    float alpha = (float) a->alpha, beta = (float) a->beta;
    kiln_vf zero = kiln_vsplat(0.0f);
    switch (a->code) {
        case KILN_RA_RELU: return kiln_vselect(v > 0.0f, v, zero);
        case KILN_RA_TANH: return kiln_tanh_v(v);
        case KILN_RA_SIGMOID: return kiln_sigmoid_v(v);
        case KILN_RA_AFFINE: return alpha * v + beta;
        case KILN_RA_LEAKY_RELU: return kiln_vselect(v >= 0.0f, v, alpha * v);
        case KILN_RA_THRESHOLDED_RELU: return kiln_vselect(v >= alpha, v, zero);
        case KILN_RA_SCALED_TANH: return alpha * kiln_tanh_v(beta * v);
        case KILN_RA_HARD_SIGMOID: {
            kiln_vf h = alpha * v + beta;
            return kiln_vselect(h < 0.0f, zero, kiln_vselect(h > 1.0f, kiln_vsplat(1.0f), h));
        }
        case KILN_RA_ELU: return kiln_vselect(v >= 0.0f, v, alpha * (kiln_exp_v(v) - 1.0f));
        case KILN_RA_SOFTSIGN: return v / (1.0f + (kiln_vf) ((kiln_vi) v & 0x7FFFFFFF));
        default: { /* softplus, rare: lane by lane */
            for (int i = 0; i < KILN_VL; i++) v[i] = (v[i] > 0.0f ? v[i] : 0.0f) + log1pf(expf(-fabsf(v[i])));
            return v;
        }
    }
}

/*
 * a(clip(v)) (clip INFINITY: none). standard: the node takes its cell's default activations without clip, and a
 * is the default `fixed` (KILN_RA_SIGMOID or KILN_RA_TANH), called directly so that the compiler interleaves gates.
 */
static inline __attribute__((always_inline)) kiln_vf kiln_rnn_gate(const int standard, const int fixed, const kiln_rnn_activation* a,
                                                                   float clip, kiln_vf v) {
    if (standard) return fixed == KILN_RA_SIGMOID ? kiln_sigmoid_v(v) : kiln_tanh_v(v);
    if (clip < INFINITY) v = kiln_vselect(v < -clip, kiln_vsplat(-clip), kiln_vselect(v > clip, kiln_vsplat(clip), v));
    return kiln_rnn_act_v(a, v);
}

/* Whether direction d takes its cell's default activations (RNN tanh; GRU and LSTM sigmoid, then tanh) without clip. */
static int kiln_rnn_standard(const kiln_rnn_shape* s, long d) {
    int count = s->cell == KILN_CELL_RNN ? 1 : s->cell == KILN_CELL_GRU ? 2 : 3;
    for (int k = 0; k < count; k++) {
        int wanted = k == 0 && s->cell != KILN_CELL_RNN ? KILN_RA_SIGMOID : KILN_RA_TANH;
        if (s->act[d][k].code != wanted) return 0;
    }
    return !(s->clip < INFINITY);
}

/*
 * Vectors of columns per block of the recurrent product (a block is one parallel item): a tile of 4 rows by a
 * block is 4 * KILN_RNN_NV accumulators, and one row takes two blocks at once for as many independent sums.
 */
#if defined(__AVX512F__) || defined(__aarch64__)
#define KILN_RNN_NV 4
#else
#define KILN_RNN_NV 2
#endif

/*
 * rec[r][c] = rb[c] + sum_j h[r][j] rt[j][c] for rows r < rows (rows <= 4) and the nv vectors of columns at c,
 * the accumulators in registers; h rows hp apart, rt rows and rec rows ld apart.
 */
static inline __attribute__((always_inline)) void kiln_rnn_tile(const int rows, const int nv, long hidden, const float* h, long hp,
                                                                const float* rt, long ld, const float* rb, float* rec) {
    kiln_vf acc[4][2 * KILN_RNN_NV];
    for (int v = 0; v < nv; v++) acc[0][v] = kiln_vload(rb + v * KILN_VL);
    for (int r = 1; r < rows; r++) for (int v = 0; v < nv; v++) acc[r][v] = acc[0][v];
    for (long j = 0; j < hidden; j++) {
        kiln_vf w[2 * KILN_RNN_NV];
        for (int v = 0; v < nv; v++) w[v] = kiln_vload(rt + j * ld + v * KILN_VL);
        for (int r = 0; r < rows; r++) {
            float x = h[r * hp + j];
            for (int v = 0; v < nv; v++) acc[r][v] += x * w[v];
        }
    }
    for (int r = 0; r < rows; r++) for (int v = 0; v < nv; v++) kiln_vstore(rec + r * ld + v * KILN_VL, acc[r][v]);
}

/* kiln_rnn_tile for 1 to 4 rows */
#define KILN_RNN_TILE(rows, nv, a, h, c, rec)                                                                       \
    switch (rows) {                                                                                                \
        case 1: kiln_rnn_tile(1, nv, (a)->hidden, h, (a)->hp, (a)->rt + (c), (a)->ld, (a)->rb + (c), (rec) + (c)); break; \
        case 2: kiln_rnn_tile(2, nv, (a)->hidden, h, (a)->hp, (a)->rt + (c), (a)->ld, (a)->rb + (c), (rec) + (c)); break; \
        case 3: kiln_rnn_tile(3, nv, (a)->hidden, h, (a)->hp, (a)->rt + (c), (a)->ld, (a)->rb + (c), (rec) + (c)); break; \
        default: kiln_rnn_tile(4, nv, (a)->hidden, h, (a)->hp, (a)->rt + (c), (a)->ld, (a)->rb + (c), (rec) + (c)); break; \
    }

typedef struct {
    long rows, hidden, hp, ld, columns;
    const float *h, *rt, *rb;
    float* rec;
} kiln_rnn_product_args;

/* Column blocks [begin, end) of KILN_RNN_NV vectors (the last may be narrower), every row. */
static void kiln_rnn_product_blocks(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_rnn_product_args* a = ctx;
    const long width = KILN_RNN_NV * KILN_VL;
    long c1 = end * width < a->columns ? end * width : a->columns;
    for (long r = 0; r < a->rows; r += 4) {
        long rows = a->rows - r < 4 ? a->rows - r : 4;
        const float* h = a->h + r * a->hp;
        float* rec = a->rec + r * a->ld;
        long c = begin * width;
        if (rows == 1) for (; c + 2 * width <= c1; c += 2 * width) kiln_rnn_tile(1, 2 * KILN_RNN_NV, a->hidden, h, a->hp, a->rt + c, a->ld, a->rb + c, rec + c);
        for (; c + width <= c1; c += width) KILN_RNN_TILE(rows, KILN_RNN_NV, a, h, c, rec)
        for (; c < c1; c += KILN_VL) KILN_RNN_TILE(rows, 1, a, h, c, rec)
    }
}

/*
 * rec[r][c] = rb[c] + h[r] . R^T[:, c] for every row and columns [0, columns) (a multiple of the vector length)
 * of rt, whose rows (and rec's) are ld apart.
 */
static void kiln_rnn_product(long rows, long hidden, long hp, const float* h, const float* rt, long ld, long columns, const float* rb, float* rec) {
    kiln_rnn_product_args a = {rows, hidden, hp, ld, columns, h, rt, rb, rec};
    long blocks = (columns + KILN_RNN_NV * KILN_VL - 1) / (KILN_RNN_NV * KILN_VL);
    kiln_parallel_for(blocks, rows * hidden * KILN_RNN_NV * KILN_VL, kiln_rnn_product_blocks, &a, 0);
}

/*
 * One step of batch entry b from g, the projection of its input (gates * hidden), and rec, its recurrent
 * products (gate q at q * hp): h and c (hp apart per entry) updated in place. GRU without linear_before_reset
 * takes rec's hidden gate from reset, r . h, which kiln_rnn_f32 computed in between. standard: see kiln_rnn_gate.
 */
static inline __attribute__((always_inline)) void kiln_rnn_cell_f32(const int standard, const kiln_rnn_shape* s, const kiln_rnn_activation* act,
                                                                    const float* g, const float* rec, const float* p, float* h, float* c) {
    enum { SIGMOID = KILN_RA_SIGMOID, TANH = KILN_RA_TANH };
    long H = s->hidden, hp = kiln_rnn_hp(H);
    float clip = (float) s->clip;
    for (long j = 0; j < H; j += KILN_VL) {
        long n = H - j < KILN_VL ? H - j : KILN_VL;
        kiln_vf hv = kiln_vload(h + j), out;
        if (s->cell == KILN_CELL_RNN) {
            out = kiln_rnn_gate(standard, TANH, &act[0], clip, kiln_vload_part(g + j, n) + kiln_vload(rec + j));
        } else if (s->cell == KILN_CELL_GRU) {
            /* gates z, r, h */
            kiln_vf z = kiln_rnn_gate(standard, SIGMOID, &act[0], clip, kiln_vload_part(g + j, n) + kiln_vload(rec + j));
            kiln_vf candidate = kiln_vload_part(g + 2 * H + j, n);
            if (s->linear_before_reset) {
                kiln_vf r = kiln_rnn_gate(standard, SIGMOID, &act[0], clip, kiln_vload_part(g + H + j, n) + kiln_vload(rec + hp + j));
                candidate += r * kiln_vload(rec + 2 * hp + j);
            } else {
                candidate += kiln_vload(rec + 2 * hp + j);
            }
            kiln_vf hh = kiln_rnn_gate(standard, TANH, &act[1], clip, candidate);
            out = (1.0f - z) * hh + z * hv;
        } else {
            /* gates i, o, f, c; peepholes i, o, f */
            kiln_vf cv = kiln_vload(c + j), zero = kiln_vsplat(0.0f);
            kiln_vf pi = p ? kiln_vload_part(p + j, n) : zero, po = p ? kiln_vload_part(p + H + j, n) : zero;
            kiln_vf pf = p ? kiln_vload_part(p + 2 * H + j, n) : zero;
            kiln_vf in = kiln_rnn_gate(standard, SIGMOID, &act[0], clip, kiln_vload_part(g + j, n) + kiln_vload(rec + j) + pi * cv);
            kiln_vf forget = s->input_forget ? 1.0f - in
                : kiln_rnn_gate(standard, SIGMOID, &act[0], clip, kiln_vload_part(g + 2 * H + j, n) + kiln_vload(rec + 2 * hp + j) + pf * cv);
            kiln_vf candidate = kiln_rnn_gate(standard, TANH, &act[1], clip, kiln_vload_part(g + 3 * H + j, n) + kiln_vload(rec + 3 * hp + j));
            cv = forget * cv + in * candidate;
            kiln_vf o = kiln_rnn_gate(standard, SIGMOID, &act[0], clip, kiln_vload_part(g + H + j, n) + kiln_vload(rec + hp + j) + po * cv);
            out = o * kiln_rnn_gate(standard, TANH, &act[2], INFINITY, cv);
            kiln_vstore_part(c + j, cv, n);
        }
        kiln_vstore_part(h + j, out, n);
    }
}

/* GRU's reset gate times the state, r . h, into reset (hp wide, the padding zero), from rec's reset gate. */
static inline __attribute__((always_inline)) void kiln_rnn_reset_f32(const int standard, const kiln_rnn_shape* s, const kiln_rnn_activation* act,
                                                                     const float* g, const float* rec, const float* h, float* reset) {
    long H = s->hidden, hp = kiln_rnn_hp(H);
    for (long j = 0; j < H; j += KILN_VL) {
        long n = H - j < KILN_VL ? H - j : KILN_VL;
        kiln_vf r = kiln_rnn_gate(standard, KILN_RA_SIGMOID, &act[0], (float) s->clip, kiln_vload_part(g + H + j, n) + kiln_vload(rec + hp + j));
        kiln_vstore_part(reset + j, r * kiln_vload(h + j), n);
    }
}

/*
 * The recurrence in float from proj, the input projections W x + Wb of every row of X per direction
 * ([directions][seq * batch][gates * hidden]), and rt, R packed by kiln_rnn_pack_r; bias (for R's part),
 * lengths (checked), h0, c0, p, y, yh, yc NULL when absent; ws (1 + batch) * gates * Hp + 3 * batch * Hp floats
 * (R's bias, the products, then h, c and GRU's reset rows).
 */
static void kiln_rnn_f32(const kiln_rnn_shape* s, const float* proj, const float* rt, const float* bias, const int32_t* lengths,
                         const float* h0, const float* c0, const float* p, float* y, float* yh, float* yc, float* ws) {
    long H = s->hidden, hp = kiln_rnn_hp(H), G = s->gates, GH = G * H, ld = G * hp, rows = s->seq * s->batch, B = s->batch;
    float* rb = ws;
    float* rec = rb + ld;
    float* h = rec + B * ld;
    float* c = h + B * hp;
    float* reset = c + B * hp;
    if (y) memset(y, 0, (size_t) (rows * s->directions * H) * sizeof(float));
    long longest = 0;
    for (long b = 0; b < B; b++) longest = (lengths ? lengths[b] : s->seq) > longest ? (lengths ? lengths[b] : s->seq) : longest;
    for (long d = 0; d < s->directions; d++) {
        int backwards = s->reverse || d == 1, standard = kiln_rnn_standard(s, d);
        const float* rtd = rt + d * H * ld;
        const float* pd = p ? p + d * 3 * H : 0;
        const float* projd = proj + d * rows * GH;
        for (long q = 0; q < G; q++) {
            for (long i = 0; i < hp; i++) rb[q * hp + i] = bias && i < H ? bias[d * 2 * GH + GH + q * H + i] : 0.0f;
        }
        memset(h, 0, (size_t) (3 * B * hp) * sizeof(float));
        for (long b = 0; b < B; b++) {
            long state = kiln_rnn_state(s, d, b);
            if (h0) memcpy(h + b * hp, h0 + state, (size_t) H * sizeof(float));
            if (c0) memcpy(c + b * hp, c0 + state, (size_t) H * sizeof(float));
        }
        /* GRU without linear_before_reset takes its hidden gate's product after the reset gate's */
        int split = s->cell == KILN_CELL_GRU && !s->linear_before_reset;
        for (long step = 0; step < longest; step++) {
            kiln_rnn_product(B, H, hp, h, rtd, ld, split ? 2 * hp : ld, rb, rec);
            if (split) {
                for (long b = 0; b < B; b++) {
                    long length = lengths ? lengths[b] : s->seq;
                    if (step >= length) continue;
                    long t = backwards ? length - 1 - step : step;
                    const float* g = projd + kiln_rnn_row(s, t, b) * GH;
                    if (standard) kiln_rnn_reset_f32(1, s, s->act[d], g, rec + b * ld, h + b * hp, reset + b * hp);
                    else kiln_rnn_reset_f32(0, s, s->act[d], g, rec + b * ld, h + b * hp, reset + b * hp);
                }
                kiln_rnn_product(B, H, hp, reset, rtd + 2 * hp, ld, hp, rb + 2 * hp, rec + 2 * hp);
            }
            for (long b = 0; b < B; b++) {
                long length = lengths ? lengths[b] : s->seq;
                if (step >= length) continue;
                long t = backwards ? length - 1 - step : step;
                const float* g = projd + kiln_rnn_row(s, t, b) * GH;
                if (standard) kiln_rnn_cell_f32(1, s, s->act[d], g, rec + b * ld, pd, h + b * hp, c + b * hp);
                else kiln_rnn_cell_f32(0, s, s->act[d], g, rec + b * ld, pd, h + b * hp, c + b * hp);
                if (y) memcpy(y + kiln_rnn_output(s, t, d, b), h + b * hp, (size_t) H * sizeof(float));
            }
        }
        for (long b = 0; b < B; b++) {
            long state = kiln_rnn_state(s, d, b);
            if (yh) memcpy(yh + state, h + b * hp, (size_t) H * sizeof(float));
            if (yc) memcpy(yc + state, c + b * hp, (size_t) H * sizeof(float));
        }
    }
}

/* ---- double ------------------------------------------------------------------------------------------------ */

static inline double kiln_rnn_act_f64(const kiln_rnn_activation* a, double v) {
    double alpha = a->alpha, beta = a->beta;
    switch (a->code) {
        case KILN_RA_RELU: return v > 0 ? v : 0;
        case KILN_RA_TANH: return tanh(v);
        case KILN_RA_SIGMOID: return 1 / (1 + exp(-v));
        case KILN_RA_AFFINE: return alpha * v + beta;
        case KILN_RA_LEAKY_RELU: return v >= 0 ? v : alpha * v;
        case KILN_RA_THRESHOLDED_RELU: return v >= alpha ? v : 0;
        case KILN_RA_SCALED_TANH: return alpha * tanh(beta * v);
        case KILN_RA_HARD_SIGMOID: { double h = alpha * v + beta; return h < 0 ? 0 : (h > 1 ? 1 : h); }
        case KILN_RA_ELU: return v >= 0 ? v : alpha * (exp(v) - 1);
        case KILN_RA_SOFTSIGN: return v / (1 + (v < 0 ? -v : v));
        default: return (v > 0 ? v : 0) + log1p(exp(-(v < 0 ? -v : v)));
    }
}

static inline double kiln_rnn_clip_f64(double v, double bound) { return v < -bound ? -bound : (v > bound ? bound : v); }

/* rec[k] = rb[k] + r[k] . h for rows [from, to) of r (hidden wide). */
static inline void kiln_rnn_matvec_f64(long from, long to, long hidden, const double* r, const double* rb, const double* h, double* rec) {
    for (long k = from; k < to; k++) {
        const double* row = r + k * hidden;
        double acc = rb ? rb[k] : 0;
        for (long j = 0; j < hidden; j++) acc += row[j] * h[j];
        rec[k] = acc;
    }
}

/* One step of batch entry b from the projection g of its input: h (and c) updated in place. */
static void kiln_rnn_step_f64(const kiln_rnn_shape* s, const kiln_rnn_activation* act, const double* g, const double* r, const double* rb,
                              const double* p, double* h, double* c, double* rec, double* tmp, double* reset) {
    long H = s->hidden;
    double clip = s->clip;
    if (s->cell == KILN_CELL_RNN) {
        kiln_rnn_matvec_f64(0, H, H, r, rb, h, rec);
        for (long j = 0; j < H; j++) h[j] = kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[j] + rec[j], clip));
    } else if (s->cell == KILN_CELL_GRU) {
        /* gates z, r, h; without linear_before_reset the hidden gate's product is of r . h */
        kiln_rnn_matvec_f64(0, s->linear_before_reset ? 3 * H : 2 * H, H, r, rb, h, rec);
        for (long j = 0; j < H; j++) {
            tmp[j] = kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[j] + rec[j], clip));
            reset[j] = kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[H + j] + rec[H + j], clip));
        }
        if (!s->linear_before_reset) {
            for (long j = 0; j < H; j++) reset[j] *= h[j];
            kiln_rnn_matvec_f64(2 * H, 3 * H, H, r, rb, reset, rec);
        }
        for (long j = 0; j < H; j++) {
            double candidate = s->linear_before_reset ? g[2 * H + j] + reset[j] * rec[2 * H + j] : g[2 * H + j] + rec[2 * H + j];
            double hh = kiln_rnn_act_f64(&act[1], kiln_rnn_clip_f64(candidate, clip));
            h[j] = (1 - tmp[j]) * hh + tmp[j] * h[j];
        }
    } else {
        /* gates i, o, f, c; peepholes i, o, f */
        kiln_rnn_matvec_f64(0, 4 * H, H, r, rb, h, rec);
        for (long j = 0; j < H; j++) {
            double pi = p ? p[j] : 0, po = p ? p[H + j] : 0, pf = p ? p[2 * H + j] : 0;
            double in = kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[j] + rec[j] + pi * c[j], clip));
            double forget = s->input_forget ? 1 - in : kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[2 * H + j] + rec[2 * H + j] + pf * c[j], clip));
            double candidate = kiln_rnn_act_f64(&act[1], kiln_rnn_clip_f64(g[3 * H + j] + rec[3 * H + j], clip));
            c[j] = forget * c[j] + in * candidate;
            double out = kiln_rnn_act_f64(&act[0], kiln_rnn_clip_f64(g[H + j] + rec[H + j] + po * c[j], clip));
            h[j] = out * kiln_rnn_act_f64(&act[2], c[j]);
        }
    }
}

/*
 * The whole node in double: x, w, r as the op takes them; bias, lengths (checked), h0, c0, p, y, yh, yc NULL
 * when absent; ws (seq * batch * gates + gates + 4) * hidden doubles.
 */
static void kiln_rnn_f64(const kiln_rnn_shape* s, const double* x, const double* w, const double* r, const double* bias,
                         const int32_t* lengths, const double* h0, const double* c0, const double* p, double* y, double* yh, double* yc,
                         double* ws) {
    long H = s->hidden, GH = s->gates * s->hidden, rows = s->seq * s->batch;
    double* proj = ws;
    double* rec = proj + rows * GH;
    double *h = rec + GH, *c = h + H, *tmp = c + H, *reset = tmp + H;
    if (y) memset(y, 0, (size_t) (rows * s->directions * H) * sizeof(double));
    for (long d = 0; d < s->directions; d++) {
        int backwards = s->reverse || d == 1;
        const double* rd = r + d * GH * H;
        const double* rb = bias ? bias + d * 2 * GH + GH : 0;
        const double* wd = w + d * GH * s->input;
        const double* wb = bias ? bias + d * 2 * GH : 0;
        const double* pd = p ? p + d * 3 * H : 0;
        for (long i = 0; i < rows; i++) {
            for (long k = 0; k < GH; k++) {
                double acc = wb ? wb[k] : 0.0;
                for (long j = 0; j < s->input; j++) acc += x[i * s->input + j] * wd[k * s->input + j];
                proj[i * GH + k] = acc;
            }
        }
        for (long b = 0; b < s->batch; b++) {
            long state = kiln_rnn_state(s, d, b), length = lengths ? lengths[b] : s->seq;
            for (long j = 0; j < H; j++) {
                h[j] = h0 ? h0[state + j] : 0;
                c[j] = c0 ? c0[state + j] : 0;
            }
            for (long step = 0; step < length; step++) {
                long t = backwards ? length - 1 - step : step;
                kiln_rnn_step_f64(s, s->act[d], proj + kiln_rnn_row(s, t, b) * GH, rd, rb, pd, h, c, rec, tmp, reset);
                if (y) memcpy(y + kiln_rnn_output(s, t, d, b), h, (size_t) H * sizeof(double));
            }
            if (yh) memcpy(yh + state, h, (size_t) H * sizeof(double));
            if (yc) memcpy(yc + state, c, (size_t) H * sizeof(double));
        }
    }
}
