/*
 * Kiln CPU kernels: linear quantization. The arithmetic mirrors the reference (ONNX's numpy implementation):
 * scales are rounded to the precision numpy computes in, rounding is half to even (nearbyint in the default
 * rounding mode), results saturate to the quantized type, and integer sums wrap to 32 bits. Results are
 * bitwise those of the interpreter.
 */

/*
 * v rounded to f32 or f64, as the reference rounds each step. Where the FPU computes in a wider format (x87:
 * FLT_EVAL_METHOD 2) a cast may keep the wider value, so the value goes through memory; elsewhere a cast rounds.
 * An integer element is given as it is stored (gcc 12 vectorises (double) (float) (double) of an i32 as if the
 * conversion to float were exact).
 */
#if FLT_EVAL_METHOD == 0
#define KILN_AS_F32(v) ((double) (float) (v))
#define KILN_AS_F64(v) ((double) (v))
#else
static inline double kiln_as_f32(double v) {
    volatile float f = (float) v;
    return f;
}
static inline double kiln_as_f64(double v) {
    volatile double d = v;
    return d;
}
#define KILN_AS_F32(v) kiln_as_f32(v)
#define KILN_AS_F64(v) kiln_as_f64(v)
#endif

/* A double rounded through f16 or bf16 (numpy computing in that type). */
static inline double kiln_round_f16(double v) { return kiln_f16_to_f32(kiln_f32_to_f16((float) v)); }
static inline double kiln_round_bf16(double v) { return kiln_bf16_to_f32(kiln_f32_to_bf16((float) v)); }

/* q clamped to [lo, hi]; NaN gives 0 (the reference's conversion of NaN to an integer). */
static inline double kiln_saturate(double q, double lo, double hi) { return q != q ? 0.0 : (q < lo ? lo : (q > hi ? hi : q)); }

/*
 * x * y rounded to double on its own: the volatile store keeps the compiler from fusing the product into a
 * following addition (a multiply-add rounds once where the reference rounds twice).
 */
static inline double kiln_product(double x, double y) {
    volatile double p = x * y;
    return p;
}

/*
 * DynamicQuantizeLinear: the range [min(x, 0), max(x, 0)] mapped onto u8. scale = range / 255 (1 for an all-zero
 * x), zero point = round(-min / scale) within [0, 255], y = saturate(round(x / scale) + zero point). A NaN in x
 * makes the range NaN, as in the reference.
 */
static void kiln_dynamic_quantize(long n, const float* x, uint8_t* y, float* scale_out, uint8_t* zero_out) {
    float lo = 0.0f, hi = 0.0f;
    for (long i = 0; i < n; i++) {
        float v = x[i];
        lo = v != v || lo != lo ? NAN : (v < lo ? v : lo);
        hi = v != v || hi != hi ? NAN : (v > hi ? v : hi);
    }
    double scale = hi == lo ? 1.0 : KILN_AS_F32(KILN_AS_F32((double) hi - (double) lo) / 255.0);
    double shift = KILN_AS_F32(0.0 - KILN_AS_F32((double) lo / scale));
    double zero = nearbyint(shift != shift ? shift : (shift < 0.0 ? 0.0 : (shift > 255.0 ? 255.0 : shift)));
    for (long i = 0; i < n; i++) y[i] = (uint8_t) kiln_saturate(nearbyint(KILN_AS_F32((double) x[i] / scale)) + zero, 0.0, 255.0);
    *scale_out = (float) scale;
    *zero_out = (uint8_t) kiln_saturate(zero, 0.0, 255.0);
}

/*
 * c = a b for row-major a (m x k) and b (k x n) of integers less their zero points: exact, wrapping to 32 bits
 * as ONNX's int32 accumulation does (unsigned arithmetic wraps without overflow). Rows of c per thread.
 */
typedef struct {
    long n, k;
    const int16_t *a, *b;
    int32_t* c;
} kiln_qgemm_args;

static void kiln_qgemm_rows(void* ctx, long begin, long end, float* ws) {
    const kiln_qgemm_args* g = ctx;
    (void) ws;
    for (long i = begin; i < end; i++) {
        uint32_t* ci = (uint32_t*) (g->c + i * g->n);
        for (long j = 0; j < g->n; j++) ci[j] = 0u;
        for (long t = 0; t < g->k; t++) {
            uint32_t av = (uint32_t) (int32_t) g->a[i * g->k + t];
            const int16_t* bt = g->b + t * g->n;
            for (long j = 0; j < g->n; j++) ci[j] += av * (uint32_t) (int32_t) bt[j];
        }
    }
}

static void kiln_qgemm(long m, long n, long k, const int16_t* a, const int16_t* b, int32_t* c) {
    kiln_qgemm_args g = {n, k, a, b, c};
    kiln_parallel_for(m, n * k, kiln_qgemm_rows, &g, 0);
}

/*
 * A grouped convolution over up to 3 spatial axes (fewer as leading axes of size 1) of integers less their zero
 * points: x (batch, channels, in...), w (maps, channels / group, kernel...), y (batch, maps, out...) the 32-bit
 * wrapped sums plus bias (NULL: none). Output planes per thread.
 */
typedef struct {
    long batch, channels, maps, group;
    long in[3], out[3], kernel[3], stride[3], dilation[3], pad[3];
} kiln_qconv_shape;

typedef struct {
    const kiln_qconv_shape* s;
    const int16_t *x, *w;
    const int32_t* bias;
    int32_t* y;
} kiln_qconv_args;

/* Planes [begin, end) of y (index b * maps + m). */
static void kiln_qconv_planes(void* ctx, long begin, long end, float* ws) {
    const kiln_qconv_args* a = ctx;
    const kiln_qconv_shape* s = a->s;
    (void) ws;
    long cg = s->channels / s->group, mg = s->maps / s->group;
    long in_plane = s->in[0] * s->in[1] * s->in[2], taps = s->kernel[0] * s->kernel[1] * s->kernel[2];
    uint32_t* out = (uint32_t*) a->y + begin * s->out[0] * s->out[1] * s->out[2];
    for (long plane = begin; plane < end; plane++) {
        long b = plane / s->maps, m = plane % s->maps;
        const int16_t* xg = a->x + (b * s->channels + m / mg * cg) * in_plane;
        const int16_t* wm = a->w + m * cg * taps;
        for (long od = 0; od < s->out[0]; od++) {
            for (long oh = 0; oh < s->out[1]; oh++) {
                for (long ow = 0; ow < s->out[2]; ow++) {
                    uint32_t acc = a->bias ? (uint32_t) a->bias[m] : 0u;
                    for (long c = 0; c < cg; c++) {
                        const int16_t* xc = xg + c * in_plane;
                        const int16_t* wc = wm + c * taps;
                        for (long kd = 0; kd < s->kernel[0]; kd++) {
                            long id = od * s->stride[0] - s->pad[0] + kd * s->dilation[0];
                            if (id < 0 || id >= s->in[0]) continue;
                            for (long kh = 0; kh < s->kernel[1]; kh++) {
                                long ih = oh * s->stride[1] - s->pad[1] + kh * s->dilation[1];
                                if (ih < 0 || ih >= s->in[1]) continue;
                                const int16_t* xrow = xc + (id * s->in[1] + ih) * s->in[2];
                                const int16_t* wrow = wc + (kd * s->kernel[1] + kh) * s->kernel[2];
                                for (long kw = 0; kw < s->kernel[2]; kw++) {
                                    long iw = ow * s->stride[2] - s->pad[2] + kw * s->dilation[2];
                                    if (iw >= 0 && iw < s->in[2]) acc += (uint32_t) ((int32_t) xrow[iw] * (int32_t) wrow[kw]);
                                }
                            }
                        }
                    }
                    *out++ = acc;
                }
            }
        }
    }
}

static void kiln_qconv(const kiln_qconv_shape* s, const int16_t* x, const int16_t* w, const int32_t* bias, int32_t* y) {
    kiln_qconv_args a = {s, x, w, bias, y};
    long taps = s->kernel[0] * s->kernel[1] * s->kernel[2];
    kiln_parallel_for(s->batch * s->maps, s->out[0] * s->out[1] * s->out[2] * (s->channels / s->group) * taps, kiln_qconv_planes, &a, 0);
}
