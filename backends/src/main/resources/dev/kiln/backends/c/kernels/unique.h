/*
 * Kiln CPU kernel: Unique, the distinct slices along an axis as numpy.unique finds them. The slices are
 * merge-sorted (stable, so equal slices keep their order and each run starts with its first occurrence),
 * compared element by element in row-major order: integers by value, floats with -0 equal to +0 and NaN
 * above everything and equal to any NaN, as the reference compares them.
 */

/* How the elements compare: by their dtype's value. */
enum { KILN_UNIQUE_SIGNED, KILN_UNIQUE_UNSIGNED, KILN_UNIQUE_F32, KILN_UNIQUE_F64, KILN_UNIQUE_F16, KILN_UNIQUE_BF16 };

typedef struct {
    const char* x;
    int kind, size;
    long outer, n, inner;
} kiln_unique_slices;

static double kiln_unique_float(const char* p, int kind) {
    switch (kind) {
        case KILN_UNIQUE_F32: { float f; memcpy(&f, p, 4); return f; }
        case KILN_UNIQUE_F64: { double d; memcpy(&d, p, 8); return d; }
        case KILN_UNIQUE_F16: { uint16_t h; memcpy(&h, p, 2); return kiln_f16_to_f32(h); }
        default: { uint16_t h; memcpy(&h, p, 2); return kiln_bf16_to_f32(h); }
    }
}

static long long kiln_unique_signed(const char* p, int size) {
    switch (size) {
        case 1: { int8_t v; memcpy(&v, p, 1); return v; }
        case 2: { int16_t v; memcpy(&v, p, 2); return v; }
        case 4: { int32_t v; memcpy(&v, p, 4); return v; }
        default: { int64_t v; memcpy(&v, p, 8); return v; }
    }
}

static unsigned long long kiln_unique_unsigned(const char* p, int size) {
    switch (size) {
        case 1: { uint8_t v; memcpy(&v, p, 1); return v; }
        case 2: { uint16_t v; memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; memcpy(&v, p, 4); return v; }
        default: { uint64_t v; memcpy(&v, p, 8); return v; }
    }
}

static int kiln_unique_compare_elements(const char* a, const char* b, int kind, int size) {
    if (kind == KILN_UNIQUE_SIGNED) {
        long long p = kiln_unique_signed(a, size), q = kiln_unique_signed(b, size);
        return (p > q) - (p < q);
    }
    if (kind == KILN_UNIQUE_UNSIGNED) {
        unsigned long long p = kiln_unique_unsigned(a, size), q = kiln_unique_unsigned(b, size);
        return (p > q) - (p < q);
    }
    double p = kiln_unique_float(a, kind), q = kiln_unique_float(b, kind);
    if (p != p) return q != q ? 0 : 1;
    if (q != q) return -1;
    return (p > q) - (p < q);
}

/* Slices a and b in lexicographic order: negative, zero or positive. */
static int kiln_unique_compare(const kiln_unique_slices* s, long a, long b) {
    for (long o = 0; o < s->outer; o++) {
        const char* pa = s->x + (size_t) ((o * s->n + a) * s->inner) * s->size;
        const char* pb = s->x + (size_t) ((o * s->n + b) * s->inner) * s->size;
        for (long e = 0; e < s->inner; e++) {
            int c = kiln_unique_compare_elements(pa + e * s->size, pb + e * s->size, s->kind, s->size);
            if (c != 0) return c;
        }
    }
    return 0;
}

/* Sorts the slice numbers order[0..n) stably by slice (bottom-up merge sort through tmp); the result is in order. */
static void kiln_unique_sort(const kiln_unique_slices* s, long* order, long* tmp) {
    long n = s->n;
    long* from = order;
    long* to = tmp;
    for (long width = 1; width < n; width *= 2) {
        for (long lo = 0; lo < n; lo += 2 * width) {
            long mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            long i = lo, j = mid, k = lo;
            while (i < mid && j < hi) to[k++] = kiln_unique_compare(s, from[j], from[i]) < 0 ? from[j++] : from[i++];
            while (i < mid) to[k++] = from[i++];
            while (j < hi) to[k++] = from[j++];
        }
        long* t = from;
        from = to;
        to = t;
    }
    if (from != order) memcpy(order, from, (size_t) n * sizeof *order);
}

/*
 * The distinct slices of x seen as [outer, n, inner] elements of size bytes. work holds 7 n longs; on return
 * work[0..found) are the first occurrences of the distinct slices in output order (ascending, or by first
 * occurrence when not sorted), work[n..n + found) their counts and work[2n..3n) each slice's place in the
 * output. Returns found.
 */
static long kiln_unique(const void* x, int kind, int size, long outer, long n, long inner, int sorted, long* work) {
    kiln_unique_slices s = {(const char*) x, kind, size, outer, n, inner};
    long *first = work, *count = work + n, *inverse = work + 2 * n, *order = work + 3 * n, *group = work + 4 * n;
    long *group_first = work + 5 * n, *group_count = work + 6 * n;
    for (long i = 0; i < n; i++) order[i] = i;
    kiln_unique_sort(&s, order, group);
    long found = 0;
    for (long k = 0; k < n; k++) {
        long i = order[k];
        if (k == 0 || kiln_unique_compare(&s, order[k - 1], i) != 0) {
            group_first[found] = i;
            group_count[found++] = 0;
        }
        group[i] = found - 1;
        group_count[found - 1]++;
    }
    /* order[g] becomes the output place of group g: g itself when sorted, else its rank by first occurrence */
    if (sorted) {
        for (long g = 0; g < found; g++) order[g] = g;
    } else {
        for (long i = 0; i < n; i++) first[i] = -1;
        for (long g = 0; g < found; g++) first[group_first[g]] = g;
        long r = 0;
        for (long i = 0; i < n; i++) if (first[i] >= 0) order[first[i]] = r++;
    }
    for (long g = 0; g < found; g++) {
        first[order[g]] = group_first[g];
        count[order[g]] = group_count[g];
    }
    for (long i = 0; i < n; i++) inverse[i] = order[group[i]];
    return found;
}
