/*
 * Kiln CPU kernel: Attention in every form the op has, as the interpreter computes it (in float, or in double
 * for f64): grouped-query heads, a past key/value cache ahead of the new keys, an additive mask (bool masks
 * come as 0 / -inf) of any broadcastable shape, padded with -inf past its last column, causal and sliding-window
 * limits around each query's absolute position, nonpad_kv_seqlen, soft capping, and the scores output in any
 * qk_matmul_output_mode. A row with no attended key gives zero probabilities and a zero output. Whole (batch,
 * query head) pairs per thread: results do not depend on the thread count.
 */

/*
 * Element (b, h, s, d) of q, k, v (the new keys and values) and y is at b * x_b + h * x_h + s * x_s + d; the
 * past cache is [batch, kv_heads, past, head] (has_past: the cache input is there, whatever its length). The
 * mask's element for (b, h, query i, key j < m_keys) is at b * m_b + h * m_h + i * m_s + j.
 */
typedef struct {
    long batch, q_heads, kv_heads, q_seq, kv_seq, past, head, v_head;
    long q_b, q_h, q_s, k_b, k_h, k_s, v_b, v_h, v_s, y_b, y_h, y_s;
    long m_b, m_h, m_s, m_keys;
    int has_past, causal, mode;
    long left, right;
    double scale, softcap;
} kiln_sdpa_shape;

/*
 * The kernel of one compute type T (SUFFIX f32 or f64; EXP and TANH its libm functions). ws holds a row of
 * past + kv_seq logits per thread; scores (NULL: not wanted) is [batch, q_heads, q_seq, past + kv_seq].
 */
#define KILN_SDPA_FUNCTIONS(T, SUFFIX, EXP, TANH)                                                                         \
    typedef struct {                                                                                                   \
        const kiln_sdpa_shape* s;                                                                                      \
        const T *q, *k, *v, *past_k, *past_v, *mask;                                                                   \
        const int64_t* nonpad;                                                                                         \
        T *y, *scores;                                                                                                 \
    } kiln_sdpa_args_##SUFFIX;                                                                                         \
                                                                                                                       \
    static void kiln_sdpa_heads_##SUFFIX(void* ctx, long begin, long end, float* ws) {                                 \
        const kiln_sdpa_args_##SUFFIX* a = ctx;                                                                        \
        const kiln_sdpa_shape* s = a->s;                                                                               \
        long total = s->past + s->kv_seq, group = s->q_heads / s->kv_heads;                                            \
        T* logits = (T*) ws;                                                                                           \
        T scale = (T) s->scale, softcap = (T) s->softcap;                                                              \
        for (long bh = begin; bh < end; bh++) {                                                                        \
            long b = bh / s->q_heads, h = bh % s->q_heads, kv = b * s->kv_heads + h / group;                           \
            const T* kh = a->k + b * s->k_b + (h / group) * s->k_h;                                                    \
            const T* vh = a->v + b * s->v_b + (h / group) * s->v_h;                                                    \
            for (long i = 0; i < s->q_seq; i++) {                                                                      \
                const T* qi = a->q + b * s->q_b + h * s->q_h + i * s->q_s;                                             \
                T* yi = a->y + b * s->y_b + h * s->y_h + i * s->y_s;                                                   \
                T* si = a->scores ? a->scores + (bh * s->q_seq + i) * total : 0;                                       \
                const T* mi = a->mask ? a->mask + b * s->m_b + h * s->m_h + i * s->m_s : 0;                            \
                long position = (s->has_past ? s->past : (a->nonpad ? a->nonpad[b] - s->q_seq : 0)) + i;               \
                long valid = a->nonpad ? a->nonpad[b] : total;                                                         \
                T max = -INFINITY;                                                                                     \
                for (long j = 0; j < total; j++) {                                                                     \
                    const T* kj = j < s->past ? a->past_k + (kv * s->past + j) * s->head : kh + (j - s->past) * s->k_s; \
                    T dot = 0;                                                                                         \
                    for (long d = 0; d < s->head; d++) dot += qi[d] * kj[d];                                           \
                    T raw = dot * scale;                                                                               \
                    T capped = softcap > 0 ? softcap * TANH(raw / softcap) : raw;                                      \
                    int blocked = (s->causal && j > position) || (s->left >= 0 && j < position - s->left)              \
                        || (s->right >= 0 && j > position + s->right) || j >= valid;                                   \
                    T bias = blocked ? -INFINITY : (mi ? (j < s->m_keys ? mi[j] : -INFINITY) : 0);                      \
                    T logit = capped + bias;                                                                           \
                    if (si && s->mode < 3) si[j] = s->mode == 0 ? raw : (s->mode == 1 ? capped : logit);               \
                    logits[j] = logit;                                                                                 \
                    max = logit != logit || max != max ? (T) NAN : (logit > max ? logit : max);                        \
                }                                                                                                      \
                T sum = 0;                                                                                             \
                for (long j = 0; j < total; j++) {                                                                     \
                    logits[j] = max == -INFINITY ? 0 : EXP(logits[j] - max);                                           \
                    sum += logits[j];                                                                                  \
                }                                                                                                      \
                for (long d = 0; d < s->v_head; d++) yi[d] = 0;                                                        \
                for (long j = 0; j < total; j++) {                                                                     \
                    T p = sum == 0 ? 0 : logits[j] / sum;                                                              \
                    if (si && s->mode == 3) si[j] = p;                                                                 \
                    if (p == 0) continue;                                                                              \
                    const T* vj = j < s->past ? a->past_v + (kv * s->past + j) * s->v_head : vh + (j - s->past) * s->v_s; \
                    for (long d = 0; d < s->v_head; d++) yi[d] += p * vj[d];                                           \
                }                                                                                                      \
            }                                                                                                          \
        }                                                                                                              \
    }                                                                                                                  \
                                                                                                                       \
    /* Inputs NULL where the node lacks them; ws0: the calling thread's past + kv_seq values of T. */                 \
    static void kiln_sdpa_##SUFFIX(const kiln_sdpa_shape* s, const T* q, const T* k, const T* v, const T* past_k,      \
                                   const T* past_v, const T* mask, const int64_t* nonpad, T* y, T* scores, float* ws0) { \
        kiln_sdpa_args_##SUFFIX a = {s, q, k, v, past_k, past_v, mask, nonpad, y, scores};                             \
        long total = s->past + s->kv_seq;                                                                              \
        kiln_parallel_for(s->batch * s->q_heads, s->q_seq * total * (s->head + s->v_head), kiln_sdpa_heads_##SUFFIX, &a, ws0); \
    }

KILN_SDPA_FUNCTIONS(float, f32, expf, tanhf)
KILN_SDPA_FUNCTIONS(double, f64, exp, tanh)
