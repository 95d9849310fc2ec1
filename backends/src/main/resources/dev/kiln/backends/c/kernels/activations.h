/* Kiln CPU kernels: scalar elementwise functions (ONNX semantics) shared by fused programs and epilogues. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <float.h>

/*
 * exp and erf without library calls or branches, so that loops over them vectorise (libm's expf and
 * erff do not). kiln_exp: 2^n * e^r with |r| <= ln2 / 2 (Cody-Waite reduction, degree-7 Taylor polynomial),
 * within 2 ulp for x in [-87, 88], inputs below clamped (e^-87 ~ 1.6e-38 stands for 0), above give inf.
 * kiln_erf: x * P(x^2) below 0.921875, 1 - exp(Q(|x|)) up to 3.93 (Q fits log erfc), 1 beyond:
 * least-squares fits whose error is under 1e-7 absolute, about 1 ulp of erf's values near 1.
 */
static inline float kiln_bits_float(int32_t i) { float f; memcpy(&f, &i, sizeof f); return f; }
static inline int32_t kiln_float_bits(float f) { int32_t i; memcpy(&i, &f, sizeof i); return i; }

static inline float kiln_exp(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.7f ? 88.7f : x;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits */
    float t = x * 1.44269504088896341f + shifter;
    int32_t n = kiln_float_bits(t) - kiln_float_bits(shifter);
    t -= shifter;
    float r = x - t * 6.93145752e-1f;
    r = r - t * 1.42860677e-6f;
    float p = 1.98412698e-4f;
    p = p * r + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* 2^n as two factors, so that n = 128 (x near 88.7) stays representable */
    int32_t half = n >> 1;
    return p * kiln_bits_float((half + 127) << 23) * kiln_bits_float((n - half + 127) << 23);
}

static inline float kiln_erf(float x) {
    float a = x < 0.0f ? -x : x;
    float a2 = a * a;
    float small = -6.047106689494344e-4f;
    small = small * a2 + 5.005616917982477e-3f;
    small = small * a2 - 2.6776396986215364e-2f;
    small = small * a2 + 1.1282139694654096e-1f;
    small = small * a2 - 3.7612533838184586e-1f;
    small = small * a2 + 1.1283791602585371f;
    small *= a;
    float b = a > 3.93f ? 3.93f : a; /* NaN stays NaN */
    float q = 1.634157291154824e-06f;
    q = q * b - 4.596680819074577e-05f;
    q = q * b + 5.957632836810203e-04f;
    q = q * b - 4.753422098662828e-03f;
    q = q * b + 2.6399908336486994e-02f;
    q = q * b - 1.100362207047719e-01f;
    q = q * b - 6.318795498406425e-01f;
    q = q * b - 1.1301981035914859f;
    q = q * b + 3.1044239351964175e-04f;
    float big = 1.0f - kiln_exp(q);
    float r = a < 0.921875f ? small : big;
    r = a >= 3.93f ? 1.0f : r;
    return x < 0.0f ? -r : r;
}

/*
 * exp, erf and GELU on whole vectors: GCC vector types of the target's widest vectors
 * (emulated where it has none), for the epilogues and kernels that are hot in transformers; the
 * auto-vectoriser would use narrower ones on some targets (AVX-512 prefers 256 bits).
 */
#if defined(__AVX512F__)
#include <immintrin.h>
#define KILN_VL 16
#elif defined(__AVX__)
#include <immintrin.h>
#define KILN_VL 8
#else
#define KILN_VL 4
#if defined(__SSE__)
#include <xmmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif
#endif
typedef float kiln_vf __attribute__((vector_size(KILN_VL * 4)));
typedef int32_t kiln_vi __attribute__((vector_size(KILN_VL * 4)));
typedef float kiln_vf_u __attribute__((vector_size(KILN_VL * 4), aligned(4)));

static inline kiln_vf kiln_vload(const float* p) { return *(const kiln_vf_u*) p; }
static inline void kiln_vstore(float* p, kiln_vf v) { *(kiln_vf_u*) p = v; }
/* x in every lane: lane 0 broadcast (adding x to a zero vector would be an addition, as -0.0 + 0.0 is not -0.0) */
static inline kiln_vf kiln_vsplat(float x) { return __builtin_shuffle((kiln_vf) {x}, (kiln_vi) {0}); }
/* All ones in lanes [0, n), zero in the others. */
static inline kiln_vi kiln_vlanes_below(long n) {
    static const int32_t index[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    kiln_vi i;
    memcpy(&i, index, sizeof i);
    return i < (int32_t) n;
}

/* mask ? a : b, lane by lane (mask lanes all ones or zero, as comparisons give) */
static inline kiln_vf kiln_vselect(kiln_vi mask, kiln_vf a, kiln_vf b) { return (kiln_vf) (((kiln_vi) a & mask) | ((kiln_vi) b & ~mask)); }

/* min(max(x, lo), hi), NaN kept: one instruction each where the ISA's minimum and maximum keep a NaN operand. */
static inline kiln_vf kiln_vclamp(kiln_vf x, float lo, float hi) {
#if defined(__AVX512F__)
    return _mm512_min_ps(_mm512_set1_ps(hi), _mm512_max_ps(_mm512_set1_ps(lo), x));
#elif defined(__AVX__)
    return _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), x));
#elif defined(__SSE__)
    return _mm_min_ps(_mm_set1_ps(hi), _mm_max_ps(_mm_set1_ps(lo), x));
#elif defined(__ARM_NEON)
    return vminq_f32(vdupq_n_f32(hi), vmaxq_f32(vdupq_n_f32(lo), x));
#else
    x = kiln_vselect(x < lo, kiln_vsplat(lo), x);
    return kiln_vselect(x > hi, kiln_vsplat(hi), x);
#endif
}

/* kiln_exp on a vector; past log(FLT_MAX) infinity, as expf gives, so that x / (1 + e^-x) of -inf is NaN as x * sigmoid(x) is. */
static inline kiln_vf kiln_exp_v(kiln_vf x) {
    kiln_vi overflow = x > 88.7228394f;
    x = kiln_vclamp(x, -87.0f, 88.7f);
    kiln_vf t = x * 1.44269504088896341f + 12582912.0f;
    kiln_vi n = (kiln_vi) t - 0x4B400000; /* the bits of 12582912.0f */
    t -= 12582912.0f;
    kiln_vf r = x - t * 6.93145752e-1f;
    r = r - t * 1.42860677e-6f;
    kiln_vf p = r * 1.98412698e-4f + 1.38888889e-3f;
    p = p * r + 8.33333333e-3f;
    p = p * r + 4.16666667e-2f;
    p = p * r + 1.66666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    kiln_vi half = n >> 1;
    return kiln_vselect(overflow, kiln_vsplat(INFINITY), p * (kiln_vf) ((half + 127) << 23) * (kiln_vf) ((n - half + 127) << 23));
}

/*
 * erf on vectors as a rational function x P(x^2) / Q(x^2) (degrees 13 and 8, as Eigen fits it) of x clamped to
 * [-4, 4]: within 4.3e-7 of erf (within 2e-7 below |x| = 1), a third of the operations of kiln_erf's two branches
 * and exponential, which GELU's epilogues spend most of their time in.
 */
static inline kiln_vf kiln_erf_v(kiln_vf x) {
    kiln_vf c = kiln_vclamp(x, -4.0f, 4.0f), c2 = c * c;
    kiln_vf p = c2 * -2.72614225801306e-10f + 2.77068142495902e-08f;
    p = p * c2 - 2.10102402082508e-06f;
    p = p * c2 - 5.69250639462346e-05f;
    p = p * c2 - 7.34990630326855e-04f;
    p = p * c2 - 2.95459980854025e-03f;
    p = p * c2 - 1.60960333262415e-02f;
    kiln_vf q = c2 * -1.45660718464996e-05f - 2.13374055278905e-04f;
    q = q * c2 - 1.68282697438203e-03f;
    q = q * c2 - 7.37332916720468e-03f;
    q = q * c2 - 1.42647390514189e-02f;
    return c * p / q;
}

static inline kiln_vf kiln_gelu_v(kiln_vf x) { return 0.5f * x * (1.0f + kiln_erf_v(x * 0.70710678118654752f)); }

/* The other activations of fused epilogues on whole vectors, NaN kept NaN as by the scalar forms below. */
static inline kiln_vf kiln_sigmoid_v(kiln_vf x) { return 1.0f / (1.0f + kiln_exp_v(-x)); }

/*
 * tanh as a rational function x P(x^2) / Q(x^2) (degrees 13 and 6, as Eigen fits it), within 4e-7 of tanh
 * for every x: the exp formula would lose relative precision near 0. |x| is clamped where tanh rounds to +-1,
 * and below 4e-4 tanh(x) rounds to x.
 */
static inline kiln_vf kiln_tanh_v(kiln_vf x) {
    kiln_vf c = kiln_vclamp(x, -7.90531110763549805f, 7.90531110763549805f);
    kiln_vf c2 = c * c;
    kiln_vf p = c2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * c2 - 8.60467152213735e-11f;
    p = p * c2 + 5.12229709037114e-08f;
    p = p * c2 + 1.48572235717979e-05f;
    p = p * c2 + 6.37261928875436e-04f;
    p = p * c2 + 4.89352455891786e-03f;
    kiln_vf q = c2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * c2 + 2.26843463243900e-03f;
    q = q * c2 + 4.89352518554385e-03f;
    kiln_vf a = (kiln_vf) ((kiln_vi) x & 0x7FFFFFFF);
    return kiln_vselect(a < 4e-4f, x, c * p / q);
}

/* GELU's tanh form 0.5 x (1 + tanh(u)) as x sigmoid(2u): the same function, without 1 + tanh's cancellation for negative x. */
static inline kiln_vf kiln_gelu_tanh_v(kiln_vf x) {
    kiln_vf u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + kiln_exp_v(-2.0f * u));
}

/*
 * The first n (0 < n <= KILN_VL) floats at p, the other lanes 0; and a store of the first n lanes. AVX-512 and
 * AVX masked moves; elsewhere through a buffer on the stack.
 */
static inline kiln_vf kiln_vload_part(const float* p, long n) {
    if (n == KILN_VL) return kiln_vload(p);
#if defined(__AVX512F__)
    return _mm512_maskz_loadu_ps((__mmask16) ((1u << n) - 1), p);
#elif defined(__AVX__)
    return _mm256_maskload_ps(p, (__m256i) kiln_vlanes_below(n));
#else
    float lanes[KILN_VL] = {0};
    memcpy(lanes, p, (size_t) n * sizeof(float));
    return kiln_vload(lanes);
#endif
}

static inline void kiln_vstore_part(float* p, kiln_vf v, long n) {
    if (n == KILN_VL) {
        kiln_vstore(p, v);
        return;
    }
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(p, (__mmask16) ((1u << n) - 1), v);
#elif defined(__AVX__)
    _mm256_maskstore_ps(p, (__m256i) kiln_vlanes_below(n), v);
#else
    float lanes[KILN_VL];
    kiln_vstore(lanes, v);
    memcpy(p, lanes, (size_t) n * sizeof(float));
#endif
}

/* NaN stays NaN, as ONNX's max(x, 0) and min(max(x, lo), hi) keep it; lo above hi gives hi. */
static inline float kiln_Relu(float x) { return x < 0.0f ? 0.0f : x; }
static inline float kiln_LeakyRelu(float x, float a) { return x >= 0.0f ? x : a * x; }
static inline float kiln_Clip(float x, float lo, float hi) { float y = x < lo ? lo : x; return y > hi ? hi : y; }
static inline float kiln_Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float kiln_Tanh(float x) { return tanhf(x); }
static inline float kiln_HardSigmoid(float x, float a, float b) { return kiln_Clip(a * x + b, 0.0f, 1.0f); }
static inline float kiln_HardSwish(float x) { return x * kiln_Clip(x / 6.0f + 0.5f, 0.0f, 1.0f); }
static inline float kiln_Swish(float x, float a) { return x / (1.0f + expf(-a * x)); }
static inline float kiln_Gelu(float x) { return 0.5f * x * (1.0f + kiln_erf(x * 0.70710678118654752f)); }
static inline float kiln_GeluTanh(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))); }
static inline float kiln_Elu(float x, float a) { return x >= 0.0f ? x : a * (expf(x) - 1.0f); }
static inline float kiln_Softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static inline float kiln_Softsign(float x) { return x / (1.0f + fabsf(x)); }
static inline float kiln_Mish(float x) { return x * tanhf(kiln_Softplus(x)); }
static inline float kiln_Neg(float x) { return -x; }
static inline float kiln_Abs(float x) { return fabsf(x); }
static inline float kiln_Sqrt(float x) { return sqrtf(x); }
static inline float kiln_Reciprocal(float x) { return 1.0f / x; }
static inline float kiln_Erf(float x) { return kiln_erf(x); }
static inline float kiln_Floor(float x) { return floorf(x); }
static inline float kiln_Ceil(float x) { return ceilf(x); }
static inline float kiln_Round(float x) { return nearbyintf(x); }
static inline float kiln_Sin(float x) { return sinf(x); }
static inline float kiln_Cos(float x) { return cosf(x); }
static inline float kiln_Exp(float x) { return expf(x); }
static inline float kiln_Log(float x) { return logf(x); }

static inline float kiln_Add(float a, float b) { return a + b; }
static inline float kiln_Sub(float a, float b) { return a - b; }
static inline float kiln_Mul(float a, float b) { return a * b; }
static inline float kiln_Div(float a, float b) { return a / b; }
static inline float kiln_Pow(float a, float b) { return powf(a, b); }
static inline float kiln_Max(float a, float b) { return isnan(a) || isnan(b) ? NAN : (a > b ? a : b); }
static inline float kiln_Min(float a, float b) { return isnan(a) || isnan(b) ? NAN : (a < b ? a : b); }
static inline float kiln_PRelu(float a, float slope) { return a < 0.0f ? a * slope : a; }

/* The activation codes of a fused epilogue (CCodeGenerator.Activation keeps the same numbering). */
enum {
    KILN_ACT_NONE = 0, KILN_ACT_RELU, KILN_ACT_LEAKY_RELU, KILN_ACT_CLIP, KILN_ACT_SIGMOID, KILN_ACT_TANH,
    KILN_ACT_HARD_SIGMOID, KILN_ACT_HARD_SWISH, KILN_ACT_SWISH, KILN_ACT_GELU, KILN_ACT_GELU_TANH, KILN_ACT_ELU,
    KILN_ACT_SOFTPLUS, KILN_ACT_SOFTSIGN, KILN_ACT_MISH
};

static inline float kiln_activate(float x, int code, float p0, float p1) {
    switch (code) {
        case KILN_ACT_NONE: return x;
        case KILN_ACT_RELU: return kiln_Relu(x);
        case KILN_ACT_LEAKY_RELU: return kiln_LeakyRelu(x, p0);
        case KILN_ACT_CLIP: return kiln_Clip(x, p0, p1);
        case KILN_ACT_SIGMOID: return kiln_Sigmoid(x);
        case KILN_ACT_TANH: return kiln_Tanh(x);
        case KILN_ACT_HARD_SIGMOID: return kiln_HardSigmoid(x, p0, p1);
        case KILN_ACT_HARD_SWISH: return kiln_HardSwish(x);
        case KILN_ACT_SWISH: return kiln_Swish(x, p0);
        case KILN_ACT_GELU: return kiln_Gelu(x);
        case KILN_ACT_GELU_TANH: return kiln_GeluTanh(x);
        case KILN_ACT_ELU: return kiln_Elu(x, p0);
        case KILN_ACT_SOFTPLUS: return kiln_Softplus(x);
        case KILN_ACT_SOFTSIGN: return kiln_Softsign(x);
        case KILN_ACT_MISH: return kiln_Mish(x);
        default: return x;
    }
}

/* Whether kiln_activate_v computes the activation (the others go element by element through kiln_activate). */
static inline int kiln_activation_is_vector(int code) {
    return code != KILN_ACT_SOFTPLUS && code != KILN_ACT_MISH && code != KILN_ACT_SOFTSIGN;
}

/*
 * The activation on a vector, for the codes kiln_activation_is_vector takes (others come back as they are).
 * Every lane is computed alike, so a value's result does not depend on where a kernel's vectors fall.
 */
static inline __attribute__((always_inline)) kiln_vf kiln_activate_v(kiln_vf x, int code, float p0, float p1) {
    switch (code) {
        case KILN_ACT_RELU: return kiln_vselect(x < 0.0f, (kiln_vf) {0}, x);
        case KILN_ACT_LEAKY_RELU: return kiln_vselect(x >= 0.0f, x, x * p0);
        case KILN_ACT_CLIP: return kiln_vclamp(x, p0, p1);
        case KILN_ACT_SIGMOID: return kiln_sigmoid_v(x);
        case KILN_ACT_TANH: return kiln_tanh_v(x);
        case KILN_ACT_HARD_SIGMOID: return kiln_vclamp(p0 * x + p1, 0.0f, 1.0f);
        case KILN_ACT_HARD_SWISH: return x * kiln_vclamp(x / 6.0f + 0.5f, 0.0f, 1.0f);
        case KILN_ACT_SWISH: return x / (1.0f + kiln_exp_v(-p0 * x));
        case KILN_ACT_GELU: return kiln_gelu_v(x);
        case KILN_ACT_GELU_TANH: return kiln_gelu_tanh_v(x);
        case KILN_ACT_ELU: return kiln_vselect(x >= 0.0f, x, p0 * (kiln_exp_v(x) - 1.0f));
        default: return x;
    }
}

/*
 * Applies an activation to n values in place: whole vectors, then the tail through one vector too, so that
 * each value gets the same result wherever it lies in the row.
 */
static inline void kiln_activate_row(float* v, long n, int code, float p0, float p1) {
    if (code == KILN_ACT_NONE) return;
    if (!kiln_activation_is_vector(code)) {
        for (long i = 0; i < n; i++) v[i] = kiln_activate(v[i], code, p0, p1);
        return;
    }
    long full = n / KILN_VL * KILN_VL;
    for (long i = 0; i < full; i += KILN_VL) kiln_vstore(v + i, kiln_activate_v(kiln_vload(v + i), code, p0, p1));
    if (full < n) {
        float tail[KILN_VL] = {0};
        memcpy(tail, v + full, (size_t) (n - full) * sizeof(float));
        kiln_vstore(tail, kiln_activate_v(kiln_vload(tail), code, p0, p1));
        memcpy(v + full, tail, (size_t) (n - full) * sizeof(float));
    }
}

/*
 * What a kernel does to each result before storing it: y = act(alpha * acc + beta * bias + residual).
 * bias(r, c) = bias[r * bias_rs + c * bias_cs] (strides of 0 broadcast); residual has the output's layout.
 */
typedef struct {
    float alpha, beta;
    const float* bias;
    long bias_rs, bias_cs;
    const float* residual;
    long residual_ld;
    int act;
    float p0, p1;
} kiln_epilogue;

/*
 * The sum and the maximum of a vector's lanes, by halves (lane i with lane i + KILN_VL / 2, and so on down):
 * a few dependent operations where lane order takes KILN_VL. The maximum skips NaN lanes where it can, as
 * v > m ? v : m does.
 */
#if KILN_VL == 16
#define KILN_HALVES {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11}, \
    {2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13}, {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14}
#elif KILN_VL == 8
#define KILN_HALVES {4, 5, 6, 7, 0, 1, 2, 3}, {2, 3, 0, 1, 6, 7, 4, 5}, {1, 0, 3, 2, 5, 4, 7, 6}
#else
#define KILN_HALVES {2, 3, 0, 1}, {1, 0, 3, 2}
#endif
static inline float kiln_vsum(kiln_vf v) {
    static const kiln_vi halves[] = {KILN_HALVES};
    for (unsigned i = 0; i < sizeof halves / sizeof halves[0]; i++) v += __builtin_shuffle(v, halves[i]);
    return v[0];
}

static inline float kiln_vmax(kiln_vf v) {
    static const kiln_vi halves[] = {KILN_HALVES};
    for (unsigned i = 0; i < sizeof halves / sizeof halves[0]; i++) {
        kiln_vf w = __builtin_shuffle(v, halves[i]);
        v = kiln_vselect(w > v, w, v);
    }
    return v[0];
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
