/*
 * Kiln CPU kernels: packed, register-blocked single-precision GEMM.
 *
 * C(m, n) = epilogue(sum_k A(m, k) * B(k, n)) with A(m, k) = A[m * a_rs + k * a_cs]; B is read through a
 * packing function, so a convolution packs its im2col columns straight from the input (conv.h) and a
 * plain GEMM packs B(k, n) = B[k * b_rs + n * b_cs] (transposes are strides). The loops block N by
 * KILN_NC, K by KILN_KC and M by KILN_MC; each block of B is packed into NR-column panels and A into
 * KILN_PANEL-row panels that the micro-kernel streams, keeping an MR x NR tile of C in registers. Partial
 * sums of all but the last K block go to C; the last block applies the epilogue (alpha, bias, residual,
 * activation) as it stores.
 *
 * Packed A: KILN_PANEL (12) rows per panel on every ISA (KILN_MR divides it), so the generator packs
 * constant weights at compile time without knowing the ISA: panel p holds A(p * 12 + r, k) at
 * [(p * K + k) * 12 + r], rows past M zero; the micro-kernel reads MR of a panel's 12 rows per k.
 * KILN_GEMM_WORKSPACE_FLOATS is at most the AVX-512 blocking's, which the generator reserves.
 */
#if defined(__AVX512F__)
/* 32 vector registers: a 12 x 32 tile is 24 accumulators, 2 registers of B and a broadcast of A (6 x 32 for the last rows). */
#include <immintrin.h>
#define KILN_MR 12
#define KILN_NR 32
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define KILN_MR 6
#define KILN_NR 16
#elif defined(__aarch64__) && defined(__ARM_NEON)
/* 32 vector registers: a 12 x 8 tile is 24 accumulators, 3 registers of A and 2 of B. */
#include <arm_neon.h>
#define KILN_MR 12
#define KILN_NR 8
#elif defined(__ARM_NEON)
/* ARMv7 NEON, 16 quad registers: a 4 x 8 tile is 8 accumulators, 2 registers of B and broadcasts of A. */
#include <arm_neon.h>
#define KILN_MR 4
#define KILN_NR 8
#else
#define KILN_MR 4
#define KILN_NR 8
#endif
#define KILN_PANEL 12
#define KILN_KC 256
#define KILN_MC (KILN_PANEL * 8)
#define KILN_NC (KILN_NR * 32)

/* Floats of workspace kiln_sgemm needs: one packed block of A and one of B. */
#define KILN_GEMM_WORKSPACE_FLOATS ((long) KILN_MC * KILN_KC + (long) KILN_KC * KILN_NC)

/* Packs rows [0, mc) x columns [0, kc) of A into 12-row panels: A(p * 12 + r, k) at dst[(p * kc + k) * 12 + r]. */
static void kiln_pack_a(long mc, long kc, const float* A, long a_rs, long a_cs, float* dst) {
    for (long p = 0; p < mc; p += KILN_PANEL) {
        long rows = mc - p < KILN_PANEL ? mc - p : KILN_PANEL;
        for (long k = 0; k < kc; k++) {
            for (long r = 0; r < rows; r++) dst[r] = A[(p + r) * a_rs + k * a_cs];
            for (long r = rows; r < KILN_PANEL; r++) dst[r] = 0.0f;
            dst += KILN_PANEL;
        }
    }
}

/* Packs rows [pc, pc + kc) x columns [jc, jc + nc) of B into NR-column panels: B(pc + k, jc + p * NR + c) at dst[(p * kc + k) * NR + c]. */
typedef void (*kiln_pack_b_fn)(const void* src, long pc, long kc, long jc, long nc, float* dst);

/* A strided B matrix. */
typedef struct {
    const float* B;
    long b_rs, b_cs;
} kiln_matrix_b;

static void kiln_pack_b_matrix(const void* src, long pc, long kc, long jc, long nc, float* dst) {
    const kiln_matrix_b* m = src;
    const float* B = m->B + pc * m->b_rs + jc * m->b_cs;
    for (long p = 0; p < nc; p += KILN_NR) {
        long cols = nc - p < KILN_NR ? nc - p : KILN_NR;
        for (long k = 0; k < kc; k++) {
            const float* s = B + k * m->b_rs + p * m->b_cs;
            if (m->b_cs == 1 && cols == KILN_NR) {
                for (long c = 0; c < KILN_NR; c++) dst[c] = s[c];
            } else if (m->b_cs == 1) {
                memcpy(dst, s, (size_t) cols * sizeof(float));
            } else {
                for (long c = 0; c < cols; c++) dst[c] = s[c * m->b_cs];
            }
            for (long c = cols; c < KILN_NR; c++) dst[c] = 0.0f;
            dst += KILN_NR;
        }
    }
}

/* Stores rows x cols of a tile at C(i, j): a partial sum, or (last K block) through the epilogue, row by row in loops the compiler vectorises. */
static void kiln_store_tile(const float* tile, long rows, long cols, float* C, long ldc, long i, long j,
                            int first, int last, const kiln_epilogue* e) {
    for (long r = 0; r < rows; r++) {
        float* crow = C + (i + r) * ldc + j;
        const float* trow = tile + r * KILN_NR;
        if (!last) {
            if (first) memcpy(crow, trow, (size_t) cols * sizeof(float));
            else for (long c = 0; c < cols; c++) crow[c] += trow[c];
            continue;
        }
        float v[KILN_NR];
        if (first) for (long c = 0; c < cols; c++) v[c] = trow[c] * e->alpha;
        else for (long c = 0; c < cols; c++) v[c] = (crow[c] + trow[c]) * e->alpha;
        if (e->bias) {
            const float* b = e->bias + (i + r) * e->bias_rs + j * e->bias_cs;
            if (e->bias_cs == 0) {
                float bv = e->beta * b[0];
                for (long c = 0; c < cols; c++) v[c] += bv;
            } else {
                for (long c = 0; c < cols; c++) v[c] += e->beta * b[c * e->bias_cs];
            }
        }
        if (e->residual) {
            const float* z = e->residual + (i + r) * e->residual_ld + j;
            for (long c = 0; c < cols; c++) v[c] += z[c];
        }
        kiln_activate_row(v, cols, e->act, e->p0, e->p1);
        memcpy(crow, v, (size_t) cols * sizeof(float));
    }
}

#if defined(__AVX512F__)
/* Whether the AVX-512 micro-kernel applies the epilogue in registers (else it goes through kiln_store_tile). */
static int kiln_epilogue_in_registers(const kiln_epilogue* e) {
    return (e->act == KILN_ACT_NONE || e->act == KILN_ACT_RELU || e->act == KILN_ACT_CLIP) && (!e->bias || e->bias_cs <= 1);
}

/* Stores 16 (masked) values of row i at C(i, j) as kiln_store_tile does. */
static inline void kiln_store16(__m512 v, uint16_t m, float* c, long i, long j, int first, int last, const kiln_epilogue* e) {
    if (!first) v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, c), v);
    if (last) {
        v = _mm512_mul_ps(v, _mm512_set1_ps(e->alpha));
        if (e->bias) {
            const float* b = e->bias + i * e->bias_rs + j * e->bias_cs;
            if (e->bias_cs == 0) v = _mm512_add_ps(v, _mm512_set1_ps(e->beta * b[0]));
            else v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_set1_ps(e->beta), _mm512_maskz_loadu_ps(m, b)));
        }
        if (e->residual) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, e->residual + i * e->residual_ld + j));
        /* operand order keeps NaN as the scalar path does: max/min return their second operand on NaN */
        if (e->act == KILN_ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
        else if (e->act == KILN_ACT_CLIP) v = _mm512_min_ps(_mm512_set1_ps(e->p1), _mm512_max_ps(_mm512_set1_ps(e->p0), v));
    }
    _mm512_mask_storeu_ps(c, m, v);
}
#endif

#if defined(__AVX512F__)
/* The AVX-512 micro-kernel for an mr x 32 tile (mr 12 or 6, a constant once inlined); tile: room for the epilogues it leaves to kiln_store_tile. */
static inline __attribute__((always_inline)) void kiln_micro_avx512(const int mr, long kc, const float* pa, const float* pb, long rows, long cols,
                                                                     float* C, long ldc, long i, long j, int first, int last,
                                                                     const kiln_epilogue* e, float* tile) {
    __m512 c[KILN_MR][2];
    for (int r = 0; r < mr; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
        for (int r = 0; r < mr; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
        }
        pa += KILN_PANEL;
        pb += KILN_NR;
    }
    if (kiln_epilogue_in_registers(e)) {
        uint16_t m0 = cols >= 16 ? 0xFFFF : (uint16_t) ((1u << cols) - 1);
        uint16_t m1 = cols >= 32 ? 0xFFFF : cols <= 16 ? 0 : (uint16_t) ((1u << (cols - 16)) - 1);
        for (int r = 0; r < mr && r < rows; r++) {
            float* crow = C + (i + r) * ldc + j;
            kiln_store16(c[r][0], m0, crow, i + r, j, first, last, e);
            if (m1) kiln_store16(c[r][1], m1, crow + 16, i + r, j + 16, first, last, e);
        }
        return;
    }
    for (int r = 0; r < mr; r++) {
        _mm512_store_ps(tile + r * KILN_NR, c[r][0]);
        _mm512_store_ps(tile + r * KILN_NR + 16, c[r][1]);
    }
    kiln_store_tile(tile, rows, cols, C, ldc, i, j, first, last, e);
}
#endif

/*
 * C(i + r, j + c) for r < rows, c < cols from sum_k pa[k * KILN_PANEL + r] * pb[k * NR + c], stored as
 * kiln_store_tile does (first: no partial sum in C yet; last: through the epilogue).
 */
static void kiln_micro_kernel(long kc, const float* pa, const float* pb, long rows, long cols, float* C, long ldc, long i, long j,
                              int first, int last, const kiln_epilogue* e) {
    float tile[KILN_MR * KILN_NR] __attribute__((aligned(64)));
#if defined(__AVX512F__)
    if (rows > 6) kiln_micro_avx512(12, kc, pa, pb, rows, cols, C, ldc, i, j, first, last, e, tile);
    else kiln_micro_avx512(6, kc, pa, pb, rows, cols, C, ldc, i, j, first, last, e, tile);
    return;
#elif defined(__AVX2__) && defined(__FMA__)
    __m256 c[KILN_MR][2];
    for (int r = 0; r < KILN_MR; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    for (long k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(pb), b1 = _mm256_loadu_ps(pb + 8);
        for (int r = 0; r < KILN_MR; r++) {
            __m256 a = _mm256_broadcast_ss(pa + r);
            c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
        }
        pa += KILN_PANEL;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        _mm256_store_ps(tile + r * KILN_NR, c[r][0]);
        _mm256_store_ps(tile + r * KILN_NR + 8, c[r][1]);
    }
#elif defined(__aarch64__) && defined(__ARM_NEON)
    float32x4_t c[KILN_MR][2];
    for (int r = 0; r < KILN_MR; r++) c[r][0] = c[r][1] = vdupq_n_f32(0.0f);
    for (long k = 0; k < kc; k++) {
        float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4);
        float32x4_t a0 = vld1q_f32(pa), a1 = vld1q_f32(pa + 4), a2 = vld1q_f32(pa + 8);
#define KILN_NEON_ROW(r, a, lane) \
        c[r][0] = vfmaq_laneq_f32(c[r][0], b0, a, lane); \
        c[r][1] = vfmaq_laneq_f32(c[r][1], b1, a, lane);
        KILN_NEON_ROW(0, a0, 0) KILN_NEON_ROW(1, a0, 1) KILN_NEON_ROW(2, a0, 2) KILN_NEON_ROW(3, a0, 3)
        KILN_NEON_ROW(4, a1, 0) KILN_NEON_ROW(5, a1, 1) KILN_NEON_ROW(6, a1, 2) KILN_NEON_ROW(7, a1, 3)
        KILN_NEON_ROW(8, a2, 0) KILN_NEON_ROW(9, a2, 1) KILN_NEON_ROW(10, a2, 2) KILN_NEON_ROW(11, a2, 3)
#undef KILN_NEON_ROW
        pa += KILN_PANEL;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        vst1q_f32(tile + r * KILN_NR, c[r][0]);
        vst1q_f32(tile + r * KILN_NR + 4, c[r][1]);
    }
#elif defined(__ARM_NEON)
    float32x4_t c[KILN_MR][2];
    for (int r = 0; r < KILN_MR; r++) c[r][0] = c[r][1] = vdupq_n_f32(0.0f);
    for (long k = 0; k < kc; k++) {
        float32x4_t b0 = vld1q_f32(pb), b1 = vld1q_f32(pb + 4);
        for (int r = 0; r < KILN_MR; r++) {
            float32x4_t a = vld1q_dup_f32(pa + r);
#if defined(__ARM_FEATURE_FMA)
            c[r][0] = vfmaq_f32(c[r][0], a, b0);
            c[r][1] = vfmaq_f32(c[r][1], a, b1);
#else
            c[r][0] = vmlaq_f32(c[r][0], a, b0);
            c[r][1] = vmlaq_f32(c[r][1], a, b1);
#endif
        }
        pa += KILN_PANEL;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        vst1q_f32(tile + r * KILN_NR, c[r][0]);
        vst1q_f32(tile + r * KILN_NR + 4, c[r][1]);
    }
#else
    float c[KILN_MR][KILN_NR];
    for (int r = 0; r < KILN_MR; r++) for (int q = 0; q < KILN_NR; q++) c[r][q] = 0.0f;
    for (long k = 0; k < kc; k++) {
        for (int r = 0; r < KILN_MR; r++) {
            float a = pa[r];
            for (int q = 0; q < KILN_NR; q++) c[r][q] += a * pb[q];
        }
        pa += KILN_PANEL;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) for (int q = 0; q < KILN_NR; q++) tile[r * KILN_NR + q] = c[r][q];
#endif
#if !defined(__AVX512F__)
    kiln_store_tile(tile, rows, cols, C, ldc, i, j, first, last, e);
#endif
}

typedef struct {
    long M, N, K;
    const float* A;
    long a_rs, a_cs;
    const float* packed_a;
    kiln_pack_b_fn pack_b;
    const void* b_src;
    float* C;
    long ldc;
    const kiln_epilogue* e;
    int by_rows;              /* parallel items are 12-row panels of C, else NR-column panels */
} kiln_sgemm_args;

/* Rows [i0, i1) and columns [j0, j1) of C; i0 is a multiple of KILN_PANEL (packed A's panels). */
static void kiln_sgemm_block(const kiln_sgemm_args* g, long i0, long i1, long j0, long j1, float* workspace) {
    long K = g->K;
    float* pa = workspace;
    float* pb = workspace + (long) KILN_MC * KILN_KC;
    for (long jc = j0; jc < j1; jc += KILN_NC) {
        long nc = j1 - jc < KILN_NC ? j1 - jc : KILN_NC;
        for (long pc = 0; pc < K; pc += KILN_KC) {
            long kc = K - pc < KILN_KC ? K - pc : KILN_KC;
            int first = pc == 0, last = pc + kc == K;
            g->pack_b(g->b_src, pc, kc, jc, nc, pb);
            for (long ic = i0; ic < i1; ic += KILN_MC) {
                long mc = i1 - ic < KILN_MC ? i1 - ic : KILN_MC;
                /* the block's first panel and the distance between panels */
                const float* block = pa;
                long panel_stride = kc * KILN_PANEL;
                if (g->packed_a) {
                    block = g->packed_a + (ic / KILN_PANEL * K + pc) * KILN_PANEL;
                    panel_stride = K * KILN_PANEL;
                } else {
                    kiln_pack_a(mc, kc, g->A + ic * g->a_rs + pc * g->a_cs, g->a_rs, g->a_cs, pa);
                }
                for (long jr = 0; jr < nc; jr += KILN_NR) {
                    long cols = nc - jr < KILN_NR ? nc - jr : KILN_NR;
                    for (long ir = 0; ir < mc; ir += KILN_MR) {
                        long rows = mc - ir < KILN_MR ? mc - ir : KILN_MR;
                        const float* panel = block + ir / KILN_PANEL * panel_stride + ir % KILN_PANEL;
                        kiln_micro_kernel(kc, panel, pb + jr * kc, rows, cols, g->C, g->ldc, ic + ir, jc + jr, first, last, g->e);
                    }
                }
            }
        }
    }
}

static void kiln_sgemm_task(void* ctx, long begin, long end, float* ws) {
    const kiln_sgemm_args* g = ctx;
    if (g->by_rows) {
        long i1 = end * KILN_PANEL < g->M ? end * KILN_PANEL : g->M;
        kiln_sgemm_block(g, begin * KILN_PANEL, i1, 0, g->N, ws);
    } else {
        long j1 = end * KILN_NR < g->N ? end * KILN_NR : g->N;
        kiln_sgemm_block(g, 0, g->M, begin * KILN_NR, j1, ws);
    }
}

/*
 * The GEMM with B read through pack_b (see kiln_sgemm). The pool's threads split C's 12-row or NR-column
 * panels (whichever are more); each element's sum runs over K in the same order whatever the split, so
 * results do not depend on the thread count.
 */
static void kiln_sgemm_packing(long M, long N, long K, const float* A, long a_rs, long a_cs, const float* packed_a,
                               kiln_pack_b_fn pack_b, const void* b_src, float* C, long ldc, const kiln_epilogue* e, float* workspace) {
    if (K == 0) {
        float tile[KILN_MR * KILN_NR] = {0};
        for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) kiln_store_tile(tile, 1, 1, C, ldc, i, j, 1, 1, e);
        return;
    }
    long row_panels = (M + KILN_PANEL - 1) / KILN_PANEL, col_panels = (N + KILN_NR - 1) / KILN_NR;
    kiln_sgemm_args g = {M, N, K, A, a_rs, a_cs, packed_a, pack_b, b_src, C, ldc, e, row_panels > col_panels};
    if (g.by_rows) kiln_parallel_for(row_panels, N * K * KILN_PANEL, kiln_sgemm_task, &g, workspace);
    else kiln_parallel_for(col_panels, M * K * KILN_NR, kiln_sgemm_task, &g, workspace);
}

/*
 * packed_a: A packed as this file's header describes (the generator does it for constant weights), or
 * NULL to pack blocks of A as they are needed.
 */
static void kiln_sgemm(long M, long N, long K, const float* A, long a_rs, long a_cs, const float* packed_a, const float* B,
                       long b_rs, long b_cs, float* C, long ldc, const kiln_epilogue* e, float* workspace) {
    kiln_matrix_b b = {B, b_rs, b_cs};
    kiln_sgemm_packing(M, N, K, A, a_rs, a_cs, packed_a, kiln_pack_b_matrix, &b, C, ldc, e, workspace);
}
