package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Arrays;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.dims;

/**
 * RotaryEmbedding and SwiGLU for {@link AttentionEmitter}: loops over the elements computing in double and
 * rounding once to the output dtype, as the interpreter does. SwiGLU takes operands of run-time shape, which
 * must then agree as it runs.
 */
final class RotaryAndSwiGlu {
    private RotaryAndSwiGlu() {}

    private static final Set<DType> FLOATS = Set.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    // ---- RotaryEmbedding --------------------------------------------------------------------------------------------

    /** The sizes of a node: x as [batch, heads, seq, head] (4-D) or [batch, seq, heads * head] (3-D), the rotated part and its half. */
    private record Geometry(boolean threeD, long batch, long heads, long seq, long head, long rotated) {
        static Geometry of(Node n) {
            long[] x = dims(n.input(0));
            boolean threeD = x.length == 3;
            long heads = threeD ? Nodes.intAttr(n, "num_heads", 0) : x[1];
            long head = threeD ? (heads > 0 ? x[2] / heads : 0) : x[3];
            long rotary = Nodes.intAttr(n, "rotary_embedding_dim", 0);
            return new Geometry(threeD, x[0], heads, x[threeD ? 1 : 2], head, rotary == 0 ? head : rotary);
        }

        long half() { return rotated / 2; }
    }

    static String rotaryProblem(Node n) {
        String symbolic = Refusals.symbolic(n);
        if (symbolic != null) return symbolic;
        long[] x = dims(n.input(0));
        if (x.length == 3 && (Nodes.intAttr(n, "num_heads", 0) <= 0 || x[2] % Nodes.intAttr(n, "num_heads", 0) != 0)) return " (hidden size and num_heads)";
        Geometry g = Geometry.of(n);
        if (g.rotated % 2 != 0 || g.rotated > g.head || g.rotated < 0) return " (rotated size " + g.rotated + ")";
        Value ids = n.input(3);
        long[] cache = ids == null ? new long[] {g.batch, g.seq, g.half()} : new long[] {dims(n.input(1)).length == 2 ? dims(n.input(1))[0] : -1, g.half()};
        if (!Arrays.equals(dims(n.input(1)), cache) || !Arrays.equals(dims(n.input(2)), cache)) return " (caches of shape " + Arrays.toString(dims(n.input(1))) + ")";
        if (ids != null && !Arrays.equals(dims(ids), new long[] {g.batch, g.seq})) return " (position_ids of shape " + Arrays.toString(dims(ids)) + ")";
        return null;
    }

    /**
     * Each token's head rotated pair by pair by the angle of its position (its index in the sequence, or its
     * position id, checked against the cached positions as the node runs): pairs (k, k + half) or, interleaved,
     * (2k, 2k + 1); the values past the rotated part are copied.
     */
    static void emitRotary(Node n, Emission e) {
        Geometry g = Geometry.of(n);
        Value x = n.input(0);
        Value y = n.output(0);
        Value ids = n.input(3);
        DType t = Emission.dtype(x);
        boolean interleaved = Nodes.intAttr(n, "interleaved", 0) != 0;
        long half = g.half();
        e.open("for (long b = 0; b < " + g.batch + "L; b++) {");
        e.open("for (long s = 0; s < " + g.seq + "L; s++) {");
        e.line("const long token = b * " + g.seq + "L + s;");
        if (ids == null) {
            e.line("const long position = token;");
        } else {
            long positions = dims(n.input(1))[0];
            e.line("const long position = (long) " + e.ptr(ids) + "[token];");
            e.line("if (position < 0 || position >= " + positions + "L) return kiln_fail_value("
                    + Emission.cString("node " + n.name() + " (RotaryEmbedding): a position id is outside the " + positions + " cached positions:") + ", position);");
        }
        e.open("for (long h = 0; h < " + g.heads + "L; h++) {");
        e.line("const long base = " + (g.threeD ? "(token * " + g.heads + "L + h) * " + g.head + "L" : "((b * " + g.heads + "L + h) * " + g.seq + "L + s) * " + g.head + "L") + ";");
        e.open("for (long k = 0; k < " + half + "L; k++) {");
        e.line("const long first = base + " + (interleaved ? "2 * k" : "k") + ", second = base + " + (interleaved ? "2 * k + 1" : "k + " + half + "L") + ";");
        e.line("double c = " + QuantizedEmitter.asDouble(n.input(1), "position * " + half + "L + k", e) + ", sn = "
                + QuantizedEmitter.asDouble(n.input(2), "position * " + half + "L + k", e) + ";");
        e.line("double x1 = " + QuantizedEmitter.asDouble(x, "first", e) + ", x2 = " + QuantizedEmitter.asDouble(x, "second", e) + ";");
        e.line(e.ptr(y) + "[first] = " + store(t, "c * x1 - sn * x2") + ";");
        e.line(e.ptr(y) + "[second] = " + store(t, "sn * x1 + c * x2") + ";");
        e.close("}");
        if (g.rotated < g.head) {
            e.line("memcpy(" + e.ptr(y) + " + base + " + g.rotated + "L, " + e.ptr(x) + " + base + " + g.rotated + "L, " + (g.head - g.rotated) * t.byteSize() + ");");
        }
        e.close("}");
        e.close("}");
        e.close("}");
    }

    /** A double expression stored as dtype t (f16 and bf16 through f32, as the interpreter rounds). */
    private static String store(DType t, String v) {
        return switch (t) {
            case F64 -> "(" + v + ")";
            case F32 -> "(float) (" + v + ")";
            default -> CTypes.store(t, "(float) (" + v + ")");
        };
    }

    // ---- SwiGLU -----------------------------------------------------------------------------------------------------

    static String swiGluProblem(Node n) {
        Value a = n.input(0);
        Value b = n.input(1);
        if (!FLOATS.contains(Emission.dtype(a))) return " (" + Emission.dtype(a) + ")";
        if (a.type().rank() != b.type().rank()) return " (gate and value of different ranks)";
        for (int d = 0; d < a.type().rank(); d++) {
            if (a.type().shape().dim(d).isStatic() && b.type().shape().dim(d).isStatic() && a.type().shape().dim(d).size() != b.type().shape().dim(d).size()) {
                return " (gate and value of different shapes)";
            }
        }
        return null;
    }

    /** y = a * sigmoid(alpha * a) * b, the sigmoid in the interpreter's form that does not overflow. */
    static void emitSwiGlu(Node n, Emission e) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        // dims known only at run time must agree then (SwiGLU does not broadcast)
        DimExprs.requireDims(e, b, DimExprs.refs(a, 0, a.type().rank()), "node " + n.name() + " (SwiGLU): the gate and value shapes differ");
        QuantizedEmitter.shapeLike(e, y, a);
        e.open("for (long i = 0; i < " + e.count(a) + "; i++) {");
        e.line("double x = " + QuantizedEmitter.asDouble(a, "i", e) + ", z = " + CTypes.doubleLiteral(Nodes.floatAttr(n, "alpha", 1.0)) + " * x;");
        e.line("double sigmoid = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));");
        e.line(e.ptr(y) + "[i] = " + store(Emission.dtype(y), "x * sigmoid * " + QuantizedEmitter.asDouble(b, "i", e)) + ";");
        e.close("}");
    }
}
