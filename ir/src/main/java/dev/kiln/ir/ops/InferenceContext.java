package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** What type inference sees of one node: input types, constant inputs, attributes with defaults. */
public final class InferenceContext {
    private final OpSpec spec;
    private final String nodeName;
    private final List<Value> inputs;
    private final Map<String, Attribute> attrs;
    private final int outputCount;
    private int symbols;

    InferenceContext(OpSpec spec, String nodeName, List<Value> inputs, Map<String, Attribute> attrs, int outputCount) {
        this.spec = spec;
        this.nodeName = nodeName;
        this.inputs = inputs;
        this.attrs = attrs;
        this.outputCount = outputCount;
    }

    public String nodeName() { return nodeName; }

    public int inputCount() { return inputs.size(); }

    public int outputCount() { return outputCount; }

    /** Whether input i is given (not omitted). */
    public boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }

    public TensorType input(int i) {
        if (!hasInput(i)) throw fail("input " + i + " is missing");
        return inputs.get(i).type();
    }

    public Shape shape(int i) { return input(i).shape(); }

    public DType dtype(int i) { return input(i).dtype(); }

    /** The contents of input i when it is a constant, else null. */
    public ByteBuffer constant(int i) {
        return hasInput(i) && inputs.get(i) instanceof Constant c ? c.data() : null;
    }

    /** Integer contents (i32 or i64) of a constant input, else null. */
    public long[] constantLongs(int i) {
        ByteBuffer b = constant(i);
        if (b == null) return null;
        DType t = dtype(i);
        int n = b.remaining() / t.byteSize();
        long[] r = new long[n];
        for (int k = 0; k < n; k++) {
            switch (t) {
                case I64, U64 -> r[k] = b.getLong(k * 8);
                case I32 -> r[k] = b.getInt(k * 4);
                case U32 -> r[k] = Integer.toUnsignedLong(b.getInt(k * 4));
                default -> { return null; }
            }
        }
        return r;
    }

    /** The node's inputs as given (null where omitted), for ops whose inference delegates to another op's spec. */
    List<Value> inputs() { return inputs; }

    /** The attributes set on the node (defaults not filled in), for the same. */
    Map<String, Attribute> attributes() { return attrs; }

    public boolean hasAttr(String name) { return spec.attributeOrDefault(attrs, name) != null; }

    public Attribute attr(String name) { return spec.attributeOrDefault(attrs, name); }

    public long intAttr(String name) {
        if (attr(name) instanceof Attribute.Int i) return i.value();
        throw fail("attribute '" + name + "' is not set");
    }

    public float floatAttr(String name) {
        if (attr(name) instanceof Attribute.Float f) return f.value();
        throw fail("attribute '" + name + "' is not set");
    }

    public String stringAttr(String name) {
        if (attr(name) instanceof Attribute.Str s) return s.value();
        throw fail("attribute '" + name + "' is not set");
    }

    /** An INTS attribute, or null when absent with no default. */
    public long[] intsAttr(String name) {
        return attr(name) instanceof Attribute.Ints i ? i.values() : null;
    }

    /** A new symbolic dimension for a size only known at run time. */
    public Dim freshDim() {
        String base = nodeName.replaceAll("[^A-Za-z0-9_]", "_");
        if (base.isEmpty() || Character.isDigit(base.charAt(0))) base = "n" + base;
        return Dim.symbol(base + "_d" + symbols++);
    }

    /** Multidirectional (numpy) broadcasting of the given inputs' shapes. */
    public Shape broadcastShapes(int... inputIndices) {
        List<Shape> shapes = new ArrayList<>();
        for (int i : inputIndices) if (hasInput(i)) shapes.add(shape(i));
        return broadcast(shapes);
    }

    public Shape broadcast(List<Shape> shapes) {
        int rank = 0;
        for (Shape s : shapes) rank = Math.max(rank, s.rank());
        List<Dim> out = new ArrayList<>(rank);
        for (int d = 0; d < rank; d++) {
            Dim result = Dim.of(1);
            for (Shape s : shapes) {
                int k = d - (rank - s.rank());
                if (k < 0) continue;
                Dim x = s.dim(k);
                if (x.isStatic() && x.size() == 1) continue;
                if (result.isStatic() && result.size() == 1) { result = x; continue; }
                if (x.equals(result)) continue;
                if (x.isStatic() && result.isStatic()) {
                    throw fail("shapes " + shapes + " cannot be broadcast together");
                }
                result = x.isStatic() ? x : result.isStatic() ? result : freshDim();
            }
            out.add(result);
        }
        return new Shape(out);
    }

    /** Normalises a possibly negative axis against a rank, failing when out of range. */
    public int axis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw fail("axis " + axis + " is out of range for rank " + rank);
        return (int) a;
    }

    public IrException fail(String message) {
        return new IrException(spec.name() + " node '" + nodeName + "': " + message);
    }
}
