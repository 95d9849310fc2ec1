/*
 * Kiln CPU kernels: matrix products of the dtypes gemm.h's single-precision GEMM does not take, and what their
 * fused epilogues need in double. kiln_gemm_f64 multiplies doubles; kiln_gemm_u64 multiplies integers as
 * 64-bit words, so that products and sums wrap as ONNX's fixed-width integer products do (signed operands
 * sign-extended first; the low bits of the result are the same whatever the width the result is stored in).
 */

/* Columns of C and rows of B one pass covers: a block of B (KILN_ANY_DEPTH x KILN_ANY_COLUMNS) stays in L2. */
#define KILN_ANY_COLUMNS 256L
#define KILN_ANY_DEPTH 128L

/*
 * name(M, N, K, A, a_rs, a_cs, B, ldb, C, ldc): C(i, j) = sum over k of A(i, k) B(k, j), with A(i, k) at
 * A[i * a_rs + k * a_cs], B(k, j) at B[k * ldb + j] and C(i, j) at C[i * ldc + j]. The pool's threads split the
 * rows of C; every element sums over k in ascending order, so results do not depend on the thread count.
 */
#define KILN_DEFINE_GEMM(name, T)                                                                                        \
    typedef struct {                                                                                                     \
        long M, N, K;                                                                                                    \
        const T* A;                                                                                                      \
        long a_rs, a_cs;                                                                                                 \
        const T* B;                                                                                                      \
        long ldb;                                                                                                        \
        T* C;                                                                                                            \
        long ldc;                                                                                                        \
    } name##_args;                                                                                                       \
    static void name##_rows(void* ctx, long begin, long end, float* ws) {                                                \
        const name##_args* g = ctx;                                                                                      \
        (void) ws;                                                                                                       \
        for (long i = begin; i < end; i++) for (long j = 0; j < g->N; j++) g->C[i * g->ldc + j] = 0;                     \
        for (long j0 = 0; j0 < g->N; j0 += KILN_ANY_COLUMNS) {                                                           \
            long j1 = g->N - j0 < KILN_ANY_COLUMNS ? g->N : j0 + KILN_ANY_COLUMNS;                                       \
            for (long k0 = 0; k0 < g->K; k0 += KILN_ANY_DEPTH) {                                                         \
                long k1 = g->K - k0 < KILN_ANY_DEPTH ? g->K : k0 + KILN_ANY_DEPTH;                                       \
                for (long i = begin; i < end; i++) {                                                                     \
                    T* restrict c = g->C + i * g->ldc;                                                                   \
                    for (long k = k0; k < k1; k++) {                                                                     \
                        const T a = g->A[i * g->a_rs + k * g->a_cs];                                                     \
                        const T* restrict b = g->B + k * g->ldb;                                                         \
                        for (long j = j0; j < j1; j++) c[j] += a * b[j];                                                 \
                    }                                                                                                    \
                }                                                                                                        \
            }                                                                                                            \
        }                                                                                                                \
    }                                                                                                                    \
    static void name(long M, long N, long K, const T* A, long a_rs, long a_cs, const T* B, long ldb, T* C, long ldc) {   \
        name##_args g = {M, N, K, A, a_rs, a_cs, B, ldb, C, ldc};                                                        \
        kiln_parallel_for(M, N * K, name##_rows, &g, 0);                                                                 \
    }

KILN_DEFINE_GEMM(kiln_gemm_f64, double)
KILN_DEFINE_GEMM(kiln_gemm_u64, uint64_t)

static inline double kiln_sigmoid_f64(double x) {
    if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* x clamped to [0, 1], NaN kept. */
static inline double kiln_unit_f64(double x) { return x != x ? x : (x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x)); }

static inline double kiln_softplus_f64(double x) { return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }

/* A fused epilogue's activation (activations.h's KILN_ACT_* codes) in double, for f64 outputs. */
static double kiln_activate_f64(double x, int code, double p0, double p1) {
    switch (code) {
        case KILN_ACT_RELU: return x < 0.0 ? 0.0 : x;
        case KILN_ACT_LEAKY_RELU: return x < 0.0 ? p0 * x : x;
        case KILN_ACT_CLIP: {
            double lo = x < p0 ? p0 : x;
            return lo > p1 ? p1 : lo;
        }
        case KILN_ACT_SIGMOID: return kiln_sigmoid_f64(x);
        case KILN_ACT_TANH: return tanh(x);
        case KILN_ACT_HARD_SIGMOID: return kiln_unit_f64(p0 * x + p1);
        case KILN_ACT_HARD_SWISH: return x * kiln_unit_f64(x / 6.0 + 0.5);
        case KILN_ACT_SWISH: return x * kiln_sigmoid_f64(p0 * x);
        /* through erfc for negative x, which keeps GELU's small values accurate */
        case KILN_ACT_GELU: return x >= 0.0 ? 0.5 * x * (1.0 + erf(x * 0.70710678118654752)) : 0.5 * x * erfc(-x * 0.70710678118654752);
        case KILN_ACT_GELU_TANH: return 0.5 * x * (1.0 + tanh(0.79788456080286536 * (x + 0.044715 * x * x * x)));
        case KILN_ACT_ELU: return x < 0.0 ? p0 * expm1(x) : x;
        case KILN_ACT_SOFTPLUS: return kiln_softplus_f64(x);
        case KILN_ACT_SOFTSIGN: return x / (1.0 + fabs(x));
        case KILN_ACT_MISH: return x * tanh(kiln_softplus_f64(x));
        default: return x;
    }
}
