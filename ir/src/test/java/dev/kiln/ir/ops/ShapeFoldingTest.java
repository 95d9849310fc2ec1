package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class ShapeFoldingTest {
    private final Graph g = new Graph("g");

    private Value longs(String name, long... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        return g.addConstant(name, TensorType.of(DType.I64, v.length), b.flip());
    }

    private Value scalar(String name, long v) {
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v);
        return g.addConstant(name, TensorType.of(DType.I64, Shape.scalar()), b.flip());
    }

    /** Folds a node and returns its single result as longs, or null when it does not fold. */
    private long[] fold(String op, List<Value> inputs, Map<String, Attribute> attrs) {
        List<TensorType> types = OpRegistry.spec(op).inferTypes("n", inputs, attrs, 1);
        List<Attribute.Tensor> r = ShapeFolding.fold(op, inputs, attrs, types);
        if (r == null) return null;
        ByteBuffer b = r.get(0).data();
        long[] v = new long[(int) r.get(0).type().shape().elementCount()];
        for (int i = 0; i < v.length; i++) {
            v[i] = r.get(0).type().dtype() == DType.I64 ? b.getLong(i * 8) : b.get(i);
        }
        return v;
    }

    @Test
    void shapeOfAStaticTensorIsKnownEvenWhenItsValuesAreNot() {
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3, 4));
        assertArrayEquals(new long[] {2, 3, 4}, fold("Shape", List.of(x), Map.of()));
        assertArrayEquals(new long[] {3}, fold("Shape", List.of(x), Map.of("start", Attribute.of(1L), "end", Attribute.of(-1L))));
        assertArrayEquals(new long[] {24}, fold("Size", List.of(x), Map.of()));
    }

    @Test
    void symbolicShapesAreLeftToRunTime() {
        Value x = g.addInput("x", new TensorType(DType.F32, new Shape(List.of(Dim.symbol("N"), Dim.of(3))), Layout.ANY));
        assertNull(fold("Shape", List.of(x), Map.of()));
        assertArrayEquals(new long[] {3}, fold("Shape", List.of(x), Map.of("start", Attribute.of(1L))));
    }

    @Test
    void theExporterShapeChainFolds() {
        Value dims = longs("dims", 2, 3, 4);
        long[] first = fold("Gather", List.of(dims, scalar("zero", 0)), Map.of());
        assertArrayEquals(new long[] {2}, first);
        assertArrayEquals(new long[] {2, 3, 4, -1}, fold("Concat", List.of(dims, longs("m1", -1)), Map.of("axis", Attribute.of(0L))));
        assertArrayEquals(new long[] {3, 4}, fold("Slice", List.of(dims, longs("s", 1), longs("e", 9)), Map.of()));
        assertArrayEquals(new long[] {4, 3}, fold("Slice", List.of(dims, longs("s2", -1), longs("e2", 0), longs("a", 0), longs("st", -1)), Map.of()));
        assertArrayEquals(new long[] {-2, -3, -4}, fold("Neg", List.of(dims), Map.of()));
        assertArrayEquals(new long[] {24}, fold("ReduceProd", List.of(dims), Map.of("keepdims", Attribute.of(0L))));
        assertArrayEquals(new long[] {1, 1, 2}, fold("Div", List.of(dims, longs("two", 2)), Map.of()));
        assertArrayEquals(new long[] {0, 1, 0}, fold("Equal", List.of(dims, longs("three", 3)), Map.of()));
        assertArrayEquals(new long[] {0, 2, 4}, fold("Range", List.of(scalar("r0", 0), scalar("r1", 5), scalar("r2", 2)), Map.of()));
    }

    @Test
    void divisionByZeroIsLeftForTheKernelToReport() {
        assertNull(fold("Div", List.of(longs("a", 4), longs("z", 0)), Map.of()));
    }
}
