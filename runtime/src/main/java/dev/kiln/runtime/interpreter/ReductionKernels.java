package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Reductions and ops along one axis. Floating inputs are read into double[] and accumulated in
 * double; integer inputs into long[] (wrapping like the dtype does). u64 order is kept by flipping
 * the sign bit, so that signed long comparisons order u64 values correctly.
 */
final class ReductionKernels {
    private ReductionKernels() {}

    /** The Reduce* ops; L2, LOG_SUM and LOG_SUM_EXP are computed in double for every dtype. */
    private enum Reduction { SUM, MEAN, MAX, MIN, PROD, L1, L2, LOG_SUM, LOG_SUM_EXP, SUM_SQUARE }

    private enum AxisOp { SOFTMAX, LOG_SOFTMAX, HARDMAX }

    static void register(Map<String, Kernel> table) {
        table.put("ReduceSum", ctx -> reduce(ctx, Reduction.SUM));
        table.put("ReduceMean", ctx -> reduce(ctx, Reduction.MEAN));
        table.put("ReduceMax", ctx -> reduce(ctx, Reduction.MAX));
        table.put("ReduceMin", ctx -> reduce(ctx, Reduction.MIN));
        table.put("ReduceProd", ctx -> reduce(ctx, Reduction.PROD));
        table.put("ReduceL1", ctx -> reduce(ctx, Reduction.L1));
        table.put("ReduceL2", ctx -> reduce(ctx, Reduction.L2));
        table.put("ReduceLogSum", ctx -> reduce(ctx, Reduction.LOG_SUM));
        table.put("ReduceLogSumExp", ctx -> reduce(ctx, Reduction.LOG_SUM_EXP));
        table.put("ReduceSumSquare", ctx -> reduce(ctx, Reduction.SUM_SQUARE));
        table.put("ArgMax", ctx -> argReduce(ctx, true));
        table.put("ArgMin", ctx -> argReduce(ctx, false));
        table.put("Softmax", ctx -> alongAxis(ctx, AxisOp.SOFTMAX));
        table.put("LogSoftmax", ctx -> alongAxis(ctx, AxisOp.LOG_SOFTMAX));
        table.put("Hardmax", ctx -> alongAxis(ctx, AxisOp.HARDMAX));
        table.put("LpNormalization", ReductionKernels::lpNormalization);
        table.put("CumSum", ctx -> cumulative(ctx, false));
        table.put("CumProd", ctx -> cumulative(ctx, true));
        table.put("TopK", ReductionKernels::topK);
    }

    // ---- Reduce* ----

    private static List<Tensor> reduce(KernelContext ctx, Reduction kind) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        int rank = shape.length;
        long[] axes = ctx.hasInput(1) ? ctx.input(1).toLongArray() : new long[0];
        boolean keepDims = ctx.intAttr("keepdims") != 0;
        boolean[] reduced = new boolean[rank];
        long[] outShape;
        if (axes.length == 0 && ctx.intAttr("noop_with_empty_axes") != 0) {
            outShape = shape;
        } else {
            if (axes.length == 0) Arrays.fill(reduced, true);
            for (long a : axes) {
                int axis = ctx.axis(a, rank);
                if (reduced[axis]) throw ctx.fail("axis " + a + " is given more than once");
                reduced[axis] = true;
            }
            outShape = reducedShape(shape, reduced, keepDims);
        }
        ReductionIndex index = ReductionIndex.over(shape, reduced);
        DType outType = ctx.outputDType(0);
        int n = index.bases.length;
        boolean viaDoubles = x.dtype().isFloatingPoint()
                || kind == Reduction.L2 || kind == Reduction.LOG_SUM || kind == Reduction.LOG_SUM_EXP;
        if (viaDoubles) {
            double[] v = doubles(x);
            double[] out = new double[n];
            for (int o = 0; o < n; o++) out[o] = reduceDoubles(kind, v, index.bases[o], index.members);
            return List.of(NnArrays.fromDoubles(outType, outShape, out));
        }
        DType t = x.dtype();
        boolean ordering = kind == Reduction.MAX || kind == Reduction.MIN;
        long[] v = ordering ? orderKeys(x) : x.toLongArray();
        long[] out = new long[n];
        for (int o = 0; o < n; o++) out[o] = reduceLongs(kind, t, v, index.bases[o], index.members);
        return List.of(NnArrays.fromLongs(outType, outShape, ordering ? fromOrderKeys(t, out) : out));
    }

    private static long[] reducedShape(long[] shape, boolean[] reduced, boolean keepDims) {
        long[] out = new long[shape.length];
        int r = 0;
        for (int d = 0; d < shape.length; d++) {
            if (!reduced[d]) out[r++] = shape[d];
            else if (keepDims) out[r++] = 1;
        }
        return Arrays.copyOf(out, r);
    }

    private static double reduceDoubles(Reduction kind, double[] v, int base, int[] members) {
        int n = members.length;
        switch (kind) {
            case SUM, MEAN -> {
                double s = 0;
                for (int m : members) s += v[base + m];
                return kind == Reduction.SUM ? s : s / n;
            }
            case MAX -> {
                double best = Double.NEGATIVE_INFINITY;
                for (int m : members) {
                    double x = v[base + m];
                    if (x > best || Double.isNaN(x)) best = x;
                    if (Double.isNaN(best)) break;
                }
                return best;
            }
            case MIN -> {
                double best = Double.POSITIVE_INFINITY;
                for (int m : members) {
                    double x = v[base + m];
                    if (x < best || Double.isNaN(x)) best = x;
                    if (Double.isNaN(best)) break;
                }
                return best;
            }
            case PROD -> {
                double p = 1;
                for (int m : members) p *= v[base + m];
                return p;
            }
            case L1 -> {
                double s = 0;
                for (int m : members) s += Math.abs(v[base + m]);
                return s;
            }
            case L2, SUM_SQUARE -> {
                double s = 0;
                for (int m : members) {
                    double x = v[base + m];
                    s += x * x;
                }
                return kind == Reduction.L2 ? Math.sqrt(s) : s;
            }
            case LOG_SUM -> {
                double s = 0;
                for (int m : members) s += v[base + m];
                return Math.log(s);
            }
            case LOG_SUM_EXP -> {
                // Shift by the maximum so that exp cannot overflow.
                double max = reduceDoubles(Reduction.MAX, v, base, members);
                if (Double.isInfinite(max) || Double.isNaN(max)) return max;
                double s = 0;
                for (int m : members) s += Math.exp(v[base + m] - max);
                return max + Math.log(s);
            }
            default -> throw new IllegalStateException("reduction " + kind + " is computed in double");
        }
    }

    /** Integer reductions; MAX and MIN see order keys (see {@link #orderKeys}); sums and products wrap. */
    private static long reduceLongs(Reduction kind, DType t, long[] v, int base, int[] members) {
        switch (kind) {
            case SUM, MEAN -> {
                long s = 0;
                for (int m : members) s += v[base + m];
                if (kind == Reduction.SUM) return s;
                // The mean of no elements is undefined in ONNX; give 0 rather than fail.
                long n = members.length;
                if (n == 0) return 0;
                return t == DType.U64 ? Long.divideUnsigned(s, n) : s / n;
            }
            case MAX -> {
                long best = minKey(t);
                for (int m : members) best = Math.max(best, v[base + m]);
                return best;
            }
            case MIN -> {
                long best = maxKey(t);
                for (int m : members) best = Math.min(best, v[base + m]);
                return best;
            }
            case PROD -> {
                long p = 1;
                for (int m : members) p *= v[base + m];
                return p;
            }
            case L1 -> {
                long s = 0;
                for (int m : members) s += t.isUnsignedInteger() ? v[base + m] : Math.abs(v[base + m]);
                return s;
            }
            case SUM_SQUARE -> {
                long s = 0;
                for (int m : members) s += v[base + m] * v[base + m];
                return s;
            }
            default -> throw new IllegalStateException("reduction " + kind + " is computed in double");
        }
    }

    // ---- ArgMax / ArgMin ----

    private static List<Tensor> argReduce(KernelContext ctx, boolean max) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        boolean last = ctx.intAttr("select_last_index") != 0;
        ReductionIndex index = ReductionIndex.alongAxis(shape, axis);
        if (index.members.length == 0 && index.bases.length > 0) throw ctx.fail("cannot reduce over the empty axis " + axis);
        long[] out = new long[index.bases.length];
        if (x.dtype().isFloatingPoint()) {
            double[] v = doubles(x);
            for (int o = 0; o < out.length; o++) out[o] = argExtreme(v, index.bases[o], index.members, max, last);
        } else {
            long[] v = orderKeys(x);
            for (int o = 0; o < out.length; o++) out[o] = argExtreme(v, index.bases[o], index.members, max, last);
        }
        long[] outShape = ctx.intAttr("keepdims") != 0 ? withDim(shape, axis, 1) : withoutDim(shape, axis);
        return List.of(Tensor.ofLongs(out, outShape));
    }

    /** Position within members of the maximum (or minimum); NaN counts as the extreme, as in numpy. */
    private static int argExtreme(double[] v, int base, int[] members, boolean max, boolean last) {
        int best = 0;
        double bestValue = v[base + members[0]];
        for (int k = 1; k < members.length; k++) {
            double x = v[base + members[k]];
            if (Double.isNaN(bestValue)) {
                if (!last) break;
                if (Double.isNaN(x)) best = k;
            } else if (Double.isNaN(x) || (max ? x > bestValue : x < bestValue) || (last && x == bestValue)) {
                best = k;
                bestValue = x;
            }
        }
        return best;
    }

    private static int argExtreme(long[] v, int base, int[] members, boolean max, boolean last) {
        int best = 0;
        long bestValue = v[base + members[0]];
        for (int k = 1; k < members.length; k++) {
            long x = v[base + members[k]];
            if ((max ? x > bestValue : x < bestValue) || (last && x == bestValue)) {
                best = k;
                bestValue = x;
            }
        }
        return best;
    }

    // ---- Softmax / LogSoftmax / Hardmax / LpNormalization ----

    private static List<Tensor> alongAxis(KernelContext ctx, AxisOp op) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        ReductionIndex index = ReductionIndex.alongAxis(shape, ctx.axis(ctx.intAttr("axis"), shape.length));
        double[] v = doubles(x);
        double[] out = new double[v.length];
        int[] members = index.members;
        for (int base : index.bases) {
            if (op == AxisOp.HARDMAX) {
                if (members.length > 0) out[base + members[argExtreme(v, base, members, true, false)]] = 1;
                continue;
            }
            double max = reduceDoubles(Reduction.MAX, v, base, members);
            double sum = 0;
            for (int m : members) {
                double e = Math.exp(v[base + m] - max);
                out[base + m] = e;
                sum += e;
            }
            if (op == AxisOp.SOFTMAX) {
                for (int m : members) out[base + m] /= sum;
            } else {
                double logSum = max + Math.log(sum);
                for (int m : members) out[base + m] = v[base + m] - logSum;
            }
        }
        return List.of(NnArrays.fromDoubles(ctx.outputDType(0), shape, out));
    }

    private static List<Tensor> lpNormalization(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        ReductionIndex index = ReductionIndex.alongAxis(shape, ctx.axis(ctx.intAttr("axis"), shape.length));
        Reduction norm = switch ((int) ctx.intAttr("p")) {
            case 1 -> Reduction.L1;
            case 2 -> Reduction.L2;
            default -> throw ctx.fail("p must be 1 or 2, got " + ctx.intAttr("p"));
        };
        double[] v = doubles(x);
        double[] out = new double[v.length];
        for (int base : index.bases) {
            double n = reduceDoubles(norm, v, base, index.members);
            // A zero norm gives zeros rather than NaN, as the newest ONNX version says.
            if (n != 0) for (int m : index.members) out[base + m] = v[base + m] / n;
        }
        return List.of(NnArrays.fromDoubles(ctx.outputDType(0), shape, out));
    }

    // ---- CumSum / CumProd ----

    private static List<Tensor> cumulative(KernelContext ctx, boolean product) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        Tensor axisTensor = ctx.input(1);
        if (axisTensor.size() != 1) throw ctx.fail("axis must hold one value, got " + axisTensor.size());
        ReductionIndex index = ReductionIndex.alongAxis(shape, ctx.axis(axisTensor.getLong(0), shape.length));
        boolean exclusive = ctx.intAttr("exclusive") != 0;
        boolean reverse = ctx.intAttr("reverse") != 0;
        int[] members = index.members;
        int n = members.length;
        if (x.dtype().isFloatingPoint()) {
            double[] v = doubles(x);
            double[] out = new double[v.length];
            for (int base : index.bases) {
                double acc = product ? 1 : 0;
                for (int j = 0; j < n; j++) {
                    int at = base + members[reverse ? n - 1 - j : j];
                    if (exclusive) out[at] = acc;
                    acc = product ? acc * v[at] : acc + v[at];
                    if (!exclusive) out[at] = acc;
                }
            }
            return List.of(NnArrays.fromDoubles(ctx.outputDType(0), shape, out));
        }
        long[] v = x.toLongArray();
        long[] out = new long[v.length];
        for (int base : index.bases) {
            long acc = product ? 1 : 0;
            for (int j = 0; j < n; j++) {
                int at = base + members[reverse ? n - 1 - j : j];
                if (exclusive) out[at] = acc;
                acc = product ? acc * v[at] : acc + v[at];
                if (!exclusive) out[at] = acc;
            }
        }
        return List.of(NnArrays.fromLongs(ctx.outputDType(0), shape, out));
    }

    // ---- TopK ----

    private static List<Tensor> topK(KernelContext ctx) {
        Tensor x = ctx.input(0);
        long[] shape = x.shape();
        int axis = ctx.axis(ctx.intAttr("axis"), shape.length);
        Tensor kTensor = ctx.input(1);
        if (kTensor.size() != 1) throw ctx.fail("K must hold one value, got " + kTensor.size());
        long k = kTensor.getLong(0);
        if (k < 0 || k > shape[axis]) throw ctx.fail("K=" + k + " is outside [0, " + shape[axis] + "] for axis " + axis);
        boolean largest = ctx.intAttr("largest") != 0;
        long[] outShape = withDim(shape, axis, k);
        ReductionIndex in = ReductionIndex.alongAxis(shape, axis);
        ReductionIndex out = ReductionIndex.alongAxis(outShape, axis);
        Tensor values = Tensor.allocate(ctx.outputDType(0), outShape);
        long[] indices = new long[values.size()];
        RowOrder order = x.dtype().isFloatingPoint() ? new DoubleRowOrder(doubles(x)) : new LongRowOrder(orderKeys(x));
        ByteBuffer src = x.data();
        ByteBuffer dst = values.data();
        int width = x.dtype().byteSize();
        int n = in.members.length;
        Integer[] row = new Integer[n];
        for (int o = 0; o < in.bases.length; o++) {
            int base = in.bases[o];
            for (int j = 0; j < n; j++) row[j] = j;
            // A stable sort keeps the lower index first among equal values.
            Arrays.sort(row, (a, b) -> {
                int c = order.compare(base + in.members[a], base + in.members[b]);
                return largest ? -c : c;
            });
            for (int j = 0; j < k; j++) {
                int to = out.bases[o] + out.members[j];
                indices[to] = row[j];
                int from = base + in.members[row[j]];
                for (int b = 0; b < width; b++) dst.put(to * width + b, src.get(from * width + b));
            }
        }
        return List.of(values, Tensor.ofLongs(indices, outShape));
    }

    /** Compares two elements of a tensor by value. */
    private interface RowOrder {
        int compare(int i, int j);
    }

    /** Ascending order with NaN above everything and -0.0 equal to 0.0. */
    private record DoubleRowOrder(double[] v) implements RowOrder {
        public int compare(int i, int j) {
            double a = v[i], b = v[j];
            if (a < b) return -1;
            if (a > b) return 1;
            return Boolean.compare(Double.isNaN(a), Double.isNaN(b));
        }
    }

    private record LongRowOrder(long[] v) implements RowOrder {
        public int compare(int i, int j) { return Long.compare(v[i], v[j]); }
    }

    // ---- helpers ----

    private static long[] withDim(long[] shape, int axis, long size) {
        long[] s = shape.clone();
        s[axis] = size;
        return s;
    }

    private static long[] withoutDim(long[] shape, int axis) {
        long[] s = new long[shape.length - 1];
        for (int d = 0, j = 0; d < shape.length; d++) if (d != axis) s[j++] = shape[d];
        return s;
    }

    /** All elements as doubles; f32 is read in bulk. */
    private static double[] doubles(Tensor t) {
        if (t.dtype() != DType.F32) return t.toDoubleArray();
        float[] f = t.toFloatArray();
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    /** Integer (or bool) elements as longs that compare like the values: u64 gets its sign bit flipped. */
    private static long[] orderKeys(Tensor t) {
        long[] v = t.toLongArray();
        if (t.dtype() == DType.U64) for (int i = 0; i < v.length; i++) v[i] ^= Long.MIN_VALUE;
        return v;
    }

    private static long[] fromOrderKeys(DType t, long[] keys) {
        if (t == DType.U64) for (int i = 0; i < keys.length; i++) keys[i] ^= Long.MIN_VALUE;
        return keys;
    }

    /** The smallest order key of a dtype: ReduceMax of no elements. */
    private static long minKey(DType t) {
        return switch (t) {
            case I8 -> Byte.MIN_VALUE;
            case I16 -> Short.MIN_VALUE;
            case I32 -> Integer.MIN_VALUE;
            case I64, U64 -> Long.MIN_VALUE;
            default -> 0;
        };
    }

    /** The largest order key of a dtype: ReduceMin of no elements. */
    private static long maxKey(DType t) {
        return switch (t) {
            case I8 -> Byte.MAX_VALUE;
            case U8 -> 0xffL;
            case I16 -> Short.MAX_VALUE;
            case U16 -> 0xffffL;
            case I32 -> Integer.MAX_VALUE;
            case U32 -> 0xffffffffL;
            case I64, U64 -> Long.MAX_VALUE;
            case BOOL -> 1;
            default -> throw new IllegalArgumentException("no integer range for " + t);
        };
    }
}
