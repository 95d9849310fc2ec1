package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.HalfFloats;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * NN kernels against values worked out by hand or with numpy. Speed is not asserted here. As a
 * sanity reference on the 2-core build machine: the f32 GEMM runs at roughly 8-10 GFLOP/s per core,
 * and FixtureModelsTest measured about 0.18 s per mobilenet_v2 and 0.3 s per resnet18 inference.
 */
class NnKernelsTest {
    // ---- Conv ----

    @Test
    void convWithAndWithoutPadding() {
        Tensor x = Tensor.ofFloats(range(25), 1, 1, 5, 5);
        Tensor w = Tensor.ofFloats(filled(9, 1), 1, 1, 3, 3);
        Tensor padded = run1("Conv", Map.of("pads", Attribute.of(1L, 1L, 1L, 1L)), x, w);
        assertArrayEquals(new long[] {1, 1, 5, 5}, padded.shape());
        assertArrayEquals(new float[] {12, 21, 27, 33, 24, 33, 54, 63, 72, 51, 63, 99, 108, 117, 81,
                93, 144, 153, 162, 111, 72, 111, 117, 123, 84}, padded.toFloatArray());
        Tensor valid = run1("Conv", Map.of(), x, w);
        assertArrayEquals(new float[] {54, 63, 72, 99, 108, 117, 144, 153, 162}, valid.toFloatArray());
    }

    @Test
    void convWithStridesAndAsymmetricPadding() {
        Tensor y = run1("Conv", Map.of("strides", Attribute.of(2L, 2L), "pads", Attribute.of(1L, 0L, 1L, 0L)),
                Tensor.ofFloats(range(25), 1, 1, 5, 5), Tensor.ofFloats(filled(9, 1), 1, 1, 3, 3));
        assertArrayEquals(new long[] {1, 1, 3, 2}, y.shape());
        assertArrayEquals(new float[] {21, 33, 99, 117, 111, 123}, y.toFloatArray());
    }

    @Test
    void depthwiseConvWithStrideBiasAndPadding() {
        float[] xv = new float[90];
        for (int i = 0; i < 90; i++) xv[i] = i / 10f;
        float[] wv = new float[27];
        for (int i = 0; i < 27; i++) wv[i] = (i - 13) / 4f;
        Tensor y = run1("Conv", Map.of("group", Attribute.of(3L), "strides", Attribute.of(2L, 2L), "pads", Attribute.of(1L, 1L, 1L, 1L)),
                Tensor.ofFloats(xv, 1, 3, 5, 6), Tensor.ofFloats(wv, 3, 1, 3, 3), Tensor.ofFloats(new float[] {0.5f, -1, 2}, 3));
        assertArrayEquals(new long[] {1, 3, 3, 3}, y.shape());
        assertArrayEquals(new float[] {-1.475f, -4.35f, -6.6f, -13.6f, -25f, -29.05f, -20.525f, -34.95f, -38.1f,
                6.175f, 7.65f, 8.1f, 4.025f, 1.85f, 1.85f, -5.675f, -12.15f, -12.6f,
                72.325f, 105.15f, 108.3f, 107.15f, 154.7f, 158.75f, 67.675f, 96.15f, 98.4f}, y.toFloatArray(), 1e-4f);
    }

    @Test
    void groupedConvWithChannelMultiplierAndDilation() {
        float[] wv = new float[16];
        for (int i = 0; i < 16; i++) wv[i] = i % 5 - 2;
        Tensor y = run1("Conv", Map.of("group", Attribute.of(2L), "dilations", Attribute.of(2L, 1L)),
                Tensor.ofFloats(range(32), 1, 2, 4, 4), Tensor.ofFloats(wv, 4, 1, 2, 2));
        assertArrayEquals(new long[] {1, 4, 2, 3}, y.shape());
        assertArrayEquals(new float[] {8, 6, 4, 0, -2, -4, -10, -11, -12, -14, -15, -16,
                -23, -23, -23, -23, -23, -23, 15, 16, 17, 19, 20, 21}, y.toFloatArray());
    }

    @Test
    void pointwiseConvWithBias() {
        Tensor y = run1("Conv", Map.of(), Tensor.ofFloats(range(24), 2, 3, 2, 2),
                Tensor.ofFloats(new float[] {1, -1, 2, 0.5f, 0.25f, -2}, 2, 3, 1, 1), Tensor.ofFloats(new float[] {1, -1}, 2));
        assertArrayEquals(new float[] {13, 15, 17, 19, -16, -17.25f, -18.5f, -19.75f, 37, 39, 41, 43, -31, -32.25f, -33.5f, -34.75f},
                y.toFloatArray());
    }

    @Test
    void conv1dInDoubleWithDilationAndPads() {
        Tensor x = Tensor.ofDoubles(new double[] {1, 2, 3, 4, 5, 6, 7, -1, -2, -3, -4, -5, -6, -7}, 1, 2, 7);
        Tensor w = Tensor.ofDoubles(new double[] {1, 0.5, -1, 2, 0, 1}, 1, 2, 3);
        Tensor y = run1("Conv", Map.of("pads", Attribute.of(2L, 1L), "dilations", ints(2)), x, w);
        assertEquals(DType.F64, y.dtype());
        assertArrayEquals(new double[] {-5.5, -7, -9.5, -12, -14.5, -1}, y.toDoubleArray());
    }

    @Test
    void convAutoPadSameUpperAndLower() {
        Tensor x = Tensor.ofFloats(range(25), 1, 1, 5, 5);
        Tensor w = Tensor.ofFloats(filled(4, 1), 1, 1, 2, 2);
        // Total padding 1 per axis: SAME_UPPER pads the end, SAME_LOWER the beginning.
        Tensor upper = run1("Conv", Map.of("auto_pad", Attribute.of("SAME_UPPER"), "strides", Attribute.of(2L, 2L)), x, w);
        assertArrayEquals(new long[] {1, 1, 3, 3}, upper.shape());
        assertArrayEquals(new float[] {12, 20, 13, 52, 60, 33, 41, 45, 24}, upper.toFloatArray());
        Tensor lower = run1("Conv", Map.of("auto_pad", Attribute.of("SAME_LOWER"), "strides", Attribute.of(2L, 2L)), x, w);
        assertArrayEquals(new float[] {0, 3, 7, 15, 36, 44, 35, 76, 84}, lower.toFloatArray());
    }

    @Test
    void convF32MatchesF64OnAnIrregularGroupedLayer() {
        Random r = new Random(7);
        double[] xv = randoms(r, 2 * 6 * 9 * 11);
        double[] wv = randoms(r, 4 * 3 * 3 * 2);
        double[] bv = randoms(r, 4);
        Map<String, Attribute> attrs = Map.of("group", Attribute.of(2L), "strides", Attribute.of(2L, 1L),
                "pads", Attribute.of(1L, 0L, 2L, 1L), "dilations", Attribute.of(1L, 2L));
        Tensor f64 = run1("Conv", attrs, Tensor.ofDoubles(xv, 2, 6, 9, 11), Tensor.ofDoubles(wv, 4, 3, 3, 2), Tensor.ofDoubles(bv, 4));
        Tensor f32 = run1("Conv", attrs, Tensor.ofFloats(toFloats(xv), 2, 6, 9, 11), Tensor.ofFloats(toFloats(wv), 4, 3, 3, 2),
                Tensor.ofFloats(toFloats(bv), 4));
        assertArrayEquals(new long[] {2, 4, 5, 10}, f32.shape());
        assertArrayEquals(toFloats(f64.toDoubleArray()), f32.toFloatArray(), 1e-4f);
    }

    @Test
    void convInfersSymbolicBatchAndRejectsChannelMismatch() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, new Shape(List.of(Dim.symbol("N"), Dim.of(3), Dim.of(8), Dim.of(8)))));
        Value w = g.addInput("w", TensorType.of(DType.F32, 16, 3, 3, 3));
        Node n = g.addNode("conv", "Conv", List.of(x, w), Map.of("strides", Attribute.of(2L, 2L), "auto_pad", Attribute.of("SAME_UPPER")), List.of("y"));
        assertEquals("f32[N,16,4,4]", n.output(0).type().toString());
        Value bad = g.addInput("bad", TensorType.of(DType.F32, 16, 2, 3, 3));
        IrException e = assertThrows(IrException.class, () -> g.addNode("c2", "Conv", List.of(x, bad), Map.of(), List.of("z")));
        assertTrue(e.getMessage().contains("c2"), e.getMessage());
    }

    // ---- ConvTranspose ----

    @Test
    void convTransposeBasic() {
        Tensor y = run1("ConvTranspose", Map.of(), Tensor.ofFloats(range(9), 1, 1, 3, 3), Tensor.ofFloats(filled(18, 1), 1, 2, 3, 3));
        assertArrayEquals(new long[] {1, 2, 5, 5}, y.shape());
        float[] plane = {0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
        float[] both = new float[50];
        System.arraycopy(plane, 0, both, 0, 25);
        System.arraycopy(plane, 0, both, 25, 25);
        assertArrayEquals(both, y.toFloatArray());
    }

    @Test
    void groupedConvTransposeWithStridesOutputShapeAndBias() {
        float[] xv = new float[8];
        for (int i = 0; i < 8; i++) xv[i] = i - 3;
        float[] wv = {1, 2, -1, 0.5f, 0, 1, 1, -2, 2, 2, 1, 1, -1, 0, 0, 1};
        Tensor y = run1("ConvTranspose", Map.of("strides", Attribute.of(2L, 2L), "group", Attribute.of(2L), "output_shape", Attribute.of(5L, 4L)),
                Tensor.ofFloats(xv, 1, 2, 2, 2), Tensor.ofFloats(wv, 2, 2, 2, 2), Tensor.ofFloats(new float[] {1, 2, 3, 4}, 4));
        assertArrayEquals(new long[] {1, 4, 5, 4}, y.shape());
        assertArrayEquals(new float[] {-2, -5, -1, -3, 4, -0.5f, 3, 0, 0, -1, 1, 1, 2, 0.5f, 1, 1, 1, 1, 1, 1,
                2, -1, 2, 0, -1, 8, 0, 6, 2, 1, 2, 2, 1, 4, 2, 2, 2, 2, 2, 2,
                5, 5, 7, 7, 4, 4, 5, 5, 9, 9, 11, 11, 6, 6, 7, 7, 3, 3, 3, 3,
                3, 4, 2, 4, 4, 5, 4, 6, 1, 4, 0, 4, 4, 7, 4, 8, 4, 4, 4, 4}, y.toFloatArray());
    }

    @Test
    void convTranspose1dPadsDilationsAndAutoPadInF16() {
        Tensor x = halves(new float[] {1, -2, 3}, 1, 1, 3);
        Tensor w = halves(new float[] {0.5f, 1, 2}, 1, 1, 3);
        Tensor padded = run1("ConvTranspose", Map.of("strides", ints(3), "pads", Attribute.of(1L, 2L), "dilations", ints(2)), x, w);
        assertEquals(DType.F16, padded.dtype());
        assertArrayEquals(new float[] {0, 1, -1, 2, -2, 1.5f, -4, 3}, padded.toFloatArray());
        Tensor upper = run1("ConvTranspose", Map.of("strides", ints(2), "auto_pad", Attribute.of("SAME_UPPER")), x, w);
        assertArrayEquals(new float[] {0.5f, 1, 1, -2, -2.5f, 3}, upper.toFloatArray());
        Tensor lower = run1("ConvTranspose", Map.of("strides", ints(2), "auto_pad", Attribute.of("SAME_LOWER")), x, w);
        assertArrayEquals(new float[] {1, 1, -2, -2.5f, 3, 6}, lower.toFloatArray());
    }

    @Test
    void causalConvWithStateCarriesThePastAndAppliesSilu() {
        Tensor x = Tensor.ofFloats(new float[] {1, 2, 3, 4}, 1, 1, 4);
        Tensor w = Tensor.ofFloats(new float[] {1, 0, -1}, 1, 1, 3);
        List<Tensor> fresh = run("CausalConvWithState", Map.of(), 2, x, w, vector(0.5f));
        assertArrayEquals(new float[] {-0.5f, -1.5f, -1.5f, -1.5f}, fresh.get(0).toFloatArray());
        assertArrayEquals(new long[] {1, 1, 2}, fresh.get(1).shape());
        assertArrayEquals(new float[] {3, 4}, fresh.get(1).toFloatArray());
        List<Tensor> carried = run("CausalConvWithState", Map.of("activation", Attribute.of("silu")), 2,
                x, w, vector(0.5f), Tensor.ofFloats(new float[] {5, 6}, 1, 1, 2));
        float[] pre = {4.5f, 4.5f, -1.5f, -1.5f};
        float[] silu = new float[4];
        for (int i = 0; i < 4; i++) silu[i] = (float) (pre[i] / (1 + Math.exp(-pre[i])));
        assertArrayEquals(silu, carried.get(0).toFloatArray(), 1e-6f);
    }

    // ---- Pooling ----

    private static final float[] POOL_INPUT = {1, 5, 2, 0, 3, 4, 9, 8, 7, 6, 11, 10, 15, 12, 13, 14};

    @Test
    void maxPoolWithRowAndColumnMajorIndices() {
        Tensor x = Tensor.ofFloats(concat(POOL_INPUT, POOL_INPUT), 1, 2, 4, 4);
        Map<String, Attribute> attrs = Map.of("kernel_shape", Attribute.of(2L, 2L), "strides", Attribute.of(2L, 2L));
        List<Tensor> rowMajor = run("MaxPool", attrs, 2, x);
        assertArrayEquals(new float[] {5, 9, 15, 14, 5, 9, 15, 14}, rowMajor.get(0).toFloatArray());
        assertEquals(DType.I64, rowMajor.get(1).dtype());
        assertArrayEquals(new long[] {1, 6, 12, 15, 17, 22, 28, 31}, rowMajor.get(1).toLongArray());
        Map<String, Attribute> columnAttrs = new HashMap<>(attrs);
        columnAttrs.put("storage_order", Attribute.of(1L));
        List<Tensor> columnMajor = run("MaxPool", columnAttrs, 2, x);
        assertArrayEquals(new long[] {4, 9, 3, 15, 20, 25, 19, 31}, columnMajor.get(1).toLongArray());
    }

    @Test
    void maxPoolCeilModeAndUint8Padding() {
        Tensor ceil = run1("MaxPool", Map.of("kernel_shape", Attribute.of(3L, 3L), "strides", Attribute.of(2L, 2L), "ceil_mode", Attribute.of(1L)),
                Tensor.ofFloats(range(16), 1, 1, 4, 4));
        assertArrayEquals(new long[] {1, 1, 2, 2}, ceil.shape());
        assertArrayEquals(new float[] {10, 11, 14, 15}, ceil.toFloatArray());
        Tensor bytes = Tensor.allocate(DType.U8, 1, 1, 2, 2);
        int[] values = {200, 3, 255, 7};
        for (int i = 0; i < 4; i++) bytes.setLong(i, values[i]);
        Tensor y = run1("MaxPool", Map.of("kernel_shape", Attribute.of(2L, 2L), "pads", Attribute.of(1L, 1L, 1L, 1L), "strides", Attribute.of(2L, 2L)), bytes);
        assertEquals(DType.U8, y.dtype());
        assertArrayEquals(new long[] {200, 3, 255, 7}, y.toLongArray());
    }

    @Test
    void averagePoolCountsPaddingOnlyWhenAsked() {
        Tensor x = Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 1, 1, 3, 3);
        Map<String, Attribute> attrs = Map.of("kernel_shape", Attribute.of(2L, 2L), "strides", Attribute.of(2L, 2L), "pads", Attribute.of(1L, 1L, 1L, 1L));
        assertArrayEquals(new float[] {1, 2.5f, 5.5f, 7}, run1("AveragePool", attrs, x).toFloatArray());
        Map<String, Attribute> including = new HashMap<>(attrs);
        including.put("count_include_pad", Attribute.of(1L));
        assertArrayEquals(new float[] {0.25f, 1.25f, 2.75f, 7}, run1("AveragePool", including, x).toFloatArray());
    }

    @Test
    void averagePoolCeilModeNeverCountsBeyondThePadding() {
        Tensor x = Tensor.ofFloats(range(16), 1, 1, 4, 4);
        Map<String, Attribute> attrs = new HashMap<>(Map.of("kernel_shape", Attribute.of(3L, 3L), "strides", Attribute.of(2L, 2L),
                "pads", Attribute.of(1L, 1L, 1L, 1L), "ceil_mode", Attribute.of(1L), "count_include_pad", Attribute.of(1L)));
        assertArrayEquals(new float[] {10f / 9, 24f / 9, 5f / 3, 51f / 9, 10, 5.5f, 37.5f / 9, 7, 3.75f}, run1("AveragePool", attrs, x).toFloatArray(), 1e-6f);
        attrs.put("count_include_pad", Attribute.of(0L));
        assertArrayEquals(new float[] {2.5f, 4, 5, 8.5f, 10, 11, 12.5f, 14, 15}, run1("AveragePool", attrs, x).toFloatArray(), 1e-6f);
    }

    @Test
    void lpPoolAndGlobalPools() {
        Tensor x = Tensor.ofFloats(new float[] {3, -4, 0, 12, 1, 2, 3, 4}, 1, 2, 2, 2);
        Tensor lp = run1("LpPool", Map.of("kernel_shape", Attribute.of(2L, 2L)), x);
        assertArrayEquals(new float[] {13, (float) Math.sqrt(30)}, lp.toFloatArray(), 1e-6f);
        assertArrayEquals(new long[] {1, 2, 1, 1}, lp.shape());
        assertArrayEquals(new float[] {2.75f, 2.5f}, run1("GlobalAveragePool", Map.of(), x).toFloatArray());
        assertArrayEquals(new float[] {12, 4}, run1("GlobalMaxPool", Map.of(), x).toFloatArray());
        assertArrayEquals(new float[] {19, 10}, run1("GlobalLpPool", Map.of("p", Attribute.of(1L)), x).toFloatArray());
        // p = 1 sums magnitudes, as the L1 norm does
        assertArrayEquals(new float[] {19, 10}, run1("LpPool", Map.of("kernel_shape", Attribute.of(2L, 2L), "p", Attribute.of(1L)), x).toFloatArray());
    }

    // ---- Normalizations ----

    @Test
    void batchNormalizationInference() {
        Tensor y = run1("BatchNormalization", Map.of(), Tensor.ofFloats(new float[] {-1, 0, 1, 2, 3, 4}, 1, 2, 1, 3),
                vector(1, 1.5f), vector(0, 1), vector(0, 3), vector(1, 1.5f));
        assertArrayEquals(new float[] {-0.999995f, 0, 0.999995f, -0.224740789f, 1, 2.22474079f}, y.toFloatArray(), 1e-6f);
    }

    @Test
    void batchNormalizationTrainingModeUpdatesRunningStatistics() {
        List<Tensor> out = run("BatchNormalization", Map.of("training_mode", Attribute.of(1L)), 3,
                Tensor.ofFloats(new float[] {1, 2, 3, 4, 5, 6, 7, 9}, 2, 2, 2), vector(1, 1.5f), vector(0, 1), vector(0, 3), vector(1, 1.5f));
        assertArrayEquals(new float[] {-1.2126767f, -0.727606019f, -0.72966846f, -0.100698111f, 0.727606019f, 1.2126767f,
                1.78621294f, 3.04415363f}, out.get(0).toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {0.35f, 3.275f}, out.get(1).toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {1.325f, 1.91875f}, out.get(2).toFloatArray(), 1e-6f);
    }

    @Test
    void instanceAndGroupNormalization() {
        Tensor in = run1("InstanceNormalization", Map.of(), Tensor.ofFloats(new float[] {1, 2, 4, 8, -1, -1, 3, 3}, 1, 2, 4),
                vector(1, 1.5f), vector(0, 1));
        assertArrayEquals(new float[] {-1.02575458f, -0.652752912f, 0.093250416f, 1.58525707f, -0.499998125f, -0.499998125f,
                2.49999813f, 2.49999813f}, in.toFloatArray(), 1e-6f);
        Tensor gn = run1("GroupNormalization", Map.of("num_groups", Attribute.of(2L)), Tensor.ofFloats(new float[] {1, 2, 3, 5, 0, 0, 2, 6}, 1, 4, 2),
                vector(1, 2, 3, 4), vector(0, 1, 0, -1));
        assertArrayEquals(new float[] {-1.18321325f, -0.507091394f, 1.33806093f, 4.04254836f, -2.4494877f, -2.4494877f, -1, 5.5319672f},
                gn.toFloatArray(), 1e-6f);
    }

    @Test
    void layerNormalizationWithStatistics() {
        List<Tensor> out = run("LayerNormalization", Map.of(), 3, Tensor.ofFloats(new float[] {1, 2, 3, 2, 4, 10}, 2, 3),
                vector(1, 0.5f, 2), vector(0, 1, -1));
        assertArrayEquals(new float[] {-1.22473569f, 1, 1.44947137f, -0.980580251f, 0.80388395f, 1.7456247f}, out.get(0).toFloatArray(), 1e-6f);
        assertArrayEquals(new long[] {2, 1}, out.get(1).shape());
        assertArrayEquals(new float[] {2, 5.33333333f}, out.get(1).toFloatArray(), 1e-6f);
        assertArrayEquals(new float[] {1.22473569f, 0.294174075f}, out.get(2).toFloatArray(), 1e-6f);
    }

    @Test
    void rmsNormalizationAndLrn() {
        Tensor rms = run1("RMSNormalization", Map.of(), Tensor.ofFloats(new float[] {1, 2, 3, 2, 4, 10}, 2, 3), vector(1, 0.5f, 2));
        assertArrayEquals(new float[] {0.462909554f, 0.462909554f, 2.77745732f, 0.316227726f, 0.316227726f, 3.16227726f}, rms.toFloatArray(), 1e-6f);
        Tensor lrn = run1("LRN", Map.of("size", Attribute.of(3L), "alpha", Attribute.of(0.1f), "beta", Attribute.of(0.5f), "bias", Attribute.of(2f)),
                Tensor.ofFloats(new float[] {1, 2, 3, 4}, 1, 4, 1, 1));
        assertArrayEquals(new float[] {0.67936622f, 1.27342908f, 1.74175425f, 2.3763541f}, lrn.toFloatArray(), 1e-6f);
    }

    // ---- MatMul, Gemm, MatMulInteger ----

    @Test
    void matMulBroadcastsBatchesAndPromotesVectors() {
        Tensor batched = run1("MatMul", Map.of(), Tensor.ofFloats(range(12), 2, 2, 3), Tensor.ofFloats(new float[] {1, 0, 0, 1, 1, 1}, 1, 3, 2));
        assertArrayEquals(new long[] {2, 2, 2}, batched.shape());
        assertArrayEquals(new float[] {2, 3, 8, 9, 14, 15, 20, 21}, batched.toFloatArray());
        Tensor vectorTimesBatch = run1("MatMul", Map.of(), Tensor.ofFloats(new float[] {1, 2, -1}, 3), Tensor.ofFloats(range(12), 2, 3, 2));
        assertArrayEquals(new long[] {2, 2}, vectorTimesBatch.shape());
        assertArrayEquals(new float[] {0, 2, 12, 14}, vectorTimesBatch.toFloatArray());
        Tensor ints = run1("MatMul", Map.of(), Tensor.ofInts(new int[] {1, 2, 3, 4}, 2, 2), Tensor.ofInts(new int[] {5, 6}, 2));
        assertEquals(DType.I32, ints.dtype());
        assertArrayEquals(new long[] {17, 39}, ints.toLongArray());
    }

    @Test
    void matMulF32MatchesNaiveProductOnLargeIrregularSizes() {
        Random r = new Random(3);
        int m = 70;
        int k = 301;
        int n = 1100;
        float[] a = toFloats(randoms(r, m * k));
        float[] b = toFloats(randoms(r, k * n));
        float[] y = run1("MatMul", Map.of(), Tensor.ofFloats(a, m, k), Tensor.ofFloats(b, k, n)).toFloatArray();
        float[] expected = new float[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int q = 0; q < k; q++) s += (double) a[i * k + q] * b[q * n + j];
                expected[i * n + j] = (float) s;
            }
        }
        assertArrayEquals(expected, y, 1e-3f);
    }

    @Test
    void gemmTransposesScalesAndBroadcastsC() {
        Tensor y = run1("Gemm", Map.of("transA", Attribute.of(1L), "transB", Attribute.of(1L), "alpha", Attribute.of(0.5f), "beta", Attribute.of(2f)),
                Tensor.ofFloats(range(6), 3, 2), Tensor.ofFloats(shifted(range(12), -5), 4, 3), vector(1, 2, 3, 4));
        assertArrayEquals(new long[] {2, 4}, y.shape());
        assertArrayEquals(new float[] {-8, 3, 14, 25, -14, 1.5f, 17, 32.5f}, y.toFloatArray());
        Tensor noC = run1("Gemm", Map.of(), Tensor.ofDoubles(new double[] {1, 2}, 1, 2), Tensor.ofDoubles(new double[] {3, 4}, 2, 1));
        assertArrayEquals(new double[] {11}, noC.toDoubleArray());
    }

    @Test
    void matMulIntegerWithPerRowAndPerColumnZeroPoints() {
        Tensor a = bytes(DType.U8, new int[] {11, 7, 3, 10, 6, 2}, 2, 3);
        Tensor b = bytes(DType.U8, new int[] {1, 4, 2, 5, 3, 6}, 3, 2);
        Tensor y = run1("MatMulInteger", Map.of(), a, b, bytes(DType.U8, new int[] {1, 2}, 2), bytes(DType.U8, new int[] {0, 1}, 2));
        assertEquals(DType.I32, y.dtype());
        assertArrayEquals(new long[] {28, 64, 16, 40}, y.toLongArray());
        Tensor signed = run1("MatMulInteger", Map.of(), bytes(DType.I8, new int[] {-128, 127}, 1, 2), bytes(DType.I8, new int[] {-128, -128}, 2, 1),
                null, bytes(DType.I8, new int[] {1}));
        assertArrayEquals(new long[] {129}, signed.toLongArray());
    }

    // ---- Einsum ----

    @Test
    void einsumTransposeDiagonalTraceAndBatchMatMul() {
        Tensor m = Tensor.ofFloats(range(6), 2, 3);
        Tensor t = einsum("ij->ji", m);
        assertArrayEquals(new long[] {3, 2}, t.shape());
        assertArrayEquals(new float[] {0, 3, 1, 4, 2, 5}, t.toFloatArray());
        Tensor square = Tensor.ofFloats(range(9), 3, 3);
        assertArrayEquals(new float[] {0, 4, 8}, einsum("ii->i", square).toFloatArray());
        Tensor trace = einsum("ii", square);
        assertEquals(0, trace.rank());
        assertArrayEquals(new float[] {12}, trace.toFloatArray());
        Tensor bmm = einsum("bij, bjk -> bik", Tensor.ofFloats(range(12), 2, 2, 3), Tensor.ofFloats(range(12), 2, 3, 2));
        assertArrayEquals(new float[] {10, 13, 28, 40, 172, 193, 244, 274}, bmm.toFloatArray());
    }

    @Test
    void einsumEllipsisImplicitOutputAndIntegers() {
        Tensor implicit = einsum("...ij,jk", Tensor.ofFloats(range(12), 2, 2, 3), Tensor.ofFloats(range(6), 3, 2));
        assertArrayEquals(new long[] {2, 2, 2}, implicit.shape());
        assertArrayEquals(new float[] {10, 13, 28, 40, 46, 67, 64, 94}, implicit.toFloatArray());
        Tensor batchDiagonal = einsum("...ii->...i", Tensor.ofFloats(range(8), 2, 2, 2));
        assertArrayEquals(new float[] {0, 3, 4, 7}, batchDiagonal.toFloatArray());
        Tensor ints = einsum("ij,j->i", Tensor.ofLongs(new long[] {1, 2, 3, 4}, 2, 2), Tensor.ofLongs(new long[] {1L << 40, 1}, 2));
        assertEquals(DType.I64, ints.dtype());
        assertArrayEquals(new long[] {(1L << 40) + 2, 3 * (1L << 40) + 4}, ints.toLongArray());
    }

    // ---- helpers ----

    private static Tensor einsum(String equation, Tensor... inputs) {
        return run1("Einsum", Map.of("equation", Attribute.of(equation)), inputs);
    }

    private static Attribute ints(long... v) { return new Attribute.Ints(v); }

    private static float[] range(int n) {
        float[] r = new float[n];
        for (int i = 0; i < n; i++) r[i] = i;
        return r;
    }

    private static float[] filled(int n, float v) {
        float[] r = new float[n];
        java.util.Arrays.fill(r, v);
        return r;
    }

    private static float[] shifted(float[] v, float by) {
        float[] r = v.clone();
        for (int i = 0; i < r.length; i++) r[i] += by;
        return r;
    }

    private static float[] concat(float[] a, float[] b) {
        float[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    private static Tensor vector(float... v) { return Tensor.ofFloats(v, v.length); }

    private static double[] randoms(Random r, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextDouble() * 2 - 1);
        return v;
    }

    private static float[] toFloats(double[] v) {
        float[] r = new float[v.length];
        for (int i = 0; i < v.length; i++) r[i] = (float) v[i];
        return r;
    }

    private static Tensor halves(float[] v, long... shape) {
        Tensor t = Tensor.allocate(DType.F16, shape);
        for (int i = 0; i < v.length; i++) t.data().putShort(i * 2, HalfFloats.floatToHalf(v[i]));
        return t;
    }

    private static Tensor bytes(DType t, int[] v, long... shape) {
        Tensor r = Tensor.allocate(t, shape);
        for (int i = 0; i < v.length; i++) r.setLong(i, v[i]);
        return r;
    }
}
