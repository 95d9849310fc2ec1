package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleSupplier;

import static dev.kiln.backends.c.FailingRuns.longs;
import static dev.kiln.backends.c.GatherEmitterTest.runTimeRows;
import static dev.kiln.backends.c.OpBatch.attrs;

/** NonZero, Unique, Compress and OneHot against the interpreter: outputs sized at run time, every dtype, odd shapes. */
class SelectionEmitterTest {
    @TempDir
    Path dir;

    /** Few distinct values, zeros and repeats among them; floats also -0, +0 and NaN. */
    private static DoubleSupplier fewValues(OpBatch b, DType t) {
        double[] floats = {0.0, -0.0, 1.5, -2, Double.NaN, 1.5, 3};
        return () -> t.isFloatingPoint() ? floats[b.random().nextInt(floats.length)] : b.random().nextInt(3) - (t.isUnsignedInteger() ? 0 : 1);
    }

    private static Value few(OpBatch b, DType t, long... shape) { return b.input(t, shape, fewValues(b, t)); }

    @Test
    void nonZeroEveryDtypeAndRank() {
        OpBatch b = new OpBatch("nonzero", 21);
        for (DType t : DType.values()) b.node("NonZero", List.of(few(b, t, 3, 5)), Map.of());
        b.node("NonZero", List.of(few(b, DType.F32)), Map.of());
        b.node("NonZero", List.of(few(b, DType.I32, 17)), Map.of());
        b.node("NonZero", List.of(few(b, DType.F16, 2, 1, 3, 2, 2, 3)), Map.of());
        b.node("NonZero", List.of(few(b, DType.U8, 3, 0, 2)), Map.of());
        b.node("NonZero", List.of(b.input(DType.BOOL, new long[] {4}, 0, 0, 0, 0)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void compressEveryDtypeAxisAndConditionLength() {
        OpBatch b = new OpBatch("compress", 22);
        for (DType t : DType.values()) {
            b.node("Compress", List.of(b.input(t, 4, 3), b.input(DType.BOOL, 4)), attrs("axis", 0L));
            b.node("Compress", List.of(b.input(t, 4, 3), b.input(DType.BOOL, 7)), Map.of());
        }
        b.node("Compress", List.of(b.input(DType.F32, 2, 5, 3), b.input(DType.BOOL, new long[] {7}, 1, 0, 1, 1, 0, 0, 0)), attrs("axis", 1L));
        b.node("Compress", List.of(b.input(DType.I16, 2, 5, 3), b.input(DType.BOOL, new long[] {2}, 0, 1)), attrs("axis", -1L));
        b.node("Compress", List.of(b.input(DType.F64, 2, 1, 3, 2, 4), b.input(DType.BOOL, 4)), attrs("axis", 4L));
        b.node("Compress", List.of(b.input(DType.U8, 3, 0), b.input(DType.BOOL, 3)), attrs("axis", 0L));
        // a constant condition: the output's shape is static
        b.node("Compress", List.of(b.input(DType.F32, 3, 4), b.constant(DType.BOOL, new long[] {4}, 1, 0, 0, 1)), attrs("axis", 1L));
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void uniqueEveryDtypeAxisAndOrder() {
        OpBatch b = new OpBatch("unique", 23);
        for (DType t : DType.values()) {
            b.node("Unique", List.of(few(b, t, 4, 5)), Map.of(), 4);
            b.node("Unique", List.of(few(b, t, 6, 2)), attrs("axis", 0L, "sorted", 0L), 4);
        }
        b.node("Unique", List.of(few(b, DType.F32, 23)), attrs("sorted", 0L), 4);
        b.node("Unique", List.of(few(b, DType.I64, 2, 7, 2)), attrs("axis", 1L), 4);
        b.node("Unique", List.of(few(b, DType.I8, 2, 7, 2)), attrs("axis", -1L, "sorted", 0L), 2);
        b.node("Unique", List.of(few(b, DType.F16, 2, 1, 2, 3, 2)), Map.of(), 1);
        b.node("Unique", List.of(few(b, DType.U16)), Map.of(), 3);
        b.node("Unique", List.of(few(b, DType.F32, 3, 0)), Map.of(), 4);
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void oneHotDepthConstantOrReadAtRunTime() {
        OpBatch b = new OpBatch("onehot", 24);
        for (DType t : DType.values()) {
            Value values = b.input(t, 2);
            b.node("OneHot", List.of(GatherEmitterTest.indices(b, DType.I64, 6, 2, 3), b.constant(DType.I64, new long[] {}, 5), values), Map.of());
        }
        for (DType it : List.of(DType.I32, DType.F32, DType.U8, DType.F16, DType.I8, DType.F64)) {
            Value indices = b.input(it, new long[] {7}, () -> b.random().nextInt(12) - (it.isUnsignedInteger() ? 0 : 6) + (it.isFloatingPoint() ? 0.7 : 0));
            b.node("OneHot", List.of(indices, b.input(DType.I64, new long[] {1}, 4), b.input(DType.F32, 2)), attrs("axis", 0L));
        }
        for (DType dt : List.of(DType.I32, DType.F32, DType.F16, DType.U64)) {
            b.node("OneHot", List.of(GatherEmitterTest.indices(b, DType.I32, 4, 3, 2, 2), b.input(dt, new long[] {}, 3.9), b.input(DType.I8, 2)),
                    attrs("axis", 1L));
        }
        b.node("OneHot", List.of(GatherEmitterTest.indices(b, DType.I64, 20, 2, 3, 2), b.constant(DType.F32, new long[] {1}, 17), b.input(DType.BF16, 2)),
                attrs("axis", -2L));
        b.node("OneHot", List.of(b.input(DType.I64, 0, 3), b.constant(DType.I32, new long[] {}, 4), b.input(DType.BOOL, 2)), Map.of());
        b.node("OneHot", List.of(GatherEmitterTest.indices(b, DType.I64, 3, 5), b.constant(DType.F16, new long[] {1}, 3), b.input(DType.U8, 2)), Map.of());
        b.node("OneHot", List.of(b.input(DType.I64, new long[] {}, 2), b.constant(DType.I32, new long[] {}, 3), b.input(DType.U32, 2)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void runTimeShapedInputs() {
        OpBatch b = new OpBatch("selection_run_time", 25);
        b.node("NonZero", List.of(runTimeRows(b, few(b, DType.F32, 6, 3))), Map.of());
        b.node("Unique", List.of(runTimeRows(b, few(b, DType.I32, 6, 3))), attrs("axis", 0L), 4);
        b.node("Unique", List.of(runTimeRows(b, few(b, DType.F64, 6, 3))), attrs("sorted", 0L), 4);
        b.node("Compress", List.of(runTimeRows(b, b.input(DType.U16, 6, 3)), b.input(DType.BOOL, 3)), attrs("axis", 1L));
        b.node("Compress", List.of(b.input(DType.F32, 5), runTimeRows(b, b.input(DType.BOOL, 6))), Map.of());
        b.node("OneHot", List.of(runTimeRows(b, GatherEmitterTest.indices(b, DType.I64, 5, 6, 2)), b.constant(DType.I64, new long[] {}, 5),
                b.input(DType.F32, 2)), attrs("axis", 1L));
        b.node("OneHot", List.of(runTimeRows(b, GatherEmitterTest.indices(b, DType.I32, 5, 6)), b.input(DType.I32, new long[] {1}, 3),
                b.input(DType.I64, 2)), Map.of());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void badConditionsAndDepthsFailTheRun() {
        FailingRuns f = new FailingRuns("selection_failures");
        Value x = f.input(Tensor.allocate(DType.F32, 4, 3));
        boolean[] fine = {true, false, true, false, false};
        boolean[] past = {true, false, true, false, true};
        f.node("Compress", List.of(x, f.input(Tensor.ofBooleans(fine, 5), Tensor.ofBooleans(past, 5),
                "node compress_0 (Compress): index 4 is out of range for a dimension of size 4")), attrs("axis", 0L));
        f.node("OneHot", List.of(f.input(longs(DType.I64, new long[] {3}, 0, 1, 2)), f.input(longs(DType.I64, new long[] {}, 3),
                longs(DType.I64, new long[] {}, 0), "node onehot_1 (OneHot): depth must be positive, got 0"), f.input(Tensor.allocate(DType.F32, 2))), Map.of());
        f.assertEachFails(dir);
    }

    @Test
    void layoutsOtherThanPlainAreRefused() {
        OpBatch b = new OpBatch("selection_refused", 26);
        Value x = b.graph().addInput("blocked", new dev.kiln.ir.TensorType(DType.F32, dev.kiln.ir.Shape.of(1, 1, 2, 2, 16), dev.kiln.ir.Layout.of("NCHW16c")));
        b.node("NonZero", List.of(x), Map.of());
        b.assertRefused(dir, "NonZero (layout NCHW16c)");
    }
}
