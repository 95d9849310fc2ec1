package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.IrException;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.f32;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.floats;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.ints;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Expected values were computed with numpy, following the ONNX reference implementation. */
class QuantizationKernelsTest {

    @Test
    void quantizeLinearPerTensorRoundsHalfToEvenAndSaturates() {
        Tensor x = f32(new long[] {8}, 0, 2, 3, 5, 7, 1000, -254, -3);
        Tensor y = run1("QuantizeLinear", Map.of(), x, f32(new long[0], 2), ints(DType.U8, new long[0], 128));
        assertEquals(DType.U8, y.dtype());
        assertArrayEquals(new long[] {128, 129, 130, 130, 132, 255, 1, 126}, y.toLongArray());
    }

    @Test
    void quantizeLinearWithoutZeroPointGivesUint8() {
        Tensor x = f32(new long[] {8}, 0, 2, 3, 5, 7, 1000, -254, -3);
        Tensor y = run1("QuantizeLinear", Map.of(), x, f32(new long[0], 2));
        assertEquals(DType.U8, y.dtype());
        assertArrayEquals(new long[] {0, 1, 2, 2, 4, 255, 0, 0}, y.toLongArray());
    }

    @Test
    void quantizeLinearPerAxis() {
        Tensor x = f32(new long[] {1, 3, 2}, -162, 10, -100, 232, -20, -50);
        Tensor y = run1("QuantizeLinear", Map.of(), x, f32(new long[] {3}, 2, 4, 5), ints(DType.I8, new long[] {3}, 84, 24, -10));
        assertEquals(DType.I8, y.dtype());
        assertArrayEquals(new long[] {3, 89, -1, 82, -14, -20}, y.toLongArray());
    }

    @Test
    void quantizeLinearBlockedWithPartialLastBlock() {
        Tensor x = f32(new long[] {2, 3}, 6, 12, 50, 5, -8, 9);
        Tensor scale = f32(new long[] {2, 2}, 1.5, 2.5, 3, 0.5);
        Tensor zero = ints(DType.U8, new long[] {2, 2}, 1, 2, 3, 4);
        Tensor y = run1("QuantizeLinear", Map.of("block_size", new Attribute.Int(2)), x, scale, zero);
        assertArrayEquals(new long[] {5, 9, 22, 5, 0, 22}, y.toLongArray());
    }

    @Test
    void quantizeLinearToSixteenBits() {
        Tensor x = f32(new long[] {5}, 0, 1.5, -70000, 70000, 31.3);
        Tensor i16 = run1("QuantizeLinear", Map.of(), x, f32(new long[0], 0.5), ints(DType.I16, new long[0], -10));
        assertEquals(DType.I16, i16.dtype());
        assertArrayEquals(new long[] {-10, -7, -32768, 32767, 53}, i16.toLongArray());
        Tensor u16 = run1("QuantizeLinear", Map.of("output_dtype", new Attribute.Int(4)), x, f32(new long[0], 0.5));
        assertEquals(DType.U16, u16.dtype());
        assertArrayEquals(new long[] {0, 3, 0, 65535, 63}, u16.toLongArray());
    }

    @Test
    void quantizeLinearFromHalf() {
        Tensor x = floats(DType.F16, new long[] {4}, 1.0, 2.5, -3.75, 100.0);
        Tensor y = run1("QuantizeLinear", Map.of(), x, floats(DType.F16, new long[0], 0.5), ints(DType.I8, new long[0], 1));
        assertArrayEquals(new long[] {3, 6, -7, 127}, y.toLongArray());
    }

    @Test
    void quantizeLinearRejectsConflictingOutputDType() {
        Tensor x = f32(new long[] {2}, 1, 2);
        IrException e = assertThrows(IrException.class, () -> run1("QuantizeLinear", Map.of("output_dtype", new Attribute.Int(3)),
                x, f32(new long[0], 1), ints(DType.U8, new long[0], 0)));
        assertEquals("QuantizeLinear node 'n': output_dtype i8 differs from the type u8 of y_zero_point", e.getMessage());
    }

    @Test
    void dequantizeLinearPerTensor() {
        Tensor y = run1("DequantizeLinear", Map.of(), ints(DType.U8, new long[] {4}, 0, 3, 128, 255), f32(new long[0], 2),
                ints(DType.U8, new long[0], 128));
        assertEquals(DType.F32, y.dtype());
        assertArrayEquals(new float[] {-256, -250, 0, 254}, y.toFloatArray());
    }

    @Test
    void dequantizeLinearPerAxis() {
        Tensor x = ints(DType.U8, new long[] {1, 3, 2}, 3, 89, 34, 200, 74, 59);
        Tensor y = run1("DequantizeLinear", Map.of(), x, f32(new long[] {3}, 2, 4, 0.5), ints(DType.U8, new long[] {3}, 0, 2, 4));
        assertArrayEquals(new float[] {6, 178, 128, 792, 35, 27.5f}, y.toFloatArray());
    }

    @Test
    void dequantizeLinearBlocked() {
        Tensor x = ints(DType.I8, new long[] {2, 3}, 1, 2, 3, -4, 5, -6);
        Tensor y = run1("DequantizeLinear", Map.of("block_size", new Attribute.Int(2)), x,
                f32(new long[] {2, 2}, 1.5, 2.5, 3, 0.5), ints(DType.I8, new long[] {2, 2}, 1, 2, 3, -4));
        assertArrayEquals(new float[] {0, 1.5f, 2.5f, -21, 6, -1}, y.toFloatArray());
    }

    @Test
    void dequantizeLinearInt32RoundsThroughFloat() {
        Tensor x = ints(DType.I32, new long[] {3}, -2147483647, 100, 3);
        Tensor y = run1("DequantizeLinear", Map.of(), x, f32(new long[0], 0.1));
        assertArrayEquals(new float[] {-214748368f, 10f, 0.30000001192092896f}, y.toFloatArray());
    }

    @Test
    void dequantizeLinearToHalf() {
        Tensor x = ints(DType.I16, new long[] {3}, 1, 2, 3);
        Tensor y = run1("DequantizeLinear", Map.of("output_dtype", new Attribute.Int(10)), x, f32(new long[0], 0.1),
                ints(DType.I16, new long[0], -1));
        assertEquals(DType.F16, y.dtype());
        assertArrayEquals(new float[] {0.199951171875f, 0.300048828125f, 0.39990234375f}, y.toFloatArray());
    }

    @Test
    void dynamicQuantizeLinear() {
        List<Tensor> r = run("DynamicQuantizeLinear", Map.of(), 3, f32(new long[] {6}, 0, 2, -3, -2.5, 1.34, 0.5));
        assertArrayEquals(new long[] {153, 255, 0, 26, 221, 179}, r.get(0).toLongArray());
        assertEquals(0, r.get(1).rank());
        assertEquals(0.019607843831181526f, r.get(1).toFloatArray()[0]);
        assertEquals(153, r.get(2).getLong(0));
    }

    @Test
    void dynamicQuantizeLinearNegativeAndZeroRanges() {
        List<Tensor> r = run("DynamicQuantizeLinear", Map.of(), 3, f32(new long[] {6}, -1.0, -2.1, -1.3, -2.5, -3.34, -4.0));
        assertArrayEquals(new long[] {191, 121, 172, 96, 42, 0}, r.get(0).toLongArray());
        assertEquals(0.01568627543747425f, r.get(1).toFloatArray()[0]);
        assertEquals(255, r.get(2).getLong(0));
        List<Tensor> zeros = run("DynamicQuantizeLinear", Map.of(), 3, f32(new long[] {2}, 0, 0));
        assertArrayEquals(new long[] {0, 0}, zeros.get(0).toLongArray());
        assertEquals(1f, zeros.get(1).toFloatArray()[0]);
        assertEquals(0, zeros.get(2).getLong(0));
    }

    @Test
    void qlinearMatMulSpecExample() {
        Tensor a = ints(DType.U8, new long[] {2, 4}, 208, 236, 0, 238, 3, 214, 255, 29);
        Tensor b = ints(DType.U8, new long[] {4, 3}, 152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247);
        Tensor y = run1("QLinearMatMul", Map.of(), a, f32(new long[] {1}, 0.0066), ints(DType.U8, new long[] {1}, 113),
                b, f32(new long[] {1}, 0.00705), ints(DType.U8, new long[] {1}, 114),
                f32(new long[] {1}, 0.0107), ints(DType.U8, new long[] {1}, 118));
        assertArrayEquals(new long[] {2, 3}, y.shape());
        assertArrayEquals(new long[] {168, 115, 255, 1, 66, 151}, y.toLongArray());
    }

    @Test
    void qlinearMatMulPerRowPerColumnWithBatch() {
        Tensor a = ints(DType.I8, new long[] {2, 2, 3}, 79, -107, -83, -68, -82, 77, 94, 21, -118, -104, -43, -18);
        Tensor b = ints(DType.U8, new long[] {3, 4}, 159, 122, 67, 40, 177, 188, 8, 29, 115, 100, 227, 132);
        Tensor y = run1("QLinearMatMul", Map.of(), a, f32(new long[] {2}, 0.05, 0.1), ints(DType.I8, new long[] {2}, 1, -2),
                b, f32(new long[] {4}, 0.01, 0.02, 0.03, 0.04), ints(DType.U8, new long[] {4}, 128, 120, 130, 0),
                f32(new long[0], 0.2), ints(DType.U8, new long[0], 100));
        assertArrayEquals(new long[] {2, 2, 4}, y.shape());
        assertArrayEquals(new long[] {96, 72, 101, 0, 65, 28, 255, 209, 114, 120, 0, 0, 75, 73, 248, 0}, y.toLongArray());
    }

    @Test
    void qlinearMatMulVectorWithHalfScales() {
        Tensor a = ints(DType.U8, new long[] {3}, 10, 200, 30);
        Tensor b = ints(DType.U8, new long[] {3, 2}, 1, 2, 3, 4, 250, 6);
        Tensor y = run1("QLinearMatMul", Map.of(), a, floats(DType.F16, new long[] {1}, 0.0066), ints(DType.U8, new long[] {1}, 113),
                b, floats(DType.F16, new long[] {1}, 0.00705), ints(DType.U8, new long[] {1}, 114),
                floats(DType.F16, new long[] {1}, 0.0107), ints(DType.U8, new long[] {1}, 118));
        assertArrayEquals(new long[] {2}, y.shape());
        assertArrayEquals(new long[] {77, 166}, y.toLongArray());
    }

    @Test
    void qlinearConvSpecExample() {
        Tensor x = ints(DType.U8, new long[] {1, 1, 7, 7},
                255, 174, 162, 25, 203, 168, 58, 15, 59, 237, 95, 129, 0, 64, 56, 242, 153, 221, 168, 12, 166,
                232, 178, 186, 195, 237, 162, 237, 188, 39, 124, 77, 80, 102, 43, 127, 230, 21, 83, 41, 40, 134,
                255, 154, 92, 141, 42, 148, 247);
        Tensor y = run1("QLinearConv", Map.of(), x, f32(new long[0], 0.00369204697), ints(DType.U8, new long[0], 132),
                ints(DType.U8, new long[] {1, 1, 1, 1}, 0), f32(new long[] {1}, 0.00172794575), ints(DType.U8, new long[] {1}, 255),
                f32(new long[0], 0.00162681262), ints(DType.U8, new long[0], 123));
        assertArrayEquals(new long[] {
                0, 81, 93, 230, 52, 87, 197, 240, 196, 18, 160, 126, 255, 191, 199, 13, 102, 34, 87, 243, 89,
                23, 77, 69, 60, 18, 93, 18, 67, 216, 131, 178, 175, 153, 212, 128, 25, 234, 172, 214, 215, 121,
                0, 101, 163, 114, 213, 107, 8}, y.toLongArray());
    }

    @Test
    void qlinearConvPerChannelGroupedStridedWithBias() {
        Tensor x = ints(DType.U8, new long[] {1, 4, 5, 5},
                241, 160, 175, 229, 148, 198, 213, 57, 14, 76, 72, 223, 233, 1, 127, 210, 33, 204, 30, 119, 209, 77, 87, 71, 184,
                65, 253, 113, 122, 129, 149, 141, 130, 254, 206, 202, 179, 159, 87, 253, 119, 55, 216, 41, 219, 156, 29, 11, 113, 9,
                36, 131, 248, 119, 206, 234, 210, 161, 112, 131, 68, 127, 97, 63, 254, 3, 24, 49, 248, 177, 225, 51, 184, 94, 125,
                0, 158, 212, 169, 39, 136, 68, 247, 225, 47, 130, 240, 216, 181, 163, 10, 189, 121, 23, 62, 138, 186, 129, 156, 223);
        Tensor w = ints(DType.I8, new long[] {4, 2, 3, 3},
                47, -36, 36, 25, -101, -113, 41, -29, 25, -46, -71, -90, -31, 80, -26, -31, 19, 122,
                -28, 23, -16, 26, -14, 35, 12, 45, 116, -90, 15, -16, -37, -67, -115, -25, 83, -104,
                -25, 119, 115, -73, -127, 43, -125, -52, -1, 95, -105, 41, 8, -95, 88, 88, -5, 113,
                27, 103, 117, 17, -57, -91, 16, -79, 64, 109, -66, 13, -116, -82, -32, 98, 120, 36);
        Map<String, Attribute> attrs = Map.of("group", new Attribute.Int(2), "strides", new Attribute.Ints(new long[] {2, 2}),
                "pads", new Attribute.Ints(new long[] {1, 1, 1, 1}));
        Tensor y = run1("QLinearConv", attrs, x, f32(new long[0], 0.02), ints(DType.U8, new long[0], 120),
                w, f32(new long[] {4}, 0.01, 0.02, 0.005, 0.015), ints(DType.I8, new long[] {4}, 0, 3, -2, 1),
                f32(new long[0], 0.5), ints(DType.I8, new long[0], -5), ints(DType.I32, new long[] {4}, 100, -2000, 30, 0));
        assertEquals(DType.I8, y.dtype());
        assertArrayEquals(new long[] {1, 4, 3, 3}, y.shape());
        assertArrayEquals(new long[] {
                -14, -6, -7, -12, -12, -8, -5, -7, -15, -6, -30, -5, -13, -7, -15, 1, 13, 7,
                -2, -10, -4, 5, -6, -10, -10, -3, -6, 1, -11, -7, 1, -10, -18, -16, -5, -12}, y.toLongArray());
    }

    @Test
    void convIntegerSpecExamples() {
        Tensor x = ints(DType.U8, new long[] {1, 1, 3, 3}, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        Tensor plain = run1("ConvInteger", Map.of(), x, ints(DType.U8, new long[] {1, 1, 2, 2}, 1, 1, 1, 1), ints(DType.U8, new long[0], 1));
        assertEquals(DType.I32, plain.dtype());
        assertArrayEquals(new long[] {12, 16, 24, 28}, plain.toLongArray());
        Tensor padded = run1("ConvInteger", Map.of("pads", new Attribute.Ints(new long[] {1, 1, 1, 1})), x,
                ints(DType.U8, new long[] {2, 1, 2, 2}, 1, 1, 1, 1, 1, 1, 1, 1), ints(DType.U8, new long[0], 1), ints(DType.U8, new long[] {2}, 0, 1));
        assertArrayEquals(new long[] {1, 2, 4, 4}, padded.shape());
        long[] expected = new long[32];
        System.arraycopy(new long[] {1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}, 0, expected, 0, 16);
        assertArrayEquals(expected, padded.toLongArray());
    }

    @Test
    void convIntegerSamePaddingPutsTheOddPadOnTheRightSide() {
        Tensor x = ints(DType.U8, new long[] {1, 1, 3, 3}, 2, 3, 4, 5, 6, 7, 8, 9, 10);
        Tensor w = ints(DType.U8, new long[] {1, 1, 2, 2}, 1, 2, 3, 4);
        Tensor lower = run1("ConvInteger", Map.of("auto_pad", new Attribute.Str("SAME_LOWER")), x, w, ints(DType.U8, new long[0], 1));
        assertArrayEquals(new long[] {4, 11, 18, 18, 37, 47, 36, 67, 77}, lower.toLongArray());
        Tensor upper = run1("ConvInteger", Map.of("auto_pad", new Attribute.Str("SAME_UPPER")), x, w, ints(DType.U8, new long[0], 1));
        assertArrayEquals(new long[] {37, 47, 21, 67, 77, 33, 23, 26, 9}, upper.toLongArray());
    }

    @Test
    void convInteger1dDilatedStridedPerChannelZeroPoints() {
        Tensor x = ints(DType.I8, new long[] {1, 2, 7}, 21, 17, -113, -32, 123, -23, -74, -67, 54, -119, 120, 96, 17, -9);
        Tensor w = ints(DType.U8, new long[] {3, 2, 3}, 194, 140, 122, 82, 114, 192, 14, 6, 184, 95, 205, 7, 232, 31, 106, 247, 27, 168);
        Tensor xz = ints(DType.I8, new long[0], -3);
        Tensor wz = ints(DType.U8, new long[] {3}, 128, 0, 255);
        Tensor same = run1("ConvInteger", Map.of("auto_pad", new Attribute.Str("SAME_LOWER"), "strides", new Attribute.Ints(new long[] {2}),
                "dilations", new Attribute.Ints(new long[] {2})), x, w, xz, wz);
        assertArrayEquals(new long[] {1, 3, 4}, same.shape());
        assertArrayEquals(new long[] {-5580, 10412, -1756, 2994, -34028, -6307, -4615, 9513, 35698, 23661, -36237, 13582}, same.toLongArray());
        Tensor valid = run1("ConvInteger", Map.of("auto_pad", new Attribute.Str("VALID"), "dilations", new Attribute.Ints(new long[] {2})),
                x, w, xz, wz);
        assertArrayEquals(new long[] {1, 3, 3}, valid.shape());
        assertArrayEquals(new long[] {10412, -1972, -1756, -6307, 27196, -4615, 23661, -21224, -36237}, valid.toLongArray());
    }
}
