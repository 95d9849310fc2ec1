package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.List;

/**
 * MatMul, Gemm and MatMulInteger. f32 runs through {@link GemmF32}; other floating types
 * accumulate in double, integer types in long (wrapping like the fixed-width type would).
 */
final class GemmKernels {
    /** The Transpose perm that swaps a matrix's rows and columns. */
    private static final int[] SWAP_AXES = {1, 0};

    private GemmKernels() {}

    /**
     * A batched product: {@code batches} products of (m x k) by (k x n), batch i reading A's
     * matrix aBatch[i] and B's matrix bBatch[i].
     */
    private record Plan(int batches, int m, int k, int n, int[] aBatch, int[] bBatch, long[] outputShape) {}

    /** numpy.matmul shapes: 1-D operands promoted to matrices, batch axes broadcast. */
    private static Plan plan(KernelContext ctx, long[] as, long[] bs) {
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as;
        long[] b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        int m = (int) a2[a2.length - 2];
        int k = (int) a2[a2.length - 1];
        int n = (int) b2[b2.length - 1];
        if (b2[b2.length - 2] != k) throw ctx.fail("shapes " + Arrays.toString(as) + " and " + Arrays.toString(bs) + " do not agree on the inner dimension");
        long[] batchA = Arrays.copyOf(a2, a2.length - 2);
        long[] batchB = Arrays.copyOf(b2, b2.length - 2);
        long[] batch = Broadcasting.shape(ctx, batchA, batchB);
        long[] out = matMulShape(as, bs, batch);
        int batches = (int) NnArrays.product(batch);
        if (batchB.length == 0 || NnArrays.product(batchB) == 1 && Arrays.equals(batchA, batch)) {
            // B is one matrix shared by every batch: A's batches stack into one tall product.
            return new Plan(1, batches * m, k, n, new int[] {0}, new int[] {0}, out);
        }
        return new Plan(batches, m, k, n, NnArrays.broadcastIndex(ctx, batchA, batch), NnArrays.broadcastIndex(ctx, batchB, batch), out);
    }

    /** numpy.matmul's output shape for operands of shapes as and bs with the given broadcast batch shape: 1-D operands lose their axis. */
    static long[] matMulShape(long[] as, long[] bs, long[] batch) {
        long[] out = Arrays.copyOf(batch, batch.length + (as.length > 1 ? 1 : 0) + (bs.length > 1 ? 1 : 0));
        int at = batch.length;
        if (as.length > 1) out[at++] = as[as.length - 2];
        if (bs.length > 1) out[at] = bs[bs.length - 1];
        return out;
    }

    static List<Tensor> matMul(KernelContext ctx) {
        Tensor a = ctx.input(0);
        Tensor b = ctx.input(1);
        Plan plan = plan(ctx, a.shape(), b.shape());
        DType t = ctx.outputDType(0);
        if (t == DType.F32) return List.of(Tensor.ofFloats(multiplyF32(plan, a.toFloatArray(), b.toFloatArray()), plan.outputShape()));
        if (t.isInteger()) return List.of(NnArrays.fromLongs(t, plan.outputShape(), multiplyLong(plan, a.toLongArray(), b.toLongArray())));
        return List.of(NnArrays.fromDoubles(t, plan.outputShape(), multiplyDouble(plan, a.toDoubleArray(), b.toDoubleArray())));
    }

    static List<Tensor> matMulInteger(KernelContext ctx) {
        Tensor a = ctx.input(0);
        Tensor b = ctx.input(1);
        long[] as = a.shape();
        long[] bs = b.shape();
        Plan plan = plan(ctx, as, bs);
        long[] av = minusZeroPoint(ctx, a.toLongArray(), as, ctx.optionalInput(2), true);
        long[] bv = minusZeroPoint(ctx, b.toLongArray(), bs, ctx.optionalInput(3), false);
        return List.of(NnArrays.fromLongs(DType.I32, plan.outputShape(), multiplyLong(plan, av, bv)));
    }

    /**
     * v minus its zero point: a scalar, a tensor broadcast to v's shape, or a vector with one
     * value per row of A (perRow) or per column of B.
     */
    private static long[] minusZeroPoint(KernelContext ctx, long[] v, long[] shape, Tensor zeroPoint, boolean perRow) {
        if (zeroPoint == null) return v;
        long[] z = zeroPoint.toLongArray();
        long[] zs = zeroPoint.shape();
        if (perRow && zs.length == 1 && z.length > 1 && shape.length >= 2) zs = new long[] {zs[0], 1};
        int[] at = NnArrays.broadcastIndex(ctx, zs, shape);
        long[] r = new long[v.length];
        for (int i = 0; i < v.length; i++) r[i] = v[i] - z[at[i]];
        return r;
    }

    static List<Tensor> gemm(KernelContext ctx) {
        Tensor a = ctx.input(0);
        Tensor b = ctx.input(1);
        Tensor c = ctx.optionalInput(2);
        boolean transA = ctx.intAttr("transA") != 0;
        boolean transB = ctx.intAttr("transB") != 0;
        int m = (int) a.dim(transA ? 1 : 0);
        int k = (int) a.dim(transA ? 0 : 1);
        int n = (int) b.dim(transB ? 0 : 1);
        if (b.dim(transB ? 1 : 0) != k) {
            throw ctx.fail("A " + Arrays.toString(a.shape()) + " and B " + Arrays.toString(b.shape()) + " do not agree on the inner dimension");
        }
        Plan plan = new Plan(1, m, k, n, new int[] {0}, new int[] {0}, new long[] {m, n});
        double alpha = ctx.floatAttr("alpha");
        double beta = ctx.floatAttr("beta");
        int[] cAt = c == null ? null : NnArrays.broadcastIndex(ctx, c.shape(), plan.outputShape());
        DType t = ctx.outputDType(0);
        if (t == DType.F32) {
            float[] av = a.toFloatArray();
            float[] bv = b.toFloatArray();
            float[] y = multiplyF32(plan, transA ? GemmF32.transpose(av, 0, k, m) : av, transB ? GemmF32.transpose(bv, 0, n, k) : bv);
            double[] cv = c == null ? null : c.toDoubleArray();
            for (int i = 0; i < y.length; i++) y[i] = (float) (alpha * y[i] + (cv == null ? 0 : beta * cv[cAt[i]]));
            return List.of(Tensor.ofFloats(y, plan.outputShape()));
        }
        // Other dtypes transpose the tensors' raw elements, so that A reads as (m x k) and B as (k x n).
        Tensor aRows = transA ? ShapeBytes.transpose(a, SWAP_AXES) : a;
        Tensor bRows = transB ? ShapeBytes.transpose(b, SWAP_AXES) : b;
        if (t.isInteger()) {
            long[] y = multiplyLong(plan, aRows.toLongArray(), bRows.toLongArray());
            long[] cv = c == null ? null : c.toLongArray();
            for (int i = 0; i < y.length; i++) {
                long product = alpha == 1 ? y[i] : (long) (alpha * y[i]);
                long addend = cv == null ? 0 : beta == 1 ? cv[cAt[i]] : (long) (beta * cv[cAt[i]]);
                y[i] = product + addend;
            }
            return List.of(NnArrays.fromLongs(t, plan.outputShape(), y));
        }
        double[] y = multiplyDouble(plan, aRows.toDoubleArray(), bRows.toDoubleArray());
        double[] cv = c == null ? null : c.toDoubleArray();
        for (int i = 0; i < y.length; i++) y[i] = alpha * y[i] + (cv == null ? 0 : beta * cv[cAt[i]]);
        return List.of(NnArrays.fromDoubles(t, plan.outputShape(), y));
    }

    private static float[] multiplyF32(Plan p, float[] a, float[] b) {
        float[] y = new float[p.batches() * p.m() * p.n()];
        for (int i = 0; i < p.batches(); i++) {
            GemmF32.multiplyAdd(p.m(), p.n(), p.k(), a, p.aBatch()[i] * p.m() * p.k(), p.k(),
                    b, p.bBatch()[i] * p.k() * p.n(), p.n(), y, i * p.m() * p.n(), p.n());
        }
        return y;
    }

    /** One output row of a product: where its row of A, its matrix of B and its row of the output start. */
    private interface RowProduct {
        void apply(int aRow, int bMatrix, int yRow);
    }

    /** Runs row for every output row of the plan, spreading the rows over threads when there is enough work. */
    private static void forEachRow(Plan p, RowProduct row) {
        int m = p.m();
        int k = p.k();
        int n = p.n();
        NnArrays.forEach(p.batches() * m, (long) p.batches() * m * n * k, r -> {
            int i = r / m;
            row.apply(p.aBatch()[i] * m * k + (r % m) * k, p.bBatch()[i] * k * n, r * n);
        });
    }

    private static double[] multiplyDouble(Plan p, double[] a, double[] b) {
        int k = p.k();
        int n = p.n();
        double[] y = new double[p.batches() * p.m() * n];
        forEachRow(p, (ai, bi, yi) -> {
            for (int q = 0; q < k; q++) {
                double av = a[ai + q];
                for (int j = 0; j < n; j++) y[yi + j] += av * b[bi + q * n + j];
            }
        });
        return y;
    }

    private static long[] multiplyLong(Plan p, long[] a, long[] b) {
        int k = p.k();
        int n = p.n();
        long[] y = new long[p.batches() * p.m() * n];
        forEachRow(p, (ai, bi, yi) -> {
            for (int q = 0; q < k; q++) {
                long av = a[ai + q];
                for (int j = 0; j < n; j++) y[yi + j] += av * b[bi + q * n + j];
            }
        });
        return y;
    }
}
