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
import static dev.kiln.backends.c.ShapeTesting.runtimeShaped;

/**
 * Transpose, Slice, Expand, Tile, DepthToSpace and SpaceToDepth of every dtype, with constant and run-time
 * parameters and inputs of static and run-time shape, against the interpreter.
 */
class CopyEmitterTest {
    private static final long MAX = Long.MAX_VALUE;
    private static final long MIN = Long.MIN_VALUE;

    @TempDir
    Path dir;

    @Test
    void everyDtypeWithStaticShapes() {
        OpBatch b = new OpBatch("copies", 21);
        for (DType t : ALL) {
            Value x = b.input(t, 2, 3, 4);
            b.node("Transpose", List.of(x), attrs("perm", new long[] {1, 2, 0}));
            b.node("Transpose", List.of(x), attrs());
            b.node("Slice", List.of(x, longs(b, 1, -1), longs(b, MAX, 0), longs(b, 2, 1), longs(b, -2, -1)), attrs());
            b.node("Expand", List.of(b.input(t, 3, 1), longs(b, 2, 1, 5)), attrs());
            b.node("Tile", List.of(x, longs(b, 2, 1, 3)), attrs());
            Value image = b.input(t, 1, 8, 2, 3);
            b.node("DepthToSpace", List.of(image), attrs("blocksize", 2L));
            b.node("DepthToSpace", List.of(image), attrs("blocksize", 2L, "mode", "CRD"));
            b.node("SpaceToDepth", List.of(b.input(t, 2, 3, 4, 6)), attrs("blocksize", 2L));
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void transposeOfOddShapes() {
        OpBatch b = new OpBatch("transposes", 22);
        b.node("Transpose", List.of(b.input(DType.F32)), attrs());
        b.node("Transpose", List.of(b.input(DType.I8, 17)), attrs());
        Value six = b.input(DType.F16, 2, 1, 3, 5, 1, 17);
        b.node("Transpose", List.of(six), attrs("perm", new long[] {5, 3, 0, 1, 4, 2}));
        b.node("Transpose", List.of(six), attrs("perm", new long[] {0, 1, 2, 3, 5, 4}));
        b.node("Transpose", List.of(six), attrs("perm", new long[] {-1, 0, 1, 2, 3, 4}));
        b.node("Transpose", List.of(b.input(DType.U32, 3, 0, 2)), attrs("perm", new long[] {2, 0, 1}));
        b.node("Transpose", List.of(b.input(DType.F64, 33, 19)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    /**
     * Transposes whose last two loops transpose a matrix (tiled copies): a detection head's [anchors x values, h, w]
     * to [h, w, anchors, values], a channel shuffle, window partitions, NCHW to NHWC, every element width, tiles cut
     * by odd sizes, slices and broadcasts that walk the same way.
     */
    @Test
    void tiledTransposes() {
        OpBatch b = new OpBatch("tiled", 23);
        for (DType t : List.of(DType.F32, DType.U8, DType.F16, DType.I64)) {
            b.node("Transpose", List.of(b.input(t, 1, 9, 10, 17, 15)), attrs("perm", new long[] {0, 3, 4, 1, 2}));
            b.node("Transpose", List.of(b.input(t, 2, 37, 33)), attrs("perm", new long[] {0, 2, 1}));
        }
        b.node("Transpose", List.of(b.input(DType.F32, 1, 2, 24, 7, 7)), attrs("perm", new long[] {0, 2, 1, 3, 4}));
        b.node("Transpose", List.of(b.input(DType.F32, 1, 4, 4, 4, 4, 32)), attrs("perm", new long[] {0, 1, 3, 2, 4, 5}));
        b.node("Transpose", List.of(b.input(DType.F32, 3, 16, 5, 6)), attrs("perm", new long[] {0, 2, 3, 1}));
        b.node("Transpose", List.of(b.input(DType.F32, 5, 3)), attrs());
        Value wide = b.input(DType.F32, 40, 18);
        b.node("Slice", List.of(b.node("Transpose", List.of(wide), attrs()), b.constant(DType.I64, new long[] {2}, 1, 30),
                b.constant(DType.I64, new long[] {2}, 17, 2), b.constant(DType.I64, new long[] {2}, 0, 1), b.constant(DType.I64, new long[] {2}, 1, -3)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void sliceClampsAsTheInterpreter() {
        OpBatch b = new OpBatch("slices", 23);
        Value x = b.input(DType.I32, 5, 7, 6);
        long[][] cases = { // starts, ends, steps on axes 0 and 2
                {0, 0, MAX, MAX, 1, 1}, {-100, 100, 100, -100, 1, -1}, {4, -1, MIN, 0, -1, -2}, {-1, 5, -6, 2, -3, 3},
                {3, 3, 3, 2, 1, 1}, {MAX, MIN, MIN, MAX, -1, 1}, {1, 0, 4, 6, 1000, -1000}, {2, 5, 0, 3, -1000, 7}};
        for (long[] c : cases) {
            b.node("Slice", List.of(x, longs(b, c[0], c[1]), longs(b, c[2], c[3]), longs(b, 0, -1), longs(b, c[4], c[5])), attrs());
            b.node("Slice", List.of(x, runtimeLongs(b, c[0], c[1]), runtimeLongs(b, c[2], c[3]), runtimeLongs(b, 0, -1), runtimeLongs(b, c[4], c[5])), attrs());
        }
        b.node("Slice", List.of(x, longs(b, 1), longs(b, 3)), attrs());
        b.node("Slice", List.of(x, runtimeLongs(b, 1, 2), runtimeLongs(b, 3, 7)), attrs());
        b.node("Slice", List.of(x, longs(b, 1), runtimeLongs(b, -1), longs(b, 1)), attrs());
        Value i32 = b.input(DType.I32, new long[] {2}, 0, -2);
        b.node("Slice", List.of(b.input(DType.BF16, 3, 0, 4), i32, longs(b, 3, MAX), longs(b, 0, 2)), attrs());
        b.node("Slice", List.of(b.input(DType.U8, 2, 3, 1, 4, 2, 3), longs(b, 1, -1), longs(b, 0, -4), longs(b, 1, 5), longs(b, -1, -1)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void expandAndTileInEachForm() {
        OpBatch b = new OpBatch("expand and tile", 24);
        for (DType t : List.of(DType.F32, DType.F64, DType.I16, DType.BOOL)) {
            Value x = b.input(t, 3, 1);
            b.node("Expand", List.of(x, runtimeLongs(b, 2, 1, 4)), attrs());
            b.node("Expand", List.of(x, longs(b, 1)), attrs());
            b.node("Expand", List.of(x, runtimeLongs(b, 3, 0)), attrs());
            b.node("Expand", List.of(b.input(t), longs(b, 2, 3)), attrs());
            b.node("Tile", List.of(x, runtimeLongs(b, 2, 5)), attrs());
            b.node("Tile", List.of(x, longs(b, 0, 2)), attrs());
            b.node("Tile", List.of(b.input(t, 17), runtimeLongs(b, 3)), attrs());
        }
        b.node("Expand", List.of(b.input(DType.U16, 2, 1, 3, 1, 1), longs(b, 4, 1, 5, 3, 2, 1)), attrs());
        b.node("Tile", List.of(b.input(DType.I8, 1, 2, 1, 3, 1), longs(b, 2, 1, 3, 1, 2)), attrs());
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void inputsOfRunTimeShape() {
        OpBatch b = new OpBatch("copies of runtime shapes", 25);
        for (DType t : List.of(DType.F32, DType.I64, DType.U8, DType.F16)) {
            Value x = runtimeShaped(b, b.input(t, 2, 4, 2, 6));
            b.node("Transpose", List.of(x), attrs("perm", new long[] {0, 3, 1, 2}));
            b.node("Slice", List.of(x, longs(b, 1, -1), longs(b, 4, 0), longs(b, 1, 3), longs(b, 2, -2)), attrs());
            b.node("Expand", List.of(x, longs(b, 3, 1, 1, 1, 1)), attrs());
            b.node("Tile", List.of(x, longs(b, 1, 2, 1, 2)), attrs());
            b.node("DepthToSpace", List.of(x), attrs("blocksize", 2L));
            b.node("DepthToSpace", List.of(x), attrs("blocksize", 2L, "mode", "CRD"));
            b.node("SpaceToDepth", List.of(x), attrs("blocksize", 2L));
        }
        b.assertMatchesAsWritten(dir, 0);
    }

    @Test
    void badParametersFailTheRun() {
        FailingRuns f = new FailingRuns("copy_failures");
        Value x = f.input(Tensor.allocate(DType.F32, 3, 2));
        f.node("Expand", List.of(x, f.input(i64(3, 2), i64(3, 4), "node expand_0 (Expand): cannot expand")), attrs());
        f.node("Tile", List.of(x, f.input(i64(1, 2), i64(1, -2), "node tile_1 (Tile): negative repeat -2")), attrs());
        f.node("Slice", List.of(x, f.input(i64(0)), f.input(i64(1)), f.input(i64(0), i64(2), "axis out of range"), f.input(i64(1), i64(0), "step 0")), attrs());
        f.assertEachFails(dir);
    }
}
