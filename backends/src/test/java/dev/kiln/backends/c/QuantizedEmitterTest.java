package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearMatMul and QLinearConv: bitwise the interpreter's. */
class QuantizedEmitterTest {
    private static final List<DType> QUANTIZED = List.of(DType.I8, DType.U8, DType.I16, DType.U16);
    private static final List<DType> SCALES = List.of(DType.F32, DType.F16, DType.BF16);

    @TempDir
    Path dir;

    /** Scales in [0.01, 0.5): x / scale reaches past the range of 8-bit types. */
    private static Value scales(OpBatch b, DType t, long... shape) {
        return b.input(t, shape, () -> 0.01 + b.random().nextDouble() * 0.49);
    }

    /** Zero points within the type's range, away from its ends. */
    private static Value zeros(OpBatch b, DType t, long... shape) {
        Random r = b.random();
        return b.input(t, shape, () -> t.isUnsignedInteger() ? r.nextInt(200) + 20 : r.nextInt(200) - 100);
    }

    /** Values in [-8, 8), among them exact halves of small scales (ties that round to even). */
    private static Value values(OpBatch b, DType t, long... shape) {
        Random r = b.random();
        if (t == DType.I32) return b.input(t, shape, () -> r.nextInt(2001) - 1000);
        return b.input(t, shape, () -> r.nextInt(4) == 0 ? (r.nextInt(64) - 32) * 0.125 : r.nextDouble() * 16 - 8);
    }

    @Test
    void quantizeLinearEveryTypeAndGranularity() {
        OpBatch b = new OpBatch("quantize", 1);
        for (DType x : List.of(DType.F32, DType.F16, DType.BF16, DType.I32)) {
            for (DType scale : List.of(DType.F32, DType.F16, DType.BF16)) {
                for (DType zero : QUANTIZED) {
                    b.node("QuantizeLinear", List.of(values(b, x, 3, 17), scales(b, scale), zeros(b, zero)), Map.of());
                }
            }
            // no zero point: u8, or output_dtype
            b.node("QuantizeLinear", List.of(values(b, x, 2, 5, 3), scales(b, x == DType.I32 ? DType.F32 : x)), Map.of());
            b.node("QuantizeLinear", List.of(values(b, x, 7), scales(b, DType.F32)), attrs("output_dtype", 3L));
            b.node("QuantizeLinear", List.of(values(b, x, 7), scales(b, DType.F32)), attrs("output_dtype", 5L, "saturate", 0L));
        }
        // an integer scale: the division in double
        b.node("QuantizeLinear", List.of(values(b, DType.I32, 40), b.input(DType.I32, new long[] {}, 7), zeros(b, DType.I16)), Map.of());
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 40), b.input(DType.I32, new long[] {1}, 3), zeros(b, DType.I8, 1)), Map.of());
        // per axis (default axis 1, negative, 0, last), blocked with a short last block
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 2, 3, 5), scales(b, DType.F32, 3), zeros(b, DType.U8, 3)), Map.of());
        b.node("QuantizeLinear", List.of(values(b, DType.F16, 2, 3, 5), scales(b, DType.F16, 5), zeros(b, DType.I8, 5)), attrs("axis", -1L));
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 4, 3), scales(b, DType.F32, 4)), attrs("axis", 0L));
        b.node("QuantizeLinear", List.of(values(b, DType.BF16, 1, 6, 2, 1, 3), scales(b, DType.BF16, 6), zeros(b, DType.U16, 6)), Map.of());
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 3, 10, 4), scales(b, DType.F32, 3, 3, 4), zeros(b, DType.I8, 3, 3, 4)),
                attrs("block_size", 4L));
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 6, 5), scales(b, DType.F32, 2, 5)), attrs("block_size", 3L, "axis", 0L));
        b.node("QuantizeLinear", List.of(values(b, DType.F16, 2, 7), scales(b, DType.F16, 2, 1), zeros(b, DType.U8, 2, 1)),
                attrs("block_size", 7L, "axis", -1L));
        // precision: the division in f16, bf16, f32 or f64 whatever the operands
        for (long p : new long[] {1, 10, 11, 16}) {
            b.node("QuantizeLinear", List.of(values(b, DType.F32, 33), scales(b, DType.F32), zeros(b, DType.I8)), attrs("precision", p));
        }
        // rank 0, a dim of 0, large magnitudes that saturate, zero and infinite scales
        b.node("QuantizeLinear", List.of(values(b, DType.F32), scales(b, DType.F32), zeros(b, DType.U8)), Map.of());
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 3, 0, 2), scales(b, DType.F32, 3), zeros(b, DType.U8, 3)), attrs("axis", 0L));
        b.node("QuantizeLinear", List.of(b.input(DType.F32, new long[] {9}, -1e9, -300, -129.5, -128.5, 126.5, 127.5, 1e9, Double.NaN, Double.NEGATIVE_INFINITY),
                b.input(DType.F32, new long[] {}, 1), zeros(b, DType.I8)), attrs());
        b.node("QuantizeLinear", List.of(values(b, DType.F32, 5), b.input(DType.F32, new long[] {2}, 0, Double.POSITIVE_INFINITY), zeros(b, DType.U8, 2)),
                attrs("axis", 0L, "block_size", 3L));
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void dequantizeLinearEveryTypeAndGranularity() {
        OpBatch b = new OpBatch("dequantize", 2);
        for (DType x : List.of(DType.I8, DType.U8, DType.I16, DType.U16, DType.I32)) {
            for (DType scale : SCALES) {
                Random r = b.random();
                Value q = b.input(x, new long[] {4, 9}, () -> x == DType.I32 ? r.nextInt() : x.isUnsignedInteger() ? r.nextInt(1 << (8 * x.byteSize())) : r.nextInt(1 << (8 * x.byteSize())) - (1 << (8 * x.byteSize() - 1)));
                b.node("DequantizeLinear", List.of(q, scales(b, scale), zeros(b, x)), Map.of());
                b.node("DequantizeLinear", List.of(q, scales(b, scale)), Map.of());
                for (DType out : SCALES) b.node("DequantizeLinear", List.of(q, scales(b, scale), zeros(b, x)), attrs("output_dtype", (long) CTypes.onnxCode(out)));
            }
        }
        // large i32 values and zero points: f32 rounding of x, the difference in double
        b.node("DequantizeLinear", List.of(b.input(DType.I32, new long[] {4}, 16777217, -2147483648.0, 2147483647, 5),
                b.input(DType.F32, new long[] {}, 0.37), b.input(DType.I32, new long[] {}, 1000001)), Map.of());
        b.node("DequantizeLinear", List.of(zeros(b, DType.U8, 2, 4, 3), scales(b, DType.F32, 4), zeros(b, DType.U8, 4)), Map.of());
        b.node("DequantizeLinear", List.of(zeros(b, DType.I8, 2, 4, 3), scales(b, DType.F16, 2)), attrs("axis", -3L));
        b.node("DequantizeLinear", List.of(zeros(b, DType.I16, 5, 11), scales(b, DType.BF16, 5, 3), zeros(b, DType.I16, 5, 3)), attrs("axis", 1L, "block_size", 4L));
        b.node("DequantizeLinear", List.of(zeros(b, DType.U8), scales(b, DType.F32), zeros(b, DType.U8)), Map.of());
        b.node("DequantizeLinear", List.of(zeros(b, DType.U8, 1, 2, 1, 2, 1, 3), scales(b, DType.F32, 2), zeros(b, DType.U8, 2)), Map.of());
        b.node("DequantizeLinear", List.of(zeros(b, DType.U8, 0, 3), scales(b, DType.F32, 3)), attrs("axis", 1L));
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void dynamicQuantizeLinear() {
        OpBatch b = new OpBatch("dynamic", 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, 3, 4, 5)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {}, 2.5)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {6}, 0, 0, -0.0, 0, 0, 0)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {5}, 1, 2, 3, 4, 255)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {5}, -1, -2, -3.5, -4, -255)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {2, 0})), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {1, 2, 1, 3, 1, 37}, () -> b.random().nextGaussian() * 40)), Map.of(), 3);
        b.node("DynamicQuantizeLinear", List.of(b.input(DType.F32, new long[] {3}, 1, Double.NaN, -2)), Map.of(), 3);
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void runTimeShapedInputs() {
        OpBatch b = new OpBatch("quantize_run_time", 9);
        Value x = GatherEmitterTest.runTimeRows(b, values(b, DType.F32, 6, 5));
        b.node("QuantizeLinear", List.of(x, scales(b, DType.F32), zeros(b, DType.U8)), Map.of());
        b.node("QuantizeLinear", List.of(x, scales(b, DType.F32, 5), zeros(b, DType.I8, 5)), attrs("axis", 1L));
        b.node("QuantizeLinear", List.of(x, scales(b, DType.BF16, 4), zeros(b, DType.U16, 4)), attrs("axis", 0L));
        b.node("QuantizeLinear", List.of(GatherEmitterTest.runTimeRows(b, values(b, DType.F16, 6, 2, 3)), scales(b, DType.F16, 2), zeros(b, DType.I16, 2)), attrs("axis", 1L));
        b.node("DequantizeLinear", List.of(GatherEmitterTest.runTimeRows(b, zeros(b, DType.U8, 6, 4)), scales(b, DType.F32, 4), zeros(b, DType.U8, 4)), attrs("axis", 1L));
        b.node("DequantizeLinear", List.of(GatherEmitterTest.runTimeRows(b, values(b, DType.I32, 6)), scales(b, DType.F16)), Map.of());
        b.node("DynamicQuantizeLinear", List.of(x), Map.of(), 3);
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void perAxisScalesOfAnotherLengthThanARunTimeAxisFailTheRun() {
        Graph g = new Graph("quantize_failures");
        Value x = g.addInput("x", TensorType.of(DType.F32, 6, 2));
        Value keep = g.addInput("keep", TensorType.of(DType.BOOL, 6));
        Value rows = NativeTesting.node(g, "rows", "Compress", List.of(x, keep), attrs("axis", 0L));
        Value scale = g.addInput("scale", TensorType.of(DType.F32, 4));
        g.addOutput(NativeTesting.node(g, "q", "QuantizeLinear", List.of(rows, scale), attrs("axis", 0L)));
        Tensor scales = Tensor.allocate(DType.F32, 4);
        for (int i = 0; i < 4; i++) scales.setDouble(i, 0.1);
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            m.run(List.of(Tensor.allocate(DType.F32, 6, 2), Tensor.ofBooleans(new boolean[] {true, true, false, true, true, false}, 6), scales));
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> m.run(List.of(Tensor.allocate(DType.F32, 6, 2), Tensor.ofBooleans(new boolean[] {true, true, false, true, false, false}, 6), scales)));
            assertTrue(e.getMessage().endsWith("node q (QuantizeLinear): the per-axis scale does not match axis 0 of x"), e.getMessage());
        }
    }

    /** Bytes of the whole range of i8 or u8. */
    private static Value bytes(OpBatch b, DType t, long... shape) {
        Random r = b.random();
        return b.input(t, shape, () -> t == DType.U8 ? r.nextInt(256) : r.nextInt(256) - 128);
    }

    /** QLinearMatMul of a and b with per-tensor parameters of the given scale types and output type. */
    private static void qmatmul(OpBatch b, Value x, Value w, long[] aParams, long[] bParams, long[] yParams, DType[] scale, DType out) {
        DType a = Emission.dtype(x);
        DType bt = Emission.dtype(w);
        Random r = b.random();
        b.node("QLinearMatMul", List.of(x, b.input(scale[0], aParams, () -> 0.005 + r.nextDouble() * 0.05), bytes(b, a, aParams),
                w, b.input(scale[1], bParams, () -> 0.005 + r.nextDouble() * 0.05), bytes(b, bt, bParams),
                b.input(scale[2], yParams, () -> 0.05 + r.nextDouble() * 0.5), bytes(b, out, yParams)), Map.of());
    }

    @Test
    void qlinearMatMulShapesTypesAndParameters() {
        OpBatch b = new OpBatch("qmatmul", 4);
        long[] one = {};
        DType[] f32 = {DType.F32, DType.F32, DType.F32};
        for (DType a : List.of(DType.I8, DType.U8)) {
            for (DType w : List.of(DType.I8, DType.U8)) {
                for (DType out : List.of(DType.I8, DType.U8)) qmatmul(b, bytes(b, a, 5, 19), bytes(b, w, 19, 7), one, one, one, f32, out);
            }
        }
        for (DType[] scales : List.of(new DType[] {DType.F16, DType.F16, DType.F16}, new DType[] {DType.BF16, DType.BF16, DType.BF16},
                new DType[] {DType.F16, DType.F32, DType.BF16})) {
            qmatmul(b, bytes(b, DType.U8, 3, 33), bytes(b, DType.I8, 33, 18), one, one, one, scales, DType.U8);
        }
        // per row of a, per column of b, per output element; batch dims broadcast; 1-D operands
        qmatmul(b, bytes(b, DType.U8, 4, 6), bytes(b, DType.U8, 6, 5), new long[] {4}, new long[] {5}, new long[] {4, 5}, f32, DType.U8);
        qmatmul(b, bytes(b, DType.I8, 2, 3, 4, 6), bytes(b, DType.I8, 3, 6, 5), new long[] {3, 4, 1}, new long[] {1, 1, 5}, new long[] {5}, f32, DType.I8);
        qmatmul(b, bytes(b, DType.U8, 3, 1, 2, 7), bytes(b, DType.U8, 4, 7, 3), new long[] {1}, new long[] {4, 1, 3}, new long[] {3, 4, 1, 1}, f32, DType.U8);
        qmatmul(b, bytes(b, DType.U8, 9), bytes(b, DType.U8, 2, 9, 4), one, new long[] {4}, new long[] {2, 4}, f32, DType.U8);
        qmatmul(b, bytes(b, DType.U8, 3, 9), bytes(b, DType.I8, 9), new long[] {3}, one, new long[] {3}, f32, DType.I8);
        qmatmul(b, bytes(b, DType.I8, 9), bytes(b, DType.I8, 9), one, one, one, f32, DType.I8);
        qmatmul(b, bytes(b, DType.U8, 1, 1, 300), bytes(b, DType.U8, 300, 1), one, one, one, f32, DType.U8);
        qmatmul(b, bytes(b, DType.U8, 2, 0, 3), bytes(b, DType.U8, 3, 4), one, one, one, f32, DType.U8);
        b.assertMatchesInterpreter(dir, 0);
    }

    /** QLinearConv of x (N, C, spatial...) with w (M, C / group, kernel...) and random parameters. */
    private static void qconv(OpBatch b, DType xt, DType wt, DType out, long[] xs, long[] ws, boolean perChannel, boolean bias, Map<String, dev.kiln.ir.Attribute> attributes) {
        Random r = b.random();
        long[] channels = perChannel ? new long[] {ws[0]} : new long[] {};
        List<Value> in = new ArrayList<>(List.of(bytes(b, xt, xs), b.input(DType.F32, new long[] {}, () -> 0.01 + r.nextDouble() * 0.05), bytes(b, xt),
                bytes(b, wt, ws), b.input(DType.F32, channels, () -> 0.005 + r.nextDouble() * 0.05), bytes(b, wt, channels),
                b.input(DType.F32, new long[] {}, () -> 0.5 + r.nextDouble() * 4), bytes(b, out)));
        if (bias) in.add(b.input(DType.I32, new long[] {ws[0]}, () -> r.nextInt(20001) - 10000));
        b.node("QLinearConv", in, attributes);
    }

    @Test
    void qlinearConvGeometriesAndParameters() {
        OpBatch b = new OpBatch("qconv", 5);
        for (DType x : List.of(DType.I8, DType.U8)) {
            for (DType w : List.of(DType.I8, DType.U8)) {
                qconv(b, x, w, x == w ? DType.U8 : DType.I8, new long[] {1, 3, 7, 6}, new long[] {4, 3, 3, 3}, true, true, attrs());
            }
        }
        qconv(b, DType.U8, DType.U8, DType.U8, new long[] {2, 4, 9, 8}, new long[] {6, 2, 3, 2}, false, false,
                attrs("group", 2L, "pads", new long[] {1, 0, 2, 1}, "strides", new long[] {2, 1}, "dilations", new long[] {1, 2}));
        qconv(b, DType.U8, DType.I8, DType.U8, new long[] {1, 4, 7, 7}, new long[] {4, 1, 3, 3}, true, true, attrs("group", 4L, "auto_pad", "SAME_UPPER"));
        qconv(b, DType.U8, DType.I8, DType.I8, new long[] {1, 2, 6, 5}, new long[] {3, 2, 2, 3}, false, true, attrs("auto_pad", "SAME_LOWER", "strides", new long[] {2, 2}));
        qconv(b, DType.I8, DType.I8, DType.I8, new long[] {1, 2, 6, 5}, new long[] {3, 2, 2, 3}, true, false, attrs("auto_pad", "VALID"));
        qconv(b, DType.U8, DType.U8, DType.U8, new long[] {2, 3, 17}, new long[] {5, 3, 4}, true, true, attrs("pads", new long[] {2, 1}, "strides", new long[] {3}));
        qconv(b, DType.I8, DType.U8, DType.U8, new long[] {1, 2, 4, 5, 3}, new long[] {2, 2, 2, 3, 2}, true, true, attrs("pads", new long[] {1, 0, 1, 0, 2, 1}));
        qconv(b, DType.U8, DType.U8, DType.U8, new long[] {1, 20, 4, 4}, new long[] {17, 20, 1, 1}, true, true, attrs());
        b.assertMatchesInterpreter(dir, 0);
    }

    @Test
    void refusals() {
        OpBatch b = new OpBatch("refused", 6);
        b.node("QLinearConv", List.of(bytes(b, DType.U8, 1, 1, 2, 2, 2, 2), b.input(DType.F32), bytes(b, DType.U8), bytes(b, DType.U8, 1, 1, 1, 1, 1, 1),
                b.input(DType.F32), bytes(b, DType.U8), b.input(DType.F32), bytes(b, DType.U8)), attrs());
        b.assertRefused(dir, "QLinearConv (4-D)");
        OpBatch per = new OpBatch("refused", 7);
        per.node("QLinearConv", List.of(bytes(per, DType.U8, 1, 2, 3, 3), per.input(DType.F32, 2), bytes(per, DType.U8, 2), bytes(per, DType.U8, 1, 2, 1, 1),
                per.input(DType.F32), bytes(per, DType.U8), per.input(DType.F32), bytes(per, DType.U8)), attrs());
        per.assertRefused(dir, "QLinearConv (per-channel input parameters)");
        // blocked activations: the family refuses them (the generator then runs the node on plain values)
        OpBatch blocked = new OpBatch("refused", 8);
        Value x = blocked.graph().addInput("x", TensorType.of(DType.U8, 1, 1, 4, 4, 16).withLayout(Layout.of("NCHW16c")));
        Value y = blocked.node("QLinearConv", List.of(x, blocked.input(DType.F32), bytes(blocked, DType.U8), bytes(blocked, DType.U8, 16, 16, 1, 1),
                blocked.input(DType.F32), bytes(blocked, DType.U8), blocked.input(DType.F32), bytes(blocked, DType.U8)), attrs());
        assertEquals(" (layout NCHW16c)", new QuantizedEmitter().problem(y.producer()));
    }
}
