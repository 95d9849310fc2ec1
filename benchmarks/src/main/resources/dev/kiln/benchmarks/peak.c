/*
 * Single-precision FMA peak of one core: independent chains of acc = acc * m + a on the widest GCC vector
 * type the target has, for about 0.3 s. Prints one line:
 *   gflops=<achieved GFLOP/s> chains=<independent chains> lanes=<floats per vector> checksum=<sum of results>
 * Built with gcc -O2 -march=native: -march picks the vector width, GNU C's default -ffp-contract=fast turns
 * each multiply-add into one FMA. Without -ffast-math the chains cannot be reassociated or merged.
 */
#include <stdio.h>
#include <time.h>

/* FMA latency (4-5 cycles) x 2 FMA units needs 8-10 chains in flight; CHAINS leaves a margin. */
#if defined(__AVX512F__)
#define LANES 16
#define CHAINS 16 /* 32 zmm registers: the accumulators, m and a all stay in registers */
#elif defined(__AVX2__)
#define LANES 8
#define CHAINS 12 /* 16 ymm registers: 12 accumulators + m + a */
#else
#define LANES 4
#define CHAINS 12
#endif

typedef float vec __attribute__((vector_size(LANES * sizeof(float))));

#define STEPS_PER_CHECK 4096
#define SECONDS 0.3

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Loaded through volatile so the compiler knows neither value. m < 1 keeps the chains bounded and normal. */
static volatile float multiplier = 0.999999f;
static volatile float addend = 1e-6f;

int main(void) {
    vec m = (vec){0} + multiplier;
    vec a = (vec){0} + addend;
    vec acc[CHAINS];
    for (int c = 0; c < CHAINS; c++) acc[c] = (vec){0} + (float)c;

    long steps = 0;
    double start = now(), elapsed;
    do {
        for (int s = 0; s < STEPS_PER_CHECK; s++) {
#pragma GCC unroll 16
            for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * m + a;
        }
        steps += STEPS_PER_CHECK;
        elapsed = now() - start;
    } while (elapsed < SECONDS);

    double checksum = 0;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < LANES; l++) checksum += acc[c][l];
    double flops = (double)steps * CHAINS * LANES * 2;
    printf("gflops=%.1f chains=%d lanes=%d checksum=%.6g\n", flops / elapsed / 1e9, CHAINS, LANES, checksum);
    return 0;
}
