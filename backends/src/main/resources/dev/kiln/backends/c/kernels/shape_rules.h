/*
 * Kiln CPU kernels: the output shapes of shape ops whose shape, axes, pads or repeats are read at run time (or
 * whose input's shape is known only then), by the rules of the reference interpreter, failing with its
 * messages where it fails. Parameters arrive as long long (int64 values such as Slice's INT64_MAX ends stay
 * exact where long has 32 bits); dims are long. Each returns 0, or kiln_run's failure naming what.
 */
#include <limits.h>

static int kiln_shape_fail(const char* what, const char* problem, long long value) {
    snprintf(kiln_error_text, sizeof kiln_error_text, "%s: %s %lld", what, problem, value);
    return KILN_RUN_FAILED;
}

/* Axis a of a tensor of rank dims, made non-negative into *axis; fails when out of range. */
static int kiln_axis(long long a, int rank, int* axis, const char* what) {
    long long n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) return kiln_shape_fail(what, "axis out of range:", a);
    *axis = (int) n;
    return 0;
}

/* The rank-many dims of a Reshape to target (0 copies the input's dim unless allowzero, one -1 is inferred). */
static int kiln_reshape_dims(int in_rank, const long* in_dims, int rank, const long long* target, int allowzero, long* out,
                             const char* what) {
    long count = kiln_count(in_rank, in_dims);
    unsigned long long known = 1;
    int inferred = -1;
    for (int i = 0; i < rank; i++) {
        long long v = target[i];
        if (v == -1 && inferred < 0) {
            inferred = i;
            continue;
        }
        if (v == 0 && !allowzero) {
            if (i >= in_rank) return kiln_shape_fail(what, "shape copies a dimension the input does not have: index", i);
            v = in_dims[i];
        }
        if (v < 0) return kiln_shape_fail(what, "shape has the invalid size", v);
        if (v > LONG_MAX) return kiln_shape_fail(what, "shape has a size too large:", v);
        out[i] = (long) v;
        known = known != 0 && (unsigned long long) v > ULLONG_MAX / known ? ULLONG_MAX : known * (unsigned long long) v;
    }
    if (inferred >= 0) {
        if (known == 0 || (unsigned long long) count % known != 0) return kiln_shape_fail(what, "cannot reshape: elements", count);
        out[inferred] = (long) ((unsigned long long) count / known);
        known *= (unsigned long long) out[inferred];
    }
    if (known != (unsigned long long) count) return kiln_shape_fail(what, "cannot reshape: the shape does not hold the input's elements,", count);
    return 0;
}

/* Marks the n axes of a tensor of rank dims in set (rank entries); fails on an axis out of range or repeated. */
static int kiln_axis_set(int rank, long n, const long long* axes, unsigned char* set, const char* what) {
    for (int a = 0; a < rank; a++) set[a] = 0;
    for (long i = 0; i < n; i++) {
        int a;
        KILN_TRY(kiln_axis(axes[i], rank, &a, what));
        if (set[a]) return kiln_shape_fail(what, "axis repeated:", axes[i]);
        set[a] = 1;
    }
    return 0;
}

/* Squeeze of the n given axes, each of size 1, leaving out_rank dims. */
static int kiln_squeeze_dims(int in_rank, const long* in_dims, long n, const long long* axes, int out_rank, long* out, const char* what) {
    unsigned char set[in_rank + 1];
    KILN_TRY(kiln_axis_set(in_rank, n, axes, set, what));
    int k = 0;
    for (int a = 0; a < in_rank; a++) {
        if (set[a] && in_dims[a] != 1) return kiln_shape_fail(what, "cannot squeeze an axis whose size is not 1: axis", a);
        if (set[a]) continue;
        if (k == out_rank) return kiln_shape_fail(what, "squeezes fewer axes than its output's rank leaves:", n);
        out[k++] = in_dims[a];
    }
    if (k != out_rank) return kiln_shape_fail(what, "squeezes more axes than its output's rank leaves:", n);
    return 0;
}

/* Unsqueeze: ones inserted at the n given axes of the output (rank in_rank + n). */
static int kiln_unsqueeze_dims(int in_rank, const long* in_dims, long n, const long long* axes, int out_rank, long* out, const char* what) {
    if (in_rank + n != out_rank) return kiln_shape_fail(what, "axes do not match the output's rank:", n);
    unsigned char set[out_rank + 1];
    KILN_TRY(kiln_axis_set(out_rank, n, axes, set, what));
    for (int a = 0, next = 0; a < out_rank; a++) out[a] = set[a] ? 1 : in_dims[next++];
    return 0;
}

/*
 * Slice: the output's dims, the element offset of its first element and the element step along each axis
 * (ONNX clamping: starts and ends counted from the end when negative, then clamped to the axis; for a negative
 * step to [0, d - 1] and [-1, d - 1]).
 */
static int kiln_slice_plan(int rank, const long* dims, long n, const long long* starts, long n_ends, const long long* ends,
                           long n_axes, const long long* axes, long n_steps, const long long* steps, long* out, long* first,
                           long* step, const char* what) {
    if (n_ends != n || (axes && n_axes != n) || (steps && n_steps != n)) return kiln_shape_fail(what, "starts, ends, axes and steps differ in length:", n);
    long begin[rank + 1], by[rank + 1], stride = 1;
    unsigned char seen[rank + 1];
    for (int a = 0; a < rank; a++) {
        out[a] = dims[a];
        begin[a] = 0;
        by[a] = 1;
        seen[a] = 0;
    }
    for (long i = 0; i < n; i++) {
        int a;
        KILN_TRY(kiln_axis(axes ? axes[i] : i, rank, &a, what));
        if (seen[a]) return kiln_shape_fail(what, "axis sliced twice:", a);
        seen[a] = 1;
        long long s = steps ? steps[i] : 1, d = dims[a];
        if (s == 0) return kiln_shape_fail(what, "step 0 on axis", a);
        long long b = starts[i] < 0 ? starts[i] + d : starts[i];
        long long e = ends[i] < 0 ? ends[i] + d : ends[i];
        long long length;
        if (s > 0) {
            b = b < 0 ? 0 : b > d ? d : b;
            e = e < 0 ? 0 : e > d ? d : e;
            length = e > b ? (e - b - 1) / s + 1 : 0;
        } else {
            b = b < 0 ? 0 : b > d - 1 ? d - 1 : b;
            e = e < -1 ? -1 : e > d - 1 ? d - 1 : e;
            length = b > e ? (long long) ((unsigned long long) (b - e - 1) / ((unsigned long long) -(s + 1) + 1)) + 1 : 0;
        }
        out[a] = (long) length;
        begin[a] = length > 0 ? (long) b : 0;
        by[a] = length > 1 ? (long) s : 1;
    }
    *first = 0;
    for (int a = rank - 1; a >= 0; a--) {
        *first += begin[a] * stride;
        step[a] = by[a] * stride;
        stride *= dims[a];
    }
    return 0;
}

/* Expand: the input's dims (right-aligned) broadcast with shape's; a 1 on either side takes the other. */
static int kiln_expand_dims(int in_rank, const long* in_dims, long n, const long long* shape, int rank, long* out, const char* what) {
    if ((in_rank > n ? in_rank : n) != rank) return kiln_shape_fail(what, "shape does not match the output's rank:", n);
    for (int d = 0; d < rank; d++) {
        int k = d - (rank - in_rank);
        long t = d - (rank - n);
        long long in = k >= 0 ? in_dims[k] : 1, want = t >= 0 ? shape[t] : 1;
        if (in != want && in != 1 && want != 1) return kiln_shape_fail(what, "cannot expand a dimension to", want);
        long long size = in == 1 ? want : in;
        if (size < 0 || size > LONG_MAX) return kiln_shape_fail(what, "cannot expand to the size", size);
        out[d] = (long) size;
    }
    return 0;
}

/*
 * Tile: out[d] = dims[d] * repeats[d]; the copy walks 2 * rank dims, {repeats[d], dims[d]} with steps
 * {0, stride[d]}.
 */
static int kiln_tile_plan(int rank, const long* dims, long n, const long long* repeats, long* out, long* walk, long* steps,
                          const char* what) {
    if (n != rank) return kiln_shape_fail(what, "repeats do not match the input's rank: repeats", n);
    long stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        long long r = repeats[d];
        if (r < 0) return kiln_shape_fail(what, "negative repeat", r);
        if (dims[d] > 0 && r > LONG_MAX / dims[d]) return kiln_shape_fail(what, "repeat too large:", r);
        out[d] = dims[d] * (long) r;
        walk[2 * d] = (long) r;
        walk[2 * d + 1] = dims[d];
        steps[2 * d] = 0;
        steps[2 * d + 1] = stride;
        stride *= dims[d];
    }
    return 0;
}

/*
 * Pad: pads holds the n_axes begins then the n_axes ends of the given axes (all axes when axes is null); the
 * output's dims and each axis's begin. Axes not named are not padded; only a constant pad (constant != 0) may
 * make an empty axis longer.
 */
static int kiln_pad_plan(int rank, const long* dims, long n_axes, const long long* axes, long n_pads, const long long* pads,
                         int constant, long* out, long* begin, const char* what) {
    long n = axes ? n_axes : rank;
    long long end[rank + 1];
    if (n_pads != 2 * n) return kiln_shape_fail(what, "pads do not match the axes: pads", n_pads);
    for (int a = 0; a < rank; a++) {
        begin[a] = 0;
        end[a] = 0;
    }
    for (long i = 0; i < n; i++) {
        int a = (int) i;
        if (axes) KILN_TRY(kiln_axis(axes[i], rank, &a, what));
        for (long j = i; j <= i + n; j += n) {
            if (pads[j] < -(long long) LONG_MAX || pads[j] > LONG_MAX) return kiln_shape_fail(what, "pad out of range:", pads[j]);
        }
        begin[a] = (long) pads[i];
        end[a] = pads[i + n];
    }
    for (int a = 0; a < rank; a++) {
        long long size = (long long) dims[a] + begin[a] + end[a];
        if (size < 0) return kiln_shape_fail(what, "pads remove more than the axis holds: axis", a);
        if (size > LONG_MAX) return kiln_shape_fail(what, "padded size too large:", size);
        if (size > 0 && dims[a] == 0 && !constant) return kiln_shape_fail(what, "cannot pad an empty axis in this mode: axis", a);
        out[a] = (long) size;
    }
    return 0;
}

/*
 * CenterCropPad: each given axis (all when axes is null) becomes its target size, cropped around the centre
 * (start rounded down) or padded (the extra one on the right): as kiln_pad's begin and output dims.
 */
static int kiln_crop_plan(int rank, const long* dims, long n_axes, const long long* axes, long n, const long long* target,
                          long* out, long* begin, const char* what) {
    if (n != (axes ? n_axes : rank)) return kiln_shape_fail(what, "shape does not match the axes: sizes", n);
    for (int a = 0; a < rank; a++) {
        out[a] = dims[a];
        begin[a] = 0;
    }
    for (long i = 0; i < n; i++) {
        int a = (int) i;
        if (axes) KILN_TRY(kiln_axis(axes[i], rank, &a, what));
        long long t = target[i];
        if (t < 0 || t > LONG_MAX) return kiln_shape_fail(what, "invalid size", t);
        begin[a] = dims[a] >= t ? -(long) ((dims[a] - t) / 2) : (long) ((t - dims[a]) / 2);
        out[a] = (long) t;
    }
    return 0;
}

/* Split: the n sizes along an axis of size d, from split (n_split values) or equal parts (the last smaller). */
static int kiln_split_sizes(long d, int n, long n_split, const long long* split, long* sizes, const char* what) {
    if (split) {
        long long sum = 0;
        if (n_split != n) return kiln_shape_fail(what, "split sizes for the outputs:", n_split);
        for (int i = 0; i < n; i++) {
            if (split[i] < 0 || split[i] > d) return kiln_shape_fail(what, "split size out of range:", split[i]);
            sizes[i] = (long) split[i];
            sum += split[i];
        }
        if (sum != d) return kiln_shape_fail(what, "split sizes do not add up to the axis's size", d);
        return 0;
    }
    long chunk = (d + n - 1) / n;
    if (d - chunk * (n - 1) < 0) return kiln_shape_fail(what, "cannot split into the outputs an axis of size", d);
    for (int i = 0; i < n; i++) sizes[i] = i < n - 1 ? chunk : d - chunk * (n - 1);
    return 0;
}

/*
 * Range's length for integers, as the interpreter computes it in 64-bit two's complement:
 * max(0, -floor((start - limit) / delta)).
 */
static int kiln_range_length(long long start, long long limit, long long delta, long* length, const char* what) {
    if (delta == 0) return kiln_shape_fail(what, "delta is", delta);
    long long a = (long long) ((unsigned long long) start - (unsigned long long) limit), q;
    if (delta == -1) {
        q = (long long) (0ull - (unsigned long long) a);
    } else {
        q = a / delta;
        if (a % delta != 0 && (a < 0) != (delta < 0)) q--;
    }
    long long n = (long long) (0ull - (unsigned long long) q);
    if (n > LONG_MAX) return kiln_shape_fail(what, "too many values:", n);
    *length = n > 0 ? (long) n : 0;
    return 0;
}

/*
 * Range's value i for floats: start + i * delta in double, the product rounded before the sum as the
 * interpreter rounds it (volatile keeps the compiler from fusing them into one multiply-add).
 */
static double kiln_range_value(double start, long i, double delta) {
    volatile double step = (double) i * delta;
    return start + step;
}
