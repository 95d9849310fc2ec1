package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static dev.kiln.backends.c.ShapeTesting.ALL;
import static dev.kiln.backends.c.ShapeTesting.i64;
import static dev.kiln.backends.c.ShapeTesting.longs;
import static dev.kiln.backends.c.ShapeTesting.runtimeLongs;
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pad in its four modes and CenterCropPad, of every dtype, with constant and run-time pads, against the interpreter. */
class PadEmitterTest {
    private static final List<String> MODES = List.of("constant", "reflect", "edge", "wrap");

    @TempDir
    Path dir;

    @Test
    void everyModeAndDtype() {
        OpBatch b = new OpBatch("pads", 31);
        for (DType t : ALL) {
            Value x = b.input(t, 3, 4);
            for (String mode : MODES) {
                b.node("Pad", List.of(x, longs(b, 1, 2, 2, 3)), attrs("mode", mode));
                b.node("Pad", List.of(x, longs(b, -1, 2, 0, -2)), attrs("mode", mode));
            }
            b.node("Pad", List.of(x, longs(b, 1, 0, 0, 1), b.constant(t, new long[0], 1)), attrs());
            b.node("Pad", List.of(x, longs(b, 0, 1, 1, 0), b.input(t, new long[0], 1)), attrs());
            b.node("CenterCropPad", List.of(x, longs(b, 2, 7)), attrs());
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void padsAxesAndValuesReadAtRunTime() {
        OpBatch b = new OpBatch("runtime pads", 32);
        Value x = b.input(DType.F32, 2, 3, 5);
        for (String mode : MODES) {
            b.node("Pad", List.of(x, runtimeLongs(b, 0, 4, 1, 1, 7, 0)), attrs("mode", mode));
            b.node("Pad", Arrays.asList(x, longs(b, 2, -1, 3, 4), null, runtimeLongs(b, -1, 0)), attrs("mode", mode));
            b.node("Pad", Arrays.asList(x, runtimeLongs(b, 6, 0), null, longs(b, 2)), attrs("mode", mode));
            b.node("Pad", List.of(runtimeShaped(b, x), longs(b, 1, 1, 1, 1, 1, 1)), attrs("mode", mode));
        }
        b.node("Pad", List.of(x, runtimeLongs(b, 1, 0, 0, 1, 0, 0), b.input(DType.F32, new long[] {1}, 2.5)), attrs());
        b.node("Pad", List.of(x, longs(b, 1, 0, 0, 0, 0, 2), b.input(DType.F32, 0L)), attrs());
        b.node("Pad", List.of(b.input(DType.I64, 0, 3), runtimeLongs(b, 1, 1, 2, 0)), attrs());
        b.node("Pad", List.of(b.input(DType.U8, 1, 2, 1, 3, 2), longs(b, 0, 1, 2, 0, 1, 1, 0, 0, 1, 3)), attrs("mode", "reflect"));
        b.node("Pad", List.of(b.input(DType.F16, 17), longs(b, 20, 33)), attrs("mode", "wrap"));
        b.node("Pad", List.of(b.input(DType.BF16), longs(b)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void centerCropPadInEachForm() {
        OpBatch b = new OpBatch("center crop pad", 33);
        Value image = b.input(DType.U8, 5, 6, 3);
        b.node("CenterCropPad", List.of(image, longs(b, 3, 9)), attrs("axes", new long[] {0, 1}));
        b.node("CenterCropPad", List.of(image, longs(b, 4, 4)), attrs("axes", new long[] {-3, -2}));
        b.node("CenterCropPad", List.of(image, longs(b, 8, 1, 3)), attrs());
        b.node("CenterCropPad", List.of(image, runtimeLongs(b, 2, 10, 3)), attrs());
        b.node("CenterCropPad", List.of(runtimeShaped(b, image), longs(b, 6)), attrs("axes", new long[] {0}));
        b.node("CenterCropPad", List.of(b.input(DType.F64, 7), runtimeLongs(b, 0)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void badPadsFailTheRun() {
        FailingRuns f = new FailingRuns("pad_failures");
        f.node("Pad", List.of(f.input(Tensor.allocate(DType.F32, 3, 2)), f.input(i64(0, 1, 0, 1), i64(0, -2, 0, -1), "pads remove more than the axis holds")), attrs());
        f.node("Pad", List.of(f.input(Tensor.allocate(DType.U16, 3, 0)), f.input(i64(1, 0, 0, 0), i64(0, 1, 0, 0), "cannot pad an empty axis")),
                attrs("mode", "reflect"));
        f.node("CenterCropPad", List.of(f.input(Tensor.allocate(DType.I8, 4)), f.input(i64(2), i64(-1), "invalid size -1")), attrs());
        f.assertEachFails(dir);
    }

    @Test
    void staticPadOfAnEmptyAxisFailsEveryRun() {
        OpBatch b = new OpBatch("static edge pad of an empty axis", 36);
        b.node("Pad", List.of(b.input(DType.I8, 3, 0), longs(b, 0, 1, 0, 0)), attrs("mode", "edge"));
        NativeTesting.Compiled c = NativeTesting.planAndCompile(b.graph(), dir);
        assertThrows(RuntimeException.class, () -> new Interpreter(b.graph()).run(Map.of("in0", Tensor.allocate(DType.I8, 3, 0))));
        try (NativeModel m = c.load(1)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(List.of(Tensor.allocate(DType.I8, 3, 0))));
            assertTrue(e.getMessage().contains("cannot pad an empty axis in mode edge"), e.getMessage());
        }
    }
}
