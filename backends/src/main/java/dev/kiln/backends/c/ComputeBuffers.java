package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.runtime.HalfFloats;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Values seen as a kernel computing in a C type reads them, for one node: float (the single-precision kernels,
 * which f16 and bf16 also go through) or double (f64, and integer sums that double holds exactly), in plain
 * row-major order. A plain value stored in that type is used in place; any other is converted into a buffer
 * first (a constant once, when the library loads; any other value at each run), a value in a blocked channels
 * layout NC...{c}c reordered to plain planes of its padded channels on the way, a constant in another layout (a
 * blocked filter) laid out plain at compile time. An output computed into such a buffer is converted into the
 * value afterwards. The node's buffers lie in the arena's workspace after the GEMM's, which every node uses in
 * turn, so that they cost the largest node's buffers rather than the sum of all.
 */
final class ComputeBuffers {
    private final Emission e;
    /** Floats of the workspace this node's buffers take so far, after the GEMM's. */
    private long used;

    ComputeBuffers(Emission e) { this.e = e; }

    /** A buffer of {@code count} elements of C type {@code type} (float, double, uint64_t) for this node alone: a C expression of type {@code type*}. */
    String buffer(long count, String type) {
        long at = Emission.GEMM_WORKSPACE_FLOATS + used;
        used += ((type.equals("float") ? count : 2 * count) + 15) / 16 * 16;
        return "((" + type + "*) (" + e.workspace(Emission.GEMM_WORKSPACE_FLOATS + used) + " + " + at + "L))";
    }

    /** The IR dtype whose storage type is the compute type. */
    private static DType stored(String type) {
        return switch (type) {
            case "float" -> DType.F32;
            case "double" -> DType.F64;
            default -> throw new IllegalArgumentException("no compute type " + type);
        };
    }

    /**
     * Channels per block of a blocked channels layout of any spatial rank (NCW{c}c, NCHW{c}c, NCDHW{c}c: channel
     * blocks after the batch, the block's lanes innermost), else 0.
     */
    static int lanes(Layout l) {
        if (l.isAny() || Layouts.isPlain(l)) return 0;
        String logical = Layouts.logical(l).name();
        int block = Layouts.blockSize(l, 'C');
        return block > 0 && logical.startsWith("NC") && l.name().equals(logical + block + "c") ? block : 0;
    }

    private static int lanes(Value v) { return lanes(v.type().layout()); }

    /** Whether v is read in place: plain and stored as the compute type. */
    private static boolean inPlace(Value v, String type) { return v.type().dtype() == stored(type) && lanes(v) == 0; }

    /** A C expression of type {@code type*} for v's elements in the compute type, in plain order. */
    String read(Value v, String type) {
        if (e.hasPacked(plainKey(v, type))) return "((" + type + "*) " + e.packedPtr(plainKey(v, type)) + ")";
        if (inPlace(v, type)) return e.ptr(v);
        DType t = v.type().dtype();
        String declarations = type + "* to = %s; const " + CTypes.storage(t) + "* from = " + e.ptr(v) + ";";
        String loop = t == DType.F16 && type.equals("float") && lanes(v) == 0 ? "kiln_f16_to_f32_row(from, to, " + e.count(v) + ");"
                : reorder(e, v, "to", "(" + type + ") " + CTypes.load(t, "from[@]"));
        if (v instanceof Constant c) {
            // converted once at load, into the arena
            String dst = "((" + type + "*) " + e.prepacked(Nodes.count(c) * (type.equals("double") ? 2 : 1)) + ")";
            e.init("{ " + String.format(declarations, dst) + " " + loop + " }");
            return dst;
        }
        String dst = buffer(Nodes.count(v), type);
        e.line("{ " + String.format(declarations, dst) + " " + loop + " }");
        return dst;
    }

    /**
     * A loop storing {@code value} (in which @ stands for the element's index in v) at {@code plain}[i], i the
     * element's index in plain order: one loop for a plain value, channel lanes to planes for a blocked one.
     */
    private static String reorder(Emission e, Value v, String plain, String value) {
        int lanes = lanes(v);
        if (lanes == 0) return "for (long i = 0; i < " + e.count(v) + "; i++) " + plain + "[i] = " + value.replace("@", "i") + ";";
        long[] p = Nodes.dims(v);
        long blocks = p[0] * p[1];
        long size = blocks == 0 ? 0 : Nodes.count(v) / (blocks * lanes);
        return "for (long b = 0; b < " + blocks + "L; b++) for (long s = 0; s < " + size + "L; s++) for (long l = 0; l < " + lanes + "L; l++) "
                + plain + "[(b * " + lanes + "L + l) * " + size + "L + s] = " + value.replace("@", "(b * " + size + "L + s) * " + lanes + "L + l") + ";";
    }

    /** Where a kernel computing in {@code type} writes y in plain order: y itself when read in place, else a buffer that {@link #store} converts into y. */
    String output(Value y, String type) {
        return inPlace(y, type) ? e.ptr(y) : buffer(Nodes.count(y), type);
    }

    /** Converts what a kernel wrote at {@code buffer} (from {@link #output}) into y; nothing when it wrote y itself. */
    void store(Value y, String buffer, String type) {
        if (inPlace(y, type)) return;
        int lanes = lanes(y);
        DType t = y.type().dtype();
        if (lanes == 0 && t == DType.F16 && type.equals("float")) {
            e.line("kiln_f32_to_f16_row(" + buffer + ", " + e.ptr(y) + ", " + e.count(y) + ");");
        } else if (lanes == 0) {
            e.line("for (long i = 0; i < " + e.count(y) + "; i++) " + e.ptr(y) + "[i] = " + fromDouble(t, buffer + "[i]") + ";");
        }
        if (lanes == 0) return;
        long[] p = Nodes.dims(y);
        long blocks = p[0] * p[1];
        long size = blocks == 0 ? 0 : Nodes.count(y) / (blocks * lanes);
        e.line("for (long b = 0; b < " + blocks + "L; b++) for (long s = 0; s < " + size + "L; s++) for (long l = 0; l < " + lanes + "L; l++) "
                + e.ptr(y) + "[(b * " + size + "L + s) * " + lanes + "L + l] = " + fromDouble(t, buffer + "[(b * " + lanes + "L + l) * " + size + "L + s]") + ";");
    }

    /**
     * The expression storing a double or float {@code value} as dtype t, as the reference interpreter stores its
     * double results: floating types through float (f16 and bf16 rounded from the float), integers truncated.
     */
    static String fromDouble(DType t, String value) {
        return switch (t) {
            case F64 -> value;
            case F32 -> "(float) (" + value + ")";
            case F16, BF16 -> CTypes.store(t, "(float) (" + value + ")");
            default -> "(" + CTypes.storage(t) + ") (" + value + ")";
        };
    }

    /** Null when every value of the node has one of the dtypes, else the first other, in brackets. */
    static String dtypeProblem(Node n, Set<DType> dtypes) {
        List<Value> values = new ArrayList<>(n.outputs());
        values.addAll(n.inputs());
        for (Value v : values) {
            if (v != null && !dtypes.contains(v.type().dtype())) return " (" + v.type().dtype() + ")";
        }
        return null;
    }

    /**
     * Null when a convolution's activations (output 0, input 0 and input {@code residual}) are plain or all in one
     * blocked channels layout, its filter (input 1) plain or a constant in any layout ({@link #packPlain}), and its
     * other inputs plain; else the layout that is not, in brackets.
     */
    static String layoutProblem(Node n, int residual) {
        Layout activations = n.input(0).type().layout();
        for (int i = 0; i < n.inputs().size(); i++) {
            Value v = n.input(i);
            if (v == null) continue;
            Layout l = v.type().layout();
            boolean fits = i == 0 || i == residual ? Layouts.isPlain(l) ? Layouts.isPlain(activations) : lanes(l) > 0 && l.equals(activations)
                    : Layouts.isPlain(l) || (i == 1 && v instanceof Constant);
            if (!fits) return " (layout " + l + ")";
        }
        Layout y = n.output(0).type().layout();
        if (!(Layouts.isPlain(y) ? Layouts.isPlain(activations) : y.equals(activations))) return " (input and output in different layouts)";
        return Layouts.isPlain(activations) || lanes(activations) > 0 ? null : " (layout " + activations + ")";
    }

    /** The weights blob's key of a constant laid out plain in a compute type. */
    private static String plainKey(Value v, String type) { return "plain-" + type + "/" + v.name(); }

    /**
     * During {@link OpEmitter#prepare}: lays out input i of n, a constant in a layout that is not plain (a filter
     * the layout pass blocked), plain in the weights blob as the compute type, for {@link #read}.
     */
    static void packPlain(Emission e, Node n, int i, String type) {
        Constant c = (Constant) n.input(i);
        int count = Math.toIntExact(Nodes.count(c));
        boolean wide = type.equals("double");
        e.pack(plainKey(c, type), (long) count * (wide ? 8 : 4), dst -> {
            Layout l = c.type().layout();
            DType t = c.type().dtype();
            ByteBuffer plain = Layouts.transform(c.data(), t.byteSize(), Nodes.dims(c), l, Layouts.logical(l), null).order(ByteOrder.LITTLE_ENDIAN);
            for (int k = 0; k < count; k++) {
                double v = switch (t) {
                    case F32 -> plain.getFloat(k * 4);
                    case F64 -> plain.getDouble(k * 8);
                    case F16 -> HalfFloats.halfToFloat(plain.getShort(k * 2));
                    case BF16 -> HalfFloats.bfloat16ToFloat(plain.getShort(k * 2));
                    default -> throw new IllegalArgumentException("constant " + c.name() + " of " + t + " has no " + type + " form");
                };
                if (wide) dst.putDouble(k * 8, v);
                else dst.putFloat(k * 4, (float) v);
            }
        });
        e.readsPacked(n, i);
    }

    /** Null when every value of the node has a static shape, else the first shape that is not, in brackets. */
    static String staticProblem(Node n) {
        List<Value> values = new ArrayList<>(n.outputs());
        values.addAll(n.inputs());
        for (Value v : values) {
            if (v != null && !Emission.isStatic(v)) return " (symbolic shape " + v.type().shape() + ")";
        }
        return null;
    }
}
