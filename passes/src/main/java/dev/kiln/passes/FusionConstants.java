package dev.kiln.passes;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;

/**
 * Reading and making the f32/f64 constants that FoldBatchNorm, FuseEpilogue and FuseElementwise
 * compute with (folded weights are computed in double and stored in the weights' dtype).
 */
final class FusionConstants {
    private FusionConstants() {}

    /** Whether folding can read and write constants of this dtype. */
    static boolean foldable(DType t) { return t == DType.F32 || t == DType.F64; }

    /** Whether v is a constant that {@link #values} reads. */
    static boolean readable(Value v) { return v instanceof Constant c && foldable(c.type().dtype()); }

    /** The elements of v when it is an f32 or f64 constant, else null. */
    static double[] values(Value v) {
        if (!readable(v)) return null;
        Constant c = (Constant) v;
        double[] r = new double[(int) c.type().shape().elementCount()];
        if (c.type().dtype() == DType.F64) {
            c.data().asDoubleBuffer().get(r);
        } else {
            float[] f = new float[r.length];
            c.data().asFloatBuffer().get(f);
            for (int i = 0; i < r.length; i++) r[i] = f[i];
        }
        return r;
    }

    /** The one element of a single-element f32 or f64 constant, else null. */
    static Double scalar(Value v) {
        if (!readable(v) || v.type().shape().elementCount() != 1) return null;
        return values(v)[0];
    }

    /** The numpy broadcast of static shapes. */
    static long[] broadcastShape(List<long[]> shapes) {
        int rank = 0;
        for (long[] s : shapes) rank = Math.max(rank, s.length);
        long[] out = new long[rank];
        Arrays.fill(out, 1);
        for (long[] s : shapes) {
            for (int d = 0; d < s.length; d++) {
                int o = d + rank - s.length;
                if (s[d] != 1) out[o] = s[d];
            }
        }
        return out;
    }

    /** Adds v, of a shape that broadcasts to {@code to}, into sum (of shape {@code to}), each element times factor. */
    static void addBroadcast(double[] sum, long[] to, double[] v, long[] from, double factor) {
        int offset = to.length - from.length;
        long[] strides = new long[to.length];
        long stride = 1;
        for (int d = from.length - 1; d >= 0; d--) {
            strides[d + offset] = from[d] == 1 ? 0 : stride;
            stride *= from[d];
        }
        long[] index = new long[to.length];
        for (int i = 0; i < sum.length; i++) {
            long at = 0;
            for (int d = 0; d < to.length; d++) at += index[d] * strides[d];
            sum[i] += factor * v[(int) at];
            for (int d = to.length - 1; d >= 0 && ++index[d] == to[d]; d--) index[d] = 0;
        }
    }

    /** A new constant of dtype t (f32 or f64) and the given shape holding values, each rounded to t. */
    static Constant make(GraphRewrite rw, String hint, DType t, Shape shape, double[] values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * t.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        if (t == DType.F64) {
            b.asDoubleBuffer().put(values);
        } else {
            float[] f = new float[values.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) values[i];
            b.asFloatBuffer().put(f);
        }
        return rw.constant(hint, TensorType.of(t, shape), b);
    }
}
