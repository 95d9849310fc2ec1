package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;

/**
 * Ops that make their output from parameters or from their input's shape alone: Range (its length read at
 * run time), ConstantOfShape, EyeLike, Shape and Size.
 */
final class GenerateEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> CODE = Map.of(
            "Range", GenerateEmitter::range,
            "ConstantOfShape", GenerateEmitter::constantOfShape,
            "EyeLike", GenerateEmitter::eyeLike,
            "Shape", GenerateEmitter::shape,
            "Size", GenerateEmitter::size);

    @Override
    public Set<String> ops() { return CODE.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        // Shape and Size read only the input's dims, which a blocked layout pads
        String layout = Nodes.plainLayouts(n);
        if (layout != null) return layout;
        if (n.op().equals("ConstantOfShape")) return ShapeCode.integers(n, 0);
        if (n.op().equals("Range")) {
            for (Value v : n.inputs()) if (isStatic(v) && Nodes.count(v) == 0) return " (empty start, limit or delta)";
        }
        return null;
    }

    @Override
    public void emit(Node n, Emission e) { CODE.get(n.op()).accept(n, e); }

    /** Range: max(0, ceil((limit - start) / delta)) values start + i * delta, computed as the interpreter does. */
    private static void range(Node n, Emission e) {
        Value y = n.output(0);
        DType t = y.type().dtype();
        for (Value v : n.inputs()) {
            if (!isStatic(v)) e.failWhen(e.count(v) + " < 1", "node " + n.name() + " (Range): start, limit or delta holds no value");
        }
        String[] p = new String[3];
        for (int i = 0; i < 3; i++) p[i] = CTypes.load(t, e.ptr(n.input(i)) + "[0]");
        e.line("long y[1];");
        if (t.isFloatingPoint()) {
            e.line("double first = " + p[0] + ", limit = " + p[1] + ", delta = " + p[2] + ";");
            e.line("double length = ceil((limit - first) / delta);");
            e.failWhen("delta == 0", "node " + n.name() + " (Range): delta is zero");
            e.failWhen("length >= (double) LONG_MAX", "node " + n.name() + " (Range): too many values");
            e.line("y[0] = length > 0 ? (long) length : 0;");
        } else {
            e.line("long long first = (long long) " + p[0] + ", limit = (long long) " + p[1] + ", delta = (long long) " + p[2] + ";");
            e.check("kiln_range_length(first, limit, delta, y, " + what(n) + ")");
        }
        ShapeCode.settle(e, n, y, "y");
        String out = e.ptr(y);
        boolean ownPrecision = (t == DType.F16 || t == DType.BF16) && Nodes.intAttr(n, "stash_type", 1) == 0;
        if (ownPrecision) {
            // half precision adds up in its own precision: each value is the previous one stored, plus delta
            e.line("if (y[0] > 0) " + out + "[0] = " + CTypes.store(t, "(float) first") + ";");
            e.line("for (long i = 1; i < y[0]; i++) " + out + "[i] = " + CTypes.store(t, "(float) ((double) " + CTypes.load(t, out + "[i - 1]") + " + delta)") + ";");
        } else if (t.isFloatingPoint()) {
            String value = "kiln_range_value(first, i, delta)";
            e.line("for (long i = 0; i < y[0]; i++) " + out + "[i] = " + CTypes.store(t, t == DType.F64 ? value : "(float) (" + value + ")") + ";");
        } else {
            String value = "(unsigned long long) first + (unsigned long long) i * (unsigned long long) delta";
            e.line("for (long i = 0; i < y[0]; i++) " + out + "[i] = " + (t == DType.BOOL ? "(uint8_t) ((" + value + ") != 0)" : "(" + CTypes.storage(t) + ") (" + value + ")") + ";");
        }
    }

    private static void constantOfShape(Node n, Emission e) {
        Value y = n.output(0);
        int rank = y.type().rank();
        if (!isStatic(y)) {
            ShapeCode.params(e, n, 0, "shape");
            ShapeCode.longs(e, "y", rank);
            e.open("for (int d = 0; d < " + rank + "; d++) {");
            e.line("if (shape[d] < 0 || shape[d] > LONG_MAX) return kiln_shape_fail(" + what(n) + ", \"invalid size\", shape[d]);");
            e.line("y[d] = (long) shape[d];");
            e.close("}");
            ShapeCode.settle(e, n, y, "y");
        }
        ByteBuffer value = n.attribute("value") instanceof Attribute.Tensor v ? v.data().duplicate().order(ByteOrder.LITTLE_ENDIAN) : null;
        long bits = 0;
        for (int b = 0; value != null && b < ShapeCode.size(y); b++) bits |= (value.get(value.position() + b) & 0xffL) << (8 * b);
        if (bits == 0) {
            e.line("memset(" + e.address(y) + ", 0, (size_t) " + e.count(y) + " * " + ShapeCode.size(y) + ");");
        } else {
            String word = CTypes.bits(y.type().dtype());
            e.line("for (long i = 0; i < " + e.count(y) + "; i++) ((" + word + "*) " + e.address(y) + ")[i] = (" + word + ") 0x" + Long.toHexString(bits) + "ULL;");
        }
    }

    private static void eyeLike(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        if (!isStatic(y)) {
            e.line("long y[2] = {" + e.dim(x, 0) + ", " + e.dim(x, 1) + "};");
            ShapeCode.settle(e, n, y, "y");
        }
        // beyond +-2^40 no diagonal of a matrix this library can hold is in range
        long k = Math.max(-(1L << 40), Math.min(1L << 40, Nodes.intAttr(n, "k", 0)));
        String rows = e.dim(x, 0);
        String cols = e.dim(x, 1);
        e.line("memset(" + e.address(y) + ", 0, (size_t) " + e.count(y) + " * " + ShapeCode.size(y) + ");");
        e.line("for (long long i = " + Math.max(0, -k) + "LL; i < " + rows + " && i + " + k + "LL < " + cols + "; i++) "
                + e.ptr(y) + "[i * " + cols + " + i + " + k + "LL] = " + CTypes.store(y.type().dtype(), "1") + ";");
    }

    private static void shape(Node n, Emission e) {
        Value x = n.input(0);
        int rank = x.type().rank();
        long start = clamp(Nodes.intAttr(n, "start", 0), rank);
        long end = n.attribute("end") instanceof Attribute.Int i ? clamp(i.value(), rank) : rank;
        for (long d = start; d < end; d++) e.line(e.ptr(n.output(0)) + "[" + (d - start) + "] = " + e.dim(x, (int) d) + ";");
    }

    /** Shape's start and end: counted from the end when negative, then clamped to [0, rank]. */
    private static long clamp(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        return Math.max(0, Math.min(a, rank));
    }

    private static void size(Node n, Emission e) { e.line(e.ptr(n.output(0)) + "[0] = " + e.count(n.input(0)) + ";"); }
}
