/*
 * Kiln CPU kernels: a persistent thread pool and a deterministic parallel-for.
 *
 * kiln_pool_start(n, ws) creates n - 1 workers once (the calling thread is the n-th); each worker owns a
 * workspace of ws floats. kiln_parallel_for(count, work, fn, ctx, ws0) splits [0, count) into a few
 * contiguous chunks per thread, fixed by count, work and the thread count alone; each thread (the caller
 * with ws0) claims the chunks of its own share, then any left in the others' shares, until none is left,
 * and the call returns when all are done. Below KILN_PARALLEL_MIN_WORK multiply-adds in all (count x work
 * per item) the caller runs everything, as handing work over would cost more, and no chunk is given less
 * than half of that. Kernels split only over output elements, so every element is computed by one thread
 * in the same order as with one thread, whichever thread claims its chunk: results do not depend on the
 * thread count. Claiming rather than assigning chunks keeps a call from waiting on a worker the operating
 * system has descheduled. Work is handed over through atomics, without locks or system calls: the next
 * kernel usually follows within microseconds, so between calls workers spin (some milliseconds) before
 * they sleep on a condition variable, and the caller wakes them only when some sleep. While every thread
 * keeps up, a call costs each thread atomic adds on its own cache line (one per chunk and one more), one on
 * each other thread's line, and one add to the count of chunks done, which the caller waits for. POSIX
 * threads, or Win32 threads under _WIN32.
 */
#include <stdlib.h>
#ifdef _WIN32
/* Only the thread API, and no min/max macros to clash with the kernels' names. */
#define WIN32_LEAN_AND_MEAN
#define NOMINMAX
#include <windows.h>
typedef HANDLE kiln_thread;
typedef CRITICAL_SECTION kiln_mutex;
typedef CONDITION_VARIABLE kiln_cond;
#define kiln_mutex_init(m) InitializeCriticalSection(m)
#define kiln_mutex_destroy(m) DeleteCriticalSection(m)
#define kiln_lock(m) EnterCriticalSection(m)
#define kiln_unlock(m) LeaveCriticalSection(m)
#define kiln_cond_init(c) InitializeConditionVariable(c)
#define kiln_cond_destroy(c) ((void) 0)
#define kiln_wait(c, m) SleepConditionVariableCS(c, m, INFINITE)
#define kiln_broadcast(c) WakeAllConditionVariable(c)
#define kiln_yield() SwitchToThread()
#else
#include <pthread.h>
typedef pthread_t kiln_thread;
typedef pthread_mutex_t kiln_mutex;
typedef pthread_cond_t kiln_cond;
#define kiln_mutex_init(m) pthread_mutex_init(m, NULL)
#define kiln_mutex_destroy(m) pthread_mutex_destroy(m)
#define kiln_lock(m) pthread_mutex_lock(m)
#define kiln_unlock(m) pthread_mutex_unlock(m)
#define kiln_cond_init(c) pthread_cond_init(c, NULL)
#define kiln_cond_destroy(c) pthread_cond_destroy(c)
#define kiln_wait(c, m) pthread_cond_wait(c, m)
#define kiln_broadcast(c) pthread_cond_broadcast(c)
#include <sched.h>
#define kiln_yield() sched_yield()
#endif

#define KILN_MAX_THREADS 256
/*
 * Below this many multiply-adds in all a parallel-for runs on the caller alone: about four microseconds of a
 * vectorised kernel's work, twice what handing a call over to the workers and moving its data between cores
 * was measured to cost on two cores (ThreadPoolBenchmark); tests define it lower to split small shapes.
 */
#ifndef KILN_PARALLEL_MIN_WORK
#define KILN_PARALLEL_MIN_WORK 524288L
#endif
/* Chunks per thread of a parallel-for: a worker late to start leaves its chunks to the others. */
#define KILN_CHUNKS_PER_THREAD 4
/* Spins of a worker waiting for work before it sleeps, and of the caller waiting for workers before it yields. */
#define KILN_SPIN_ITERATIONS 200000
#define KILN_WAIT_SPINS 4000
#if defined(__x86_64__) || defined(__i386__)
#define kiln_pause() __builtin_ia32_pause()
#elif defined(__aarch64__) || (defined(__ARM_ARCH) && __ARM_ARCH >= 7)
#define kiln_pause() __asm__ __volatile__("yield")
#else
#define kiln_pause() ((void) 0)
#endif
/* A cache line: what one thread writes often is kept off the lines others read. */
#define KILN_CACHE_LINE 64

/* fn computes items [begin, end) with a workspace of the pool's per-thread size. */
typedef void (*kiln_task)(void* ctx, long begin, long end, float* ws);

/*
 * Claim words, one per thread and each on a cache line of its own: the generation of the parallel-for they
 * belong to (12 bits, wrapping) and the chunks [next, end) (10 bits each) left of that thread's share, the
 * thread's contiguous run of the chunks. A thread claims the chunks of its own word first, by adding one to
 * it (a line no other thread touches while all keep up; and the same part of the output in call after call,
 * whose inputs the previous call mostly left in its own cache), then those left in the others' words, in
 * turn. A claim is good when the word it read had a chunk left, and that chunk belongs to the word's
 * generation, the current one, since the caller starts the next only once every claimed chunk is done. A
 * worker goes over the words once per generation it sees published, and may read the next generation's
 * words before their generation is published, so it adds at most twice more than it claims to each word
 * per generation: next stays below 1024 with at most KILN_MAX_CHUNKS chunks.
 */
#define KILN_CLAIM(generation, end, next) ((((uint32_t) (generation) & 0xFFFu) << 20) | ((uint32_t) (end) << 10) | (uint32_t) (next))
#define KILN_CLAIM_GENERATION(w) ((w) >> 20)
#define KILN_CLAIM_END(w) (((w) >> 10) & 0x3FFu)
#define KILN_CLAIM_NEXT(w) ((w) & 0x3FFu)
#define KILN_MAX_CHUNKS (1023 - 2 * KILN_MAX_THREADS)

static struct {
    _Alignas(KILN_CACHE_LINE) uint32_t word;   /* atomic */
} kiln_claims[KILN_MAX_THREADS];

static struct {
    /* the current parallel-for: its generation, stored last (atomic), and its task */
    _Alignas(KILN_CACHE_LINE) uint32_t generation;
    kiln_task fn;
    void* ctx;
    long count, chunks;
    /* chunks of the current parallel-for finished (atomic), on a line of its own */
    _Alignas(KILN_CACHE_LINE) long done;
    _Alignas(KILN_CACHE_LINE) int threads;       /* 1 when no pool is running */
    int sleeping;             /* workers waiting on go (changed atomically under the mutex) */
    int stop;
    kiln_mutex mutex;
    kiln_cond go;
    kiln_thread ids[KILN_MAX_THREADS];
    float* ws[KILN_MAX_THREADS];
} kiln_pool = {.threads = 1};

/* The pool's size, the caller included: kernels whose work items are few choose smaller items for more threads. */
static int kiln_threads(void) { return kiln_pool.threads; }

/*
 * Thread self claims and runs chunks until none is left, counting those of each word as done before it
 * turns to the next (the caller need not wait for a worker to find the caller's share empty). The task is
 * read after the claim's acquire of a word, which the caller stored (release) after the task.
 */
static void kiln_run_chunks(int self, float* ws) {
    int threads = kiln_pool.threads;
    for (int k = 0; k < threads; k++) {
        uint32_t* claim = &kiln_claims[(self + k) % threads].word;
        long ran = 0;
        for (;;) {
            uint32_t w = __atomic_fetch_add(claim, 1, __ATOMIC_ACQ_REL);
            long c = KILN_CLAIM_NEXT(w);
            if (c >= (long) KILN_CLAIM_END(w)) break;
            long begin = kiln_pool.count * c / kiln_pool.chunks, end = kiln_pool.count * (c + 1) / kiln_pool.chunks;
            if (begin < end) kiln_pool.fn(kiln_pool.ctx, begin, end, ws);
            ran++;
        }
        if (ran > 0) __atomic_add_fetch(&kiln_pool.done, ran, __ATOMIC_RELEASE);
    }
}

static uint32_t kiln_generation(void) { return __atomic_load_n(&kiln_pool.generation, __ATOMIC_SEQ_CST); }

static void kiln_worker_loop(int t) {
    uint32_t seen = 0;
    for (;;) {
        for (int i = 0; i < KILN_SPIN_ITERATIONS && kiln_generation() == seen && !__atomic_load_n(&kiln_pool.stop, __ATOMIC_ACQUIRE); i++) {
            kiln_pause();
        }
        if (kiln_generation() == seen) {
            kiln_lock(&kiln_pool.mutex);
            /* sleeping is raised before the generation is read again, and the caller publishes a generation before
               it reads sleeping (both sequentially consistent): a worker either sees the new generation or is woken */
            __atomic_add_fetch(&kiln_pool.sleeping, 1, __ATOMIC_SEQ_CST);
            while (kiln_generation() == seen && !kiln_pool.stop) kiln_wait(&kiln_pool.go, &kiln_pool.mutex);
            __atomic_sub_fetch(&kiln_pool.sleeping, 1, __ATOMIC_SEQ_CST);
            kiln_unlock(&kiln_pool.mutex);
        }
        if (__atomic_load_n(&kiln_pool.stop, __ATOMIC_ACQUIRE)) return;
        seen = kiln_generation();
        kiln_run_chunks(t, kiln_pool.ws[t]);
    }
}

#ifdef _WIN32
static DWORD WINAPI kiln_worker(LPVOID arg) { kiln_worker_loop((int) (intptr_t) arg); return 0; }
static int kiln_thread_start(kiln_thread* id, int t) {
    *id = CreateThread(NULL, 0, kiln_worker, (LPVOID) (intptr_t) t, 0, NULL);
    return *id ? 0 : -1;
}
static void kiln_thread_join(kiln_thread id) { WaitForSingleObject(id, INFINITE); CloseHandle(id); }
#else
static void* kiln_worker(void* arg) { kiln_worker_loop((int) (intptr_t) arg); return NULL; }
static int kiln_thread_start(kiln_thread* id, int t) { return pthread_create(id, NULL, kiln_worker, (void*) (intptr_t) t); }
static void kiln_thread_join(kiln_thread id) { pthread_join(id, NULL); }
#endif

static void kiln_pool_stop(void) {
    if (kiln_pool.threads <= 1) return;
    kiln_lock(&kiln_pool.mutex);
    __atomic_store_n(&kiln_pool.stop, 1, __ATOMIC_RELEASE);
    kiln_broadcast(&kiln_pool.go);
    kiln_unlock(&kiln_pool.mutex);
    for (int t = 1; t < kiln_pool.threads; t++) {
        kiln_thread_join(kiln_pool.ids[t]);
        free(kiln_pool.ws[t]);
    }
    kiln_cond_destroy(&kiln_pool.go);
    kiln_mutex_destroy(&kiln_pool.mutex);
    kiln_pool.threads = 1;
}

/* (Re)starts the pool with n threads in all; 0 on success, -1 for n outside [1, KILN_MAX_THREADS], -3 when out of memory or threads. */
static int kiln_pool_start(int n, long ws_floats) {
    if (n < 1 || n > KILN_MAX_THREADS) return -1;
    kiln_pool_stop();
    if (n == 1) return 0;
    for (int t = 1; t < n; t++) {
        kiln_pool.ws[t] = malloc((size_t) (ws_floats > 0 ? ws_floats : 1) * sizeof(float));
        if (!kiln_pool.ws[t]) {
            while (--t >= 1) free(kiln_pool.ws[t]);
            return -3;
        }
    }
    kiln_mutex_init(&kiln_pool.mutex);
    kiln_cond_init(&kiln_pool.go);
    kiln_pool.stop = 0;
    kiln_pool.sleeping = 0;
    kiln_pool.generation = 0;
    for (int t = 0; t < n; t++) kiln_claims[t].word = 0;
    kiln_pool.threads = 1;
    for (int t = 1; t < n; t++) {
        if (kiln_thread_start(&kiln_pool.ids[t], t) != 0) {
            for (int u = t; u < n; u++) free(kiln_pool.ws[u]);
            kiln_pool_stop();
            return -3;
        }
        kiln_pool.threads = t + 1;
    }
    return 0;
}

static void kiln_parallel_for(long count, long work, kiln_task fn, void* ctx, float* ws0) {
    /* in floating point: the product can pass 2^31, a long on 32-bit targets and Windows */
    double total = (double) count * (double) work;
    if (kiln_pool.threads <= 1 || count <= 1 || total < KILN_PARALLEL_MIN_WORK) {
        if (count > 0) fn(ctx, 0, count, ws0);
        return;
    }
    kiln_pool.fn = fn;
    kiln_pool.ctx = ctx;
    kiln_pool.count = count;
    /* a few chunks per thread, but none of less than half the threshold's work (each claim costs an atomic add), and two at least */
    int threads = kiln_pool.threads;
    long chunks = (long) KILN_CHUNKS_PER_THREAD * threads;
    double worth = total / (KILN_PARALLEL_MIN_WORK / 2 + 1);
    if (chunks > worth) chunks = worth > 2 ? (long) worth : 2;
    if (chunks > count) chunks = count;
    if (chunks > KILN_MAX_CHUNKS) chunks = KILN_MAX_CHUNKS;
    kiln_pool.chunks = chunks;
    __atomic_store_n(&kiln_pool.done, 0, __ATOMIC_RELAXED);
    uint32_t generation = (kiln_generation() + 1) & 0xFFFu;
    for (int t = 0; t < threads; t++) {
        __atomic_store_n(&kiln_claims[t].word, KILN_CLAIM(generation, chunks * (t + 1) / threads, chunks * t / threads), __ATOMIC_RELEASE);
    }
    __atomic_store_n(&kiln_pool.generation, generation, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&kiln_pool.sleeping, __ATOMIC_SEQ_CST) > 0) {
        kiln_lock(&kiln_pool.mutex);
        kiln_broadcast(&kiln_pool.go);
        kiln_unlock(&kiln_pool.mutex);
    }
    kiln_run_chunks(0, ws0);
    for (long i = 0; __atomic_load_n(&kiln_pool.done, __ATOMIC_ACQUIRE) < chunks; i++) {
        if (i < KILN_WAIT_SPINS) kiln_pause();
        else kiln_yield();
    }
}
