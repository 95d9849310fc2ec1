package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/** Softmax, LogSoftmax and Hardmax against the interpreter: every float dtype, any axis, odd shapes, extremes, run-time shapes. */
class SoftmaxEmitterTest {
    private static final List<String> OPS = List.of("Softmax", "LogSoftmax", "Hardmax");
    private static final List<DType> FLOATS = List.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    @TempDir
    Path dir;

    @Test
    void everyDtypeAndAxis() {
        OpBatch b = new OpBatch("softmax_axes", 1);
        for (String op : OPS) {
            for (DType t : FLOATS) {
                b.node(op, List.of(b.input(t, 3, 4, 5)), Map.of());
                b.node(op, List.of(b.input(t, 3, 4, 5)), attrs("axis", 1L));
                b.node(op, List.of(b.input(t, 3, 4, 5)), attrs("axis", 0L));
                b.node(op, List.of(b.input(t, 2, 1, 3, 2, 1, 19)), attrs("axis", -3L));
            }
            b.node(op, List.of(b.input(DType.F32, 33)), Map.of());
            b.node(op, List.of(b.input(DType.F32, 4, 1)), Map.of());
            b.node(op, List.of(b.input(DType.F32, 0, 7)), attrs("axis", 1L));
            b.node(op, List.of(b.input(DType.F64, 3, 0)), attrs("axis", 1L));
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    /**
     * f32 rows of whole vectors, partial ones and both, contiguous (last axis) and strided (inner sizes around a
     * vector), in batches large enough for the threads to split; attention's masked scores (-inf) among them.
     */
    @Test
    void rowsOfEveryLengthContiguousAndStrided() {
        OpBatch b = new OpBatch("softmax_lengths", 4);
        for (String op : List.of("Softmax", "LogSoftmax")) {
            for (long n : new long[] {1, 7, 16, 17, 64, 129, 300}) {
                b.node(op, List.of(b.input(DType.F32, 300, n)), Map.of());
                b.node(op, List.of(b.input(DType.F32, 3, n, 33)), attrs("axis", 1L));
            }
            for (long inner : new long[] {2, 8, 16, 17, 40}) b.node(op, List.of(b.input(DType.F32, 2, 9, inner)), attrs("axis", 1L));
            double[] masked = new double[4 * 20];
            for (int i = 0; i < masked.length; i++) masked[i] = i % 20 > i / 20 * 5 ? Double.NEGATIVE_INFINITY : b.random().nextGaussian() * 3;
            b.node(op, List.of(b.input(DType.F32, new long[] {4, 20}, masked)), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void extremesAndTies() {
        OpBatch b = new OpBatch("softmax_extremes", 2);
        double inf = Double.POSITIVE_INFINITY;
        double[] rows = {1000, 1001, 999, -1000, 3, 3, 1, 3, Double.NaN, 1, 2, 0, -inf, -inf, -inf, -inf, -inf, 1, 2, -inf, inf, 1, 2, 3};
        for (String op : OPS) {
            for (DType t : FLOATS) b.node(op, List.of(b.input(t, new long[] {6, 4}, rows)), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void inputsOfRunTimeShapeThroughTheWholePipeline() {
        OpBatch b = new OpBatch("softmax_run_time", 3);
        Value k = b.input(DType.I64, new long[] {1}, 5);
        for (DType t : FLOATS) {
            Value x = b.node("TopK", List.of(b.input(t, 3, 7, 6), k), attrs("axis", 1L), 2).get(0);
            for (String op : OPS) {
                b.node(op, List.of(x), attrs("axis", 1L));
                b.node(op, List.of(x), Map.of());
            }
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }
}
