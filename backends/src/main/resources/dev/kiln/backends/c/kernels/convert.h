/*
 * Kiln CPU kernels: rows of f16 words converted to and from float, with the target's conversion instructions
 * where it has them (AVX-512F, AArch64 NEON), else element by element as base.h converts (rounding to nearest
 * even either way; only the payload bits of a NaN may differ).
 */
#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#endif

static void kiln_f16_to_f32_row(const uint16_t* x, float* y, long n) {
    long i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i*) (x + i))));
#elif defined(__aarch64__) && defined(__ARM_NEON)
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))));
#endif
    for (; i < n; i++) y[i] = kiln_f16_to_f32(x[i]);
}

static void kiln_f32_to_f16_row(const float* x, uint16_t* y, long n) {
    long i = 0;
#if defined(__AVX512F__)
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_si256((__m256i*) (y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#elif defined(__aarch64__) && defined(__ARM_NEON)
    for (; i + 4 <= n; i += 4) vst1_u16(y + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
#endif
    for (; i < n; i++) y[i] = kiln_f32_to_f16(x[i]);
}
