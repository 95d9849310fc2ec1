/* Kiln CPU kernel: attention without mask or cache, whole (batch, head) pairs per thread. */


/*
 * Attention without mask or cache: y = softmax(scale * q k^T) v per batch and query head, a query head
 * reading key/value head h / (q_heads / kv_heads). Element (b, h, s, d) of each tensor is at
 * b * stride_b + h * stride_h + s * stride_s + d (this covers the 3-D [B, S, H*D] and 4-D [B, H, S, D]
 * forms and strided views of larger tensors).
 */
typedef struct {
    long batch, q_heads, kv_heads, q_seq, kv_seq, head, v_head;
    long q_b, q_h, q_s, k_b, k_h, k_s, v_b, v_h, v_s, y_b, y_h, y_s;
    float scale;
} kiln_attention_shape;

/*
 * Keys go by blocks of KILN_ATTENTION_KEYS: a block of keys is transposed so that a query's scores for
 * the block are KILN_ATTENTION_KEYS / KILN_VL vectors accumulated in registers, for KILN_ATTENTION_ROWS
 * queries at once (independent chains of multiply-adds). Queries go by blocks of KILN_ATTENTION_QUERIES,
 * whose running maxima and sums the workspace holds.
 */
#define KILN_ATTENTION_KEYS 16L
#define KILN_ATTENTION_ROWS 4
#define KILN_ATTENTION_QUERIES 64L
/* The per-thread workspace of kiln_attention, in floats: a transposed key block, scores of a row group, running maxima and sums. */
#define KILN_ATTENTION_WORKSPACE(head) ((head) * KILN_ATTENTION_KEYS + KILN_ATTENTION_ROWS * KILN_ATTENTION_KEYS + 2 * KILN_ATTENTION_QUERIES)

typedef struct {
    const kiln_attention_shape* s;
    const float *q, *k, *v;
    float* y;
} kiln_attention_args;

/*
 * Queries i .. i + rows - 1 against keys j0 .. j0 + kn - 1 (transposed in kt, zero past kn): scores,
 * the online-softmax update of their maxima and sums, and y_i = y_i * correction + sum_j p_j v_j.
 */
static inline __attribute__((always_inline)) void kiln_attention_rows(const int rows, const kiln_attention_shape* s, const float* qh,
                                                                      const float* vh, float* yh, long i, long j0, long kn,
                                                                      const float* kt, float* p, float* maxima, float* sums) {
    enum { KEYS = KILN_ATTENTION_KEYS, VECTORS = KILN_ATTENTION_KEYS / KILN_VL };
    kiln_vf acc[KILN_ATTENTION_ROWS][VECTORS];
    float correction[KILN_ATTENTION_ROWS];
    for (int r = 0; r < rows; r++) for (int v = 0; v < VECTORS; v++) acc[r][v] = (kiln_vf) {0};
    for (long d = 0; d < s->head; d++) {
        kiln_vf kd[VECTORS];
        for (int v = 0; v < VECTORS; v++) kd[v] = kiln_vload(kt + d * KEYS + v * KILN_VL);
        for (int r = 0; r < rows; r++) {
            float qd = qh[(i + r) * s->q_s + d];
            for (int v = 0; v < VECTORS; v++) acc[r][v] += qd * kd[v];
        }
    }
    for (int r = 0; r < rows; r++) {
        float* pr = p + r * KEYS;
        for (int v = 0; v < VECTORS; v++) kiln_vstore(pr + v * KILN_VL, acc[r][v] * s->scale);
        float m = maxima[i + r];
        for (long j = 0; j < kn; j++) m = pr[j] > m ? pr[j] : m;
        correction[r] = maxima[i + r] == -INFINITY ? 0.0f : kiln_exp(maxima[i + r] - m);
        for (int v = 0; v < VECTORS; v++) kiln_vstore(pr + v * KILN_VL, kiln_exp_v(kiln_vload(pr + v * KILN_VL) - m));
        for (long j = kn; j < KEYS; j++) pr[j] = 0.0f;
        sums[i + r] = sums[i + r] * correction[r] + kiln_sum(pr, KEYS);
        maxima[i + r] = m;
    }
    long d = 0, full = s->v_head / KILN_VL * KILN_VL;
    for (; d < full; d += KILN_VL) {
        kiln_vf y[KILN_ATTENTION_ROWS];
        for (int r = 0; r < rows; r++) y[r] = j0 == 0 ? (kiln_vf) {0} : kiln_vload(yh + (i + r) * s->y_s + d) * correction[r];
        for (long j = 0; j < kn; j++) {
            kiln_vf vj = kiln_vload(vh + (j0 + j) * s->v_s + d);
            for (int r = 0; r < rows; r++) y[r] += p[r * KEYS + j] * vj;
        }
        for (int r = 0; r < rows; r++) kiln_vstore(yh + (i + r) * s->y_s + d, y[r]);
    }
    for (; d < s->v_head; d++) {
        for (int r = 0; r < rows; r++) {
            float* yd = yh + (i + r) * s->y_s + d;
            float y = j0 == 0 ? 0.0f : *yd * correction[r];
            for (long j = 0; j < kn; j++) y += p[r * KEYS + j] * vh[(j0 + j) * s->v_s + d];
            *yd = y;
        }
    }
}

/*
 * Heads [begin, end) (index b * q_heads + h). Per block of queries it streams the key blocks with a
 * running maximum and sum (online softmax), so any sequence length needs only the fixed workspace.
 */
static void kiln_attention_heads(void* ctx, long begin, long end, float* ws) {
    const kiln_attention_args* a = ctx;
    const kiln_attention_shape* s = a->s;
    const long KEYS = KILN_ATTENTION_KEYS;
    float* kt = ws;
    float* p = kt + s->head * KEYS;
    float* maxima = p + KILN_ATTENTION_ROWS * KEYS;
    float* sums = maxima + KILN_ATTENTION_QUERIES;
    long group = s->q_heads / s->kv_heads;
    for (long bh = begin; bh < end; bh++) {
        long b = bh / s->q_heads, h = bh % s->q_heads;
        const float* kh = a->k + b * s->k_b + (h / group) * s->k_h;
        const float* vh = a->v + b * s->v_b + (h / group) * s->v_h;
        const float* qh = a->q + b * s->q_b + h * s->q_h;
        float* yh = a->y + b * s->y_b + h * s->y_h;
        for (long i0 = 0; i0 < s->q_seq; i0 += KILN_ATTENTION_QUERIES) {
            long qn = s->q_seq - i0 < KILN_ATTENTION_QUERIES ? s->q_seq - i0 : KILN_ATTENTION_QUERIES;
            for (long i = 0; i < qn; i++) {
                maxima[i] = -INFINITY;
                sums[i] = 0.0f;
            }
            for (long j0 = 0; j0 < s->kv_seq; j0 += KEYS) {
                long kn = s->kv_seq - j0 < KEYS ? s->kv_seq - j0 : KEYS;
                for (long j = 0; j < KEYS; j++) {
                    for (long d = 0; d < s->head; d++) kt[d * KEYS + j] = j < kn ? kh[(j0 + j) * s->k_s + d] : 0.0f;
                }
                long i = 0;
                for (; i + KILN_ATTENTION_ROWS <= qn; i += KILN_ATTENTION_ROWS) {
                    kiln_attention_rows(KILN_ATTENTION_ROWS, s, qh + i0 * s->q_s, vh, yh + i0 * s->y_s, i, j0, kn, kt, p, maxima, sums);
                }
                for (; i < qn; i++) kiln_attention_rows(1, s, qh + i0 * s->q_s, vh, yh + i0 * s->y_s, i, j0, kn, kt, p, maxima, sums);
            }
            for (long i = 0; i < qn; i++) {
                float inv = 1.0f / sums[i];
                float* yi = yh + (i0 + i) * s->y_s;
                for (long d = 0; d < s->v_head; d++) yi[d] *= inv;
            }
        }
    }
}

/* ws: KILN_ATTENTION_WORKSPACE(head) floats for the calling thread (the pool's threads use their own). */
static void kiln_attention(const kiln_attention_shape* s, const float* q, const float* k, const float* v, float* y, float* ws) {
    kiln_attention_args a = {s, q, k, v, y};
    kiln_parallel_for(s->batch * s->q_heads, s->q_seq * s->kv_seq * (s->head + s->v_head), kiln_attention_heads, &a, ws);
}
