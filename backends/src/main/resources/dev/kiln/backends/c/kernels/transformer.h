/*
 * Kiln CPU kernels for transformer models: products of a few rows with constant weights, softmax,
 * layer normalisation and attention. Loops are written over GCC vector types (kiln_vf, activations.h)
 * where the compiler would not vectorise on its own (reductions, whose order a plain loop may not change). Every kernel splits its work over whole output
 * rows, heads or column panels, each computed in a fixed order, so results do not depend on the thread count.
 */
/* Rows of A per register tile of kiln_small_matmul: as many as the vector registers hold two accumulators for. */
#if defined(__AVX512F__) || defined(__aarch64__)
#define KILN_SMM_MR 8
#elif defined(__AVX__)
#define KILN_SMM_MR 6
#else
#define KILN_SMM_MR 4
#endif
/* Columns per panel of packed weights: two vectors (kiln_vf, activations.h). The generator reserves panels of 32, the widest. */
#define KILN_SMM_NR (2 * KILN_VL)
static inline float kiln_vsum(kiln_vf v) {
    float s = 0.0f;
    for (int i = 0; i < KILN_VL; i++) s += v[i];
    return s;
}

/* sum of x[0, n) with KILN_VL partial sums, then the tail. */
static inline float kiln_sum(const float* x, long n) {
    kiln_vf acc = {0};
    long full = n / KILN_VL * KILN_VL;
    for (long i = 0; i < full; i += KILN_VL) acc += kiln_vload(x + i);
    float s = kiln_vsum(acc);
    for (long i = full; i < n; i++) s += x[i];
    return s;
}

/* ---- small products: C = epilogue(A B) for a few rows of A and constant B ------------------------------------ */

/*
 * Packs B(k, n) = B[k * b_rs + n * b_cs] (K x N, constant weights, at init) into panels of KILN_SMM_NR
 * columns, each K rows of KILN_SMM_NR floats, zero-padded past N: roundup(N, KILN_SMM_NR) * K floats.
 */
static void kiln_smm_pack_b(long K, long N, const float* B, long b_rs, long b_cs, float* dst) {
    for (long p = 0; p < N; p += KILN_SMM_NR) {
        for (long k = 0; k < K; k++, dst += KILN_SMM_NR) {
            for (long c = 0; c < KILN_SMM_NR; c++) dst[c] = p + c < N ? B[k * b_rs + (p + c) * b_cs] : 0.0f;
        }
    }
}

/* tile[r * KILN_SMM_NR + c] = sum_k A(r, k) * panel[k * KILN_SMM_NR + c] for r < rows: rows x 2 vectors in registers. */
static inline __attribute__((always_inline)) void kiln_smm_tile(int rows, long K, const float* A, long a_rs, long a_cs,
                                                                const float* panel, float* tile) {
    kiln_vf c0[KILN_SMM_MR], c1[KILN_SMM_MR];
    for (int r = 0; r < rows; r++) c0[r] = c1[r] = (kiln_vf) {0};
    for (long k = 0; k < K; k++) {
        kiln_vf b0 = kiln_vload(panel + k * KILN_SMM_NR), b1 = kiln_vload(panel + k * KILN_SMM_NR + KILN_VL);
        for (int r = 0; r < rows; r++) {
            float a = A[r * a_rs + k * a_cs];
            c0[r] += a * b0;
            c1[r] += a * b1;
        }
    }
    for (int r = 0; r < rows; r++) {
        kiln_vstore(tile + r * KILN_SMM_NR, c0[r]);
        kiln_vstore(tile + r * KILN_SMM_NR + KILN_VL, c1[r]);
    }
}

/*
 * Stores rows x cols of a tile at C(i, j) through the epilogue, applied in the tile (a residual may be C
 * itself: each value is read before it is written); the activation runs over whole tile rows of vectors.
 */
static void kiln_smm_store(float* tile, long rows, long cols, float* C, long ldc, long i, long j, const kiln_epilogue* e) {
    for (long r = 0; r < rows; r++) {
        float* v = tile + r * KILN_SMM_NR;
        if (e->alpha != 1.0f) for (long c = 0; c < cols; c++) v[c] *= e->alpha;
        if (e->bias) {
            const float* b = e->bias + (i + r) * e->bias_rs + j * e->bias_cs;
            if (e->bias_cs == 0) {
                float bv = e->beta * b[0];
                for (long c = 0; c < cols; c++) v[c] += bv;
            } else if (e->beta == 1.0f && e->bias_cs == 1) {
                for (long c = 0; c < cols; c++) v[c] += b[c];
            } else {
                for (long c = 0; c < cols; c++) v[c] += e->beta * b[c * e->bias_cs];
            }
        }
        if (e->residual) {
            const float* z = e->residual + (i + r) * e->residual_ld + j;
            for (long c = 0; c < cols; c++) v[c] += z[c];
        }
    }
    kiln_activate_row(tile, rows * KILN_SMM_NR, e->act, e->p0, e->p1);
    for (long r = 0; r < rows; r++) memcpy(C + (i + r) * ldc + j, tile + r * KILN_SMM_NR, (size_t) cols * sizeof(float));
}

typedef struct {
    long M, N, K;
    const float* A;
    long a_rs, a_cs;
    const float* packed_b;
    float* C;
    long ldc;
    const kiln_epilogue* e;
} kiln_smm_args;

/* Column panels [begin, end): each panel (K x KILN_SMM_NR floats, in L1) meets every row block of A. */
static void kiln_smm_task(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_smm_args* g = ctx;
    float tile[KILN_SMM_MR * KILN_SMM_NR] __attribute__((aligned(64)));
    for (long p = begin; p < end; p++) {
        long j = p * KILN_SMM_NR, cols = g->N - j < KILN_SMM_NR ? g->N - j : KILN_SMM_NR;
        const float* panel = g->packed_b + p * g->K * KILN_SMM_NR;
        long i = 0;
        for (; i + KILN_SMM_MR <= g->M; i += KILN_SMM_MR) {
            kiln_smm_tile(KILN_SMM_MR, g->K, g->A + i * g->a_rs, g->a_rs, g->a_cs, panel, tile);
            kiln_smm_store(tile, KILN_SMM_MR, cols, g->C, g->ldc, i, j, g->e);
        }
        if (i < g->M) {
            kiln_smm_tile((int) (g->M - i), g->K, g->A + i * g->a_rs, g->a_rs, g->a_cs, panel, tile);
            kiln_smm_store(tile, g->M - i, cols, g->C, g->ldc, i, j, g->e);
        }
    }
}

/*
 * C(i, j) (row stride ldc) = epilogue(sum_k A(i, k) B(k, j)) with A(i, k) = A[i * a_rs + k * a_cs] and B
 * as kiln_smm_pack_b packed it. For few rows the packed GEMM's blocking and per-call packing of B cost
 * more than the products; here B is packed once and A is read in place. Threads split the column panels.
 */
static void kiln_small_matmul(long M, long N, long K, const float* A, long a_rs, long a_cs, const float* packed_b,
                              float* C, long ldc, const kiln_epilogue* e) {
    kiln_smm_args g = {M, N, K, A, a_rs, a_cs, packed_b, C, ldc, e};
    long panels = (N + KILN_SMM_NR - 1) / KILN_SMM_NR;
    kiln_parallel_for(panels, M * K * KILN_SMM_NR, kiln_smm_task, &g, 0);
}

/* ---- softmax ------------------------------------------------------------------------------------------------- */

typedef struct {
    long axis, inner;
    const float* x;
    float* y;
} kiln_softmax_args;

/* Rows [begin, end) of [outer, axis, inner] (one row: one outer index) */
static void kiln_softmax_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_softmax_args* a = ctx;
    long axis = a->axis, inner = a->inner;
    for (long o = begin; o < end; o++) {
        const float* src = a->x + o * axis * inner;
        float* dst = a->y + o * axis * inner;
        if (inner == 1) {
            float m = -INFINITY;
            for (long i = 0; i < axis; i++) m = src[i] > m ? src[i] : m;
            for (long i = 0; i < axis; i++) dst[i] = kiln_exp(src[i] - m);
            float inv = 1.0f / kiln_sum(dst, axis);
            for (long i = 0; i < axis; i++) dst[i] *= inv;
            continue;
        }
        for (long i = 0; i < inner; i++) {
            float m = -INFINITY;
            for (long t = 0; t < axis; t++) m = src[t * inner + i] > m ? src[t * inner + i] : m;
            float sum = 0.0f;
            for (long t = 0; t < axis; t++) {
                float v = kiln_exp(src[t * inner + i] - m);
                dst[t * inner + i] = v;
                sum += v;
            }
            float inv = 1.0f / sum;
            for (long t = 0; t < axis; t++) dst[t * inner + i] *= inv;
        }
    }
}

/* Softmax over the middle axis of [outer, axis, inner]. */
static void kiln_softmax(long outer, long axis, long inner, const float* x, float* y) {
    kiln_softmax_args a = {axis, inner, x, y};
    kiln_parallel_for(outer, axis * inner * 8, kiln_softmax_rows, &a, 0);
}

/* ---- layer normalisation -------------------------------------------------------------------------------------- */

typedef struct {
    long size;
    const float* x;
    const float* scale;
    long scale_stride;
    const float* bias;
    long bias_stride;
    float epsilon;
    float* y;
} kiln_layer_norm_args;

static void kiln_layer_norm_rows(void* ctx, long begin, long end, float* ws) {
    (void) ws;
    const kiln_layer_norm_args* a = ctx;
    long size = a->size;
    for (long r = begin; r < end; r++) {
        const float* src = a->x + r * size;
        float* dst = a->y + r * size;
        float mean = kiln_sum(src, size) / (float) size;
        kiln_vf acc = {0};
        long full = size / KILN_VL * KILN_VL;
        for (long i = 0; i < full; i += KILN_VL) {
            kiln_vf d = kiln_vload(src + i) - mean;
            acc += d * d;
        }
        float var = kiln_vsum(acc);
        for (long i = full; i < size; i++) var += (src[i] - mean) * (src[i] - mean);
        float inv = 1.0f / sqrtf(var / (float) size + a->epsilon);
        if (a->scale_stride == 1 && a->bias && a->bias_stride == 1) {
            for (long i = 0; i < size; i++) dst[i] = (src[i] - mean) * inv * a->scale[i] + a->bias[i];
        } else {
            for (long i = 0; i < size; i++) {
                float v = (src[i] - mean) * inv * a->scale[i * a->scale_stride];
                dst[i] = a->bias ? v + a->bias[i * a->bias_stride] : v;
            }
        }
    }
}

/* LayerNormalization over the last `size` elements of each of `rows` rows; scale/bias have `size` elements or 1 (stride 0). */
static void kiln_layer_norm(long rows, long size, const float* x, const float* scale, long scale_stride,
                            const float* bias, long bias_stride, float epsilon, float* y) {
    kiln_layer_norm_args a = {size, x, scale, scale_stride, bias, bias_stride, epsilon, y};
    kiln_parallel_for(rows, size * 6, kiln_layer_norm_rows, &a, 0);
}

/* ---- attention ------------------------------------------------------------------------------------------------ */

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
