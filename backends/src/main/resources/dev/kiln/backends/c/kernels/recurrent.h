/*
 * Kiln CPU kernels: one-layer recurrent networks (RNN, GRU, LSTM) as the interpreter computes them, in float
 * (f32, and f16/bf16 converted to it) or double (f64). Per direction, the input projection W x_t + Wb of every
 * step is one matrix product ahead of the time loop (kiln_sgemm for float); the recurrence then runs each
 * batch entry for its sequence length (backwards for the reverse direction): output steps past a sequence's
 * end stay zero and Y_h / Y_c hold the state after its last step. One thread runs the recurrence, so results do
 * not depend on the thread count.
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

/*
 * The functions of one compute type T (SUFFIX f32 or f64; EXP, TANH, LOG1P its libm functions): the activation,
 * the input projection (PROJECT: proj = x w^T + wb for rows of x) and the recurrence of one direction.
 */
#define KILN_RNN_FUNCTIONS(T, SUFFIX, EXP, TANH, LOG1P)                                                                   \
    static inline T kiln_rnn_act_##SUFFIX(const kiln_rnn_activation* a, T v) {                                        \
        T alpha = (T) a->alpha, beta = (T) a->beta;                                                                    \
        switch (a->code) {                                                                                             \
            case KILN_RA_RELU: return v > 0 ? v : 0;                                                                   \
            case KILN_RA_TANH: return TANH(v);                                                                         \
            case KILN_RA_SIGMOID: return 1 / (1 + EXP(-v));                                                            \
            case KILN_RA_AFFINE: return alpha * v + beta;                                                              \
            case KILN_RA_LEAKY_RELU: return v >= 0 ? v : alpha * v;                                                    \
            case KILN_RA_THRESHOLDED_RELU: return v >= alpha ? v : 0;                                                  \
            case KILN_RA_SCALED_TANH: return alpha * TANH(beta * v);                                                   \
            case KILN_RA_HARD_SIGMOID: { T h = alpha * v + beta; return h < 0 ? 0 : (h > 1 ? 1 : h); }                 \
            case KILN_RA_ELU: return v >= 0 ? v : alpha * (EXP(v) - 1);                                                \
            case KILN_RA_SOFTSIGN: return v / (1 + (v < 0 ? -v : v));                                                  \
            default: return (v > 0 ? v : 0) + LOG1P(EXP(-(v < 0 ? -v : v)));                                           \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    static inline T kiln_rnn_clip_##SUFFIX(T v, T bound) { return v < -bound ? -bound : (v > bound ? bound : v); }     \
                                                                                                                       \
    /* rec[k] = rb[k] + r[k] . h for rows [from, to) of r (hidden wide). */                                            \
    static inline void kiln_rnn_matvec_##SUFFIX(long from, long to, long hidden, const T* r, const T* rb, const T* h,   \
                                               T* rec) {                                                               \
        for (long k = from; k < to; k++) {                                                                             \
            const T* row = r + k * hidden;                                                                             \
            T acc = rb ? rb[k] : 0;                                                                                    \
            for (long j = 0; j < hidden; j++) acc += row[j] * h[j];                                                    \
            rec[k] = acc;                                                                                              \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* One step of batch entry b from the projection g of its input: h (and c) updated in place. */                    \
    static void kiln_rnn_step_##SUFFIX(const kiln_rnn_shape* s, const kiln_rnn_activation* act, const T* g,            \
                                       const T* r, const T* rb, const T* p, T* h, T* c, T* rec, T* tmp, T* reset) {    \
        long H = s->hidden;                                                                                            \
        T clip = (T) s->clip;                                                                                          \
        if (s->cell == KILN_CELL_RNN) {                                                                                \
            kiln_rnn_matvec_##SUFFIX(0, H, H, r, rb, h, rec);                                                          \
            for (long j = 0; j < H; j++) h[j] = kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[j] + rec[j], clip)); \
        } else if (s->cell == KILN_CELL_GRU) {                                                                         \
            /* gates z, r, h; without linear_before_reset the hidden gate's product is of r . h */                    \
            kiln_rnn_matvec_##SUFFIX(0, s->linear_before_reset ? 3 * H : 2 * H, H, r, rb, h, rec);                     \
            for (long j = 0; j < H; j++) {                                                                             \
                tmp[j] = kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[j] + rec[j], clip));                 \
                reset[j] = kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[H + j] + rec[H + j], clip));       \
            }                                                                                                          \
            if (!s->linear_before_reset) {                                                                             \
                for (long j = 0; j < H; j++) reset[j] *= h[j];                                                         \
                kiln_rnn_matvec_##SUFFIX(2 * H, 3 * H, H, r, rb, reset, rec);                                          \
            }                                                                                                          \
            for (long j = 0; j < H; j++) {                                                                             \
                T candidate = s->linear_before_reset ? g[2 * H + j] + reset[j] * rec[2 * H + j] : g[2 * H + j] + rec[2 * H + j]; \
                T hh = kiln_rnn_act_##SUFFIX(&act[1], kiln_rnn_clip_##SUFFIX(candidate, clip));                        \
                h[j] = (1 - tmp[j]) * hh + tmp[j] * h[j];                                                              \
            }                                                                                                          \
        } else {                                                                                                       \
            /* gates i, o, f, c; peepholes i, o, f */                                                                  \
            kiln_rnn_matvec_##SUFFIX(0, 4 * H, H, r, rb, h, rec);                                                      \
            for (long j = 0; j < H; j++) {                                                                             \
                T pi = p ? p[j] : 0, po = p ? p[H + j] : 0, pf = p ? p[2 * H + j] : 0;                                 \
                T in = kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[j] + rec[j] + pi * c[j], clip));       \
                T forget = s->input_forget ? 1 - in                                                                   \
                    : kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[2 * H + j] + rec[2 * H + j] + pf * c[j], clip)); \
                T candidate = kiln_rnn_act_##SUFFIX(&act[1], kiln_rnn_clip_##SUFFIX(g[3 * H + j] + rec[3 * H + j], clip)); \
                c[j] = forget * c[j] + in * candidate;                                                                 \
                T out = kiln_rnn_act_##SUFFIX(&act[0], kiln_rnn_clip_##SUFFIX(g[H + j] + rec[H + j] + po * c[j], clip)); \
                h[j] = out * kiln_rnn_act_##SUFFIX(&act[2], c[j]);                                                     \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /*                                                                                                                 \
     * The whole node: x, w, r as the op takes them; bias, lengths (checked), h0, c0, p, y, yh, yc NULL when absent;   \
     * ws (seq * batch * gates + gates + 4) * hidden values of T, gemm_ws a GEMM's workspace (float only).             \
     */                                                                                                                \
    static void kiln_rnn_##SUFFIX(const kiln_rnn_shape* s, const T* x, const T* w, const T* r, const T* bias,           \
                                 const int32_t* lengths, const T* h0, const T* c0, const T* p, T* y, T* yh, T* yc,     \
                                 T* ws, float* gemm_ws) {                                                              \
        long H = s->hidden, GH = s->gates * s->hidden, rows = s->seq * s->batch;                                       \
        T* proj = ws;                                                                                                  \
        T* rec = proj + rows * GH;                                                                                     \
        T *h = rec + GH, *c = h + H, *tmp = c + H, *reset = tmp + H;                                                   \
        if (y) memset(y, 0, (size_t) (rows * s->directions * H) * sizeof(T));                                          \
        for (long d = 0; d < s->directions; d++) {                                                                     \
            int backwards = s->reverse || d == 1;                                                                      \
            const T* rd = r + d * GH * H;                                                                              \
            const T* rb = bias ? bias + d * 2 * GH + GH : 0;                                                           \
            const T* pd = p ? p + d * 3 * H : 0;                                                                       \
            KILN_RNN_PROJECT_##SUFFIX(rows, GH, s->input, x, w + d * GH * s->input, bias ? bias + d * 2 * GH : 0, proj, gemm_ws); \
            for (long b = 0; b < s->batch; b++) {                                                                      \
                long state = kiln_rnn_state(s, d, b), length = lengths ? lengths[b] : s->seq;                          \
                for (long j = 0; j < H; j++) {                                                                         \
                    h[j] = h0 ? h0[state + j] : 0;                                                                     \
                    c[j] = c0 ? c0[state + j] : 0;                                                                     \
                }                                                                                                      \
                for (long step = 0; step < length; step++) {                                                           \
                    long t = backwards ? length - 1 - step : step;                                                     \
                    kiln_rnn_step_##SUFFIX(s, s->act[d], proj + kiln_rnn_row(s, t, b) * GH, rd, rb, pd, h, c, rec, tmp, reset); \
                    if (y) memcpy(y + kiln_rnn_output(s, t, d, b), h, (size_t) H * sizeof(T));                         \
                }                                                                                                      \
                if (yh) memcpy(yh + state, h, (size_t) H * sizeof(T));                                                 \
                if (yc) memcpy(yc + state, c, (size_t) H * sizeof(T));                                                 \
            }                                                                                                          \
        }                                                                                                              \
    }

/* proj = x w^T + wb through the packed GEMM (the pool's threads split it; each sum in one order). */
static void kiln_rnn_project_f32(long rows, long gh, long input, const float* x, const float* w, const float* wb, float* proj, float* gemm_ws) {
    kiln_epilogue e = {1.0f, 1.0f, wb, 0, 1, 0, 0, KILN_ACT_NONE, 0.0f, 0.0f};
    kiln_sgemm(rows, gh, input, x, input, 1, 0, w, 1, input, proj, gh, &e, gemm_ws);
}

static void kiln_rnn_project_f64(long rows, long gh, long input, const double* x, const double* w, const double* wb, double* proj, float* gemm_ws) {
    (void) gemm_ws;
    for (long i = 0; i < rows; i++) {
        for (long k = 0; k < gh; k++) {
            double acc = wb ? wb[k] : 0.0;
            for (long j = 0; j < input; j++) acc += x[i * input + j] * w[k * input + j];
            proj[i * gh + k] = acc;
        }
    }
}

#define KILN_RNN_PROJECT_f32 kiln_rnn_project_f32
#define KILN_RNN_PROJECT_f64 kiln_rnn_project_f64
KILN_RNN_FUNCTIONS(float, f32, expf, tanhf, log1pf)
KILN_RNN_FUNCTIONS(double, f64, exp, tanh, log1p)
