/*
 * Kiln CPU kernels: data movement for shapes known only at run time, and the copies whose pattern is not one
 * strided walk (Pad, Trilu). Elements move by their width (1, 2, 4 or 8 bytes) whatever their dtype; offsets
 * and steps count elements.
 */

/* n elements from src, step elements apart, to contiguous dst. */
static void kiln_copy_run(char* dst, const char* src, long n, long step, int size) {
    switch (size) {
        case 1: {
            uint8_t* d = (uint8_t*) dst;
            const uint8_t* s = (const uint8_t*) src;
            for (long i = 0; i < n; i++) d[i] = s[i * step];
            break;
        }
        case 2: {
            uint16_t* d = (uint16_t*) dst;
            const uint16_t* s = (const uint16_t*) src;
            for (long i = 0; i < n; i++) d[i] = s[i * step];
            break;
        }
        case 4: {
            uint32_t* d = (uint32_t*) dst;
            const uint32_t* s = (const uint32_t*) src;
            for (long i = 0; i < n; i++) d[i] = s[i * step];
            break;
        }
        default: {
            uint64_t* d = (uint64_t*) dst;
            const uint64_t* s = (const uint64_t*) src;
            for (long i = 0; i < n; i++) d[i] = s[i * step];
            break;
        }
    }
}

/*
 * dst [rows][cols] = src transposed, dst[r * cols + c] = src[c * step + r], in tiles of KILN_COPY_TILE x
 * KILN_COPY_TILE elements: the tile's rows of src and of dst stay in cache while it moves, where a walk along a
 * row of dst would read a new cache line of src for every element.
 */
#define KILN_COPY_TILE 16L
#define KILN_COPY_TRANSPOSED(T)                                                                       \
    {                                                                                                 \
        T* d = (T*) dst;                                                                              \
        const T* s = (const T*) src;                                                                  \
        for (long r0 = 0; r0 < rows; r0 += KILN_COPY_TILE) {                                          \
            long r1 = r0 + KILN_COPY_TILE < rows ? r0 + KILN_COPY_TILE : rows;                        \
            for (long c0 = 0; c0 < cols; c0 += KILN_COPY_TILE) {                                      \
                long c1 = c0 + KILN_COPY_TILE < cols ? c0 + KILN_COPY_TILE : cols;                    \
                for (long r = r0; r < r1; r++) {                                                      \
                    for (long c = c0; c < c1; c++) d[r * cols + c] = s[c * step + r];                 \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }
static void kiln_copy_transposed(char* dst, const char* src, long rows, long cols, long step, int size) {
    switch (size) {
        case 1: KILN_COPY_TRANSPOSED(uint8_t) break;
        case 2: KILN_COPY_TRANSPOSED(uint16_t) break;
        case 4: KILN_COPY_TRANSPOSED(uint32_t) break;
        default: KILN_COPY_TRANSPOSED(uint64_t) break;
    }
}
#undef KILN_COPY_TRANSPOSED

/* n copies of the element at value. */
static void kiln_fill(char* dst, long n, const char* value, int size) {
    kiln_copy_run(dst, value, n, 0, size);
}

/*
 * dst (contiguous, of dims) takes src[sum_d i_d * steps[d]]: a transposed, sliced, broadcast or tiled view
 * copied out. Dims of 1 are dropped and neighbours the source steps over as one merged, so the inner loop
 * is as long as it can be (one memcpy when the source is contiguous there).
 */
static void kiln_copy_strided(int rank, const long* dims, const long* steps, const char* src, char* dst, int size) {
    long d[rank + 1], s[rank + 1], at[rank + 1];
    int r = 0;
    for (int k = 0; k < rank; k++) {
        if (dims[k] == 0) return;
        if (dims[k] == 1) continue;
        if (r > 0 && s[r - 1] == steps[k] * dims[k]) {
            d[r - 1] *= dims[k];
            s[r - 1] = steps[k];
        } else {
            d[r] = dims[k];
            s[r] = steps[k];
            r++;
        }
    }
    if (r == 0) {
        memcpy(dst, src, (size_t) size);
        return;
    }
    long inner = d[r - 1], step = s[r - 1], offset = 0;
    for (int k = 0; k < r - 1; k++) at[k] = 0;
    for (;;) {
        if (step == 1) memcpy(dst, src + offset * size, (size_t) (inner * size));
        else kiln_copy_run(dst, src + offset * size, inner, step, size);
        dst += inner * size;
        int k = r - 2;
        while (k >= 0 && ++at[k] == d[k]) {
            offset -= (d[k] - 1) * s[k];
            at[k] = 0;
            k--;
        }
        if (k < 0) return;
        offset += s[k];
    }
}

/* The copy of src (view_dims, row-major) transposed by perm: output dim d is view dim perm[d]. */
static void kiln_copy_permuted(int rank, const long* view_dims, const int* perm, const char* src, char* dst, int size) {
    long strides[rank + 1], dims[rank + 1], steps[rank + 1];
    long stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        strides[d] = stride;
        stride *= view_dims[d];
    }
    for (int d = 0; d < rank; d++) {
        dims[d] = view_dims[perm[d]];
        steps[d] = strides[perm[d]];
    }
    kiln_copy_strided(rank, dims, steps, src, dst, size);
}

/* Pad modes, as kiln_pad takes them. */
#define KILN_PAD_CONSTANT 0
#define KILN_PAD_REFLECT 1
#define KILN_PAD_EDGE 2
#define KILN_PAD_WRAP 3

/* The source coordinate a pad mode reads for coordinate i of an axis of size d (> 0), or -1 for the fill value. */
static long kiln_pad_source(int mode, long i, long d) {
    if (i >= 0 && i < d) return i;
    switch (mode) {
        case KILN_PAD_CONSTANT: return -1;
        case KILN_PAD_EDGE: return i < 0 ? 0 : d - 1;
        case KILN_PAD_WRAP: {
            long m = i % d;
            return m < 0 ? m + d : m;
        }
        default: {
            if (d == 1) return 0;
            long period = 2 * (d - 1), m = i % period;
            if (m < 0) m += period;
            return m >= d ? period - m : m;
        }
    }
}

/*
 * Pad (and crop, where begin is negative): output coordinate o of axis a reads input coordinate
 * kiln_pad_source(mode, o - begin[a], in_dims[a]), the fill element where that is -1. Whole rows at a time:
 * an output row whose outer coordinates read no input is filled, else its inside is one memcpy.
 */
static void kiln_pad(int rank, const long* in_dims, const long* out_dims, const long* begin, int mode,
                     const char* src, char* dst, int size, const char* fill) {
    for (int a = 0; a < rank; a++) if (out_dims[a] == 0) return;
    if (rank == 0) {
        memcpy(dst, src, (size_t) size);
        return;
    }
    long strides[rank + 1], at[rank + 1];
    long stride = 1;
    for (int a = rank - 1; a >= 0; a--) {
        strides[a] = stride;
        stride *= in_dims[a];
        at[a] = 0;
    }
    long n = out_dims[rank - 1], d = in_dims[rank - 1], b = begin[rank - 1];
    /* the inside of a row: output [lo, hi) reads input [lo - b, hi - b) */
    long lo = b < 0 ? 0 : b > n ? n : b;
    long hi = d + b < lo ? lo : d + b > n ? n : d + b;
    for (;;) {
        long row = 0;
        int filled = 0;
        for (int a = 0; a < rank - 1; a++) {
            long s = kiln_pad_source(mode, at[a] - begin[a], in_dims[a]);
            if (s < 0) filled = 1;
            row += s * strides[a];
        }
        if (filled) {
            kiln_fill(dst, n, fill, size);
        } else {
            const char* in = src + row * size;
            for (long o = 0; o < lo; o++) {
                long s = kiln_pad_source(mode, o - b, d);
                memcpy(dst + o * size, s < 0 ? fill : in + s * size, (size_t) size);
            }
            if (hi > lo) memcpy(dst + lo * size, in + (lo - b) * size, (size_t) ((hi - lo) * size));
            for (long o = hi; o < n; o++) {
                long s = kiln_pad_source(mode, o - b, d);
                memcpy(dst + o * size, s < 0 ? fill : in + s * size, (size_t) size);
            }
        }
        dst += n * size;
        int a = rank - 2;
        while (a >= 0 && ++at[a] == out_dims[a]) at[a--] = 0;
        if (a < 0) return;
    }
}

/*
 * Trilu over batches of rows x cols matrices: row i keeps columns j with j - i >= k (upper) or j - i <= k
 * (lower), the others zero.
 */
static void kiln_trilu(long batches, long rows, long cols, long long k, int upper, const char* src, char* dst, int size) {
    /* beyond these bounds every row keeps all or nothing; clamping first keeps i + k from overflowing */
    if (k > (long long) cols + 1) k = (long long) cols + 1;
    if (k < -(long long) rows - 1) k = -(long long) rows - 1;
    for (long m = 0; m < batches; m++) {
        for (long i = 0; i < rows; i++) {
            long edge = i + (long) k + (upper ? 0 : 1);
            edge = edge < 0 ? 0 : edge > cols ? cols : edge;
            long lo = upper ? edge : 0, hi = upper ? cols : edge;
            long row = (m * rows + i) * cols * size;
            memset(dst + row, 0, (size_t) (lo * size));
            if (hi > lo) memcpy(dst + row + lo * size, src + row + lo * size, (size_t) ((hi - lo) * size));
            memset(dst + row + hi * size, 0, (size_t) ((cols - hi) * size));
        }
    }
}
