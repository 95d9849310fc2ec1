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
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** TopK against the interpreter: every numeric dtype, largest and smallest, ties by position, NaN and -0, k constant or run-time. */
class TopKEmitterTest {
    @TempDir
    Path dir;

    private static Value k(OpBatch b, long k) { return b.constant(DType.I64, new long[] {1}, k); }

    @Test
    void everyDtypeAxisAndOrder() {
        OpBatch b = new OpBatch("topk_dtypes", 1);
        int form = 0;
        for (DType t : ReductionEmitterTest.NUMERIC) {
            for (long largest : new long[] {0, 1}) {
                b.node("TopK", List.of(b.input(t, 3, 17, 2), k(b, 5)), attrs("axis", 1L, "largest", largest), 2);
                b.node("TopK", List.of(b.input(t, 4, 12), k(b, form++ % 2 == 0 ? 12 : 1)), attrs("largest", largest, "sorted", 0L), 2);
            }
        }
        b.node("TopK", List.of(b.input(DType.F32, 2, 3, 1, 2, 5, 3), k(b, 2)), attrs("axis", -2L), 2);
        b.node("TopK", List.of(b.input(DType.F32, 40), k(b, 0)), Map.of(), 2);
        b.node("TopK", List.of(b.input(DType.I32, 0, 6), k(b, 3)), Map.of(), 2);
        b.node("TopK", List.of(b.input(DType.I8, 5, 0), k(b, 0)), Map.of(), 2);
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void nanZerosAndExtremes() {
        OpBatch b = new OpBatch("topk_special", 2);
        double nan = Double.NaN;
        double inf = Double.POSITIVE_INFINITY;
        double[] row = {0, -0.0, nan, 1, -inf, inf, nan, -1, 0, 1, -0.0, inf};
        for (DType t : List.of(DType.F32, DType.F64, DType.F16, DType.BF16)) {
            for (long largest : new long[] {0, 1}) b.node("TopK", List.of(b.input(t, new long[] {12}, row), k(b, 9)), attrs("largest", largest), 2);
        }
        for (long largest : new long[] {0, 1}) {
            b.node("TopK", List.of(b.input(DType.I64, new long[] {5}, Long.MIN_VALUE, -1, Long.MAX_VALUE, 0, Long.MIN_VALUE), k(b, 4)), attrs("largest", largest), 2);
            b.node("TopK", List.of(b.input(DType.U64, new long[] {5}, -1, 0x1p63, 1, 0, -1), k(b, 3)), attrs("largest", largest), 2);
            b.node("TopK", List.of(b.input(DType.U8, new long[] {6}, 255, 0, 128, 127, 255, 1), k(b, 6)), attrs("largest", largest), 2);
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void kAndShapesKnownAtRunTime() {
        OpBatch b = new OpBatch("topk_run_time", 3);
        Value k = b.input(DType.I64, new long[] {1}, 3);
        Value five = b.input(DType.I64, new long[] {1}, 5);
        for (DType t : List.of(DType.F32, DType.I32, DType.F16)) {
            b.node("TopK", List.of(b.input(t, 4, 9, 3), k), attrs("axis", 1L), 2);
            Value x = b.node("TopK", List.of(b.input(t, 4, 9, 6), five), attrs("axis", 2L, "largest", 0L), 2).get(0);
            b.node("TopK", List.of(x, k), attrs("axis", 2L), 2);
            b.node("TopK", List.of(x, k(b, 2)), attrs("axis", 0L), 2);
        }
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void aKOutsideTheAxisFailsTheRun() {
        Graph g = new Graph("topk_bad_k");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 4));
        Value k = g.addInput("k", TensorType.of(DType.I64, 1));
        for (Value y : g.addNode("topk", "TopK", List.of(x, k), Map.of(), List.of("values", "indices")).outputs()) g.addOutput(y);
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            Tensor in = Tensor.ofFloats(new float[] {1, 4, 2, 3, 8, 6, 7, 5}, 2, 4);
            List<Tensor> got = m.run(List.of(in, Tensor.ofLongs(new long[] {2}, 1)));
            assertArrayEquals(new long[] {2, 2}, got.get(1).shape());
            assertArrayEquals(new long[] {1, 3, 0, 2}, got.get(1).toLongArray());
            for (long bad : new long[] {5, -1}) {
                Exception e = assertThrows(IllegalStateException.class, () -> m.run(List.of(in, Tensor.ofLongs(new long[] {bad}, 1))));
                assertTrue(e.getMessage().contains("K is outside [0, the size of axis 1]"), e.getMessage());
            }
        }
    }
}
