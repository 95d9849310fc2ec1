/* Kiln CPU kernels: scalar elementwise functions (ONNX semantics) shared by fused programs and epilogues. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <float.h>

static inline float kiln_Relu(float x) { return x > 0.0f ? x : 0.0f; }
static inline float kiln_LeakyRelu(float x, float a) { return x >= 0.0f ? x : a * x; }
static inline float kiln_Clip(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }
static inline float kiln_Sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float kiln_Tanh(float x) { return tanhf(x); }
static inline float kiln_HardSigmoid(float x, float a, float b) { return kiln_Clip(a * x + b, 0.0f, 1.0f); }
static inline float kiln_HardSwish(float x) { return x * kiln_Clip(x / 6.0f + 0.5f, 0.0f, 1.0f); }
static inline float kiln_Swish(float x, float a) { return x / (1.0f + expf(-a * x)); }
static inline float kiln_Gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float kiln_GeluTanh(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x))); }
static inline float kiln_Elu(float x, float a) { return x >= 0.0f ? x : a * (expf(x) - 1.0f); }
static inline float kiln_Softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static inline float kiln_Softsign(float x) { return x / (1.0f + fabsf(x)); }
static inline float kiln_Mish(float x) { return x * tanhf(kiln_Softplus(x)); }
static inline float kiln_Neg(float x) { return -x; }
static inline float kiln_Abs(float x) { return fabsf(x); }
static inline float kiln_Sqrt(float x) { return sqrtf(x); }
static inline float kiln_Reciprocal(float x) { return 1.0f / x; }
static inline float kiln_Erf(float x) { return erff(x); }
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

/* Applies an activation to n values in place; the common ones in loops the compiler vectorises. */
static inline void kiln_activate_row(float* v, long n, int code, float p0, float p1) {
    switch (code) {
        case KILN_ACT_NONE: return;
        case KILN_ACT_RELU: for (long i = 0; i < n; i++) v[i] = v[i] > 0.0f ? v[i] : 0.0f; return;
        case KILN_ACT_CLIP: for (long i = 0; i < n; i++) v[i] = v[i] < p0 ? p0 : (v[i] > p1 ? p1 : v[i]); return;
        default: for (long i = 0; i < n; i++) v[i] = kiln_activate(v[i], code, p0, p1); return;
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
