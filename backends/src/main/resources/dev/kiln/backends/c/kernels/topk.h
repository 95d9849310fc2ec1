/*
 * Kiln CPU kernels: TopK's selection. Elements become 64-bit keys whose unsigned order is the order TopK
 * sorts by (for the largest, the keys are complemented), so one selection serves every dtype; equal keys
 * rank by position, the lower first, which makes the result the one a stable sort gives.
 */

/* The key of a float: NaN above everything (all NaNs alike), -0 equal to 0, otherwise the value's order. */
static inline uint64_t kiln_order_key(double v) {
    uint64_t bits;
    if (isnan(v)) return UINT64_MAX;
    if (v == 0.0) v = 0.0;
    memcpy(&bits, &v, sizeof bits);
    return bits >> 63 ? ~bits : bits | 0x8000000000000000ull;
}

/* Whether position a ranks after position b: a larger key, or an equal one further on. */
static inline int kiln_topk_after(const uint64_t* keys, long a, long b) {
    return keys[a] > keys[b] || (keys[a] == keys[b] && a > b);
}

static void kiln_topk_sift_down(const uint64_t* keys, long* heap, long size, long at) {
    for (;;) {
        long child = 2 * at + 1;
        if (child >= size) return;
        if (child + 1 < size && kiln_topk_after(keys, heap[child + 1], heap[child])) child++;
        if (!kiln_topk_after(keys, heap[child], heap[at])) return;
        long t = heap[at];
        heap[at] = heap[child];
        heap[child] = t;
        at = child;
    }
}

/*
 * The positions of the k smallest of n keys, smallest first, into best (k longs): a heap of the best so far
 * whose root ranks last, then sorted in place (n log k).
 */
static void kiln_topk_select(long n, long k, const uint64_t* keys, long* best) {
    long size = 0;
    for (long j = 0; j < n; j++) {
        if (size < k) {
            long at = size++;
            best[at] = j;
            while (at > 0 && kiln_topk_after(keys, best[at], best[(at - 1) / 2])) {
                long parent = (at - 1) / 2, t = best[at];
                best[at] = best[parent];
                best[parent] = t;
                at = parent;
            }
        } else if (k > 0 && kiln_topk_after(keys, best[0], j)) {
            best[0] = j;
            kiln_topk_sift_down(keys, best, size, 0);
        }
    }
    for (long end = size - 1; end > 0; end--) {
        long t = best[0];
        best[0] = best[end];
        best[end] = t;
        kiln_topk_sift_down(keys, best, end, 0);
    }
}
