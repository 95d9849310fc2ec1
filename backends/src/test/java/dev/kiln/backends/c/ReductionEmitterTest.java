package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Reduce ops against the interpreter: every op and dtype, axes constant or read at run time, keepdims, noop, odd shapes. */
class ReductionEmitterTest {
    static final List<String> OPS = List.of("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
            "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare");
    static final List<DType> NUMERIC = List.of(DType.F32, DType.F64, DType.F16, DType.BF16, DType.I64, DType.I32, DType.I16, DType.I8,
            DType.U8, DType.U16, DType.U32, DType.U64);

    @TempDir
    Path dir;

    static Value axes(OpBatch b, long... axes) { return b.constant(DType.I64, new long[] {axes.length}, toDoubles(axes)); }

    static double[] toDoubles(long... values) {
        double[] d = new double[values.length];
        for (int i = 0; i < values.length; i++) d[i] = values[i];
        return d;
    }

    /** The dtypes an op's spec allows: Max and Min take bool as well. */
    static List<DType> dtypes(String op) {
        List<DType> t = new ArrayList<>(NUMERIC);
        if (op.equals("ReduceMax") || op.equals("ReduceMin")) t.add(DType.BOOL);
        return t;
    }

    /** Each op of each dtype once, the forms taking turns: a middle axis, outer and inner axes without keepdims, all axes. */
    @Test
    void everyOpAndDtype() {
        OpBatch b = new OpBatch("reduce_dtypes", 1);
        int form = 0;
        for (String op : OPS) {
            for (DType t : dtypes(op)) {
                switch (form++ % 3) {
                    case 0 -> b.node(op, List.of(b.input(t, 3, 4, 5), axes(b, 1)), Map.of());
                    case 1 -> b.node(op, List.of(b.input(t, 2, 3, 17), axes(b, 0, -1)), attrs("keepdims", 0L));
                    default -> b.node(op, List.of(b.input(t, 6, 7)), Map.of());
                }
            }
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    @Test
    void axesKeepdimsAndShapes() {
        OpBatch b = new OpBatch("reduce_axes", 2);
        for (String op : OPS) {
            DType t = op.equals("ReduceProd") ? DType.F64 : DType.F32;
            b.node(op, List.of(b.input(t, 2, 3, 4, 5), axes(b, 1, 3)), attrs("keepdims", 0L));
            b.node(op, List.of(b.input(t, 2, 3, 4, 5), axes(b, -2, 0)), Map.of());
            b.node(op, List.of(b.input(t, 2, 1, 3, 1, 2, 3), axes(b, 1, 2, 5)), attrs("keepdims", 0L));
            b.node(op, List.of(b.input(t, 37)), attrs("keepdims", 0L));
            b.node(op, List.of(b.input(t)), Map.of());
            b.node(op, List.of(b.input(t, 4, 0, 3), axes(b, 1)), Map.of());
            b.node(op, List.of(b.input(t, 0, 3), axes(b, 1)), attrs("keepdims", 0L));
            b.node(op, List.of(b.input(t, 3, 5), b.constant(DType.I64, new long[] {0})), attrs("noop_with_empty_axes", 1L));
            b.node(op, List.of(b.input(t, 3, 5), b.constant(DType.I64, new long[] {0})), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    @Test
    void nanInfinitiesAndWrapping() {
        OpBatch b = new OpBatch("reduce_special", 3);
        double nan = Double.NaN;
        double inf = Double.POSITIVE_INFINITY;
        double[] special = {1, nan, -2, 3, inf, 0, -inf, -inf, 4, 5, 6, 7};
        for (String op : OPS) {
            for (DType t : List.of(DType.F32, DType.F16, DType.F64)) {
                b.node(op, List.of(b.input(t, new long[] {4, 3}, special), axes(b, 1)), Map.of());
                b.node(op, List.of(b.input(t, new long[] {4, 3}, special), axes(b, 0)), Map.of());
            }
        }
        for (String op : List.of("ReduceSum", "ReduceProd", "ReduceSumSquare", "ReduceMean", "ReduceL1")) {
            b.node(op, List.of(b.input(DType.I8, new long[] {2, 3}, 127, 100, -128, -128, -128, 5), axes(b, 1)), Map.of());
            b.node(op, List.of(b.input(DType.I64, new long[] {3}, Long.MAX_VALUE, 2, Long.MIN_VALUE)), Map.of());
            b.node(op, List.of(b.input(DType.U64, new long[] {3}, -1, 3, 0x1p63)), Map.of());
        }
        b.node("ReduceL2", List.of(b.input(DType.I32, new long[] {2, 2}, 2e9, 2e9, 3, 4), axes(b, 1)), Map.of());
        b.node("ReduceLogSum", List.of(b.input(DType.I16, new long[] {4}, -3, 1, 1, 0)), Map.of());
        b.node("ReduceMin", List.of(b.input(DType.U64, new long[] {2}, -1, 0x1p63)), Map.of());
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    /** Long contiguous reduced runs (folded in partial accumulators) and contiguous kept runs (outputs folded together). */
    @Test
    void longRunsOfReducedAndKeptElements() {
        OpBatch b = new OpBatch("reduce_runs", 6);
        for (String op : OPS) {
            DType t = op.equals("ReduceProd") ? DType.F64 : DType.F32;
            b.node(op, List.of(b.input(t, 3, 40, 20), axes(b, 1, 2)), Map.of());
            b.node(op, List.of(b.input(t, 3, 40, 20), axes(b, 0)), attrs("keepdims", 0L));
            b.node(op, List.of(b.input(t, 70, 3), axes(b, 0)), Map.of());
            b.node(op, List.of(b.input(t, 2, 5, 3, 33), axes(b, 1, 3)), Map.of());
            DType other = op.equals("ReduceProd") || op.equals("ReduceLogSumExp") ? DType.F16 : DType.I32;
            b.node(op, List.of(b.input(other, 2, 50), axes(b, 1)), Map.of());
            b.node(op, List.of(b.input(other, 20, 19), axes(b, 0)), Map.of());
            // a NaN somewhere in most rows, and infinities
            double[] special = {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY};
            b.node(op, List.of(b.input(DType.F32, new long[] {5, 70}, () -> b.random().nextInt(60) == 0 ? special[b.random().nextInt(3)] : b.random().nextGaussian()),
                    axes(b, 1)), Map.of());
            b.node(op, List.of(b.input(DType.F64, new long[] {70, 5}, () -> b.random().nextInt(60) == 0 ? special[b.random().nextInt(3)] : b.random().nextGaussian()),
                    axes(b, 0)), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    /** Axes read at run time: the output dims follow from them (kept dims of 1 with keepdims, else a static rank). */
    @Test
    void axesReadAtRunTime() {
        OpBatch b = new OpBatch("reduce_run_time_axes", 4);
        for (String op : OPS) {
            DType t = op.equals("ReduceMax") ? DType.I32 : DType.F32;
            b.node(op, List.of(b.input(t, 3, 4, 5), b.input(DType.I64, new long[] {2}, 2, -3)), Map.of());
            b.node(op, List.of(b.input(t, 3, 4, 5), b.input(DType.I64, new long[] {1}, 1)), attrs("keepdims", 0L));
        }
        b.node("ReduceSum", List.of(b.input(DType.I16, 2, 3, 4, 5, 6), b.input(DType.I64, new long[] {3}, 4, 0, 2)), attrs("keepdims", 0L));
        b.node("ReduceMean", List.of(b.input(DType.BF16, 1, 6, 1), b.input(DType.I64, new long[] {1}, 1)), Map.of());
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    @Test
    void axesReadAtRunTimeAreChecked() {
        Graph g = new Graph("reduce_bad_axes");
        Value x = g.addInput("x", TensorType.of(DType.F32, 3, 4));
        Value a = g.addInput("axes", TensorType.of(DType.I64, 2));
        g.addOutput(NativeTesting.node(g, "sum", "ReduceSum", List.of(x, a), Map.of()));
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            Tensor in = Tensor.allocate(DType.F32, 3, 4);
            assertArrayEquals(new long[] {1, 1}, m.run(List.of(in, Tensor.ofLongs(new long[] {0, -1}, 2))).get(0).shape());
            Exception outside = assertThrows(IllegalStateException.class, () -> m.run(List.of(in, Tensor.ofLongs(new long[] {0, 2}, 2))));
            assertTrue(outside.getMessage().contains("an axis is outside the input's rank 2"), outside.getMessage());
            Exception twice = assertThrows(IllegalStateException.class, () -> m.run(List.of(in, Tensor.ofLongs(new long[] {1, -1}, 2))));
            assertTrue(twice.getMessage().contains("an axis is given more than once"), twice.getMessage());
        }
    }

    /** Inputs of run-time shape (TopK's values with a k read at run time), reduced over constant and run-time axes. */
    @Test
    void inputsOfRunTimeShape() {
        OpBatch b = new OpBatch("reduce_run_time_shapes", 5);
        Value k = b.input(DType.I64, new long[] {1}, 3);
        for (String op : OPS) {
            DType t = op.equals("ReduceSum") ? DType.I64 : DType.F64;
            Value x = b.node("TopK", List.of(b.input(t, 4, 6, 5), k), attrs("axis", 1L), 2).get(0);
            b.node(op, List.of(x, axes(b, 1)), attrs("keepdims", 0L));
            b.node(op, List.of(x, axes(b, 0, 2)), Map.of());
            b.node(op, List.of(x, b.input(DType.I64, new long[] {1}, -2)), Map.of());
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }
}
