/*
 * A small hand-written library with the C ABI of compiled models (see the C backend's CCodeGenerator), to test Model and
 * NativeModel without the compiler. Inputs x f32[2,3] and n i32[1]; outputs y f32[2,3] = x * n + 1, s f64[2] the
 * sums of y's rows, and where i64[3]: the addresses kiln_run was given for x, n and y (what runs in place shows).
 * A negative n fails the run. Two nodes, each counted as 1000 ns per run while profiling is on.
 * With -DABI_DYNAMIC, s is an output whose shape each run computes (kept in the library's own memory).
 */
#include <stdint.h>
#include <string.h>

static char* arena;
static const char* error = "";
static double sums[2];
static int profiling;
static int64_t profiled_runs, node_ns[2];

long kiln_arena_bytes(void) { return 64; }
int kiln_init(const void* weights, void* a) { (void) weights; arena = a; return 0; }
int kiln_set_threads(int n) { return n >= 1 && n <= 256 ? 0 : -1; }
void kiln_shutdown(void) {}
const char* kiln_last_error(void) { return error; }

int kiln_num_inputs(void) { return 2; }
int kiln_num_outputs(void) { return 3; }
int kiln_input_rank(int i) { return i == 0 ? 2 : i == 1 ? 1 : -1; }
int kiln_output_rank(int i) { return i == 0 ? 2 : i == 1 || i == 2 ? 1 : -1; }
int kiln_input_dtype(int i) { return i == 0 ? 1 : i == 1 ? 6 : -1; }
int kiln_output_dtype(int i) { return i == 0 ? 1 : i == 1 ? 11 : i == 2 ? 7 : -1; }
long kiln_input_dim(int i, int d) { return i == 0 ? (d == 0 ? 2 : 3) : 1; }
long kiln_output_dim(int i, int d) { return i == 0 ? (d == 0 ? 2 : 3) : i == 1 ? 2 : 3; }
#ifdef ABI_DYNAMIC
int kiln_output_dynamic(int i) { return i == 1; }
#else
int kiln_output_dynamic(int i) { (void) i; return 0; }
#endif
const void* kiln_output_data(int i) { return i == 1 ? sums : 0; }

int kiln_run(const void* const* inputs, void* const* outputs) {
    if (!arena) return -1;
    const float* x = inputs[0];
    int32_t n = *(const int32_t*) inputs[1];
    if (n < 0) {
        error = "node scale: n must not be negative";
        return -3;
    }
    float* y = outputs[0];
    for (int i = 0; i < 6; i++) y[i] = x[i] * (float) n + 1;
    for (int r = 0; r < 2; r++) sums[r] = (double) y[3 * r] + y[3 * r + 1] + y[3 * r + 2];
#ifndef ABI_DYNAMIC
    memcpy(outputs[1], sums, sizeof sums);
#endif
    int64_t where[3] = {(int64_t) (intptr_t) inputs[0], (int64_t) (intptr_t) inputs[1], (int64_t) (intptr_t) outputs[0]};
    memcpy(outputs[2], where, sizeof where);
    if (profiling) {
        node_ns[0] += 1000;
        node_ns[1] += 1000;
        profiled_runs++;
    }
    return 0;
}

int kiln_num_nodes(void) { return 2; }
const char* kiln_node_name(int i) { return i == 0 ? "scale" : i == 1 ? "row sums \xc3\xa9" : 0; }
const char* kiln_node_op(int i) { return i == 0 ? "FusedElementwise" : i == 1 ? "ReduceSum" : 0; }
int64_t kiln_node_flops(int i) { return i == 0 ? 12 : 0; }
void kiln_set_profiling(int on) {
    profiling = on;
    profiled_runs = node_ns[0] = node_ns[1] = 0;
}
int64_t kiln_profile(int64_t* ns) {
    memcpy(ns, node_ns, sizeof node_ns);
    return profiled_runs;
}
