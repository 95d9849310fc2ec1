/*
 * Kiln CPU kernel: attention with an optional additive mask and causal limit, without cache, blocks of queries
 * per thread.
 */


/*
 * y = softmax(scale * q k^T + mask) v per batch and query head, a query head reading key/value head
 * h / (q_heads / kv_heads). Element (b, h, s, d) of each tensor is at b * stride_b + h * stride_h + s * stride_s
 * + d (this covers the 3-D [B, S, H*D] and 4-D [B, H, S, D] forms and strided views of larger tensors). The
 * mask's element for (b, h, query i, key j) is at b * m_b + h * m_h + i * m_s + j, keys from m_keys on masked
 * out; causal masks out the keys after each query's position. A query with every key masked out gives zeros.
 */
typedef struct {
    long batch, q_heads, kv_heads, q_seq, kv_seq, head, v_head;
    long q_b, q_h, q_s, k_b, k_h, k_s, v_b, v_h, v_s, y_b, y_h, y_s;
    long m_b, m_h, m_s, m_keys;
    int causal;
    float scale;
} kiln_attention_shape;

/*
 * Keys go by blocks of KILN_ATTENTION_KEYS: a block of keys is transposed so that a query's scores for the
 * block are KILN_ATTENTION_KEYS / KILN_VL vectors accumulated in registers, for KILN_ATTENTION_ROWS queries at
 * once (independent chains of multiply-adds). Queries go by blocks of KILN_ATTENTION_QUERIES, one parallel item
 * each, whose running maxima and sums the workspace holds: the scores of a block of queries against every key
 * never exist at once (online softmax), so any sequence length needs only the fixed workspace.
 */
#if defined(__AVX512F__) || defined(__aarch64__)
#define KILN_ATTENTION_KEYS (4 * KILN_VL)
#else
#define KILN_ATTENTION_KEYS (2 * KILN_VL)
#endif
#define KILN_ATTENTION_ROWS 4
#define KILN_ATTENTION_QUERIES 64L
/* The per-thread workspace of kiln_attention, in floats: a transposed key block, scores of a row group, running maxima and sums. */
#define KILN_ATTENTION_WORKSPACE(head) ((head) * KILN_ATTENTION_KEYS + KILN_ATTENTION_ROWS * KILN_ATTENTION_KEYS + 2 * KILN_ATTENTION_QUERIES)

typedef struct {
    const kiln_attention_shape* s;
    const float *q, *k, *v, *mask;
    float* y;
} kiln_attention_args;

/*
 * Queries i .. i + rows - 1 of the block at query position i0 against keys j0 .. j0 + kn - 1 (transposed in
 * kt): scores plus mask (-inf where masked out), the online-softmax update of their maxima and sums, and
 * y_i = y_i * correction + sum_j p_j v_j.
 */
static inline __attribute__((always_inline)) void kiln_attention_rows(const int rows, const int vectors, const kiln_attention_shape* s,
                                                                      const float* qh, const float* vh, const float* mh, float* yh, long i0,
                                                                      long i, long j0, long kn, const float* kt, float* p, float* maxima,
                                                                      float* sums) {
    enum { KEYS = KILN_ATTENTION_KEYS, VECTORS = KILN_ATTENTION_KEYS / KILN_VL };
    kiln_vf acc[KILN_ATTENTION_ROWS][VECTORS];
    float correction[KILN_ATTENTION_ROWS];
    for (int r = 0; r < rows; r++) for (int v = 0; v < vectors; v++) acc[r][v] = kiln_vsplat(0.0f);
    for (long d = 0; d < s->head; d++) {
        kiln_vf kd[VECTORS];
        for (int v = 0; v < vectors; v++) kd[v] = kiln_vload(kt + d * KEYS + v * KILN_VL);
        for (int r = 0; r < rows; r++) {
            float qd = qh[(i + r) * s->q_s + d];
            for (int v = 0; v < vectors; v++) acc[r][v] += qd * kd[v];
        }
    }
    for (int r = 0; r < rows; r++) {
        long query = i0 + i + r;
        /* keys of the block before `limit` are attended to, at most */
        long limit = kn;
        if (s->causal && query + 1 - j0 < limit) limit = query + 1 - j0;
        if (mh && s->m_keys - j0 < limit) limit = s->m_keys - j0;
        const float* mask = mh ? mh + query * s->m_s + j0 : 0;
        kiln_vf top = kiln_vsplat(-INFINITY);
        for (int v = 0; v < vectors; v++) {
            long lanes = limit - v * KILN_VL;
            kiln_vf x = acc[r][v] * s->scale;
            if (mask && lanes > 0) x += kiln_vload_part(mask + v * KILN_VL, lanes < KILN_VL ? lanes : KILN_VL);
            acc[r][v] = kiln_vselect(kiln_vlanes_below(lanes < 0 ? 0 : lanes), x, kiln_vsplat(-INFINITY));
            top = kiln_vselect(acc[r][v] > top, acc[r][v], top);
        }
        float previous = maxima[i + r], m = kiln_vmax(top);
        m = m > previous ? m : previous;
        float* pr = p + r * KEYS;
        if (m == -INFINITY) {
            /* nothing attended to yet: no weights, nothing to correct */
            for (int v = 0; v < vectors; v++) kiln_vstore(pr + v * KILN_VL, kiln_vsplat(0.0f));
            correction[r] = 1.0f;
            continue;
        }
        correction[r] = previous == -INFINITY ? 0.0f : kiln_exp(previous - m);
        kiln_vf sum = kiln_vsplat(0.0f), mv = kiln_vsplat(m);
        for (int v = 0; v < vectors; v++) {
            long lanes = limit - v * KILN_VL;
            kiln_vf e = kiln_vselect(kiln_vlanes_below(lanes < 0 ? 0 : lanes), kiln_exp_v(acc[r][v] - mv), kiln_vsplat(0.0f));
            kiln_vstore(pr + v * KILN_VL, e);
            sum += e;
        }
        sums[i + r] = sums[i + r] * correction[r] + kiln_vsum(sum);
        maxima[i + r] = m;
    }
    long d = 0, full = s->v_head / KILN_VL * KILN_VL;
    for (; d < full; d += KILN_VL) {
        kiln_vf y[KILN_ATTENTION_ROWS];
        for (int r = 0; r < rows; r++) y[r] = j0 == 0 ? kiln_vsplat(0.0f) : kiln_vload(yh + (i + r) * s->y_s + d) * correction[r];
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

/* kiln_attention_rows for a block of 1 to KILN_ATTENTION_KEYS / KILN_VL vectors of keys (short sequences take narrow blocks) */
#if KILN_ATTENTION_KEYS == 4 * KILN_VL
#define KILN_ATTENTION_ROWS_OF(rows, vectors, ...)                          \
    switch (vectors) {                                                      \
        case 1: kiln_attention_rows(rows, 1, __VA_ARGS__); break;           \
        case 2: kiln_attention_rows(rows, 2, __VA_ARGS__); break;           \
        case 3: kiln_attention_rows(rows, 3, __VA_ARGS__); break;           \
        default: kiln_attention_rows(rows, 4, __VA_ARGS__); break;          \
    }
#else
#define KILN_ATTENTION_ROWS_OF(rows, vectors, ...)                          \
    switch (vectors) {                                                      \
        case 1: kiln_attention_rows(rows, 1, __VA_ARGS__); break;           \
        default: kiln_attention_rows(rows, 2, __VA_ARGS__); break;          \
    }
#endif

/*
 * Items [begin, end): blocks of KILN_ATTENTION_QUERIES queries (index (b * q_heads + h) * blocks + block). Each
 * streams the key blocks with a running maximum and sum per query.
 */
static void kiln_attention_blocks(void* ctx, long begin, long end, float* ws) {
    const kiln_attention_args* a = ctx;
    const kiln_attention_shape* s = a->s;
    const long KEYS = KILN_ATTENTION_KEYS;
    float* kt = ws;
    float* p = kt + s->head * KEYS;
    float* maxima = p + KILN_ATTENTION_ROWS * KEYS;
    float* sums = maxima + KILN_ATTENTION_QUERIES;
    long group = s->q_heads / s->kv_heads, blocks = (s->q_seq + KILN_ATTENTION_QUERIES - 1) / KILN_ATTENTION_QUERIES;
    for (long item = begin; item < end; item++) {
        long bh = item / blocks, i0 = item % blocks * KILN_ATTENTION_QUERIES;
        long b = bh / s->q_heads, h = bh % s->q_heads;
        const float* kh = a->k + b * s->k_b + (h / group) * s->k_h;
        const float* vh = a->v + b * s->v_b + (h / group) * s->v_h;
        const float* qh = a->q + b * s->q_b + h * s->q_h + i0 * s->q_s;
        const float* mh = a->mask ? a->mask + b * s->m_b + h * s->m_h : 0;
        float* yh = a->y + b * s->y_b + h * s->y_h + i0 * s->y_s;
        long qn = s->q_seq - i0 < KILN_ATTENTION_QUERIES ? s->q_seq - i0 : KILN_ATTENTION_QUERIES;
        for (long i = 0; i < qn; i++) {
            maxima[i] = -INFINITY;
            sums[i] = 0.0f;
        }
        /* under the causal limit the keys after the block's last query are masked out for all of it */
        long keys = s->causal && i0 + qn < s->kv_seq ? i0 + qn : s->kv_seq;
        for (long j0 = 0; j0 < keys; j0 += KEYS) {
            long kn = keys - j0 < KEYS ? keys - j0 : KEYS, vectors = (kn + KILN_VL - 1) / KILN_VL;
            for (long j = 0; j < vectors * KILN_VL; j++) {
                for (long d = 0; d < s->head; d++) kt[d * KEYS + j] = j < kn ? kh[(j0 + j) * s->k_s + d] : 0.0f;
            }
            /* rows before `first` see none of these keys under the causal limit: their online softmax does not change */
            long first = s->causal && j0 > i0 ? (j0 - i0) / KILN_ATTENTION_ROWS * KILN_ATTENTION_ROWS : 0;
            long i = first;
            for (; i + KILN_ATTENTION_ROWS <= qn; i += KILN_ATTENTION_ROWS) {
                KILN_ATTENTION_ROWS_OF(KILN_ATTENTION_ROWS, vectors, s, qh, vh, mh, yh, i0, i, j0, kn, kt, p, maxima, sums)
            }
            for (; i < qn; i++) KILN_ATTENTION_ROWS_OF(1, vectors, s, qh, vh, mh, yh, i0, i, j0, kn, kt, p, maxima, sums)
        }
        for (long i = 0; i < qn; i++) {
            float inv = sums[i] == 0.0f ? 0.0f : 1.0f / sums[i];
            float* yi = yh + i * s->y_s;
            for (long d = 0; d < s->v_head; d++) yi[d] *= inv;
        }
    }
}

/* mask NULL when there is none; ws: KILN_ATTENTION_WORKSPACE(head) floats for the calling thread (the pool's threads use their own). */
static void kiln_attention(const kiln_attention_shape* s, const float* q, const float* k, const float* v, const float* mask, float* y,
                           float* ws) {
    kiln_attention_args a = {s, q, k, v, mask, y};
    long blocks = (s->q_seq + KILN_ATTENTION_QUERIES - 1) / KILN_ATTENTION_QUERIES;
    kiln_parallel_for(s->batch * s->q_heads * blocks, KILN_ATTENTION_QUERIES * s->kv_seq * (s->head + s->v_head), kiln_attention_blocks, &a, ws);
}
