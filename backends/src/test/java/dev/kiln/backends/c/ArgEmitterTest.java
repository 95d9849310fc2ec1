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
import java.util.List;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** ArgMax and ArgMin against the interpreter: every numeric dtype, axes, keepdims, select_last_index, ties and NaN. */
class ArgEmitterTest {
    @TempDir
    Path dir;

    @Test
    void everyDtypeAxisAndAttribute() {
        OpBatch b = new OpBatch("arg_dtypes", 1);
        int form = 0;
        for (String op : List.of("ArgMax", "ArgMin")) {
            for (DType t : ReductionEmitterTest.NUMERIC) {
                // values in [-5, 5] (or [0, 10]) along 13 elements tie often
                b.node(op, List.of(b.input(t, 3, 13, 2)), attrs("axis", 1L, "select_last_index", (long) (form % 2)));
                b.node(op, List.of(b.input(t, 13, 4)), attrs("keepdims", 0L, "select_last_index", (long) (form / 2 % 2)));
                b.node(op, List.of(b.input(t, 2, 3, 14)), attrs("axis", -1L, "keepdims", (long) (form % 2)));
                form++;
            }
        }
        b.node("ArgMax", List.of(b.input(DType.F32, 17)), attrs("keepdims", 0L));
        b.node("ArgMin", List.of(b.input(DType.I32, 2, 1, 3, 2, 1, 3)), attrs("axis", 3L));
        b.node("ArgMax", List.of(b.input(DType.F16, 4, 1)), attrs("axis", 1L, "keepdims", 0L));
        b.node("ArgMin", List.of(b.input(DType.F32, 0, 5)), attrs("axis", 1L));
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void nanCountsAsTheExtreme() {
        OpBatch b = new OpBatch("arg_nan", 2);
        double nan = Double.NaN;
        double[] rows = {1, nan, 3, nan, 2, 3, 3, 1, -1, -1, nan, nan, 0, -0.0, 0, 5, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, 5, -4};
        for (DType t : List.of(DType.F32, DType.F64, DType.F16, DType.BF16)) {
            for (String op : List.of("ArgMax", "ArgMin")) {
                for (long last : new long[] {0, 1}) {
                    b.node(op, List.of(b.input(t, new long[] {5, 4}, rows)), attrs("axis", 1L, "select_last_index", last));
                    b.node(op, List.of(b.input(t, new long[] {5, 4}, rows)), attrs("select_last_index", last));
                }
            }
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void inputsOfRunTimeShape() {
        OpBatch b = new OpBatch("arg_run_time", 3);
        Value k = b.input(DType.I64, new long[] {1}, 4);
        for (DType t : List.of(DType.F32, DType.I16, DType.U64)) {
            Value x = b.node("TopK", List.of(b.input(t, 3, 7, 5), k), attrs("axis", 1L, "largest", 0L), 2).get(0);
            b.node("ArgMax", List.of(x), attrs("axis", 1L));
            b.node("ArgMin", List.of(x), attrs("axis", 2L, "keepdims", 0L, "select_last_index", 1L));
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void anEmptyAxisFailsTheRun() {
        Graph g = new Graph("arg_empty");
        Value x = g.addInput("x", TensorType.of(DType.F32, 3, 0));
        NativeTesting.node(g, "argmax", "ArgMax", List.of(x), attrs("axis", 1L));
        g.addOutput(g.nodes().get(0).output(0));
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            Exception e = assertThrows(IllegalStateException.class, () -> m.run(List.of(Tensor.allocate(DType.F32, 3, 0))));
            assertTrue(e.getMessage().contains("cannot reduce over the empty axis 1"), e.getMessage());
        }
    }
}
