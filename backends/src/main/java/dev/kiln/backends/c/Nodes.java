package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.IntPredicate;

/** What the emitters ask of nodes and values: static dims, attributes with their defaults, layouts, constant operands. */
final class Nodes {
    private Nodes() {}

    static long[] dims(Value v) { return v.type().shape().sizes(); }

    static long count(Value v) { return v.type().shape().elementCount(); }

    /** Static dims multiplied over [from, to). */
    static long product(long[] dims, int from, int to) {
        long p = 1;
        for (int d = from; d < to; d++) p *= dims[d];
        return p;
    }

    /** Row-major strides of dims. */
    static long[] strides(long[] dims) {
        long[] s = new long[dims.length];
        long stride = 1;
        for (int d = dims.length - 1; d >= 0; d--) {
            s[d] = stride;
            stride *= dims[d];
        }
        return s;
    }

    /** The attribute as the node has it, or the op's default. */
    static Attribute attr(Node n, String name) {
        Attribute a = n.attribute(name);
        if (a != null || !OpRegistry.contains(n.op())) return a;
        return OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name);
    }

    static long intAttr(Node n, String name, long fallback) {
        return attr(n, name) instanceof Attribute.Int i ? i.value() : fallback;
    }

    static double floatAttr(Node n, String name, double fallback) {
        return attr(n, name) instanceof Attribute.Float f ? f.value() : fallback;
    }

    static String stringAttr(Node n, String name, String fallback) {
        return attr(n, name) instanceof Attribute.Str s ? s.value() : fallback;
    }

    /** An ints attribute of {@code length} values, or that many copies of {@code fallback} when absent or empty. */
    static long[] ints(Node n, String name, int length, long fallback) {
        if (attr(n, name) instanceof Attribute.Ints a && a.values().length > 0) return a.values();
        long[] v = new long[length];
        Arrays.fill(v, fallback);
        return v;
    }

    /** A possibly negative axis attribute made positive for {@code rank}. */
    static int axis(Node n, String name, long fallback, int rank) {
        long axis = intAttr(n, name, fallback);
        return (int) (axis < 0 ? axis + rank : axis);
    }

    /** Whether input i is present and a constant. */
    static boolean isConstant(Node n, int i) { return i < n.inputs().size() && n.input(i) instanceof Constant; }

    /** An integer constant input's values (i32 or i64); null when the input is absent or not such a constant. */
    static long[] constantLongs(Node n, int input) {
        if (input >= n.inputs().size() || !(n.input(input) instanceof Constant c)) return null;
        DType t = c.type().dtype();
        if (t != DType.I64 && t != DType.I32) return null;
        ByteBuffer b = c.data();
        long[] v = new long[(int) count(c)];
        for (int i = 0; i < v.length; i++) v[i] = t == DType.I64 ? b.getLong(i * 8) : b.getInt(i * 4);
        return v;
    }

    /** A value's logical dims (NCHW for NCHW{c}c, whose channels include the padding). */
    static long[] logical(Value v) {
        Layout l = v.type().layout();
        return Layouts.isPlain(l) ? dims(v) : Layouts.logicalSizes(dims(v), l);
    }

    /** NCW{c}c or NCHW{c}c: channels blocked, nothing else. */
    static boolean isBlockedActivation(Layout l) {
        if (l.isAny() || Layouts.isPlain(l)) return false;
        String logical = Layouts.logical(l).name();
        return (logical.equals("NCW") || logical.equals("NCHW")) && l.name().equals(logical + Layouts.blockSize(l, 'C') + "c");
    }

    /** OI(H)W{c}o or OI(H)W{c}i{c}o: the layout pass's convolution filters. */
    static boolean isBlockedFilter(Layout l) {
        if (l.isAny() || Layouts.isPlain(l)) return false;
        String logical = Layouts.logical(l).name();
        int o = Layouts.blockSize(l, 'O');
        return (logical.equals("OIW") || logical.equals("OIHW")) && o > 0
                && (l.name().equals(logical + o + "o") || l.name().equals(logical + o + "i" + o + "o"));
    }

    static boolean isBlocked(Value v) { return isBlockedActivation(v.type().layout()); }

    static String layoutName(Layout l) { return l.isAny() ? "plain" : l.name(); }

    /**
     * Null when every output and every input but the parameter inputs is static f32 in a plain layout, or in a
     * blocked one where {@code blockedTaken} says the op takes it; else what is wrong, in brackets.
     */
    static String staticF32(Node n, IntPredicate parameterInput, boolean blockedTaken) {
        List<Value> values = new ArrayList<>(n.outputs());
        for (int i = 0; i < n.inputs().size(); i++) {
            Value v = n.input(i);
            if (v != null && !parameterInput.test(i)) values.add(v);
        }
        for (Value v : values) {
            TensorType t = v.type();
            if (t.dtype() != DType.F32) return " (" + t.dtype() + ")";
            if (!t.shape().isStatic()) return " (symbolic shape " + t.shape() + ")";
            Layout l = t.layout();
            if (!Layouts.isPlain(l) && !(blockedTaken && isBlockedActivation(l))) return " (layout " + l + ")";
        }
        return null;
    }

    /** The node's outputs and the inputs it has. */
    static List<Value> values(Node n) {
        List<Value> all = new ArrayList<>(n.outputs());
        for (Value v : n.inputs()) if (v != null) all.add(v);
        return all;
    }

    /** Null when every value of the node is in a plain layout; else the first other layout, in brackets. */
    static String plainLayouts(Node n) {
        for (Value v : values(n)) if (!Layouts.isPlain(v.type().layout())) return " (layout " + v.type().layout() + ")";
        return null;
    }

    /** Null when every value of the node has a static shape; else the first symbolic one, in brackets. */
    static String staticShapes(Node n) {
        for (Value v : values(n)) if (!v.type().shape().isStatic()) return " (symbolic shape " + v.type().shape() + ")";
        return null;
    }

    /** Null when the node's values have only the given dtypes and plain layouts; else what is wrong, in brackets. */
    static String plainOf(Node n, Set<DType> dtypes) {
        List<Value> values = new ArrayList<>(n.outputs());
        for (Value v : n.inputs()) if (v != null) values.add(v);
        for (Value v : values) {
            if (!dtypes.contains(v.type().dtype())) return " (" + v.type().dtype() + ")";
            if (!Layouts.isPlain(v.type().layout())) return " (layout " + v.type().layout() + ")";
        }
        return null;
    }
}
