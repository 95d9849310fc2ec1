package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LayoutKernelsTest {

    /** 0, 1, 2, ... in the given shape. */
    private static Tensor iota(DType dtype, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        for (int i = 0; i < t.size(); i++) t.setDouble(i, i);
        return t;
    }

    private static Map<String, Attribute> transform(String src, String dst, long channels) {
        return channels == 0
                ? Map.of("src_layout", Attribute.of(src), "dst_layout", Attribute.of(dst))
                : Map.of("src_layout", Attribute.of(src), "dst_layout", Attribute.of(dst), "channels", Attribute.of(channels));
    }

    /** Runs LayoutTransform steps one after the other on x (given in layout {@code in}). */
    private static Tensor chain(Tensor x, Layout in, List<Map<String, Attribute>> steps) {
        Graph g = new Graph("g");
        Value v = g.addInput("x", new TensorType(x.dtype(), Shape.of(x.shape()), in));
        for (int i = 0; i < steps.size(); i++) v = g.addNode("t" + i, "LayoutTransform", List.of(v), steps.get(i), List.of("y" + i)).output(0);
        g.addOutput(v);
        return new Interpreter(g).run(Map.of("x", x)).values().iterator().next();
    }

    private static Tensor apply(Tensor x, String src, String dst, long channels) {
        return chain(x, Layout.ANY, List.of(transform(src, dst, channels)));
    }

    @Test
    void nchwToNhwcMovesChannelsInnermost() {
        Tensor x = iota(DType.F32, 1, 2, 2, 3);
        Tensor y = apply(x, "NCHW", "NHWC", 0);
        assertArrayEquals(new long[] {1, 2, 3, 2}, y.shape());
        // y[0, h, w, c] = x[0, c, h, w] = c * 6 + h * 3 + w
        assertArrayEquals(new float[] {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11}, y.toFloatArray());
    }

    @Test
    void nhwcRoundTripRestoresTheTensor() {
        Tensor x = iota(DType.F32, 2, 3, 4, 5);
        Tensor back = chain(x, Layout.ANY, List.of(transform("NCHW", "NHWC", 0), transform("NHWC", "NCHW", 0)));
        assertTrue(back.contentEquals(x));
    }

    @Test
    void blockingPadsChannelsWithZeros() {
        Tensor x = iota(DType.F32, 1, 3, 2, 2);
        Tensor y = apply(x, "NCHW", "NCHW8c", 0);
        assertArrayEquals(new long[] {1, 1, 2, 2, 8}, y.shape());
        float[] v = y.toFloatArray();
        for (int h = 0; h < 2; h++) {
            for (int w = 0; w < 2; w++) {
                for (int c = 0; c < 8; c++) {
                    float want = c < 3 ? c * 4 + h * 2 + w : 0;
                    assertEquals(want, v[(h * 2 + w) * 8 + c], "h=" + h + " w=" + w + " c=" + c);
                }
            }
        }
    }

    @Test
    void unblockingWithChannelsDropsThePadding() {
        Tensor x = iota(DType.F32, 2, 6, 3, 2);
        Tensor back = chain(x, Layout.ANY, List.of(transform("NCHW", "NCHW4c", 0), transform("NCHW4c", "NCHW", 6)));
        assertTrue(back.contentEquals(x));
        Tensor padded = chain(x, Layout.ANY, List.of(transform("NCHW", "NCHW4c", 0), transform("NCHW4c", "NCHW", 0)));
        assertArrayEquals(new long[] {2, 8, 3, 2}, padded.shape());
        for (int n = 0; n < 2; n++) {
            for (int i = 0; i < 2 * 3 * 2; i++) assertEquals(0f, padded.toFloatArray()[n * 48 + 36 + i]);
        }
    }

    @Test
    void blockedToBlockedAndToNhwcAgreeWithThePlainTensor() {
        Tensor x = iota(DType.F32, 1, 12, 2, 3);
        Tensor viaBlocks = chain(x, Layout.ANY, List.of(transform("NCHW", "NCHW8c", 0), transform("NCHW8c", "NCHW4c", 0),
                transform("NCHW4c", "NHWC", 12)));
        assertTrue(viaBlocks.contentEquals(apply(x, "NCHW", "NHWC", 0)));
    }

    @Test
    void sameLayoutWithChannelsZeroesTheTail() {
        Tensor x = iota(DType.F32, 1, 8, 1, 1);
        Tensor blocked = apply(x, "NCHW", "NCHW8c", 0);
        Tensor y = chain(blocked, Layout.of("NCHW8c"), List.of(transform("NCHW8c", "NCHW8c", 5)));
        assertArrayEquals(new float[] {0, 1, 2, 3, 4, 0, 0, 0}, y.toFloatArray());
    }

    @Test
    void filtersMoveToBlockedAndBack() {
        Tensor w = iota(DType.F32, 6, 5, 3, 3);
        Tensor blocked = apply(w, "OIHW", "OIHW4i4o", 0);
        assertArrayEquals(new long[] {2, 2, 3, 3, 4, 4}, blocked.shape());
        // blocked[o/4, i/4, h, w, i%4, o%4] = w[o, i, h, w]; o = 5, i = 2, h = 1, w = 2
        int at = ((((1 * 2 + 0) * 3 + 1) * 3 + 2) * 4 + 2) * 4 + 1;
        assertEquals(5 * 45 + 2 * 9 + 1 * 3 + 2, blocked.toFloatArray()[at]);
        Tensor hwio = apply(w, "OIHW", "HWIO", 0);
        assertArrayEquals(new long[] {3, 3, 5, 6}, hwio.shape());
        Tensor back = chain(hwio, Layout.of("HWIO"), List.of(transform("HWIO", "OIHW4o", 0), transform("OIHW4o", "OIHW", 0)));
        assertArrayEquals(new long[] {8, 5, 3, 3}, back.shape());
        float[] b = back.toFloatArray();
        float[] want = w.toFloatArray();
        for (int i = 0; i < want.length; i++) assertEquals(want[i], b[i]);
        for (int i = want.length; i < b.length; i++) assertEquals(0f, b[i]);
    }

    @Test
    void everyElementSizeMoves() {
        for (DType t : List.of(DType.F16, DType.F64, DType.I64, DType.U8, DType.BOOL)) {
            Tensor x = Tensor.allocate(t, 1, 3, 2, 2);
            for (int i = 0; i < x.size(); i++) x.setLong(i, t == DType.BOOL ? i % 2 : i);
            Tensor back = chain(x, Layout.ANY, List.of(transform("NCHW", "NCHW16c", 0), transform("NCHW16c", "NHWC", 3),
                    transform("NHWC", "NCHW", 0)));
            assertTrue(back.contentEquals(x), t.toString());
        }
    }

    @Test
    void inferenceChecksTheSourceLayout() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", new TensorType(DType.F32, Shape.of(1, 4, 4, 3), Layout.NHWC));
        IrException e = assertThrows(IrException.class,
                () -> g.addNode("t", "LayoutTransform", List.of(x), transform("NCHW", "NCHW8c", 0), List.of("y")));
        assertTrue(e.getMessage().contains("not src_layout NCHW"), e.getMessage());
        assertThrows(IrException.class, () -> g.addNode("u", "LayoutTransform", List.of(x), transform("NHWC", "OIHW", 0), List.of("y")));
        Node ok = g.addNode("v", "LayoutTransform", List.of(x), transform("NHWC", "NCHW4c", 0), List.of("y"));
        assertEquals(new TensorType(DType.F32, Shape.of(1, 1, 4, 4, 4), Layout.of("NCHW4c")), ok.output(0).type());
        Node plain = g.addNode("w", "LayoutTransform", List.of(ok.output(0)), transform("NCHW4c", "NCHW", 3), List.of("z"));
        assertEquals(TensorType.of(DType.F32, 1, 3, 4, 4), plain.output(0).type());
    }

    /** A Conv over NHWC or NCHW8c activations and blocked filters computes what it computes on plain tensors. */
    @Test
    void sensitiveOpsComputeInAnyLayout() {
        Tensor x = iota(DType.F32, 1, 3, 5, 5);
        Tensor w = iota(DType.F32, 8, 3, 3, 3);
        Tensor b = Tensor.ofFloats(new float[] {1, -1, 2, -2, 3, -3, 4, -4}, 8);
        Map<String, Attribute> pads = Map.of("pads", new Attribute.Ints(new long[] {1, 1, 1, 1}));
        Tensor plain = convIn(x, w, b, pads, "NCHW", "OIHW");
        for (String[] layouts : new String[][] {{"NHWC", "HWIO"}, {"NCHW8c", "OIHW8i8o"}, {"NCHW4c", "OIHW4i4o"}, {"NHWC", "OIHW"}}) {
            Tensor y = convIn(x, w, b, pads, layouts[0], layouts[1]);
            Tensor back = toPlain(y, layouts[0]);
            assertTrue(back.contentEquals(plain), String.join("/", layouts));
        }
    }

    /** Conv(x, w, b) with x moved to {@code act} and w to {@code filter} first; the result in {@code act}. */
    private static Tensor convIn(Tensor x, Tensor w, Tensor b, Map<String, Attribute> attrs, String act, String filter) {
        Graph g = new Graph("g");
        Value xv = g.addInput("x", TensorType.of(DType.F32, x.shape()));
        Value wv = g.addConstant("w", TensorType.of(DType.F32, w.shape()), w.data());
        Value bv = g.addConstant("b", TensorType.of(DType.F32, b.shape()), b.data());
        if (!act.equals("NCHW")) xv = g.addNode("tx", "LayoutTransform", List.of(xv), transform("NCHW", act, 0), List.of("xt")).output(0);
        if (!filter.equals("OIHW")) wv = g.addNode("tw", "LayoutTransform", List.of(wv), transform("OIHW", filter, 0), List.of("wt")).output(0);
        Node conv = g.addNode("conv", "Conv", List.of(xv, wv, bv), attrs, List.of("y"));
        assertEquals(act.equals("NCHW") ? Layout.ANY : Layout.of(act), conv.output(0).type().layout());
        g.addOutput(conv.output(0));
        return new Interpreter(g).run(Map.of("x", x)).values().iterator().next();
    }

    private static Tensor toPlain(Tensor y, String layout) {
        if (layout.equals("NCHW")) return y;
        return chain(y, Layout.of(layout), List.of(transform(layout, "NCHW", 8)));
    }

    @Test
    void poolsAndNormalizationFollowTheirInputLayout() {
        Tensor x = iota(DType.F32, 1, 5, 4, 4);
        Map<String, Attribute> pool = Map.of("kernel_shape", new Attribute.Ints(new long[] {2, 2}));
        List<Tensor> results = new ArrayList<>();
        for (String layout : List.of("NCHW", "NHWC", "NCHW4c")) {
            Graph g = new Graph("g");
            Value v = g.addInput("x", TensorType.of(DType.F32, x.shape()));
            if (!layout.equals("NCHW")) v = g.addNode("t", "LayoutTransform", List.of(v), transform("NCHW", layout, 0), List.of("xt")).output(0);
            v = g.addNode("pool", "MaxPool", List.of(v), pool, List.of("p")).output(0);
            v = g.addNode("gap", "GlobalAveragePool", List.of(v), Map.of(), List.of("q")).output(0);
            if (!layout.equals("NCHW")) v = g.addNode("u", "LayoutTransform", List.of(v), transform(layout, "NCHW", 5), List.of("y")).output(0);
            g.addOutput(v);
            results.add(new Interpreter(g).run(Map.of("x", x)).values().iterator().next());
        }
        assertArrayEquals(new long[] {1, 5, 1, 1}, results.get(0).shape());
        assertTrue(results.get(1).contentEquals(results.get(0)));
        assertTrue(results.get(2).contentEquals(results.get(0)));
    }
}
