/*
 * Kiln CPU kernels: products of a few rows with constant weights (transformer projections at small batch, classifier
 * heads), and batches of small products of activations (attention's). A register tile of rows by a panel of
 * columns sums over all of K in one order whatever thread computes it, so results do not depend on the thread count.
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

/* Rows of A per parallel item: a few register tiles, so that a thread reuses the panel it holds in L1. */
#define KILN_SMM_CHUNK (4 * KILN_SMM_MR)

/*
 * The batches of a batched product: the element offsets of each one's A, B and bias (NULL: 0 for every batch),
 * and the elements between consecutive batches' C (and residual, laid out as C).
 */
typedef struct {
    long batches;
    const long *a_off, *b_off, *bias_off;
    long c_batch;
} kiln_smm_batches;

typedef struct {
    long M, N, K;
    const float* A;
    long a_rs, a_cs;
    const float* packed_b;    /* B packed at load, or NULL: B read through b_rs, b_cs and packed a panel at a time */
    const float* B;
    long b_rs, b_cs;
    float* C;
    long ldc;
    const kiln_epilogue* e;
    const kiln_smm_batches* batches;
    long panels, chunks;
} kiln_smm_args;

/*
 * Items [begin, end): item (batch, column panel, chunk of KILN_SMM_CHUNK rows), panels of a batch in order and
 * the chunks of a panel in order, so that a thread packs a panel of B once for the chunks it takes of it (in ws,
 * K * KILN_SMM_NR floats) or reads it packed.
 */
static void kiln_smm_task(void* ctx, long begin, long end, float* ws) {
    const kiln_smm_args* g = ctx;
    float tile[KILN_SMM_MR * KILN_SMM_NR] __attribute__((aligned(64)));
    long packed = -1;
    for (long item = begin; item < end; item++) {
        long b = item / (g->panels * g->chunks), p = item / g->chunks % g->panels, chunk = item % g->chunks;
        const kiln_smm_batches* bt = g->batches;
        long j = p * KILN_SMM_NR, cols = g->N - j < KILN_SMM_NR ? g->N - j : KILN_SMM_NR;
        const float* panel = ws;
        if (g->packed_b) {
            panel = g->packed_b + p * g->K * KILN_SMM_NR;
        } else if (packed != item / g->chunks) {
            kiln_smm_pack_b(g->K, cols, g->B + (bt && bt->b_off ? bt->b_off[b] : 0) + j * g->b_cs, g->b_rs, g->b_cs, ws);
            packed = item / g->chunks;
        }
        kiln_epilogue e = *g->e;
        const float* A = g->A;
        float* C = g->C;
        if (bt) {
            if (bt->a_off) A += bt->a_off[b];
            if (e.bias && bt->bias_off) e.bias += bt->bias_off[b];
            if (e.residual) e.residual += b * bt->c_batch;
            C += b * bt->c_batch;
        }
        long i = chunk * KILN_SMM_CHUNK, last = i + KILN_SMM_CHUNK < g->M ? i + KILN_SMM_CHUNK : g->M;
        for (; i + KILN_SMM_MR <= last; i += KILN_SMM_MR) {
            kiln_smm_tile(KILN_SMM_MR, g->K, A + i * g->a_rs, g->a_rs, g->a_cs, panel, tile);
            kiln_smm_store(tile, KILN_SMM_MR, cols, C, g->ldc, i, j, &e);
        }
        if (i < last) {
            kiln_smm_tile((int) (last - i), g->K, A + i * g->a_rs, g->a_rs, g->a_cs, panel, tile);
            kiln_smm_store(tile, last - i, cols, C, g->ldc, i, j, &e);
        }
    }
}

static void kiln_smm_run(kiln_smm_args* g, long batches, float* ws) {
    g->panels = (g->N + KILN_SMM_NR - 1) / KILN_SMM_NR;
    g->chunks = (g->M + KILN_SMM_CHUNK - 1) / KILN_SMM_CHUNK;
    kiln_parallel_for(batches * g->panels * g->chunks, KILN_SMM_CHUNK * g->K * KILN_SMM_NR, kiln_smm_task, g, ws);
}

/*
 * C(i, j) (row stride ldc) = epilogue(sum_k A(i, k) B(k, j)) with A(i, k) = A[i * a_rs + k * a_cs] and B
 * as kiln_smm_pack_b packed it. For few rows the packed GEMM's blocking and per-call packing of B cost
 * more than the products; here B is packed once and A is read in place. Threads split the column panels and
 * chunks of rows.
 */
static void kiln_small_matmul(long M, long N, long K, const float* A, long a_rs, long a_cs, const float* packed_b,
                              float* C, long ldc, const kiln_epilogue* e) {
    kiln_smm_args g = {M, N, K, A, a_rs, a_cs, packed_b, 0, 0, 0, C, ldc, e, 0, 0, 0};
    kiln_smm_run(&g, 1, 0);
}

/*
 * The same product per batch (bt), B (k, j) = B[b_off + k * b_rs + j * b_cs] packed a panel at a time as it is
 * needed (products of activations, as attention's): ws K * KILN_SMM_NR floats for the calling thread, the
 * pool's threads use their own. Threads split batches, column panels and chunks of rows.
 */
static void kiln_batched_matmul(const kiln_smm_batches* bt, long M, long N, long K, const float* A, long a_rs, long a_cs,
                                const float* B, long b_rs, long b_cs, float* C, long ldc, const kiln_epilogue* e, float* ws) {
    kiln_smm_args g = {M, N, K, A, a_rs, a_cs, 0, B, b_rs, b_cs, C, ldc, e, bt, 0, 0};
    kiln_smm_run(&g, bt->batches, ws);
}
