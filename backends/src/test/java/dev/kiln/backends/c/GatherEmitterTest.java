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
import static dev.kiln.backends.c.OpBatch.attrs;

/** Gather, GatherElements and GatherND against the interpreter: every dtype, axes, batch dims, odd shapes. */
class GatherEmitterTest {
    private static final List<DType> ALL = List.of(DType.values());

    @TempDir
    Path dir;

    /** Indices in [-size, size) of the given dtype: negative ones count from the end. */
    static Value indices(OpBatch b, DType dtype, long size, long... shape) {
        return b.input(dtype, shape, () -> b.random().nextInt((int) (2 * size)) - size);
    }

    @Test
    void gatherEveryDtypeAxisAndRank() {
        OpBatch b = new OpBatch("gather", 1);
        for (DType t : ALL) {
            b.node("Gather", List.of(b.input(t, 5, 7), indices(b, DType.I64, 7, 3, 2)), attrs("axis", 1L));
            b.node("Gather", List.of(b.input(t, 6), indices(b, DType.I32, 6, 9)), Map.of());
        }
        b.node("Gather", List.of(b.input(DType.F32, 4, 3, 5), indices(b, DType.I64, 4)), Map.of());
        b.node("Gather", List.of(b.input(DType.F32, 4, 3, 5), indices(b, DType.I32, 5, 2, 2, 2)), attrs("axis", -1L));
        b.node("Gather", List.of(b.input(DType.I8, 2, 3, 1, 4, 2, 3), indices(b, DType.I64, 4, 17)), attrs("axis", 3L));
        b.node("Gather", List.of(b.input(DType.F16, 3, 0, 2), indices(b, DType.I64, 3, 4)), Map.of());
        b.node("Gather", List.of(b.input(DType.F64, 3, 4), b.input(DType.I64, new long[] {0})), attrs("axis", 1L));
        b.node("Gather", List.of(b.input(DType.BOOL, 3, 1, 4), b.input(DType.I64, new long[] {}, -1)), Map.of());
        b.node("Gather", List.of(b.input(DType.U32, 1, 33), indices(b, DType.I32, 33, 1)), attrs("axis", 1L));
        // embeddings: rows of constant tables picked by token ids, copied whole
        b.node("Gather", List.of(b.randomConstant(DType.F32, 96, 64), indices(b, DType.I64, 96, 1, 16)), Map.of());
        b.node("Gather", List.of(b.randomConstant(DType.F32, 10, 4), indices(b, DType.I64, 10, 8, 1)), Map.of());
        b.node("Gather", List.of(b.randomConstant(DType.F16, 7, 33), indices(b, DType.I32, 7, 2, 3, 5)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void gatherElementsEveryDtypeAndAxis() {
        OpBatch b = new OpBatch("gather_elements", 2);
        for (DType t : ALL) b.node("GatherElements", List.of(b.input(t, 4, 5), indices(b, DType.I64, 5, 3, 7)), attrs("axis", 1L));
        b.node("GatherElements", List.of(b.input(DType.F32, 4, 5), indices(b, DType.I32, 4, 6, 5)), Map.of());
        b.node("GatherElements", List.of(b.input(DType.I16, 3, 2, 4, 5, 2), indices(b, DType.I64, 4, 2, 1, 9, 3, 2)), attrs("axis", -3L));
        b.node("GatherElements", List.of(b.input(DType.U8, 17), indices(b, DType.I32, 17, 33)), Map.of());
        b.node("GatherElements", List.of(b.input(DType.F32, 3, 4), indices(b, DType.I64, 3, 0, 4)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void gatherNdTuplesSlicesAndBatchDims() {
        OpBatch b = new OpBatch("gather_nd", 3);
        for (DType t : ALL) b.node("GatherND", List.of(b.input(t, 3, 4), indices(b, DType.I64, 3, 5, 1)), Map.of());
        b.node("GatherND", List.of(b.input(DType.F32, 3, 4), b.input(DType.I64, new long[] {2, 2}, 0, -1, 2, 3)), Map.of());
        b.node("GatherND", List.of(b.input(DType.I32, 2, 3, 4, 5), b.input(DType.I32, new long[] {2, 2, 2}, 1, 2, 0, -3, 2, 0, 0, 3)),
                attrs("batch_dims", 1L));
        b.node("GatherND", List.of(b.input(DType.BF16, 2, 3, 4, 5), b.input(DType.I64, new long[] {2, 3, 1}, 1, 2, 0, -3, 3, -4)),
                attrs("batch_dims", 2L));
        b.node("GatherND", List.of(b.input(DType.U64, 2, 3), b.input(DType.I64, new long[] {4, 0})), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    /** A value of run-time shape: the rows of a random [rows, cols] input that a fixed condition keeps (4 of 6). */
    static Value runTimeRows(OpBatch b, Value rows) {
        return b.node("Compress", List.of(rows, b.input(DType.BOOL, new long[] {6}, 1, 0, 1, 1, 0, 1)), attrs("axis", 0L));
    }

    @Test
    void runTimeShapedDataAndIndices() {
        OpBatch b = new OpBatch("gather_run_time", 4);
        Value tuples = runTimeRows(b, indices(b, DType.I64, 4, 6, 2));
        b.node("GatherND", List.of(b.input(DType.F32, 4, 4, 3), tuples), Map.of());
        b.node("Gather", List.of(b.input(DType.I16, 4, 5), tuples), Map.of());
        b.node("GatherElements", List.of(b.input(DType.U8, 4, 2), tuples), Map.of());
        Value data = runTimeRows(b, b.input(DType.F64, 6, 3));
        b.node("Gather", List.of(data, b.input(DType.I32, new long[] {2}, 0, -1)), Map.of());
        b.node("Gather", List.of(data, b.input(DType.I64, new long[] {2}, 2, -1)), attrs("axis", 1L));
        b.node("GatherElements", List.of(data, b.input(DType.I64, new long[] {2, 3}, 0, -1, 3, 1, 2, -4)), Map.of());
        b.node("GatherND", List.of(data, b.input(DType.I64, new long[] {2, 2}, 3, 2, -4, 0)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void indicesOutOfRangeFailTheRun() {
        FailingRuns f = new FailingRuns("gather_failures");
        Value data = f.input(Tensor.allocate(DType.F32, 4, 3));
        f.node("Gather", List.of(data, f.input(longs(DType.I64, new long[] {2}, 1, -4), longs(DType.I64, new long[] {2}, 1, 4),
                "node gather_0 (Gather): index 4 is out of range for a dimension of size 4")), Map.of());
        f.node("Gather", List.of(data, f.input(longs(DType.I32, new long[] {3}, 2, 0, 0), longs(DType.I32, new long[] {3}, 2, 0, -4),
                "index -4 is out of range for a dimension of size 3")), attrs("axis", 1L));
        f.node("GatherElements", List.of(data, f.input(longs(DType.I64, new long[] {1, 2}, 2, 2), longs(DType.I64, new long[] {1, 2}, 2, 5),
                "node gatherelements_2 (GatherElements): index 5")), attrs("axis", 0L));
        f.node("GatherND", List.of(data, f.input(longs(DType.I64, new long[] {2, 2}, 3, 2, 0, 0), longs(DType.I64, new long[] {2, 2}, 3, 2, 0, -5),
                "node gathernd_3 (GatherND): index -5 is out of range for a dimension of size 3")), Map.of());
        f.assertEachFails(dir);
    }

    @Test
    void layoutsOtherThanPlainAreRefused() {
        OpBatch b = new OpBatch("gather_refused", 5);
        Value x = b.graph().addInput("blocked", new dev.kiln.ir.TensorType(DType.F32, dev.kiln.ir.Shape.of(1, 2, 2, 16),
                dev.kiln.ir.Layout.of("NHWC")));
        b.node("Gather", List.of(x, b.input(DType.I64, new long[] {1}, 0)), Map.of());
        b.assertRefused(dir, "Gather (layout NHWC)");
    }
}
