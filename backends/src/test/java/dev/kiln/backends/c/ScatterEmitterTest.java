package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.FailingRuns.longs;
import static dev.kiln.backends.c.GatherEmitterTest.indices;
import static dev.kiln.backends.c.GatherEmitterTest.runTimeRows;
import static dev.kiln.backends.c.OpBatch.attrs;

/** ScatterElements, ScatterND and TensorScatter against the interpreter: every dtype and reduction, duplicates, odd shapes. */
class ScatterEmitterTest {
    private static final List<String> REDUCTIONS = List.of("none", "add", "mul", "max", "min");

    @TempDir
    Path dir;

    @Test
    void scatterElementsEveryDtypeAndReduction() {
        OpBatch b = new OpBatch("scatter_elements", 11);
        for (DType t : DType.values()) {
            for (String r : REDUCTIONS) {
                // 3 x 5 updates onto 4 rows: indices repeat, so the order of the updates shows
                b.node("ScatterElements", List.of(b.input(t, 4, 5), indices(b, DType.I64, 4, 3, 5), b.input(t, 3, 5)), attrs("reduction", r));
            }
        }
        b.node("ScatterElements", List.of(b.input(DType.F32, 4, 5), indices(b, DType.I32, 5, 2, 7), b.input(DType.F32, 2, 7)),
                attrs("axis", 1L, "reduction", "add"));
        b.node("ScatterElements", List.of(b.input(DType.I32, 3, 2, 4, 1, 5), indices(b, DType.I64, 5, 2, 2, 3, 1, 9),
                b.input(DType.I32, 2, 2, 3, 1, 9)), attrs("axis", -1L));
        b.node("ScatterElements", List.of(b.input(DType.F16, 19), indices(b, DType.I32, 19, 40), b.input(DType.F16, 40)), attrs("reduction", "max"));
        b.node("ScatterElements", List.of(b.input(DType.F32, 3, 4), indices(b, DType.I64, 3, 0, 4), b.input(DType.F32, 0, 4)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void scatterNdEveryDtypeReductionAndSlice() {
        OpBatch b = new OpBatch("scatter_nd", 12);
        for (DType t : DType.values()) {
            for (String r : REDUCTIONS) {
                b.node("ScatterND", List.of(b.input(t, 4, 3), indices(b, DType.I64, 4, 6, 1), b.input(t, 6, 3)), attrs("reduction", r));
            }
        }
        b.node("ScatterND", List.of(b.input(DType.F32, 4, 3), b.input(DType.I32, new long[] {3, 2}, 0, 0, -1, 2, 0, 0), b.input(DType.F32, 3)),
                attrs("reduction", "mul"));
        b.node("ScatterND", List.of(b.input(DType.U16, 2, 3, 2, 2, 3), indices(b, DType.I64, 2, 4, 2, 1), b.input(DType.U16, 4, 2, 3, 2, 2, 3)),
                attrs("reduction", "add"));
        b.node("ScatterND", List.of(b.input(DType.F64, 2, 3), b.input(DType.I64, new long[] {2, 0}), b.input(DType.F64, 2, 2, 3)),
                attrs("reduction", "add"));
        b.node("ScatterND", List.of(b.input(DType.I8, 5), b.input(DType.I64, new long[] {0, 1}), b.input(DType.I8, 0)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void tensorScatterLinearAndCircular() {
        OpBatch b = new OpBatch("tensor_scatter", 13);
        for (DType t : DType.values()) {
            b.node("TensorScatter", List.of(b.input(t, 2, 3, 6, 4), b.input(t, 2, 3, 2, 4), b.input(DType.I64, new long[] {2}, 4, 1)), Map.of());
        }
        b.node("TensorScatter", List.of(b.input(DType.F32, 3, 7, 5), b.input(DType.F32, 3, 4, 5), b.input(DType.I64, new long[] {3}, 5, -9, 30)),
                attrs("mode", "circular"));
        b.node("TensorScatter", List.of(b.input(DType.I16, 2, 2, 5), b.input(DType.I16, 2, 2, 3)), attrs("axis", 2L));
        b.node("TensorScatter", List.of(b.input(DType.BF16, 2, 4, 3, 2, 3), b.input(DType.BF16, 2, 4, 3, 2, 2), b.input(DType.I64, new long[] {2}, 1, 4)),
                attrs("axis", -1L, "mode", "circular"));
        b.node("TensorScatter", List.of(b.input(DType.U8, 2, 6, 4), b.input(DType.U8, 2, 0, 4), b.input(DType.I64, new long[] {2}, 6, 2)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void runTimeShapedDataIndicesAndUpdates() {
        OpBatch b = new OpBatch("scatter_run_time", 14);
        b.node("ScatterND", List.of(b.input(DType.F32, 4, 3), runTimeRows(b, indices(b, DType.I64, 4, 6, 1)), runTimeRows(b, b.input(DType.F32, 6, 3))),
                attrs("reduction", "add"));
        b.node("ScatterElements", List.of(runTimeRows(b, b.input(DType.I32, 6, 3)), runTimeRows(b, indices(b, DType.I64, 3, 6, 3)),
                runTimeRows(b, b.input(DType.I32, 6, 3))), attrs("axis", 1L, "reduction", "mul"));
        b.node("ScatterElements", List.of(runTimeRows(b, b.input(DType.F16, 6, 3)), b.input(DType.I64, new long[] {1, 2}, 3, -1),
                b.input(DType.F16, 1, 2)), Map.of());
        b.node("TensorScatter", List.of(runTimeRows(b, b.input(DType.U8, 6, 5, 3)), b.input(DType.U8, 4, 2, 3),
                b.input(DType.I64, new long[] {4}, 0, 3, 1, 2)), attrs("axis", 1L));
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void indicesOutOfRangeFailTheRun() {
        FailingRuns f = new FailingRuns("scatter_failures");
        Value data = f.input(Tensor.allocate(DType.F32, 4, 3));
        f.node("ScatterElements", List.of(data, f.input(longs(DType.I64, new long[] {1, 2}, 1, -4), longs(DType.I64, new long[] {1, 2}, 1, 4),
                "node scatterelements_0 (ScatterElements): index 4"), f.input(Tensor.allocate(DType.F32, 1, 2))), attrs("reduction", "add"));
        f.node("ScatterND", List.of(data, f.input(longs(DType.I32, new long[] {2, 1}, 3, 0), longs(DType.I32, new long[] {2, 1}, 3, -7),
                "node scatternd_1 (ScatterND): index -7 is out of range for a dimension of size 4"), f.input(Tensor.allocate(DType.F32, 2, 3))), Map.of());
        Value cache = f.input(Tensor.allocate(DType.I8, 2, 5, 3));
        Value update = f.input(Tensor.allocate(DType.I8, 2, 2, 3));
        f.node("TensorScatter", List.of(cache, update, f.input(longs(DType.I64, new long[] {2}, 3, 0), longs(DType.I64, new long[] {2}, 4, 0),
                "node tensorscatter_2 (TensorScatter): index 5 is out of range for a dimension of size 5")), attrs("axis", 1L));
        f.node("TensorScatter", List.of(cache, update, f.input(longs(DType.I64, new long[] {2}, 3, 0), longs(DType.I64, new long[] {2}, 3, -1),
                "index -1")), attrs("axis", 1L));
        f.assertEachFails(dir);
    }

    @Test
    void unknownReductionsAreRefused() {
        OpBatch b = new OpBatch("scatter_refused", 15);
        b.node("ScatterElements", List.of(b.input(DType.F32, 4), indices(b, DType.I64, 4, 2), b.input(DType.F32, 2)), attrs("reduction", "mean"));
        b.assertRefused(dir, "ScatterElements (reduction mean)");
    }
}
