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
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CumSum and CumProd against the interpreter: every numeric dtype, exclusive and reverse, axes constant or run-time. */
class ScanEmitterTest {
    @TempDir
    Path dir;

    private static Value axis(OpBatch b, DType t, long axis) { return b.constant(t, new long[] {1}, axis); }

    @Test
    void everyDtypeAndAttribute() {
        OpBatch b = new OpBatch("scan_dtypes", 1);
        int form = 0;
        for (String op : List.of("CumSum", "CumProd")) {
            for (DType t : ReductionEmitterTest.NUMERIC) {
                Map<String, dev.kiln.ir.Attribute> a = attrs("exclusive", (long) (form % 2), "reverse", (long) (form / 2 % 2));
                b.node(op, List.of(b.input(t, 3, 5, 4), axis(b, DType.I64, 1)), a);
                b.node(op, List.of(b.input(t, 6, 7), axis(b, DType.I32, -1)), a);
                form++;
            }
        }
        for (long exclusive : new long[] {0, 1}) {
            for (long reverse : new long[] {0, 1}) {
                Map<String, dev.kiln.ir.Attribute> a = attrs("exclusive", exclusive, "reverse", reverse);
                b.node("CumSum", List.of(b.input(DType.F32, 2, 3, 1, 2, 5), axis(b, DType.I64, -4)), a);
                b.node("CumProd", List.of(b.input(DType.F64, 19), axis(b, DType.I32, 0)), a);
                b.node("CumSum", List.of(b.input(DType.I32, 3, 0), axis(b, DType.I64, 1)), a);
                b.node("CumProd", List.of(b.input(DType.I8, new long[] {1, 9}, 100, 3, -128, 7, 1, 2, 127, 127, 5), axis(b, DType.I64, 1)), a);
                b.node("CumSum", List.of(b.input(DType.U64, new long[] {3}, -1, 5, 0x1p63), axis(b, DType.I32, 0)), a);
            }
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    @Test
    void axisAndShapeKnownAtRunTime() {
        OpBatch b = new OpBatch("scan_run_time", 2);
        Value k = b.input(DType.I64, new long[] {1}, 2);
        for (DType t : List.of(DType.F32, DType.I64, DType.F16)) {
            b.node("CumSum", List.of(b.input(t, 3, 4, 5), b.input(DType.I64, new long[] {1}, 1)), attrs("reverse", 1L));
            b.node("CumProd", List.of(b.input(t, 3, 4, 5), b.input(DType.I32, new long[] {1}, -1)), attrs("exclusive", 1L));
            Value x = b.node("TopK", List.of(b.input(t, 4, 3, 5), k), attrs("axis", 1L), 2).get(0);
            b.node("CumSum", List.of(x, axis(b, DType.I64, 1)), Map.of());
            b.node("CumProd", List.of(x, b.input(DType.I64, new long[] {1}, 0)), attrs("reverse", 1L, "exclusive", 1L));
        }
        b.assertMatchesAsWritten(dir, 1e-6);
    }

    @Test
    void anAxisOutsideTheRankFailsTheRun() {
        Graph g = new Graph("scan_bad_axis");
        Value x = g.addInput("x", TensorType.of(DType.F32, 3, 4));
        Value a = g.addInput("axis", TensorType.of(DType.I64, 1));
        g.addOutput(NativeTesting.node(g, "cumsum", "CumSum", List.of(x, a), Map.of()));
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            Tensor in = Tensor.allocate(DType.F32, 3, 4);
            m.run(List.of(in, Tensor.ofLongs(new long[] {-2}, 1)));
            Exception e = assertThrows(IllegalStateException.class, () -> m.run(List.of(in, Tensor.ofLongs(new long[] {2}, 1))));
            assertTrue(e.getMessage().contains("the axis is outside the input's rank 2"), e.getMessage());
        }
    }
}
