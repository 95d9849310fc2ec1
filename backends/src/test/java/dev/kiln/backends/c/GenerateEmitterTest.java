package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.backends.c.ShapeTesting.ALL;
import static dev.kiln.backends.c.ShapeTesting.i64;
import static dev.kiln.backends.c.ShapeTesting.longs;
import static dev.kiln.backends.c.ShapeTesting.runtimeLongs;
import static dev.kiln.backends.c.ShapeTesting.runtimeScalar;
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;

/** Range, ConstantOfShape, EyeLike, Shape and Size of every dtype, with run-time lengths and shapes, against the interpreter. */
class GenerateEmitterTest {
    @TempDir
    Path dir;

    @Test
    void rangeOfEveryDtype() {
        OpBatch b = new OpBatch("range", 51);
        for (DType t : ALL) {
            double[][] cases = t == DType.BOOL ? new double[][] {{0, 1, 1}, {1, 1, 1}}
                    : t.isUnsignedInteger() ? new double[][] {{2, 9, 3}, {9, 2, 3}, {0, 0, 1}}
                    : t.isFloatingPoint() ? new double[][] {{-1.5, 2.25, 0.5}, {3, -2, -0.75}, {1, 1, 1}, {0.1, 1.7, 0.3}}
                    : new double[][] {{-3, 8, 2}, {5, -6, -3}, {4, 4, -1}, {0, 10, 20}};
            for (double[] c : cases) {
                b.node("Range", List.of(runtimeScalar(b, t, c[0]), runtimeScalar(b, t, c[1]), runtimeScalar(b, t, c[2])), attrs());
            }
            double[] c = cases[0];
            b.node("Range", List.of(b.constant(t, new long[0], c[0]), b.constant(t, new long[0], c[1]), b.constant(t, new long[0], c[2])), attrs());
        }
        for (DType t : List.of(DType.F16, DType.BF16)) {
            b.node("Range", List.of(runtimeScalar(b, t, 0.1), runtimeScalar(b, t, 40), runtimeScalar(b, t, 0.7)), attrs("stash_type", 0L));
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void constantOfShapeOfEveryDtype() {
        OpBatch b = new OpBatch("constant of shape", 52);
        for (DType t : ALL) {
            Map<String, Attribute> value = Map.of("value", tensor(t, 3));
            b.node("ConstantOfShape", List.of(longs(b, 2, 3)), value);
            b.node("ConstantOfShape", List.of(runtimeLongs(b, 4, 1, 5)), value);
            b.node("ConstantOfShape", List.of(runtimeLongs(b, 3, 0)), Map.of("value", tensor(t, 0)));
        }
        b.node("ConstantOfShape", List.of(runtimeLongs(b, 7)), attrs());
        b.node("ConstantOfShape", List.of(runtimeLongs(b)), Map.of("value", tensor(DType.I64, -1)));
        b.node("ConstantOfShape", List.of(b.input(DType.I32, new long[] {2}, 3, 2)), Map.of("value", tensor(DType.F16, -0.5)));
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void eyeLikeShapeAndSize() {
        OpBatch b = new OpBatch("eye, shape, size", 53);
        for (DType t : ALL) {
            Value x = b.input(t, 3, 5);
            b.node("EyeLike", List.of(x), attrs());
            b.node("EyeLike", List.of(x), attrs("k", 2L));
            b.node("Shape", List.of(x), attrs());
            b.node("Size", List.of(x), attrs());
        }
        Value x = b.input(DType.F32, 4, 3);
        for (long k : new long[] {-10, -3, -1, 3, 7, Long.MAX_VALUE, -(1L << 50)}) b.node("EyeLike", List.of(x), attrs("k", k));
        for (long dtype : new long[] {1, 7, 9, 10, 16, 11, 2}) b.node("EyeLike", List.of(x), attrs("dtype", dtype));
        Value dynamic = runtimeShaped(b, b.input(DType.U8, 2, 3, 4, 5));
        b.node("EyeLike", List.of(runtimeShaped(b, x)), attrs("k", 1L, "dtype", 6L));
        b.node("Size", List.of(dynamic), attrs());
        b.node("Size", List.of(b.input(DType.I8)), attrs());
        b.node("Size", List.of(b.input(DType.I8, 3, 0)), attrs());
        for (Value v : List.of(dynamic, b.input(DType.BOOL, 2, 3, 4, 5))) {
            b.node("Shape", List.of(v), attrs());
            b.node("Shape", List.of(v), attrs("start", 1L));
            b.node("Shape", List.of(v), attrs("start", -3L, "end", -1L));
            b.node("Shape", List.of(v), attrs("start", -10L, "end", 10L));
            b.node("Shape", List.of(v), attrs("start", 3L, "end", 1L));
        }
        b.node("Shape", List.of(b.input(DType.F64)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void badParametersFailTheRun() {
        FailingRuns f = new FailingRuns("generate_failures");
        Tensor one = FailingRuns.longs(DType.I32, new long[0], 1);
        f.node("Range", List.of(f.input(one), f.input(FailingRuns.longs(DType.I32, new long[0], 5)),
                f.input(one, FailingRuns.longs(DType.I32, new long[0], 0), "node range_0 (Range): delta is 0")), attrs());
        Tensor half = Tensor.allocate(DType.F64, 1);
        half.setDouble(0, 0.5);
        f.node("Range", List.of(f.input(Tensor.allocate(DType.F64, 1)), f.input(half), f.input(half, Tensor.allocate(DType.F64, 1), "delta is zero")), attrs());
        f.node("ConstantOfShape", List.of(f.input(i64(2, 1), i64(2, -1), "invalid size -1")), attrs());
        f.assertEachFails(dir);
    }

    /** A one-element tensor attribute of the dtype holding value. */
    private static Attribute tensor(DType t, double value) {
        Tensor v = Tensor.allocate(t, 1);
        v.setDouble(0, value);
        ByteBuffer bytes = ByteBuffer.allocate(t.byteSize()).order(ByteOrder.LITTLE_ENDIAN).put(v.data()).flip();
        return new Attribute.Tensor(TensorType.of(t, 1), bytes);
    }
}
