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
 * The same exp, erf and GELU on whole vectors: GCC vector types of the target's widest vectors
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
#endif
typedef float kiln_vf __attribute__((vector_size(KILN_VL * 4)));
typedef int32_t kiln_vi __attribute__((vector_size(KILN_VL * 4)));
typedef float kiln_vf_u __attribute__((vector_size(KILN_VL * 4), aligned(4)));

static inline kiln_vf kiln_vload(const float* p) { return *(const kiln_vf_u*) p; }
static inline void kiln_vstore(float* p, kiln_vf v) { *(kiln_vf_u*) p = v; }
/* x in every lane: lane 0 broadcast (adding x to a zero vector would be an addition, as -0.0 + 0.0 is not -0.0) */
static inline kiln_vf kiln_vsplat(float x) { return __builtin_shuffle((kiln_vf) {x}, (kiln_vi) {0}); }
/* mask ? a : b, lane by lane (mask lanes all ones or zero, as comparisons give) */
static inline kiln_vf kiln_vselect(kiln_vi mask, kiln_vf a, kiln_vf b) { return (kiln_vf) (((kiln_vi) a & mask) | ((kiln_vi) b & ~mask)); }

/* kiln_exp on a vector; past log(FLT_MAX) infinity, as expf gives, so that x / (1 + e^-x) of -inf is NaN as x * sigmoid(x) is. */
static inline kiln_vf kiln_exp_v(kiln_vf x) {
    kiln_vi overflow = x > 88.7228394f;
    x = kiln_vselect(x < -87.0f, kiln_vsplat(-87.0f), x);
    x = kiln_vselect(x > 88.7f, kiln_vsplat(88.7f), x);
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

static inline kiln_vf kiln_erf_v(kiln_vf x) {
    kiln_vi sign = (kiln_vi) x & (int32_t) 0x80000000;
    kiln_vf a = (kiln_vf) ((kiln_vi) x & 0x7FFFFFFF);
    kiln_vf a2 = a * a;
    kiln_vf small = a2 * -6.047106689494344e-4f + 5.005616917982477e-3f;
    small = small * a2 - 2.6776396986215364e-2f;
    small = small * a2 + 1.1282139694654096e-1f;
    small = small * a2 - 3.7612533838184586e-1f;
    small = small * a2 + 1.1283791602585371f;
    small *= a;
    kiln_vf b = kiln_vselect(a > 3.93f, kiln_vsplat(3.93f), a);
    kiln_vf q = b * 1.634157291154824e-06f - 4.596680819074577e-05f;
    q = q * b + 5.957632836810203e-04f;
    q = q * b - 4.753422098662828e-03f;
    q = q * b + 2.6399908336486994e-02f;
    q = q * b - 1.100362207047719e-01f;
    q = q * b - 6.318795498406425e-01f;
    q = q * b - 1.1301981035914859f;
    q = q * b + 3.1044239351964175e-04f;
    kiln_vf big = 1.0f - kiln_exp_v(q);
    kiln_vf r = kiln_vselect(a < 0.921875f, small, big);
    r = kiln_vselect(a >= 3.93f, kiln_vsplat(1.0f), r);
    return (kiln_vf) ((kiln_vi) r | sign);
}

static inline kiln_vf kiln_gelu_v(kiln_vf x) { return 0.5f * x * (1.0f + kiln_erf_v(x * 0.70710678118654752f)); }

/*
 * The other activations of fused epilogues on whole vectors, NaN kept NaN as by the scalar forms below.
 * kiln_tanh_v is 1 - 2 / (e^2|x| + 1) with x's sign: within about 1e-7 absolute (a few ulp of values away from 0).
 */
static inline kiln_vf kiln_sigmoid_v(kiln_vf x) { return 1.0f / (1.0f + kiln_exp_v(-x)); }
static inline kiln_vf kiln_tanh_v(kiln_vf x) {
    kiln_vi sign = (kiln_vi) x & (int32_t) 0x80000000;
    kiln_vf a = (kiln_vf) ((kiln_vi) x & 0x7FFFFFFF);
    kiln_vf r = 1.0f - 2.0f / (kiln_exp_v(a + a) + 1.0f);
    return (kiln_vf) ((kiln_vi) r | sign);
}
/* min(max(x, lo), hi) as kiln_Clip: NaN stays NaN, lo above hi gives hi */
static inline kiln_vf kiln_clip_v(kiln_vf x, float lo, float hi) {
    x = kiln_vselect(x < lo, kiln_vsplat(lo), x);
    return kiln_vselect(x > hi, kiln_vsplat(hi), x);
}
static inline kiln_vf kiln_gelu_tanh_v(kiln_vf x) {
    return 0.5f * x * (1.0f + kiln_tanh_v(0.7978845608028654f * (x + 0.044715f * x * x * x)));
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
        case KILN_ACT_CLIP: return kiln_clip_v(x, p0, p1);
        case KILN_ACT_SIGMOID: return kiln_sigmoid_v(x);
        case KILN_ACT_TANH: return kiln_tanh_v(x);
        case KILN_ACT_HARD_SIGMOID: return kiln_clip_v(p0 * x + p1, 0.0f, 1.0f);
        case KILN_ACT_HARD_SWISH: return x * kiln_clip_v(x / 6.0f + 0.5f, 0.0f, 1.0f);
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

/* The sum of a vector's lanes, in lane order. */
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
