package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.backends.c.ShapeTesting.ALL;
import static dev.kiln.backends.c.ShapeTesting.i64;
import static dev.kiln.backends.c.ShapeTesting.longs;
import static dev.kiln.backends.c.ShapeTesting.runtimeLongs;
import static dev.kiln.backends.c.ShapeTesting.runtimeScalar;
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;

/** Trilu and ReverseSequence of every dtype, with constant and run-time k and lengths, against the interpreter. */
class RowEmitterTest {
    @TempDir
    Path dir;

    @Test
    void triluOfEveryDtype() {
        OpBatch b = new OpBatch("trilu", 41);
        for (DType t : ALL) {
            Value x = b.input(t, 2, 4, 5);
            b.node("Trilu", List.of(x), attrs());
            b.node("Trilu", List.of(x), attrs("upper", 0L));
            b.node("Trilu", List.of(x, b.constant(DType.I64, new long[0], -1)), attrs());
            b.node("Trilu", List.of(x, runtimeScalar(b, DType.I64, 2)), attrs("upper", 0L));
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void triluDiagonalsAndShapes() {
        OpBatch b = new OpBatch("trilu forms", 42);
        Value square = b.input(DType.F32, 5, 5);
        for (long k : new long[] {-7, -5, -1, 0, 1, 4, 5, 9, Long.MAX_VALUE, Long.MIN_VALUE}) {
            b.node("Trilu", List.of(square, runtimeScalar(b, DType.I64, k)), attrs("upper", 1L));
            b.node("Trilu", List.of(square, b.constant(DType.I64, new long[0], k)), attrs("upper", 0L));
        }
        b.node("Trilu", List.of(b.input(DType.I32, 1, 6)), attrs());
        b.node("Trilu", List.of(b.input(DType.I32, 6, 1)), attrs("upper", 0L));
        b.node("Trilu", List.of(b.input(DType.U16, 3, 0, 4)), attrs());
        b.node("Trilu", List.of(b.input(DType.F64, 2, 1, 3, 1, 17, 19), longs(b, 3)), attrs());
        b.node("Trilu", List.of(runtimeShaped(b, b.input(DType.I8, 3, 4, 2)), runtimeScalar(b, DType.I64, -1)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void reverseSequenceInEachForm() {
        OpBatch b = new OpBatch("reverse sequence", 43);
        for (DType t : ALL) {
            Value timeMajor = b.input(t, 4, 3, 2);
            b.node("ReverseSequence", List.of(timeMajor, longs(b, 4, 0, 2)), attrs());
            b.node("ReverseSequence", List.of(b.input(t, 3, 4), runtimeLongs(b, 1, 4, 3)), attrs("batch_axis", 0L, "time_axis", 1L));
        }
        b.node("ReverseSequence", List.of(b.input(DType.F32, 5, 2, 3, 1, 2), runtimeLongs(b, 5, 1)), attrs());
        b.node("ReverseSequence", List.of(runtimeShaped(b, b.input(DType.I64, 3, 4, 5)), longs(b, 2, 0, 4)), attrs("batch_axis", 0L, "time_axis", 1L));
        b.node("ReverseSequence", List.of(b.input(DType.U32, 2, 0), b.input(DType.I32, 0L)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void badLengthsFailTheRun() {
        FailingRuns f = new FailingRuns("row_failures");
        f.node("ReverseSequence", List.of(f.input(Tensor.allocate(DType.F32, 3, 2)), f.input(i64(1, 3), i64(1, 4), "sequence length out of range: 4")), attrs());
        f.node("ReverseSequence", List.of(f.input(Tensor.allocate(DType.BOOL, 3, 2)), f.input(i64(0, 2), i64(-1, 2), "sequence length out of range: -1")), attrs());
        f.assertEachFails(dir);
    }
}
