package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.List;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoublePredicate;
import java.util.function.DoubleUnaryOperator;
import java.util.function.LongBinaryOperator;
import java.util.function.LongUnaryOperator;

/**
 * The loops of the elementwise kernels. Floating-point dtypes compute in double (f32 in float
 * arrays, which rounds the same), integers and bool in long with the result wrapped to the
 * output width; u64 gets its own operator where unsigned and signed arithmetic differ.
 * An operator may be null for dtypes that the op's IR spec rules out.
 */
final class ElementwiseLoops {
    private ElementwiseLoops() {}

    /** A test of two doubles. */
    @FunctionalInterface
    interface DoubleTest {
        boolean test(double a, double b);
    }

    /** A test of two longs. */
    @FunctionalInterface
    interface LongTest {
        boolean test(long a, long b);
    }

    /** Applies f to every element through double, storing back in x's dtype (integers truncate and wrap). */
    static Tensor mapDoubles(Tensor x, DoubleUnaryOperator f) {
        if (x.dtype() == DType.F32) {
            float[] v = x.toFloatArray();
            for (int i = 0; i < v.length; i++) v[i] = (float) f.applyAsDouble(v[i]);
            return Tensor.ofFloats(v, x.shape());
        }
        double[] v = x.toDoubleArray();
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsDouble(v[i]);
        return ElementwiseValues.fromDoubles(x.dtype(), x.shape(), v);
    }

    /** Applies onFloat to floating-point tensors, else onInteger (onU64 for u64) to integer and bool tensors. */
    static Tensor mapNumeric(Tensor x, DoubleUnaryOperator onFloat, LongUnaryOperator onInteger, LongUnaryOperator onU64) {
        if (x.dtype().isFloatingPoint()) return mapDoubles(x, onFloat);
        LongUnaryOperator f = x.dtype() == DType.U64 ? onU64 : onInteger;
        long[] v = x.toLongArray();
        for (int i = 0; i < v.length; i++) v[i] = f.applyAsLong(v[i]);
        return ElementwiseValues.fromLongs(x.dtype(), x.shape(), v, false);
    }

    /** A bool tensor of p applied to every element of a floating-point tensor. */
    static Tensor testDoubles(Tensor x, DoublePredicate p) {
        double[] v = x.toDoubleArray();
        boolean[] r = new boolean[v.length];
        for (int i = 0; i < v.length; i++) r[i] = p.test(v[i]);
        return ElementwiseValues.fromBooleans(x.shape(), r);
    }

    /** A binary op on two tensors of one dtype, broadcast together; the result has dtype {@code out}. */
    static Tensor zip(KernelContext ctx, Tensor a, Tensor b, DType out,
                      DoubleBinaryOperator onFloat, LongBinaryOperator onInteger, LongBinaryOperator onU64) {
        long[] shape = Broadcasting.shape(ctx, a.shape(), b.shape());
        int[] ia = Broadcasting.indexMap(a.shape(), shape);
        int[] ib = Broadcasting.indexMap(b.shape(), shape);
        int n = size(shape);
        DType in = a.dtype();
        if (in == DType.F32 && out == DType.F32) {
            float[] x = a.toFloatArray();
            float[] y = b.toFloatArray();
            float[] r = new float[n];
            if (ia == null && ib == null) {
                for (int i = 0; i < n; i++) r[i] = (float) onFloat.applyAsDouble(x[i], y[i]);
            } else {
                for (int i = 0; i < n; i++) r[i] = (float) onFloat.applyAsDouble(x[at(ia, i)], y[at(ib, i)]);
            }
            return Tensor.ofFloats(r, shape);
        }
        if (in.isFloatingPoint()) {
            double[] x = a.toDoubleArray();
            double[] y = b.toDoubleArray();
            double[] r = new double[n];
            for (int i = 0; i < n; i++) r[i] = onFloat.applyAsDouble(x[at(ia, i)], y[at(ib, i)]);
            return ElementwiseValues.fromDoubles(out, shape, r);
        }
        LongBinaryOperator f = in == DType.U64 ? onU64 : onInteger;
        long[] x = a.toLongArray();
        long[] y = b.toLongArray();
        long[] r = new long[n];
        for (int i = 0; i < n; i++) r[i] = f.applyAsLong(x[at(ia, i)], y[at(ib, i)]);
        return ElementwiseValues.fromLongs(out, shape, r, false);
    }

    /** A comparison of two tensors of one dtype, broadcast together, giving bool. */
    static Tensor compare(KernelContext ctx, Tensor a, Tensor b, DoubleTest onFloat, LongTest onInteger, LongTest onU64) {
        long[] shape = Broadcasting.shape(ctx, a.shape(), b.shape());
        int[] ia = Broadcasting.indexMap(a.shape(), shape);
        int[] ib = Broadcasting.indexMap(b.shape(), shape);
        boolean[] r = new boolean[size(shape)];
        if (a.dtype().isFloatingPoint()) {
            double[] x = a.toDoubleArray();
            double[] y = b.toDoubleArray();
            for (int i = 0; i < r.length; i++) r[i] = onFloat.test(x[at(ia, i)], y[at(ib, i)]);
        } else {
            LongTest f = a.dtype() == DType.U64 ? onU64 : onInteger;
            long[] x = a.toLongArray();
            long[] y = b.toLongArray();
            for (int i = 0; i < r.length; i++) r[i] = f.test(x[at(ia, i)], y[at(ib, i)]);
        }
        return ElementwiseValues.fromBooleans(shape, r);
    }

    /**
     * Combines any number of tensors of one dtype, broadcast together, left to right; the
     * accumulator stays in double or long until the end, where {@code mean} divides by the count.
     */
    static Tensor fold(KernelContext ctx, List<Tensor> inputs, boolean mean,
                       DoubleBinaryOperator onFloat, LongBinaryOperator onInteger, LongBinaryOperator onU64) {
        long[][] shapes = new long[inputs.size()][];
        for (int k = 0; k < shapes.length; k++) shapes[k] = inputs.get(k).shape();
        long[] shape = Broadcasting.shape(ctx, shapes);
        int n = size(shape);
        DType type = inputs.get(0).dtype();
        if (type.isFloatingPoint()) {
            double[] acc = null;
            for (Tensor t : inputs) {
                double[] v = t.toDoubleArray();
                int[] map = Broadcasting.indexMap(t.shape(), shape);
                if (acc == null) {
                    acc = new double[n];
                    for (int i = 0; i < n; i++) acc[i] = v[at(map, i)];
                } else {
                    for (int i = 0; i < n; i++) acc[i] = onFloat.applyAsDouble(acc[i], v[at(map, i)]);
                }
            }
            if (mean) for (int i = 0; i < n; i++) acc[i] /= inputs.size();
            return ElementwiseValues.fromDoubles(type, shape, acc);
        }
        LongBinaryOperator f = type == DType.U64 ? onU64 : onInteger;
        long[] acc = null;
        for (Tensor t : inputs) {
            long[] v = t.toLongArray();
            int[] map = Broadcasting.indexMap(t.shape(), shape);
            if (acc == null) {
                acc = new long[n];
                for (int i = 0; i < n; i++) acc[i] = v[at(map, i)];
            } else {
                for (int i = 0; i < n; i++) acc[i] = f.applyAsLong(acc[i], v[at(map, i)]);
            }
        }
        return ElementwiseValues.fromLongs(type, shape, acc, false);
    }

    /** Element i of the output reads element map[i] of a broadcast input (i itself when map is null). */
    static int at(int[] map, int i) { return map == null ? i : map[i]; }

    static int size(long[] shape) {
        long n = 1;
        for (long d : shape) n = Math.multiplyExact(n, d);
        return Math.toIntExact(n);
    }
}
