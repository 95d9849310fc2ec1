package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Shape;

import java.util.Arrays;

/** Numpy broadcasting of concrete shapes, and the element index maps that implement it. */
final class Broadcasting {
    private Broadcasting() {}

    /** The multidirectional broadcast of the given shapes; fails naming the node when they do not fit. */
    static long[] shape(KernelContext ctx, long[]... shapes) {
        int rank = 0;
        for (long[] s : shapes) rank = Math.max(rank, s.length);
        long[] out = new long[rank];
        Arrays.fill(out, 1);
        for (long[] s : shapes) {
            for (int d = 0; d < s.length; d++) {
                int o = d + rank - s.length;
                if (s[d] == out[o] || s[d] == 1) continue;
                if (out[o] != 1) throw ctx.fail("shapes " + describe(shapes) + " cannot be broadcast together");
                out[o] = s[d];
            }
        }
        return out;
    }

    /**
     * For each element of a tensor of shape {@code to}, the flat index of the element of a tensor of
     * shape {@code from} that broadcasts onto it; null when the shapes are equal (the identity).
     */
    static int[] indexMap(long[] from, long[] to) {
        if (Arrays.equals(from, to)) return null;
        int rank = to.length;
        int offset = rank - from.length;
        if (offset < 0) throw new IllegalArgumentException("cannot broadcast " + Arrays.toString(from) + " to " + Arrays.toString(to));
        // Stride of each output dimension in the source; 0 where the source repeats along it.
        long[] strides = new long[rank];
        long stride = 1;
        for (int d = from.length - 1; d >= 0; d--) {
            if (from[d] != 1 && from[d] != to[d + offset]) {
                throw new IllegalArgumentException("cannot broadcast " + Arrays.toString(from) + " to " + Arrays.toString(to));
            }
            strides[d + offset] = from[d] == 1 ? 0 : stride;
            stride *= from[d];
        }
        int n = Math.toIntExact(Shape.elementCount(to));
        int[] map = new int[n];
        long[] counter = new long[rank];
        long index = 0;
        for (int i = 0; i < n; i++) {
            map[i] = (int) index;
            for (int d = rank - 1; d >= 0; d--) {
                index += strides[d];
                if (++counter[d] < to[d]) break;
                index -= strides[d] * to[d];
                counter[d] = 0;
            }
        }
        return map;
    }

    private static String describe(long[][] shapes) {
        StringBuilder b = new StringBuilder();
        for (long[] s : shapes) {
            if (b.length() > 0) b.append(", ");
            b.append(Arrays.toString(s));
        }
        return b.toString();
    }
}
