package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.HalfFloats;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/** Array helpers shared by the NN kernels: tensors from computed arrays, sizes, broadcast maps. */
final class NnArrays {
    /** Total multiply-adds (or element visits) above which a loop is split across threads. */
    private static final long PARALLEL_WORK = 1 << 18;

    private NnArrays() {}

    /** A tensor of dtype t holding v, each value rounded (floats) or truncated (integers) to t. */
    static Tensor fromDoubles(DType t, long[] shape, double[] v) {
        if (t == DType.F64) return Tensor.ofDoubles(v, shape);
        if (t == DType.F32) {
            float[] f = new float[v.length];
            for (int i = 0; i < v.length; i++) f[i] = (float) v[i];
            return Tensor.ofFloats(f, shape);
        }
        Tensor r = Tensor.allocate(t, shape);
        for (int i = 0; i < v.length; i++) r.setDouble(i, v[i]);
        return r;
    }

    /** A tensor of integer dtype t holding v, each value wrapped to t's width. */
    static Tensor fromLongs(DType t, long[] shape, long[] v) {
        if (t == DType.I64) return Tensor.ofLongs(v, shape);
        Tensor r = Tensor.allocate(t, shape);
        for (int i = 0; i < v.length; i++) r.setLong(i, v[i]);
        return r;
    }

    /** v as it reads back after being stored in a tensor of floating dtype t. */
    static double roundTo(DType t, double v) {
        return switch (t) {
            case F32 -> (float) v;
            case F16 -> HalfFloats.halfToFloat(HalfFloats.floatToHalf((float) v));
            case BF16 -> HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16((float) v));
            default -> v;
        };
    }

    /** Runs body for 0..count-1, on the common fork-join pool when there is enough work to share. */
    static void forEach(int count, long work, IntConsumer body) {
        if (count > 1 && work >= PARALLEL_WORK) {
            IntStream.range(0, count).parallel().forEach(body);
        } else {
            for (int i = 0; i < count; i++) body.accept(i);
        }
    }

    /** The product of dims[from..to). */
    static long product(long[] dims, int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) n *= dims[i];
        return n;
    }

    static long product(long[] dims) { return product(dims, 0, dims.length); }

    static long[] tail(long[] dims, int from) { return Arrays.copyOfRange(dims, from, dims.length); }

    /**
     * For every element of a tensor of shape {@code to}, the flat index of the element of a tensor
     * of shape {@code from} that numpy broadcasting maps onto it; fails unless from broadcasts to to.
     */
    static int[] broadcastIndex(KernelContext ctx, long[] from, long[] to) {
        if (from.length > to.length) throw ctx.fail("shape " + Arrays.toString(from) + " does not broadcast to " + Arrays.toString(to));
        int rank = to.length;
        long[] strides = new long[rank];
        long stride = 1;
        for (int d = rank - 1, s = from.length - 1; s >= 0; d--, s--) {
            if (from[s] != 1 && from[s] != to[d]) {
                throw ctx.fail("shape " + Arrays.toString(from) + " does not broadcast to " + Arrays.toString(to));
            }
            strides[d] = from[s] == 1 ? 0 : stride;
            stride *= from[s];
        }
        int[] index = new int[(int) product(to)];
        int[] pos = new int[rank];
        int offset = 0;
        for (int i = 0; i < index.length; i++) {
            index[i] = offset;
            for (int d = rank - 1; d >= 0; d--) {
                offset += (int) strides[d];
                if (++pos[d] < to[d]) break;
                offset -= (int) (strides[d] * to[d]);
                pos[d] = 0;
            }
        }
        return index;
    }
}
