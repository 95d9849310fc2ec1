/*
 * Kiln CPU kernels: what every generated library uses. Half-precision storage (f16, bf16: 16-bit words,
 * computed in float), the error a failing kiln_run reports, and the buffers of values whose size is known
 * only at run time (outputs of NonZero, of a Reshape to a shape read from an input, ...).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <float.h>

/* IEEE binary16 to float, exactly (subnormals, infinities and NaN included). */
static inline float kiln_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t) (h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu, bits;
    if (exponent == 0x1fu) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112u) << 23) | (mantissa << 13);
    } else if (mantissa == 0) {
        bits = sign;
    } else { /* subnormal: normalise */
        int shift = 0;
        while (!(mantissa & 0x400u)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t) (113 - shift) << 23) | ((mantissa & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float to IEEE binary16, rounding to nearest even; overflow to infinity, NaN kept NaN. */
static inline uint16_t kiln_f32_to_f16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000u, abs = bits & 0x7fffffffu;
    if (abs > 0x7f800000u) return (uint16_t) (sign | 0x7e00u);
    if (abs >= 0x477ff000u) return (uint16_t) (sign | 0x7c00u); /* rounds to >= 65520: infinity */
    if (abs < 0x38800000u) { /* below the smallest normal half: a subnormal or zero */
        if (abs < 0x33000000u) return (uint16_t) sign; /* below half the smallest subnormal */
        uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int) (abs >> 23); /* 14 .. 24 */
        uint32_t half = mantissa >> shift, rest = mantissa & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rest > mid || (rest == mid && (half & 1u))) half++;
        return (uint16_t) (sign | half);
    }
    uint32_t half = ((abs >> 13) - (112u << 10)), rest = abs & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) half++;
    return (uint16_t) (sign | half);
}

static inline float kiln_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t) h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* float to bfloat16, rounding to nearest even; NaN kept NaN. */
static inline uint16_t kiln_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t) ((bits >> 16) | 0x40u);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t) (bits >> 16);
}

/*
 * Doubles and 64-bit integers converted as the reference interpreter converts them (Java's casts), where C
 * leaves cases undefined: a double to i64 truncates toward zero, takes NaN to 0 and saturates at the range; to
 * u64 it goes from 2^63 up through the top bit (saturating at 2^64 - 1), below as i64 wrapped; a u64 reads as
 * its high 63 bits rounded, then the low bit added.
 */
static inline int64_t kiln_f64_to_i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t) v;
}

static inline uint64_t kiln_f64_to_u64(double v) {
    if (v >= 9223372036854775808.0) return (uint64_t) kiln_f64_to_i64(v - 9223372036854775808.0) ^ 0x8000000000000000ull;
    return (uint64_t) kiln_f64_to_i64(v);
}

static inline double kiln_u64_to_f64(uint64_t v) {
    if ((int64_t) v >= 0) return (double) (int64_t) v;
    return (double) (int64_t) (v >> 1) * 2.0 + (double) (v & 1u);
}

/* ---- errors ------------------------------------------------------------------------------------------------- */

/* What the last failing kiln_run found (kiln_last_error), and the code it returned. */
#define KILN_RUN_FAILED (-3)
static char kiln_error_text[512];

static int kiln_fail(const char* what) {
    snprintf(kiln_error_text, sizeof kiln_error_text, "%s", what);
    return KILN_RUN_FAILED;
}

static int kiln_fail_value(const char* what, long long value) {
    snprintf(kiln_error_text, sizeof kiln_error_text, "%s %lld", what, value);
    return KILN_RUN_FAILED;
}

/* Returns from kiln_run with the code of a call that failed. */
#define KILN_TRY(call) do { int kiln_rc_ = (call); if (kiln_rc_ != 0) return kiln_rc_; } while (0)

/* ---- values sized at run time -------------------------------------------------------------------------------- */

/* The most bytes one value sized at run time may take: past it kiln_run fails rather than allocate. */
#if UINTPTR_MAX > 0xffffffffu
#define KILN_DYNAMIC_LIMIT ((unsigned long long) 1 << 32)
#else
#define KILN_DYNAMIC_LIMIT ((unsigned long long) 1 << 30)
#endif

typedef struct {
    void* data;
    unsigned long long bytes;
} kiln_buffer;

static long kiln_count(int rank, const long* dims) {
    long n = 1;
    for (int d = 0; d < rank; d++) n *= dims[d];
    return n;
}

/* Makes b hold at least count elements of size bytes, growing it as needed; fails past KILN_DYNAMIC_LIMIT. */
static int kiln_reserve(kiln_buffer* b, long count, int size, const char* what) {
    if (count < 0) return kiln_fail_value(what, count);
    unsigned long long need = (unsigned long long) count * (unsigned long long) size;
    if (count > 0 && need / (unsigned long long) count != (unsigned long long) size) need = ~0ull;
    if (need > KILN_DYNAMIC_LIMIT) {
        snprintf(kiln_error_text, sizeof kiln_error_text, "%s needs %llu bytes, more than the %llu bytes a value sized at run time may take",
                 what, need, KILN_DYNAMIC_LIMIT);
        return KILN_RUN_FAILED;
    }
    if (need <= b->bytes && b->data) return 0;
    void* p = realloc(b->data, need > 0 ? (size_t) need : 1);
    if (!p) {
        snprintf(kiln_error_text, sizeof kiln_error_text, "%s: cannot allocate %llu bytes", what, need);
        return KILN_RUN_FAILED;
    }
    b->data = p;
    b->bytes = need;
    return 0;
}

static void kiln_release(kiln_buffer* b) {
    free(b->data);
    b->data = 0;
    b->bytes = 0;
}

/*
 * The element strides with which an operand of in_rank dims in_dims is read for each of the out_rank dims of
 * the output it broadcasts to (dims right-aligned; 0 where the operand's dim is 1 or absent).
 */
static void kiln_broadcast_strides(int out_rank, const long* out_dims, int in_rank, const long* in_dims, long* strides) {
    long stride = 1;
    (void) out_dims;
    for (int d = out_rank - 1; d >= 0; d--) {
        int id = d - (out_rank - in_rank);
        if (id < 0) { strides[d] = 0; continue; }
        strides[d] = in_dims[id] == 1 ? 0 : stride;
        stride *= in_dims[id];
    }
}

/*
 * out_dims[d] becomes the broadcast of itself and an operand's dims (call it once per operand, out_dims all 1
 * first); fails naming what when the dims cannot broadcast.
 */
static int kiln_broadcast_dims(int out_rank, long* out_dims, int in_rank, const long* in_dims, const char* what) {
    for (int d = 0; d < in_rank; d++) {
        long* o = &out_dims[out_rank - in_rank + d];
        long i = in_dims[d];
        if (*o == 1) *o = i;
        else if (i != 1 && i != *o) {
            snprintf(kiln_error_text, sizeof kiln_error_text, "%s: dims %ld and %ld do not broadcast", what, *o, i);
            return KILN_RUN_FAILED;
        }
    }
    return 0;
}
