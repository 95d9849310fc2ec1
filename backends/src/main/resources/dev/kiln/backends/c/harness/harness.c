/*
 * Kiln test harness: runs a generated model (model.c linked in, or the compiled library linked against)
 * as a program, for targets whose code cannot be loaded in-process here (ARM under qemu-user, Windows
 * under Wine, Android libraries under glibc).
 *
 *   harness WEIGHTS INPUTS OUTPUTS [THREADS]
 *
 * THREADS (default 1) is passed to kiln_set_threads before the run.
 * INPUTS holds every input's elements (graph order, dense row-major, little-endian, each of the input's dtype as
 * kiln_input_dtype says) back to back.
 * OUTPUTS receives, per output in graph order: int32 dtype (ONNX code, kiln_output_dtype), int32 rank, rank x int64
 * dims, then the elements. An output whose shape a run computes (kiln_output_dynamic) is read after the run from
 * kiln_output_dim and kiln_output_data.
 * Prints "kiln_run_ns N" (the time of one kiln_run) on stdout; exits non-zero with a message on failure (with
 * kiln_last_error's text when kiln_run fails).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <malloc.h>
#else
#include <time.h>
#endif

long kiln_arena_bytes(void);
int kiln_init(const void* weights, void* arena);
int kiln_run(const void* const* inputs, void* const* outputs);
int kiln_num_inputs(void);
int kiln_num_outputs(void);
int kiln_input_rank(int i);
int kiln_output_rank(int i);
int kiln_input_dtype(int i);
int kiln_output_dtype(int i);
long kiln_input_dim(int i, int d);
long kiln_output_dim(int i, int d);
int kiln_output_dynamic(int i);
const void* kiln_output_data(int i);
const char* kiln_last_error(void);
int kiln_set_threads(int n);
void kiln_shutdown(void);

/* 64-byte-aligned memory (Windows has no posix_memalign); NULL when out of memory. */
static void* aligned_memory(size_t bytes) {
#ifdef _WIN32
    return _aligned_malloc(bytes, 64);
#else
    void* p = NULL;
    return posix_memalign(&p, 64, bytes) == 0 ? p : NULL;
#endif
}

static void aligned_free(void* p) {
#ifdef _WIN32
    _aligned_free(p);
#else
    free(p);
#endif
}

static int64_t now_ns(void) {
#ifdef _WIN32
    LARGE_INTEGER ticks, frequency;
    QueryPerformanceCounter(&ticks);
    QueryPerformanceFrequency(&frequency);
    return (int64_t) ((double) ticks.QuadPart * 1e9 / (double) frequency.QuadPart);
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000LL + t.tv_nsec;
#endif
}

static int fail(const char* what, const char* path) {
    fprintf(stderr, "harness: %s %s\n", what, path);
    return 1;
}

/* The whole file, in 64-byte-aligned memory (kiln_init's contract); its size in *bytes. */
static void* read_file(const char* path, long* bytes) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    void* data = aligned_memory((size_t) (*bytes > 0 ? *bytes : 64));
    if (data && *bytes > 0 && fread(data, 1, (size_t) *bytes, f) != (size_t) *bytes) {
        aligned_free(data);
        data = NULL;
    }
    fclose(f);
    return data;
}

static long elements(int rank, long (*dim)(int, int), int i) {
    long n = 1;
    for (int d = 0; d < rank; d++) n *= dim(i, d);
    return n;
}

/* Bytes of one element of an ONNX TensorProto data type; 0 for a type the ABI does not use. */
static long element_bytes(int dtype) {
    switch (dtype) {
        case 2: case 3: case 9: return 1;             /* uint8, int8, bool */
        case 4: case 5: case 10: case 16: return 2;   /* uint16, int16, float16, bfloat16 */
        case 1: case 6: case 12: return 4;            /* float, int32, uint32 */
        case 7: case 11: case 13: return 8;           /* int64, double, uint64 */
        default: return 0;
    }
}

int main(int argc, char** argv) {
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s WEIGHTS INPUTS OUTPUTS [THREADS]\n", argv[0]);
        return 2;
    }
    long weight_bytes = 0, input_bytes = 0;
    void* weights = read_file(argv[1], &weight_bytes);
    if (!weights) return fail("cannot read weights", argv[1]);
    char* input_data = read_file(argv[2], &input_bytes);
    if (!input_data) return fail("cannot read inputs", argv[2]);

    int ni = kiln_num_inputs(), no = kiln_num_outputs();
    const void** inputs = calloc((size_t) ni + 1, sizeof(void*));
    void** outputs = calloc((size_t) no + 1, sizeof(void*));
    long offset = 0;
    for (int i = 0; i < ni; i++) {
        if (element_bytes(kiln_input_dtype(i)) == 0) return fail("an input has an unknown dtype in", argv[0]);
        inputs[i] = input_data + offset;
        offset += elements(kiln_input_rank(i), kiln_input_dim, i) * element_bytes(kiln_input_dtype(i));
    }
    if (offset != input_bytes) return fail("inputs have the wrong size in", argv[2]);
    for (int i = 0; i < no; i++) {
        if (element_bytes(kiln_output_dtype(i)) == 0) return fail("an output has an unknown dtype in", argv[0]);
        if (kiln_output_dynamic(i)) continue; /* the library's own buffer, read after the run */
        outputs[i] = malloc((size_t) (elements(kiln_output_rank(i), kiln_output_dim, i) * element_bytes(kiln_output_dtype(i))) + 1);
        if (!outputs[i]) return fail("out of memory for outputs of", argv[0]);
    }
    void* arena = kiln_arena_bytes() > 0 ? aligned_memory((size_t) kiln_arena_bytes()) : NULL;
    if (kiln_arena_bytes() > 0 && !arena) return fail("out of memory for the arena of", argv[0]);
    if (kiln_init(weights, arena) != 0) return fail("kiln_init failed with weights", argv[1]);
    if (kiln_set_threads(argc == 5 ? atoi(argv[4]) : 1) != 0) return fail("kiln_set_threads failed for thread count", argc == 5 ? argv[4] : "1");

    int64_t start = now_ns();
    int status = kiln_run((const void* const*) inputs, (void* const*) outputs);
    int64_t end = now_ns();
    if (status != 0) {
        fprintf(stderr, "harness: kiln_run returned %d: %s\n", status, kiln_last_error());
        kiln_shutdown();
        return fail("kiln_run failed on inputs", argv[2]);
    }
    printf("kiln_run_ns %" PRId64 "\n", end - start);

    /* written before kiln_shutdown, which frees the run-time shaped outputs' buffers */
    FILE* f = fopen(argv[3], "wb");
    if (!f) return fail("cannot write outputs", argv[3]);
    for (int i = 0; i < no; i++) {
        int32_t dtype = kiln_output_dtype(i), rank = kiln_output_rank(i);
        fwrite(&dtype, sizeof dtype, 1, f);
        fwrite(&rank, sizeof rank, 1, f);
        for (int d = 0; d < rank; d++) {
            int64_t dim = kiln_output_dim(i, d);
            fwrite(&dim, sizeof dim, 1, f);
        }
        const void* data = kiln_output_dynamic(i) ? kiln_output_data(i) : outputs[i];
        long count = elements(rank, kiln_output_dim, i);
        if (count > 0 && fwrite(data, (size_t) element_bytes(dtype), (size_t) count, f) != (size_t) count) {
            fclose(f);
            return fail("cannot write outputs", argv[3]);
        }
    }
    kiln_shutdown();
    if (fclose(f) != 0) return fail("cannot write outputs", argv[3]);
    return 0;
}
