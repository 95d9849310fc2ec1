package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

/** What the tests of the shape and data-movement families share. */
final class ShapeTesting {
    private ShapeTesting() {}

    /** Every dtype the backend stores. */
    static final List<DType> ALL = List.of(DType.F32, DType.F64, DType.F16, DType.BF16, DType.I64, DType.I32, DType.I16, DType.I8,
            DType.U8, DType.U16, DType.U32, DType.U64, DType.BOOL);

    /** An i64 vector constant. */
    static Value longs(OpBatch b, long... values) {
        return b.constant(DType.I64, new long[] {values.length}, doubles(values));
    }

    /** An i64 vector graph input holding these values: a parameter read at run time. */
    static Value runtimeLongs(OpBatch b, long... values) {
        return b.input(DType.I64, new long[] {values.length}, doubles(values));
    }

    /** An i64 scalar graph input. */
    static Value runtimeScalar(OpBatch b, DType dtype, double value) {
        return b.input(dtype, new long[0], value);
    }

    /**
     * x again as a value whose dims are known only at run time: a Reshape to its own shape read from a graph input
     * (not a graph output itself).
     */
    static Value runtimeShaped(OpBatch b, Value x) {
        long[] dims = x.type().shape().sizes();
        Value shape = runtimeLongs(b, dims);
        String name = "dyn" + b.graph().nodes().size();
        return b.graph().addNode(name, "Reshape", List.of(x, shape), Map.of(), List.of(name + "_y")).output(0);
    }

    /** An i64 vector tensor. */
    static Tensor i64(long... values) { return FailingRuns.longs(DType.I64, new long[] {values.length}, values); }

    static double[] doubles(long... values) { return Arrays.stream(values).asDoubleStream().toArray(); }
}
