/* Softmax, layer normalisation and attention for transformer models. */
/* Softmax over the middle axis of [outer, axis, inner]. */
static void kiln_softmax(long outer, long axis, long inner, const float* x, float* y) {
    for (long o = 0; o < outer; o++) {
        for (long i = 0; i < inner; i++) {
            const float* src = x + o * axis * inner + i;
            float* dst = y + o * axis * inner + i;
            float m = -INFINITY;
            for (long a = 0; a < axis; a++) m = src[a * inner] > m ? src[a * inner] : m;
            float sum = 0.0f;
            for (long a = 0; a < axis; a++) {
                float v = expf(src[a * inner] - m);
                dst[a * inner] = v;
                sum += v;
            }
            float inv = 1.0f / sum;
            for (long a = 0; a < axis; a++) dst[a * inner] *= inv;
        }
    }
}

/* LayerNormalization over the last `size` elements of each of `rows` rows; scale/bias have `size` elements or 1 (stride 0). */
static void kiln_layer_norm(long rows, long size, const float* x, const float* scale, long scale_stride,
                            const float* bias, long bias_stride, float epsilon, float* y) {
    for (long r = 0; r < rows; r++) {
        const float* src = x + r * size;
        float* dst = y + r * size;
        double mean = 0.0, var = 0.0;
        for (long i = 0; i < size; i++) mean += src[i];
        mean /= (double) size;
        for (long i = 0; i < size; i++) var += (src[i] - mean) * (src[i] - mean);
        var /= (double) size;
        float inv = (float) (1.0 / sqrt(var + epsilon));
        for (long i = 0; i < size; i++) {
            float v = (float) (src[i] - mean) * inv * scale[i * scale_stride];
            dst[i] = bias ? v + bias[i * bias_stride] : v;
        }
    }
}

/*
 * Attention without mask or cache: y = softmax(scale * q k^T) v per batch and query head, a query head
 * reading key/value head h / (q_heads / kv_heads). Element (b, h, s, d) of each tensor is at
 * b * stride_b + h * stride_h + s * stride_s + d (this covers the 3-D [B, S, H*D] and 4-D [B, H, S, D] forms).
 */
typedef struct {
    long batch, q_heads, kv_heads, q_seq, kv_seq, head, v_head;
    long q_b, q_h, q_s, k_b, k_h, k_s, v_b, v_h, v_s, y_b, y_h, y_s;
    float scale;
} kiln_attention_shape;

static void kiln_attention(const kiln_attention_shape* s, const float* q, const float* k, const float* v, float* y, float* scores) {
    long group = s->q_heads / s->kv_heads;
    for (long b = 0; b < s->batch; b++) {
        for (long h = 0; h < s->q_heads; h++) {
            const float* kh = k + b * s->k_b + (h / group) * s->k_h;
            const float* vh = v + b * s->v_b + (h / group) * s->v_h;
            for (long i = 0; i < s->q_seq; i++) {
                const float* qi = q + b * s->q_b + h * s->q_h + i * s->q_s;
                float m = -INFINITY;
                for (long j = 0; j < s->kv_seq; j++) {
                    const float* kj = kh + j * s->k_s;
                    float dot = 0.0f;
                    for (long d = 0; d < s->head; d++) dot += qi[d] * kj[d];
                    scores[j] = dot * s->scale;
                    m = scores[j] > m ? scores[j] : m;
                }
                float sum = 0.0f;
                for (long j = 0; j < s->kv_seq; j++) {
                    scores[j] = expf(scores[j] - m);
                    sum += scores[j];
                }
                float* yi = y + b * s->y_b + h * s->y_h + i * s->y_s;
                for (long d = 0; d < s->v_head; d++) yi[d] = 0.0f;
                for (long j = 0; j < s->kv_seq; j++) {
                    const float* vj = vh + j * s->v_s;
                    float p = scores[j] / sum;
                    for (long d = 0; d < s->v_head; d++) yi[d] += p * vj[d];
                }
            }
        }
    }
}
