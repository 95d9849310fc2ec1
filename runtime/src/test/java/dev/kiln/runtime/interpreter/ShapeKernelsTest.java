package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.runtime.HalfFloats;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.OneNodeGraphs.OneNode;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ShapeKernelsTest {

    private static Tensor floats(float[] v, long... shape) { return Tensor.ofFloats(v, shape); }

    private static Tensor longs(long... v) { return Tensor.ofLongs(v, v.length); }

    private static Tensor scalar(long v) { return Tensor.ofLongs(new long[] {v}); }

    private static Tensor iota(int n, long... shape) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = i;
        return floats(v, shape);
    }

    private static Map<String, Attribute> attrs(Object... kv) {
        Map<String, Attribute> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            Attribute a;
            if (v instanceof Integer n) a = Attribute.of((long) n);
            else if (v instanceof String str) a = Attribute.of(str);
            else if (v instanceof long[] list) a = Attribute.of(list);
            else throw new IllegalArgumentException("attribute value " + v);
            m.put((String) kv[i], a);
        }
        return m;
    }

    // ---- Reshape, Flatten, Squeeze, Unsqueeze ----

    @Test
    void reshapeCopiesZerosAndInfersMinusOneStatically() {
        OneNode n = new OneNode().input(iota(24, 2, 3, 4)).constant(longs(0, -1));
        Tensor y = n.run("Reshape", Map.of());
        assertEquals(Shape.of(2, 12), n.inferred(0));
        assertArrayEquals(new long[] {2, 12}, y.shape());
        assertArrayEquals(iota(24, 24).toFloatArray(), y.toFloatArray());
    }

    @Test
    void reshapeAllowZeroKeepsZeroSizes() {
        OneNode n = new OneNode().input(Tensor.allocate(DType.F32, 0, 3)).constant(longs(3, 0));
        Tensor y = n.run("Reshape", attrs("allowzero", 1));
        assertEquals(Shape.of(3, 0), n.inferred(0));
        assertArrayEquals(new long[] {3, 0}, y.shape());
    }

    @Test
    void reshapeByRuntimeShapeHasTheRankOfTheShapeInput() {
        OneNode n = new OneNode().input(iota(24, 2, 3, 4)).input(longs(4, -1));
        Tensor y = n.run("Reshape", Map.of());
        assertEquals(2, n.inferred(0).rank());
        assertFalse(n.inferred(0).dim(0).isStatic());
        assertArrayEquals(new long[] {4, 6}, y.shape());
    }

    @Test
    void reshapeRejectsAMismatchedShape() {
        OneNode n = new OneNode().input(iota(6, 2, 3)).constant(longs(4, 2));
        assertThrows(IrException.class, () -> n.run("Reshape", Map.of()));
    }

    @Test
    void flattenAtNegativeAndZeroAxis() {
        assertArrayEquals(new long[] {6, 4}, new OneNode().input(iota(24, 2, 3, 4)).run("Flatten", attrs("axis", -1)).shape());
        assertArrayEquals(new long[] {1, 24}, new OneNode().input(iota(24, 2, 3, 4)).run("Flatten", attrs("axis", 0)).shape());
    }

    @Test
    void squeezeAllOnesAndUnsqueezeNegativeAxes() {
        OneNode squeeze = new OneNode().input(iota(3, 1, 3, 1));
        assertArrayEquals(new long[] {3}, squeeze.run("Squeeze", Map.of()).shape());
        assertEquals(Shape.of(3), squeeze.inferred(0));
        OneNode unsqueeze = new OneNode().input(iota(3, 3)).constant(longs(-1, 0));
        Tensor y = unsqueeze.run("Unsqueeze", Map.of());
        assertEquals(Shape.of(1, 3, 1), unsqueeze.inferred(0));
        assertArrayEquals(new float[] {0, 1, 2}, y.toFloatArray());
    }

    @Test
    void squeezeOfASizeOtherThanOneFails() {
        OneNode n = new OneNode().input(iota(6, 2, 3)).constant(longs(0));
        assertThrows(IrException.class, () -> n.run("Squeeze", Map.of()));
    }

    // ---- Transpose, Concat, Split, Slice ----

    @Test
    void transposeReversesByDefaultForAnyDtype() {
        Tensor x = Tensor.allocate(DType.I8, 2, 3);
        for (int i = 0; i < 6; i++) x.setLong(i, i + 1);
        Tensor y = new OneNode().input(x).run("Transpose", Map.of());
        assertEquals(DType.I8, y.dtype());
        assertArrayEquals(new long[] {1, 4, 2, 5, 3, 6}, y.toLongArray());
    }

    @Test
    void transposeWithPerm() {
        Tensor y = new OneNode().input(iota(24, 2, 3, 4)).run("Transpose", attrs("perm", new long[] {1, 0, 2}));
        assertArrayEquals(new long[] {3, 2, 4}, y.shape());
        assertArrayEquals(new float[] {0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23},
                y.toFloatArray());
    }

    @Test
    void concatAlongAxisOne() {
        Tensor a = Tensor.ofInts(new int[] {1, 2}, 2, 1);
        Tensor b = Tensor.ofInts(new int[] {3, 4, 5, 6}, 2, 2);
        OneNode n = new OneNode().input(a).input(b);
        Tensor y = n.run("Concat", attrs("axis", -1));
        assertEquals(Shape.of(2, 3), n.inferred(0));
        assertArrayEquals(new long[] {1, 3, 4, 2, 5, 6}, y.toLongArray());
    }

    @Test
    void splitUnevenlyByNumOutputsAndBySizes() {
        List<Tensor> parts = new OneNode().input(iota(7, 7)).run("Split", attrs("num_outputs", 3), 3);
        assertArrayEquals(new float[] {0, 1, 2}, parts.get(0).toFloatArray());
        assertArrayEquals(new float[] {3, 4, 5}, parts.get(1).toFloatArray());
        assertArrayEquals(new float[] {6}, parts.get(2).toFloatArray());
        OneNode n = new OneNode().input(iota(12, 2, 6)).constant(longs(2, 4));
        List<Tensor> bySize = n.run("Split", attrs("axis", 1), 2);
        assertEquals(Shape.of(2, 4), n.inferred(1));
        assertArrayEquals(new float[] {0, 1, 6, 7}, bySize.get(0).toFloatArray());
        assertArrayEquals(new float[] {2, 3, 4, 5, 8, 9, 10, 11}, bySize.get(1).toFloatArray());
    }

    @Test
    void sliceWithNegativeStepsAndClampedBounds() {
        OneNode n = new OneNode().input(iota(12, 3, 4)).constant(longs(-1, 10)).constant(longs(Long.MIN_VALUE, -100))
                .constant(longs(0, 1)).constant(longs(-1, -2));
        Tensor y = n.run("Slice", Map.of());
        assertEquals(Shape.of(3, 2), n.inferred(0));
        assertArrayEquals(new float[] {11, 9, 7, 5, 3, 1}, y.toFloatArray());
    }

    @Test
    void sliceOfRuntimeBoundsOnNegativeAxis() {
        OneNode n = new OneNode().input(iota(12, 3, 4)).input(longs(1)).input(longs(1000)).constant(longs(-1));
        Tensor y = n.run("Slice", Map.of());
        assertTrue(n.inferred(0).dim(0).isStatic());
        assertFalse(n.inferred(0).dim(1).isStatic());
        assertArrayEquals(new float[] {1, 2, 3, 5, 6, 7, 9, 10, 11}, y.toFloatArray());
    }

    // ---- Gather, GatherElements, GatherND ----

    @Test
    void gatherWithNegativeIndicesOnBothAxes() {
        Tensor data = floats(new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        Tensor rows = new OneNode().input(data).input(Tensor.ofLongs(new long[] {-1, 0}, 1, 2)).run("Gather", Map.of());
        assertArrayEquals(new long[] {1, 2, 2}, rows.shape());
        assertArrayEquals(new float[] {5, 6, 1, 2}, rows.toFloatArray());
        Tensor columns = new OneNode().input(data).input(Tensor.ofInts(new int[] {1}, 1)).run("Gather", attrs("axis", 1));
        assertArrayEquals(new long[] {3, 1}, columns.shape());
        assertArrayEquals(new float[] {2, 4, 6}, columns.toFloatArray());
    }

    @Test
    void gatherOutOfRangeFails() {
        OneNode n = new OneNode().input(iota(3, 3)).input(longs(3));
        assertThrows(InterpreterException.class, () -> n.run("Gather", Map.of()));
    }

    @Test
    void gatherElementsAlongAxisOne() {
        Tensor y = new OneNode().input(floats(new float[] {1, 2, 3, 4}, 2, 2))
                .input(Tensor.ofLongs(new long[] {0, 0, 1, -2}, 2, 2)).run("GatherElements", attrs("axis", 1));
        assertArrayEquals(new float[] {1, 1, 4, 3}, y.toFloatArray());
    }

    @Test
    void gatherNdWithBatchDims() {
        OneNode n = new OneNode().input(Tensor.ofInts(new int[] {0, 1, 2, 3, 4, 5, 6, 7}, 2, 2, 2))
                .input(Tensor.ofLongs(new long[] {1, 0}, 2, 1));
        Tensor y = n.run("GatherND", attrs("batch_dims", 1));
        assertEquals(Shape.of(2, 2), n.inferred(0));
        assertArrayEquals(new long[] {2, 3, 4, 5}, y.toLongArray());
    }

    // ---- ScatterND, ScatterElements ----

    @Test
    void scatterNdAddAndMulWithDuplicates() {
        Tensor data = Tensor.ofLongs(new long[] {1, 2, 3, 4, 5, 6, 7, 8}, 8);
        Tensor indices = Tensor.ofLongs(new long[] {4, 3, 1, 7}, 4, 1);
        Tensor updates = Tensor.ofLongs(new long[] {9, 10, 11, 12}, 4);
        Tensor added = new OneNode().input(data).input(indices).input(updates).run("ScatterND", attrs("reduction", "add"));
        assertArrayEquals(new long[] {1, 13, 3, 14, 14, 6, 7, 20}, added.toLongArray());
        Tensor twice = Tensor.ofLongs(new long[] {-1, -1}, 2, 1);
        Tensor multiplied = new OneNode().input(data).input(twice).input(Tensor.ofLongs(new long[] {2, 3}, 2))
                .run("ScatterND", attrs("reduction", "mul"));
        assertArrayEquals(new long[] {1, 2, 3, 4, 5, 6, 7, 48}, multiplied.toLongArray());
        assertArrayEquals(new long[] {1, 2, 3, 4, 5, 6, 7, 8}, data.toLongArray(), "the input stays untouched");
    }

    @Test
    void scatterNdReplacesSlices() {
        Tensor y = new OneNode().input(iota(6, 3, 2)).input(Tensor.ofLongs(new long[] {2}, 1, 1))
                .input(floats(new float[] {-1, -2}, 1, 2)).run("ScatterND", Map.of());
        assertArrayEquals(new float[] {0, 1, 2, 3, -1, -2}, y.toFloatArray());
    }

    @Test
    void scatterElementsMaxAndNoneWithNegativeIndices() {
        Tensor data = floats(new float[] {1, 2, 3, 4, 5}, 1, 5);
        Tensor max = new OneNode().input(data).input(Tensor.ofLongs(new long[] {1, 1}, 1, 2))
                .input(floats(new float[] {1.5f, 2.5f}, 1, 2)).run("ScatterElements", attrs("axis", 1, "reduction", "max"));
        assertArrayEquals(new float[] {1, 2.5f, 3, 4, 5}, max.toFloatArray());
        Tensor none = new OneNode().input(data).input(Tensor.ofLongs(new long[] {-1, 0}, 1, 2))
                .input(floats(new float[] {9, 8}, 1, 2)).run("ScatterElements", attrs("axis", 1));
        assertArrayEquals(new float[] {8, 2, 3, 4, 9}, none.toFloatArray());
    }

    @Test
    void scatterMaxComparesU64Unsigned() {
        Tensor data = Tensor.allocate(DType.U64, 1);
        data.setLong(0, 1);
        Tensor updates = Tensor.allocate(DType.U64, 1);
        updates.setLong(0, -1L);
        Tensor y = new OneNode().input(data).input(Tensor.ofLongs(new long[] {0}, 1, 1)).input(updates)
                .run("ScatterND", attrs("reduction", "max"));
        assertEquals(-1L, y.getLong(0));
    }

    // ---- Expand, Tile, Pad ----

    @Test
    void expandBroadcastsBothWays() {
        OneNode n = new OneNode().input(floats(new float[] {1, 2, 3}, 3, 1)).constant(longs(2, 1, 2));
        Tensor y = n.run("Expand", Map.of());
        assertEquals(Shape.of(2, 3, 2), n.inferred(0));
        assertArrayEquals(new float[] {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, y.toFloatArray());
    }

    @Test
    void tileRepeatsEachAxis() {
        OneNode n = new OneNode().input(floats(new float[] {1, 2, 3, 4}, 2, 2)).constant(longs(1, 2));
        Tensor y = n.run("Tile", Map.of());
        assertEquals(Shape.of(2, 4), n.inferred(0));
        assertArrayEquals(new float[] {1, 2, 1, 2, 3, 4, 3, 4}, y.toFloatArray());
    }

    @Test
    void padModes() {
        Tensor x = floats(new float[] {1, 2, 3}, 3);
        assertArrayEquals(new float[] {1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3},
                new OneNode().input(x).constant(longs(4, 4)).run("Pad", attrs("mode", "reflect")).toFloatArray());
        assertArrayEquals(new float[] {2, 3, 1, 2, 3, 1, 2, 3, 1},
                new OneNode().input(x).constant(longs(2, 4)).run("Pad", attrs("mode", "wrap")).toFloatArray());
        assertArrayEquals(new float[] {1, 1, 1, 2, 3, 3},
                new OneNode().input(x).constant(longs(2, 1)).run("Pad", attrs("mode", "edge")).toFloatArray());
        assertArrayEquals(new float[] {7, 1, 2, 3, 7, 7},
                new OneNode().input(x).constant(longs(1, 2)).constant(floats(new float[] {7}))
                        .run("Pad", Map.of()).toFloatArray());
        assertArrayEquals(new float[] {7, 1, 2, 3},
                new OneNode().input(x).constant(longs(1, 0)).constant(floats(new float[] {7}))
                        .run("Pad", Map.of()).toFloatArray());
    }

    @Test
    void padWithNegativePadsAndAxes() {
        OneNode n = new OneNode().input(iota(6, 2, 3)).constant(longs(-1, 1)).constant(floats(new float[] {9}))
                .constant(longs(-1));
        Tensor y = n.run("Pad", Map.of());
        assertEquals(Shape.of(2, 3), n.inferred(0));
        assertArrayEquals(new float[] {1, 2, 9, 4, 5, 9}, y.toFloatArray());
    }

    // ---- Shape, Size, ConstantOfShape, Range, EyeLike ----

    @Test
    void shapeSliceAndSize() {
        Tensor x = iota(24, 2, 3, 4);
        assertArrayEquals(new long[] {3}, new OneNode().input(x).run("Shape", attrs("start", 1, "end", -1)).toLongArray());
        assertArrayEquals(new long[] {}, new OneNode().input(x).run("Shape", attrs("start", 2, "end", 1)).toLongArray());
        Tensor size = new OneNode().input(x).run("Size", Map.of());
        assertEquals(0, size.rank());
        assertEquals(24, size.getLong(0));
    }

    @Test
    void constantOfShapeTakesTheValueTensorsDtype() {
        ByteBuffer seven = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(0, 7);
        Attribute value = new Attribute.Tensor(TensorType.of(DType.I32, 1), seven);
        OneNode n = new OneNode().constant(longs(2, 2));
        Tensor y = n.run("ConstantOfShape", Map.of("value", value));
        assertEquals(DType.I32, y.dtype());
        assertEquals(Shape.of(2, 2), n.inferred(0));
        assertArrayEquals(new long[] {7, 7, 7, 7}, y.toLongArray());
        Tensor zeros = new OneNode().input(longs(3)).run("ConstantOfShape", Map.of());
        assertEquals(DType.F32, zeros.dtype());
        assertArrayEquals(new float[] {0, 0, 0}, zeros.toFloatArray());
    }

    @Test
    void rangeCountsUpAndDown() {
        OneNode ints = new OneNode().constant(Tensor.ofInts(new int[] {10})).constant(Tensor.ofInts(new int[] {4}))
                .constant(Tensor.ofInts(new int[] {-2}));
        Tensor down = ints.run("Range", Map.of());
        assertEquals(Shape.of(3), ints.inferred(0));
        assertArrayEquals(new long[] {10, 8, 6}, down.toLongArray());
        Tensor up = new OneNode().input(Tensor.ofFloats(new float[] {1})).input(Tensor.ofFloats(new float[] {2}))
                .input(Tensor.ofFloats(new float[] {0.25f})).run("Range", Map.of());
        assertArrayEquals(new float[] {1, 1.25f, 1.5f, 1.75f}, up.toFloatArray());
    }

    @Test
    void rangeInHalfPrecision() {
        Tensor start = Tensor.allocate(DType.F16);
        Tensor limit = Tensor.allocate(DType.F16);
        Tensor delta = Tensor.allocate(DType.F16);
        start.setDouble(0, 1);
        limit.setDouble(0, 2);
        delta.setDouble(0, 0.5);
        Tensor y = new OneNode().input(start).input(limit).input(delta).run("Range", Map.of());
        assertEquals(DType.F16, y.dtype());
        assertEquals(HalfFloats.floatToHalf(1.5f), y.data().getShort(2));
    }

    @Test
    void eyeLikeWithDtypeAndOffset() {
        Tensor y = new OneNode().input(iota(12, 3, 4)).run("EyeLike", attrs("dtype", 7, "k", 1));
        assertEquals(DType.I64, y.dtype());
        assertArrayEquals(new long[] {0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, y.toLongArray());
    }

    // ---- DepthToSpace, SpaceToDepth ----

    @Test
    void depthToSpaceInBothModes() {
        Tensor x = iota(32, 1, 8, 2, 2);
        OneNode dcr = new OneNode().input(x);
        Tensor y = dcr.run("DepthToSpace", attrs("blocksize", 2));
        assertEquals(Shape.of(1, 2, 4, 4), dcr.inferred(0));
        assertArrayEquals(new float[] {0, 8, 1, 9, 16, 24, 17, 25, 2, 10, 3, 11, 18, 26, 19, 27,
                4, 12, 5, 13, 20, 28, 21, 29, 6, 14, 7, 15, 22, 30, 23, 31}, y.toFloatArray());
        Tensor crd = new OneNode().input(x).run("DepthToSpace", attrs("blocksize", 2, "mode", "CRD"));
        assertArrayEquals(new float[] {0, 4, 1, 5, 8, 12, 9, 13, 2, 6, 3, 7, 10, 14, 11, 15,
                16, 20, 17, 21, 24, 28, 25, 29, 18, 22, 19, 23, 26, 30, 27, 31}, crd.toFloatArray());
    }

    @Test
    void spaceToDepthMovesBlocksToChannels() {
        Tensor y = new OneNode().input(iota(16, 1, 1, 4, 4)).run("SpaceToDepth", attrs("blocksize", 2));
        assertArrayEquals(new long[] {1, 4, 2, 2}, y.shape());
        assertArrayEquals(new float[] {0, 2, 8, 10, 1, 3, 9, 11, 4, 6, 12, 14, 5, 7, 13, 15}, y.toFloatArray());
    }

    // ---- Resize ----

    private static final float[] FOUR_BY_FOUR = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    private static Tensor resizeByScales(Tensor x, float[] scales, Map<String, Attribute> attrs) {
        return new OneNode().input(x).omitted().constant(floats(scales, scales.length)).run("Resize", attrs);
    }

    @Test
    void resizeNearestUpsample() {
        Tensor y = resizeByScales(floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2), new float[] {1, 1, 2, 3}, Map.of());
        assertArrayEquals(new long[] {1, 1, 4, 6}, y.shape());
        assertArrayEquals(new float[] {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}, y.toFloatArray());
    }

    @Test
    void resizeLinearUpAndDown() {
        Tensor up = resizeByScales(floats(new float[] {1, 2, 3, 4}, 1, 1, 2, 2), new float[] {1, 1, 2, 2}, attrs("mode", "linear"));
        assertArrayEquals(new float[] {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4},
                up.toFloatArray(), 1e-6f);
        Tensor down = resizeByScales(floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, 2, 4), new float[] {1, 1, 0.6f, 0.6f},
                attrs("mode", "linear"));
        assertArrayEquals(new long[] {1, 1, 1, 2}, down.shape());
        assertArrayEquals(new float[] {2.6666665f, 4.3333331f}, down.toFloatArray(), 1e-6f);
    }

    @Test
    void resizeCubicAndAntialias() {
        Tensor x = floats(FOUR_BY_FOUR, 1, 1, 4, 4);
        Tensor cubic = resizeByScales(x, new float[] {1, 1, 0.8f, 0.8f}, attrs("mode", "cubic"));
        assertArrayEquals(new float[] {1.47119141f, 2.78125f, 4.08251953f, 6.71142578f, 8.02148438f, 9.32275391f,
                11.91650391f, 13.2265625f, 14.52783203f}, cubic.toFloatArray(), 1e-5f);
        Tensor antialias = resizeByScales(x, new float[] {1, 1, 0.6f, 0.6f}, attrs("mode", "linear", "antialias", 1));
        assertArrayEquals(new float[] {2.875f, 4.5f, 9.375f, 11}, antialias.toFloatArray(), 1e-5f);
    }

    @Test
    void resizeTfCropAndResizeWithRoi() {
        OneNode n = new OneNode().input(floats(FOUR_BY_FOUR, 1, 1, 4, 4))
                .constant(floats(new float[] {0, 0, 0.4f, 0.6f, 1, 1, 0.6f, 0.8f}, 8)).omitted().constant(longs(1, 1, 3, 3));
        Tensor y = n.run("Resize", attrs("mode", "linear", "coordinate_transformation_mode", "tf_crop_and_resize"));
        assertEquals(Shape.of(1, 1, 3, 3), n.inferred(0));
        assertArrayEquals(new float[] {7.6000004f, 7.9f, 8.2f, 8.8f, 9.1f, 9.400001f, 10, 10.3f, 10.6f}, y.toFloatArray(), 1e-5f);
    }

    @Test
    void resizeSizesOnAxesKeepingTheAspectRatio() {
        OneNode n = new OneNode().input(floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 1, 2, 4)).omitted().omitted()
                .constant(longs(1, 3));
        Tensor y = n.run("Resize", attrs("axes", new long[] {2, 3}, "keep_aspect_ratio_policy", "not_larger"));
        assertEquals(Shape.of(1, 1, 1, 2), n.inferred(0));
        assertArrayEquals(new float[] {1, 3}, y.toFloatArray());
    }

    @Test
    void resizeNearestOfIntegersIsExact() {
        Tensor x = Tensor.allocate(DType.I64, 1, 2);
        x.setLong(0, Long.MAX_VALUE);
        x.setLong(1, -3);
        Tensor y = resizeByScales(x, new float[] {1, 2}, attrs("coordinate_transformation_mode", "asymmetric", "nearest_mode", "floor"));
        assertArrayEquals(new long[] {Long.MAX_VALUE, Long.MAX_VALUE, -3, -3}, y.toLongArray());
    }

    // ---- Trilu, OneHot, NonZero, Compress ----

    @Test
    void triluUpperAndLowerWithK() {
        Tensor x = floats(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3);
        assertArrayEquals(new float[] {0, 2, 3, 0, 0, 6, 0, 0, 0},
                new OneNode().input(x).constant(scalar(1)).run("Trilu", Map.of()).toFloatArray());
        assertArrayEquals(new float[] {0, 0, 0, 4, 0, 0, 7, 8, 0},
                new OneNode().input(x).input(scalar(-1)).run("Trilu", attrs("upper", 0)).toFloatArray());
    }

    @Test
    void oneHotWithNegativeAndOutOfRangeIndices() {
        Tensor indices = Tensor.ofLongs(new long[] {0, -1, 5}, 3);
        OneNode last = new OneNode().input(indices).constant(Tensor.ofFloats(new float[] {3})).input(floats(new float[] {0, 1}, 2));
        Tensor y = last.run("OneHot", Map.of());
        assertEquals(Shape.of(3, 3), last.inferred(0));
        assertArrayEquals(new float[] {1, 0, 0, 0, 0, 1, 0, 0, 0}, y.toFloatArray());
        Tensor first = new OneNode().input(indices).input(scalar(3)).input(Tensor.ofInts(new int[] {-1, 7}, 2))
                .run("OneHot", attrs("axis", 0));
        assertEquals(DType.I32, first.dtype());
        assertArrayEquals(new long[] {7, -1, -1, -1, -1, -1, -1, 7, -1}, first.toLongArray());
    }

    @Test
    void nonZeroListsCoordinatesInRowMajorOrder() {
        OneNode n = new OneNode().input(Tensor.ofBooleans(new boolean[] {true, false, true, true}, 2, 2));
        Tensor y = n.run("NonZero", Map.of());
        assertEquals(2, n.inferred(0).rank());
        assertFalse(n.inferred(0).dim(1).isStatic());
        assertArrayEquals(new long[] {0, 1, 1, 0, 0, 1}, y.toLongArray());
    }

    @Test
    void compressAlongAnAxisAndFlattened() {
        Tensor x = floats(new float[] {1, 2, 3, 4, 5, 6}, 3, 2);
        OneNode n = new OneNode().input(x).constant(Tensor.ofBooleans(new boolean[] {false, true, true}, 3));
        Tensor rows = n.run("Compress", attrs("axis", 0));
        assertEquals(Shape.of(2, 2), n.inferred(0));
        assertArrayEquals(new float[] {3, 4, 5, 6}, rows.toFloatArray());
        Tensor flat = new OneNode().input(x).input(Tensor.ofBooleans(new boolean[] {false, true, false, false, true}, 5))
                .run("Compress", Map.of());
        assertArrayEquals(new float[] {2, 5}, flat.toFloatArray());
    }

    // ---- CenterCropPad, ReverseSequence, TensorScatter, Unique ----

    @Test
    void centerCropPadCropsAndPadsAroundTheCentre() {
        Tensor x = floats(new float[] {1, 2, 3, 4, 5}, 5);
        assertArrayEquals(new float[] {2, 3, 4}, new OneNode().input(x).constant(longs(3)).run("CenterCropPad", Map.of()).toFloatArray());
        OneNode pad = new OneNode().input(x).constant(longs(8));
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 5, 0, 0}, pad.run("CenterCropPad", Map.of()).toFloatArray());
        assertEquals(Shape.of(8), pad.inferred(0));
        Tensor rows = new OneNode().input(iota(12, 4, 3)).constant(longs(2)).run("CenterCropPad", attrs("axes", new long[] {-2}));
        assertArrayEquals(new float[] {3, 4, 5, 6, 7, 8}, rows.toFloatArray());
    }

    @Test
    void reverseSequenceReversesEachBatchEntrysPrefix() {
        Tensor y = new OneNode().input(iota(16, 4, 4)).input(longs(1, 2, 3, 4))
                .run("ReverseSequence", attrs("batch_axis", 0, "time_axis", 1));
        assertArrayEquals(new float[] {0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12}, y.toFloatArray());
    }

    @Test
    void tensorScatterWritesAtEachBatchEntrysIndexCircularly() {
        Tensor y = new OneNode().input(Tensor.allocate(DType.F32, 2, 4, 1)).input(floats(new float[] {1, 2, 3, 4}, 2, 2, 1))
                .input(longs(1, 3)).run("TensorScatter", attrs("mode", "circular"));
        assertArrayEquals(new float[] {0, 1, 2, 0, 4, 0, 0, 3}, y.toFloatArray());
    }

    @Test
    void uniqueInOrderOfFirstOccurrence() {
        OneNode n = new OneNode().input(Tensor.ofLongs(new long[] {2, 1, 1, 3, 4, 3}, 6));
        List<Tensor> out = n.run("Unique", attrs("sorted", 0), 4);
        assertArrayEquals(new long[] {2, 1, 3, 4}, out.get(0).toLongArray());
        assertArrayEquals(new long[] {0, 1, 3, 4}, out.get(1).toLongArray());
        assertArrayEquals(new long[] {0, 1, 1, 2, 3, 2}, out.get(2).toLongArray());
        assertArrayEquals(new long[] {1, 2, 2, 1}, out.get(3).toLongArray());
        assertEquals(n.inferred(0), n.inferred(3), "values and counts share one symbolic length");
    }

    @Test
    void uniqueSlicesSorted() {
        Tensor x = floats(new float[] {2, 3, 4, 1, 0, 0, 2, 3, 4}, 3, 3);
        List<Tensor> out = new OneNode().input(x).run("Unique", attrs("axis", 0), 4);
        assertArrayEquals(new long[] {2, 3}, out.get(0).shape());
        assertArrayEquals(new float[] {1, 0, 0, 2, 3, 4}, out.get(0).toFloatArray());
        assertArrayEquals(new long[] {1, 0}, out.get(1).toLongArray());
        assertArrayEquals(new long[] {1, 0, 1}, out.get(2).toLongArray());
        assertArrayEquals(new long[] {1, 2}, out.get(3).toLongArray());
    }
}
