package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

import static dev.kiln.runtime.interpreter.ShapeBytes.gather;
import static dev.kiln.runtime.interpreter.ShapeBytes.identityOffsets;
import static dev.kiln.runtime.interpreter.ShapeBytes.strides;

/**
 * Unique: the distinct elements (or slices along an axis) of a tensor, sorted ascending or in order
 * of first occurrence, with their first indices, the inverse map and the counts, as numpy.unique.
 */
final class ShapeUnique {
    private ShapeUnique() {}

    static List<Tensor> unique(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor source = ctx.hasAttr("axis") ? x : x.reshape(x.size());
        int axis = ctx.hasAttr("axis") ? ctx.axis(ctx.intAttr("axis"), x.rank()) : 0;
        long[] shape = source.shape();
        int n = (int) shape[axis];
        long outer = Shape.elementCount(Arrays.copyOfRange(shape, 0, axis));
        long inner = Shape.elementCount(Arrays.copyOfRange(shape, axis + 1, shape.length));
        Comparator<Integer> bySlice = (a, b) -> compareSlices(source, outer, n, inner, a, b);
        // Slices in value order, ties by position, so that each run of equal slices starts with its first occurrence.
        List<Integer> order = new ArrayList<>(n);
        for (int i = 0; i < n; i++) order.add(i);
        order.sort(bySlice.thenComparing(Comparator.naturalOrder()));
        List<Integer> firsts = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        int[] group = new int[n];
        for (int k = 0; k < n; k++) {
            int i = order.get(k);
            if (k == 0 || bySlice.compare(order.get(k - 1), i) != 0) {
                firsts.add(i);
                counts.add(0);
            }
            group[i] = firsts.size() - 1;
            counts.set(counts.size() - 1, counts.get(counts.size() - 1) + 1);
        }
        int found = firsts.size();
        int[] rank = new int[found];
        for (int g = 0; g < found; g++) rank[g] = g;
        if (ctx.intAttr("sorted") == 0) {
            Integer[] byFirst = new Integer[found];
            for (int g = 0; g < found; g++) byFirst[g] = g;
            Arrays.sort(byFirst, Comparator.comparing(firsts::get));
            for (int r = 0; r < found; r++) rank[byFirst[r]] = r;
        }
        long[] firstIndex = new long[found];
        long[] count = new long[found];
        long[] inverse = new long[n];
        for (int g = 0; g < found; g++) {
            firstIndex[rank[g]] = firsts.get(g);
            count[rank[g]] = counts.get(g);
        }
        for (int i = 0; i < n; i++) inverse[i] = rank[group[i]];

        long[] strides = strides(shape);
        long[] outShape = shape.clone();
        outShape[axis] = found;
        long[][] offsets = new long[shape.length][];
        for (int a = 0; a < shape.length; a++) offsets[a] = identityOffsets(outShape[a], strides[a]);
        for (int r = 0; r < found; r++) offsets[axis][r] = firstIndex[r] * strides[axis];
        List<Tensor> outputs = List.of(gather(source, outShape, offsets, null), Tensor.ofLongs(firstIndex, found),
                Tensor.ofLongs(inverse, n), Tensor.ofLongs(count, found));
        return outputs.subList(0, ctx.outputCount());
    }

    /** Lexicographic order of two slices along the axis, element by element in row-major order. */
    private static int compareSlices(Tensor t, long outer, int n, long inner, int a, int b) {
        boolean floating = t.dtype().isFloatingPoint();
        boolean unsigned64 = t.dtype() == DType.U64;
        for (long o = 0; o < outer; o++) {
            for (long e = 0; e < inner; e++) {
                int i = (int) ((o * n + a) * inner + e);
                int j = (int) ((o * n + b) * inner + e);
                int c = floating ? Double.compare(t.getDouble(i) + 0.0, t.getDouble(j) + 0.0)
                        : unsigned64 ? Long.compareUnsigned(t.getLong(i), t.getLong(j)) : Long.compare(t.getLong(i), t.getLong(j));
                if (c != 0) return c;
            }
        }
        return 0;
    }
}
