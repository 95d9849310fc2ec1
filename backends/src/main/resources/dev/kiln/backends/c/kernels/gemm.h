/*
 * Kiln CPU kernels: packed, register-blocked single-precision GEMM.
 *
 * C(m, n) = epilogue(sum_k A(m, k) * B(k, n)) with A(m, k) = A[m * a_rs + k * a_cs] and
 * B(k, n) = B[k * b_rs + n * b_cs], so transposes are strides. The loops block K by KILN_KC, M by
 * KILN_MC and N by KILN_NC; each block of A and B is packed into MR-row and NR-column panels that the
 * micro-kernel streams, keeping an MR x NR tile of C in registers. Partial sums of all but the last
 * K block go to C; the last block applies the epilogue (alpha, bias, residual, activation) as it stores.
 * KILN_MR divides 12 on every ISA: the generator sizes pre-packed weights as roundup(M, 12) * K.
 * KILN_GEMM_WORKSPACE_FLOATS is at most the AVX-512 blocking's, which the generator reserves.
 */
#if defined(__AVX512F__)
#include <immintrin.h>
#define KILN_MR 6
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
#define KILN_KC 256
#define KILN_MC (KILN_MR * 16)
#define KILN_NC (KILN_NR * 32)

/* Bytes of workspace kiln_sgemm needs: one packed block of A and one of B. */
#define KILN_GEMM_WORKSPACE_FLOATS ((long) KILN_MC * KILN_KC + (long) KILN_KC * KILN_NC)

static void kiln_pack_a(long mc, long kc, const float* A, long a_rs, long a_cs, float* dst) {
    for (long p = 0; p < mc; p += KILN_MR) {
        long rows = mc - p < KILN_MR ? mc - p : KILN_MR;
        for (long k = 0; k < kc; k++) {
            for (long r = 0; r < rows; r++) dst[r] = A[(p + r) * a_rs + k * a_cs];
            for (long r = rows; r < KILN_MR; r++) dst[r] = 0.0f;
            dst += KILN_MR;
        }
    }
}

static void kiln_pack_b(long kc, long nc, const float* B, long b_rs, long b_cs, float* dst) {
    for (long p = 0; p < nc; p += KILN_NR) {
        long cols = nc - p < KILN_NR ? nc - p : KILN_NR;
        for (long k = 0; k < kc; k++) {
            const float* src = B + k * b_rs + p * b_cs;
            if (b_cs == 1 && cols == KILN_NR) {
                for (long c = 0; c < KILN_NR; c++) dst[c] = src[c];
            } else if (b_cs == 1) {
                memcpy(dst, src, (size_t) cols * sizeof(float));
            } else {
                for (long c = 0; c < cols; c++) dst[c] = src[c * b_cs];
            }
            for (long c = cols; c < KILN_NR; c++) dst[c] = 0.0f;
            dst += KILN_NR;
        }
    }
}

/* tile[r * KILN_NR + c] = sum_k pa[k * MR + r] * pb[k * NR + c]. */
static void kiln_micro_kernel(long kc, const float* pa, const float* pb, float* tile) {
#if defined(__AVX512F__)
    __m512 c[KILN_MR][2];
    for (int r = 0; r < KILN_MR; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    for (long k = 0; k < kc; k++) {
        __m512 b0 = _mm512_loadu_ps(pb), b1 = _mm512_loadu_ps(pb + 16);
        for (int r = 0; r < KILN_MR; r++) {
            __m512 a = _mm512_set1_ps(pa[r]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
        }
        pa += KILN_MR;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        _mm512_storeu_ps(tile + r * KILN_NR, c[r][0]);
        _mm512_storeu_ps(tile + r * KILN_NR + 16, c[r][1]);
    }
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
        pa += KILN_MR;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        _mm256_storeu_ps(tile + r * KILN_NR, c[r][0]);
        _mm256_storeu_ps(tile + r * KILN_NR + 8, c[r][1]);
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
        pa += KILN_MR;
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
        pa += KILN_MR;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) {
        vst1q_f32(tile + r * KILN_NR, c[r][0]);
        vst1q_f32(tile + r * KILN_NR + 4, c[r][1]);
    }
#else
    float c[KILN_MR][KILN_NR];
    for (int r = 0; r < KILN_MR; r++) for (int j = 0; j < KILN_NR; j++) c[r][j] = 0.0f;
    for (long k = 0; k < kc; k++) {
        for (int r = 0; r < KILN_MR; r++) {
            float a = pa[r];
            for (int j = 0; j < KILN_NR; j++) c[r][j] += a * pb[j];
        }
        pa += KILN_MR;
        pb += KILN_NR;
    }
    for (int r = 0; r < KILN_MR; r++) for (int j = 0; j < KILN_NR; j++) tile[r * KILN_NR + j] = c[r][j];
#endif
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

/*
 * Packs all of A once (for constant weights, at init): K block pc holds every row's MR panels, at
 * dst + pc * roundup(M, MR). Needs roundup(M, MR) * K floats (at most roundup(M, 12) * K for any MR here).
 */
static void kiln_pack_a_all(long M, long K, const float* A, long a_rs, long a_cs, float* dst) {
    long mp = (M + KILN_MR - 1) / KILN_MR * KILN_MR;
    for (long pc = 0; pc < K; pc += KILN_KC) {
        long kc = K - pc < KILN_KC ? K - pc : KILN_KC;
        kiln_pack_a(M, kc, A + pc * a_cs, a_rs, a_cs, dst + pc * mp);
    }
}

typedef struct {
    long M, N, K;
    const float* A;
    long a_rs, a_cs;
    const float* packed_a;
    const float* B;
    long b_rs, b_cs;
    float* C;
    long ldc;
    const kiln_epilogue* e;
    int by_rows;              /* parallel items are MR-row panels of C, else NR-column panels */
} kiln_sgemm_args;

/* Rows [i0, i1) and columns [j0, j1) of C; i0 is a multiple of KILN_MR (packed_a's panels). */
static void kiln_sgemm_block(const kiln_sgemm_args* g, long i0, long i1, long j0, long j1, float* workspace) {
    long mp = (g->M + KILN_MR - 1) / KILN_MR * KILN_MR, K = g->K;
    float* pa = workspace;
    float* pb = workspace + (long) KILN_MC * KILN_KC;
    float tile[KILN_MR * KILN_NR] __attribute__((aligned(64)));
    for (long jc = j0; jc < j1; jc += KILN_NC) {
        long nc = j1 - jc < KILN_NC ? j1 - jc : KILN_NC;
        for (long pc = 0; pc < K; pc += KILN_KC) {
            long kc = K - pc < KILN_KC ? K - pc : KILN_KC;
            int first = pc == 0, last = pc + kc == K;
            kiln_pack_b(kc, nc, g->B + pc * g->b_rs + jc * g->b_cs, g->b_rs, g->b_cs, pb);
            for (long ic = i0; ic < i1; ic += KILN_MC) {
                long mc = i1 - ic < KILN_MC ? i1 - ic : KILN_MC;
                const float* block = pa;
                if (g->packed_a) block = g->packed_a + pc * mp + ic * kc;
                else kiln_pack_a(mc, kc, g->A + ic * g->a_rs + pc * g->a_cs, g->a_rs, g->a_cs, pa);
                for (long jr = 0; jr < nc; jr += KILN_NR) {
                    long cols = nc - jr < KILN_NR ? nc - jr : KILN_NR;
                    for (long ir = 0; ir < mc; ir += KILN_MR) {
                        long rows = mc - ir < KILN_MR ? mc - ir : KILN_MR;
                        kiln_micro_kernel(kc, block + ir * kc, pb + jr * kc, tile);
                        kiln_store_tile(tile, rows, cols, g->C, g->ldc, ic + ir, jc + jr, first, last, g->e);
                    }
                }
            }
        }
    }
}

static void kiln_sgemm_task(void* ctx, long begin, long end, float* ws) {
    const kiln_sgemm_args* g = ctx;
    if (g->by_rows) {
        long i1 = end * KILN_MR < g->M ? end * KILN_MR : g->M;
        kiln_sgemm_block(g, begin * KILN_MR, i1, 0, g->N, ws);
    } else {
        long j1 = end * KILN_NR < g->N ? end * KILN_NR : g->N;
        kiln_sgemm_block(g, 0, g->M, begin * KILN_NR, j1, ws);
    }
}

/*
 * packed_a: A as kiln_pack_a_all packed it, or NULL to pack blocks of A as they are needed. The pool's
 * threads split C's MR-row or NR-column panels (whichever are more); each element's sum runs over K in
 * the same order whatever the split, so results do not depend on the thread count.
 */
static void kiln_sgemm(long M, long N, long K, const float* A, long a_rs, long a_cs, const float* packed_a, const float* B,
                       long b_rs, long b_cs, float* C, long ldc, const kiln_epilogue* e, float* workspace) {
    if (K == 0) {
        float tile[1];
        for (long i = 0; i < M; i++) for (long j = 0; j < N; j++) tile[0] = 0.0f, kiln_store_tile(tile, 1, 1, C, ldc, i, j, 1, 1, e);
        return;
    }
    long row_panels = (M + KILN_MR - 1) / KILN_MR, col_panels = (N + KILN_NR - 1) / KILN_NR;
    kiln_sgemm_args g = {M, N, K, A, a_rs, a_cs, packed_a, B, b_rs, b_cs, C, ldc, e, row_panels > col_panels};
    if (g.by_rows) kiln_parallel_for(row_panels, N * K * KILN_MR, kiln_sgemm_task, &g, workspace);
    else kiln_parallel_for(col_panels, M * K * KILN_NR, kiln_sgemm_task, &g, workspace);
}
