/*
 * Kiln CPU kernels: the clock of the per-node profile. While profiling is on (kiln_set_profiling), kiln_run reads
 * the clock before its first node and after each node, adding the difference to that node's counter; each reading
 * ends one node and starts the next, so off it costs one predictable branch per node.
 */
#ifndef _WIN32
#include <time.h>
#endif

/* Nanoseconds of a monotonic clock (QueryPerformanceCounter under _WIN32, whose API threads.h includes). */
static int64_t kiln_now_ns(void) {
#ifdef _WIN32
    static double ns_per_tick;
    LARGE_INTEGER ticks;
    if (ns_per_tick == 0) {
        LARGE_INTEGER frequency;
        QueryPerformanceFrequency(&frequency);
        ns_per_tick = 1e9 / (double) frequency.QuadPart;
    }
    QueryPerformanceCounter(&ticks);
    return (int64_t) ((double) ticks.QuadPart * ns_per_tick);
#else
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t) t.tv_sec * 1000000000LL + t.tv_nsec;
#endif
}

/* Adds the time since start to *node_ns; returns the clock's reading, the next node's start. */
static int64_t kiln_profile_node(int64_t* node_ns, int64_t start) {
    int64_t now = kiln_now_ns();
    *node_ns += now - start;
    return now;
}
