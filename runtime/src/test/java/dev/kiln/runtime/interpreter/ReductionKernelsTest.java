package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.HalfFloats;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.OneNodeGraphs.OneNode;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.runtime.interpreter.OneNodeGraphs.run;
import static dev.kiln.runtime.interpreter.OneNodeGraphs.run1;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReductionKernelsTest {
    private static final float[] MATRIX = {1, -2, 3, 4, 5, -6};

    // ---- Reduce* ----

    @Test
    void reduceSumOverOneAxisKeepsDims() {
        Tensor y = reduce("ReduceSum", Tensor.ofFloats(MATRIX, 2, 3), new long[] {1}, Map.of());
        assertArrayEquals(new long[] {2, 1}, y.shape());
        assertArrayEquals(new float[] {2, 3}, y.toFloatArray());
    }

    @Test
    void reduceMeanWithoutAxesReducesEverything() {
        Tensor y = reduce("ReduceMean", Tensor.ofFloats(MATRIX, 2, 3), null, Map.of("keepdims", Attribute.of(0L)));
        assertArrayEquals(new long[] {}, y.shape());
        assertArrayEquals(new float[] {5f / 6}, y.toFloatArray());
    }

    @Test
    void negativeAxesAndDroppedDims() {
        Tensor y = reduce("ReduceMax", Tensor.ofFloats(MATRIX, 2, 3), new long[] {-2}, Map.of("keepdims", Attribute.of(0L)));
        assertArrayEquals(new long[] {3}, y.shape());
        assertArrayEquals(new float[] {4, 5, 3}, y.toFloatArray());
        Tensor z = reduce("ReduceMin", Tensor.ofFloats(MATRIX, 2, 3), new long[] {1, 0}, Map.of());
        assertArrayEquals(new long[] {1, 1}, z.shape());
        assertArrayEquals(new float[] {-6}, z.toFloatArray());
    }

    @Test
    void normsAndLogReductions() {
        Tensor x = Tensor.ofFloats(MATRIX, 2, 3);
        assertArrayEquals(new float[] {6, 15}, reduce("ReduceL1", x, new long[] {1}, Map.of()).toFloatArray());
        assertArrayEquals(new float[] {(float) Math.sqrt(14), (float) Math.sqrt(77)},
                reduce("ReduceL2", x, new long[] {1}, Map.of()).toFloatArray());
        assertArrayEquals(new float[] {14, 77}, reduce("ReduceSumSquare", x, new long[] {1}, Map.of()).toFloatArray());
        assertArrayEquals(new float[] {-6, -120}, reduce("ReduceProd", x, new long[] {1}, Map.of()).toFloatArray());
        assertArrayEquals(new float[] {(float) Math.log(5), (float) Math.log(3), Float.NaN},
                reduce("ReduceLogSum", x, new long[] {0}, Map.of()).toFloatArray());
        float[] logSumExp = reduce("ReduceLogSumExp", x, new long[] {0}, Map.of()).toFloatArray();
        assertArrayEquals(new float[] {(float) (4 + Math.log1p(Math.exp(-3))), (float) (5 + Math.log1p(Math.exp(-7))),
                (float) (3 + Math.log1p(Math.exp(-9)))}, logSumExp, 1e-6f);
    }

    @Test
    void logSumExpDoesNotOverflow() {
        Tensor y = reduce("ReduceLogSumExp", Tensor.ofFloats(new float[] {1000, 1000}, 2), null, Map.of());
        assertArrayEquals(new float[] {(float) (1000 + Math.log(2))}, y.toFloatArray());
    }

    @Test
    void emptySetsGiveTheIdentity() {
        Tensor empty = Tensor.allocate(DType.F32, 2, 0, 3);
        long[] axis1 = {1};
        assertArrayEquals(new float[6], reduce("ReduceSum", empty, axis1, Map.of()).toFloatArray());
        assertArrayEquals(new float[] {1, 1, 1, 1, 1, 1}, reduce("ReduceProd", empty, axis1, Map.of()).toFloatArray());
        assertEquals(Float.NEGATIVE_INFINITY, reduce("ReduceMax", empty, axis1, Map.of()).toFloatArray()[0]);
        assertEquals(Float.POSITIVE_INFINITY, reduce("ReduceMin", empty, axis1, Map.of()).toFloatArray()[0]);
        assertEquals(Float.NEGATIVE_INFINITY, reduce("ReduceLogSum", empty, axis1, Map.of()).toFloatArray()[0]);
        assertEquals(Float.NEGATIVE_INFINITY, reduce("ReduceLogSumExp", empty, axis1, Map.of()).toFloatArray()[0]);
        assertArrayEquals(new long[] {2, 1, 3}, reduce("ReduceL2", empty, axis1, Map.of()).shape());
        Tensor emptyInts = Tensor.allocate(DType.I32, 0);
        assertArrayEquals(new long[] {Integer.MAX_VALUE}, reduce("ReduceMin", emptyInts, null, Map.of()).toLongArray());
        assertArrayEquals(new long[] {Integer.MIN_VALUE}, reduce("ReduceMax", emptyInts, null, Map.of()).toLongArray());
        Tensor emptyBools = Tensor.allocate(DType.BOOL, 0);
        assertArrayEquals(new long[] {1}, reduce("ReduceMin", emptyBools, null, Map.of()).toLongArray());
        Tensor emptyU8 = Tensor.allocate(DType.U8, 0);
        assertArrayEquals(new long[] {255}, reduce("ReduceMin", emptyU8, null, Map.of()).toLongArray());
    }

    @Test
    void zeroSizeKeptAxisGivesAnEmptyResult() {
        Tensor y = reduce("ReduceSum", Tensor.allocate(DType.F32, 0, 3), new long[] {1}, Map.of());
        assertArrayEquals(new long[] {0, 1}, y.shape());
    }

    @Test
    void noopWithEmptyAxesStillAppliesTheElementwiseStep() {
        Tensor x = Tensor.ofFloats(new float[] {-2, 3}, 2);
        Map<String, Attribute> noop = Map.of("noop_with_empty_axes", Attribute.of(1L));
        assertArrayEquals(new float[] {4, 9}, reduce("ReduceSumSquare", x, new long[0], noop).toFloatArray());
        assertArrayEquals(new float[] {2, 3}, reduce("ReduceL1", x, null, noop).toFloatArray());
        assertArrayEquals(new float[] {-2, 3}, reduce("ReduceSum", x, null, noop).toFloatArray());
        assertArrayEquals(new float[] {Float.NaN, (float) Math.log(3)}, reduce("ReduceLogSum", x, null, noop).toFloatArray());
    }

    @Test
    void integerReductionsWrapAndStayExact() {
        Tensor ints = Tensor.ofInts(new int[] {Integer.MAX_VALUE, 1, -7, 2}, 2, 2);
        assertArrayEquals(new long[] {Integer.MIN_VALUE, -5}, reduce("ReduceSum", ints, new long[] {1}, Map.of()).toLongArray());
        assertArrayEquals(new long[] {-2}, reduce("ReduceMean", Tensor.ofInts(new int[] {-7, 2}, 2), null, Map.of()).toLongArray());
        Tensor big = Tensor.ofLongs(new long[] {(1L << 53) + 1, 1}, 2);
        assertArrayEquals(new long[] {(1L << 53) + 2}, reduce("ReduceSum", big, null, Map.of()).toLongArray());
        assertArrayEquals(new long[] {49, 4}, reduce("ReduceSumSquare", Tensor.ofInts(new int[] {-7, 2}, 2),
                null, Map.of("noop_with_empty_axes", Attribute.of(1L))).toLongArray());
    }

    @Test
    void unsignedAndBoolOrdering() {
        Tensor u64 = Tensor.allocate(DType.U64, 3);
        u64.setLong(0, 5);
        u64.setLong(1, -1L);
        u64.setLong(2, 7);
        assertArrayEquals(new long[] {-1L}, reduce("ReduceMax", u64, null, Map.of()).toLongArray());
        assertArrayEquals(new long[] {5}, reduce("ReduceMin", u64, null, Map.of()).toLongArray());
        Tensor bools = Tensor.ofBooleans(new boolean[] {true, false, true, true}, 2, 2);
        assertArrayEquals(new long[] {0, 1}, reduce("ReduceMin", bools, new long[] {1}, Map.of()).toLongArray());
        assertArrayEquals(new long[] {1, 1}, reduce("ReduceMax", bools, new long[] {1}, Map.of()).toLongArray());
    }

    @Test
    void halfPrecisionAccumulatesWide() {
        Tensor h = Tensor.allocate(DType.F16, 3);
        h.setDouble(0, 2048);
        h.setDouble(1, 1);
        h.setDouble(2, 1);
        Tensor y = reduce("ReduceSum", h, null, Map.of());
        assertEquals(DType.F16, y.dtype());
        assertEquals(2050.0, y.getDouble(0));
        Tensor b = Tensor.allocate(DType.BF16, 2);
        b.setDouble(0, 1.5);
        b.setDouble(1, 2.5);
        assertEquals(HalfFloats.bfloat16ToFloat(HalfFloats.floatToBfloat16(2f)), reduce("ReduceMean", b, null, Map.of()).getDouble(0));
    }

    @Test
    void duplicateAxesAreRejected() {
        IrException e = assertThrows(IrException.class,
                () -> reduce("ReduceSum", Tensor.ofFloats(MATRIX, 2, 3), new long[] {1, -1}, Map.of()));
        assertTrue(e.getMessage().contains("more than once"), e.getMessage());
    }

    @Test
    void runtimeAxesInferAsStaticAShapeAsPossible() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 1, 3));
        Value axes = g.addInput("axes", TensorType.of(DType.I64, 1));
        Node keep = g.addNode("keep", "ReduceSum", List.of(x, axes), Map.of(), List.of("k"));
        Node drop = g.addNode("drop", "ReduceSum", List.of(x, axes), Map.of("keepdims", Attribute.of(0L)), List.of("d"));
        assertEquals(3, keep.output(0).type().rank());
        assertEquals(1, keep.output(0).type().shape().dim(1).size());
        assertEquals(2, drop.output(0).type().rank());
        g.addOutput(keep.output(0));
        g.addOutput(drop.output(0));
        Map<String, Tensor> out = new Interpreter(g).run(Map.of("x", Tensor.ofFloats(MATRIX, 2, 1, 3), "axes", Tensor.ofLongs(new long[] {2}, 1)));
        assertArrayEquals(new float[] {2, 3}, out.get("k").toFloatArray());
        assertArrayEquals(new long[] {2, 1}, out.get("d").shape());
    }

    // ---- ArgMax / ArgMin ----

    @Test
    void argMaxAndArgMinWithTies() {
        Tensor x = Tensor.ofFloats(new float[] {2, 7, 7, 1, 1, 0}, 2, 3);
        Tensor first = run1("ArgMax", Map.of("axis", Attribute.of(1L)), x);
        assertEquals(DType.I64, first.dtype());
        assertArrayEquals(new long[] {2, 1}, first.shape());
        assertArrayEquals(new long[] {1, 0}, first.toLongArray());
        Tensor last = run1("ArgMax", Map.of("axis", Attribute.of(-1L), "select_last_index", Attribute.of(1L)), x);
        assertArrayEquals(new long[] {2, 1}, last.toLongArray());
        Tensor min = run1("ArgMin", Map.of("keepdims", Attribute.of(0L)), x);
        assertArrayEquals(new long[] {3}, min.shape());
        assertArrayEquals(new long[] {1, 1, 1}, min.toLongArray());
        Tensor u64 = Tensor.allocate(DType.U64, 3);
        u64.setLong(0, 1);
        u64.setLong(1, -1L);
        assertArrayEquals(new long[] {1}, run1("ArgMax", Map.of(), u64).toLongArray());
        assertArrayEquals(new long[] {2}, run1("ArgMin", Map.of(), u64).toLongArray());
    }

    // ---- Softmax family ----

    @Test
    void softmaxLogSoftmaxAndHardmax() {
        Tensor x = Tensor.ofFloats(new float[] {1, 2, 3, 5, 5, 0}, 2, 3);
        double s = Math.exp(-2) + Math.exp(-1) + 1;
        float[] soft = run1("Softmax", Map.of(), x).toFloatArray();
        assertArrayEquals(new float[] {(float) (Math.exp(-2) / s), (float) (Math.exp(-1) / s), (float) (1 / s)},
                Arrays.copyOf(soft, 3));
        float[] logSoft = run1("LogSoftmax", Map.of(), x).toFloatArray();
        assertArrayEquals(new float[] {(float) (-2 - Math.log(s)), (float) (-1 - Math.log(s)), (float) -Math.log(s)},
                Arrays.copyOf(logSoft, 3));
        assertArrayEquals(new float[] {0, 0, 1, 1, 0, 0}, run1("Hardmax", Map.of(), x).toFloatArray());
        assertArrayEquals(new float[] {0, 0, 1, 1, 1, 0},
                run1("Hardmax", Map.of("axis", Attribute.of(0L)), x).toFloatArray());
        float[] column = run1("Softmax", Map.of("axis", Attribute.of(0L)), x).toFloatArray();
        assertEquals((float) (1 / (1 + Math.exp(-4))), column[3]);
        assertEquals((float) (1 / (1 + Math.exp(-3))), column[4]);
    }

    @Test
    void softmaxOfLargeNumbersIsStable() {
        float[] y = run1("Softmax", Map.of(), Tensor.ofFloats(new float[] {10000, 10000}, 2)).toFloatArray();
        assertArrayEquals(new float[] {0.5f, 0.5f}, y);
    }

    @Test
    void softmaxOfAMillionElementsIsFast() {
        float[] v = new float[1 << 20];
        for (int i = 0; i < v.length; i++) v[i] = (i % 1000) / 100f;
        Tensor x = Tensor.ofFloats(v, 1024, 1024);
        long start = System.nanoTime();
        for (int i = 0; i < 3; i++) run1("Softmax", Map.of(), x);
        run1("ReduceMean", Map.of(), x);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertTrue(millis < 5000, "softmax and mean of 1M elements took " + millis + " ms");
    }

    @Test
    void lpNormalization() {
        Tensor x = Tensor.ofFloats(new float[] {3, -4, 0, 0}, 2, 2);
        assertArrayEquals(new float[] {0.6f, -0.8f, 0, 0}, run1("LpNormalization", Map.of(), x).toFloatArray());
        assertArrayEquals(new float[] {3f / 7, -4f / 7, 0, 0},
                run1("LpNormalization", Map.of("p", Attribute.of(1L)), x).toFloatArray());
        assertArrayEquals(new float[] {1, -1, 0, 0},
                run1("LpNormalization", Map.of("axis", Attribute.of(0L)), x).toFloatArray());
    }

    // ---- CumSum / CumProd ----

    @Test
    void cumSumModes() {
        Tensor x = Tensor.ofFloats(new float[] {1, 2, 3}, 3);
        Tensor axis = Tensor.ofInts(new int[] {0});
        assertArrayEquals(new float[] {1, 3, 6}, run1("CumSum", Map.of(), x, axis).toFloatArray());
        assertArrayEquals(new float[] {0, 1, 3}, run1("CumSum", Map.of("exclusive", Attribute.of(1L)), x, axis).toFloatArray());
        assertArrayEquals(new float[] {6, 5, 3}, run1("CumSum", Map.of("reverse", Attribute.of(1L)), x, axis).toFloatArray());
        assertArrayEquals(new float[] {5, 3, 0}, run1("CumSum",
                Map.of("reverse", Attribute.of(1L), "exclusive", Attribute.of(1L)), x, axis).toFloatArray());
    }

    @Test
    void cumProdAlongAnAxisOfIntegers() {
        Tensor x = Tensor.ofInts(new int[] {1, 2, 3, 4, 5, 6}, 2, 3);
        Tensor rows = run1("CumProd", Map.of(), x, Tensor.ofLongs(new long[] {-1}));
        assertEquals(DType.I32, rows.dtype());
        assertArrayEquals(new long[] {1, 2, 6, 4, 20, 120}, rows.toLongArray());
        Tensor columns = run1("CumProd", Map.of("exclusive", Attribute.of(1L)), x, Tensor.ofLongs(new long[] {0}));
        assertArrayEquals(new long[] {1, 1, 1, 1, 2, 3}, columns.toLongArray());
    }

    // ---- TopK ----

    @Test
    void topKLargestAndSmallestWithTies() {
        Tensor x = Tensor.ofFloats(new float[] {3, 1, 3, 2, 0, 5, 5, 1}, 2, 4);
        List<Tensor> largest = run("TopK", Map.of(), 2, x, Tensor.ofLongs(new long[] {3}, 1));
        assertArrayEquals(new long[] {2, 3}, largest.get(0).shape());
        assertArrayEquals(new float[] {3, 3, 2, 5, 5, 1}, largest.get(0).toFloatArray());
        assertArrayEquals(new long[] {0, 2, 3, 1, 2, 3}, largest.get(1).toLongArray());
        List<Tensor> smallest = run("TopK",
                Map.of("largest", Attribute.of(0L), "axis", Attribute.of(0L)), 2, x, Tensor.ofLongs(new long[] {1}, 1));
        assertArrayEquals(new float[] {0, 1, 3, 1}, smallest.get(0).toFloatArray());
        assertArrayEquals(new long[] {1, 0, 0, 1}, smallest.get(1).toLongArray());
    }

    @Test
    void topKOfUnsignedKeepsBits() {
        Tensor u64 = Tensor.allocate(DType.U64, 3);
        u64.setLong(0, 1);
        u64.setLong(1, -1L);
        u64.setLong(2, 7);
        List<Tensor> top = run("TopK", Map.of(), 2, u64, Tensor.ofLongs(new long[] {2}, 1));
        assertEquals(DType.U64, top.get(0).dtype());
        assertArrayEquals(new long[] {-1L, 7}, top.get(0).toLongArray());
        assertArrayEquals(new long[] {1, 2}, top.get(1).toLongArray());
    }

    @Test
    void topKRejectsTooLargeK() {
        Graph g = new Graph("g");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2));
        Value k = constantLongs(g, "k", new long[] {3}, 1);
        assertThrows(IrException.class, () -> g.addNode("top", "TopK", List.of(x, k), Map.of(), List.of("v", "i")));
    }

    // ---- helpers ----

    private static Tensor reduce(String op, Tensor x, long[] axes, Map<String, Attribute> attrs) {
        OneNode node = new OneNode().input(x);
        if (axes != null) node.constant(Tensor.ofLongs(axes, axes.length));
        return node.run(op, attrs);
    }

    private static Value constantLongs(Graph g, String name, long[] values, long... shape) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) b.putLong(v);
        return g.addConstant(name, TensorType.of(DType.I64, shape), b.flip());
    }
}
