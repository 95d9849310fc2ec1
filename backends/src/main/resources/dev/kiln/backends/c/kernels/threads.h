/*
 * Kiln CPU kernels: a persistent thread pool and a deterministic parallel-for.
 *
 * kiln_pool_start(n, ws) creates n - 1 workers once (the calling thread is the n-th); each worker owns a
 * workspace of ws floats. kiln_parallel_for(count, work, fn, ctx, ws0) splits [0, count) into a few
 * contiguous chunks per thread, fixed by count, work and the thread count alone; the caller (with ws0) and
 * the workers claim chunks until none is left, and the call returns when all are done. Below
 * KILN_PARALLEL_MIN_WORK multiply-adds in all (count x work per item) the caller runs everything, as
 * handing work over would cost more, and no chunk is given less than half of that. Kernels split only over
 * output elements, so every element is computed by one thread in the same order as with one thread,
 * whichever thread claims its chunk: results do not depend on the thread count. Claiming rather than
 * assigning chunks keeps a call from waiting on a worker the operating system has descheduled. Work is
 * handed over through atomics, without locks or system calls: the next kernel usually follows within
 * microseconds, so between calls workers spin (some milliseconds) before they sleep on a condition
 * variable, and the caller wakes them only when some sleep. A call costs the caller one atomic store to
 * publish, one atomic add per chunk it claims and one more when none is left, and the wait for the others'
 * count of chunks done (one atomic add per thread that took part). POSIX threads, or Win32 threads under _WIN32.
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
/* Below this many multiply-adds in all a parallel-for runs on the caller alone (tests define it lower to split small shapes). */
#ifndef KILN_PARALLEL_MIN_WORK
#define KILN_PARALLEL_MIN_WORK 65536L
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
 * The claim word of a parallel-for: its generation (12 bits, wrapping), its chunk count and the next chunk
 * to claim (10 bits each). A thread claims a chunk by adding one to the whole word: it got a chunk when the
 * word it read has one left, and that chunk belongs to the word's generation, the current one, since the
 * caller publishes the next only once every claimed chunk is done. Each thread adds once more than it
 * claims per generation, so next stays below 1024 with at most KILN_MAX_CHUNKS chunks.
 */
#define KILN_TICKET(generation, chunks) ((((uint32_t) (generation) & 0xFFFu) << 20) | ((uint32_t) (chunks) << 10))
#define KILN_TICKET_GENERATION(t) ((t) >> 20)
#define KILN_TICKET_CHUNKS(t) (((t) >> 10) & 0x3FFu)
#define KILN_TICKET_NEXT(t) ((t) & 0x3FFu)
#define KILN_MAX_CHUNKS (1023 - KILN_MAX_THREADS)

static struct {
    /* the current parallel-for, read by the threads that claim its chunks: on the line of its claim word */
    _Alignas(KILN_CACHE_LINE) uint32_t ticket;   /* atomic */
    kiln_task fn;
    void* ctx;
    long count;
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
 * Claims and runs chunks until none is left, then counts those it ran as done; returns the generation of
 * the last claim word read.
 */
static uint32_t kiln_run_chunks(float* ws) {
    long ran = 0;
    uint32_t t;
    for (;;) {
        t = __atomic_fetch_add(&kiln_pool.ticket, 1, __ATOMIC_ACQ_REL);
        long chunks = KILN_TICKET_CHUNKS(t), c = KILN_TICKET_NEXT(t);
        if (c >= chunks) break;
        long begin = kiln_pool.count * c / chunks, end = kiln_pool.count * (c + 1) / chunks;
        if (begin < end) kiln_pool.fn(kiln_pool.ctx, begin, end, ws);
        ran++;
    }
    if (ran > 0) __atomic_add_fetch(&kiln_pool.done, ran, __ATOMIC_RELEASE);
    return KILN_TICKET_GENERATION(t);
}

static uint32_t kiln_generation(void) { return KILN_TICKET_GENERATION(__atomic_load_n(&kiln_pool.ticket, __ATOMIC_SEQ_CST)); }

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
        seen = kiln_run_chunks(kiln_pool.ws[t]);
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
    kiln_pool.ticket = 0;
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
    /* the task is published by the claim word's release and read after a claim's acquire of it */
    kiln_pool.fn = fn;
    kiln_pool.ctx = ctx;
    kiln_pool.count = count;
    /* a few chunks per thread, but none of less than half the threshold's work (each claim costs an atomic add), and two at least */
    long chunks = (long) KILN_CHUNKS_PER_THREAD * kiln_pool.threads;
    double worth = total / (KILN_PARALLEL_MIN_WORK / 2 + 1);
    if (chunks > worth) chunks = worth > 2 ? (long) worth : 2;
    if (chunks > count) chunks = count;
    if (chunks > KILN_MAX_CHUNKS) chunks = KILN_MAX_CHUNKS;
    __atomic_store_n(&kiln_pool.done, 0, __ATOMIC_RELAXED);
    uint32_t generation = (kiln_generation() + 1) & 0xFFFu;
    __atomic_store_n(&kiln_pool.ticket, KILN_TICKET(generation, chunks), __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&kiln_pool.sleeping, __ATOMIC_SEQ_CST) > 0) {
        kiln_lock(&kiln_pool.mutex);
        kiln_broadcast(&kiln_pool.go);
        kiln_unlock(&kiln_pool.mutex);
    }
    kiln_run_chunks(ws0);
    for (long i = 0; __atomic_load_n(&kiln_pool.done, __ATOMIC_ACQUIRE) < chunks; i++) {
        if (i < KILN_WAIT_SPINS) kiln_pause();
        else kiln_yield();
    }
}
