package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;


/**
 * RotaryEmbedding and SwiGLU for {@link AttentionEmitter}: loops over the elements computing in double and
 * rounding once to the output dtype, as the interpreter does. Both take operands of run-time shape, whose dims
 * are then checked to agree as they run.
 */
final class RotaryAndSwiGlu {
    private RotaryAndSwiGlu() {}

    private static final Set<DType> FLOATS = Set.of(DType.F32, DType.F64, DType.F16, DType.BF16);

    // ---- RotaryEmbedding --------------------------------------------------------------------------------------------

    /**
     * x as [batch, heads, seq, head] (4-D) or [batch, seq, heads * head] (3-D): its seq axis, heads (4-D: dim 1,
     * which may be known only at run time), the head size (static), the rotated part and its half.
     */
    private record Geometry(boolean threeD, int seqAxis, long heads, long head, long rotated) {
        static Geometry of(Node n) {
            Shape x = n.input(0).type().shape();
            boolean threeD = x.rank() == 3;
            long heads = threeD ? Nodes.intAttr(n, "num_heads", 0) : -1;
            long last = x.dim(x.rank() - 1).size();
            long head = threeD ? (heads > 0 ? last / heads : 0) : last;
            long rotary = Nodes.intAttr(n, "rotary_embedding_dim", 0);
            return new Geometry(threeD, threeD ? 1 : 2, heads, head, rotary == 0 ? head : rotary);
        }

        long half() { return rotated / 2; }

        String heads(Emission e, Value x) { return threeD ? heads + "L" : e.dim(x, 1); }
    }

    /** Dim d of v must be dim wantDim of want. */
    private record Agreement(Value v, int d, Value want, int wantDim) {
        Dim dim() { return v.type().shape().dim(d); }

        Dim wanted() { return want.type().shape().dim(wantDim); }
    }

    /**
     * The dims that must agree: the caches with x's batch and sequence (without position_ids) or with each
     * other's positions, position_ids with x's batch and sequence (the caches' last dim, half the rotated size,
     * is static).
     */
    private static List<Agreement> agreements(Node n, Geometry g) {
        Value x = n.input(0);
        Value cos = n.input(1);
        Value sin = n.input(2);
        Value ids = n.input(3);
        List<Agreement> same = new ArrayList<>();
        if (ids == null) {
            for (Value cache : List.of(cos, sin)) {
                same.add(new Agreement(cache, 0, x, 0));
                same.add(new Agreement(cache, 1, x, g.seqAxis));
            }
        } else {
            same.add(new Agreement(sin, 0, cos, 0));
            same.add(new Agreement(ids, 0, x, 0));
            same.add(new Agreement(ids, 1, x, g.seqAxis));
        }
        return same;
    }

    static String rotaryProblem(Node n) {
        Value x = n.input(0);
        Shape xs = x.type().shape();
        if (!xs.dim(xs.rank() - 1).isStatic()) return " (a head size known only at run time)";
        if (xs.rank() == 3 && (Nodes.intAttr(n, "num_heads", 0) <= 0 || xs.dim(2).size() % Nodes.intAttr(n, "num_heads", 0) != 0)) return " (hidden size and num_heads)";
        Geometry g = Geometry.of(n);
        if (g.rotated % 2 != 0 || g.rotated > g.head || g.rotated < 0) return " (rotated size " + g.rotated + ")";
        Value ids = n.input(3);
        int cacheRank = ids == null ? 3 : 2;
        for (int i = 1; i <= 2; i++) {
            Shape cache = n.input(i).type().shape();
            if (cache.rank() != cacheRank || !cache.dim(cacheRank - 1).isStatic() || cache.dim(cacheRank - 1).size() != g.half()) return " (caches of shape " + cache + ")";
        }
        if (ids != null && ids.type().rank() != 2) return " (position_ids of shape " + ids.type().shape() + ")";
        for (Agreement a : agreements(n, g)) {
            if (a.dim().isStatic() && a.wanted().isStatic() && a.dim().size() != a.wanted().size()) {
                return " (" + (a.v() == ids ? "position_ids" : "caches") + " of shape " + a.v().type().shape() + ")";
            }
        }
        return null;
    }

    /**
     * Each token's head rotated pair by pair by the angle of its position (its index in the sequence, or its
     * position id, checked against the cached positions as the node runs): pairs (k, k + half) or, interleaved,
     * (2k, 2k + 1); the values past the rotated part are copied. Dims known only at run time are checked to
     * agree first.
     */
    static void emitRotary(Node n, Emission e) {
        Geometry g = Geometry.of(n);
        Value x = n.input(0);
        Value y = n.output(0);
        Value ids = n.input(3);
        DType t = Emission.dtype(x);
        for (Agreement a : agreements(n, g)) {
            if (!a.dim().isStatic() || !a.wanted().isStatic()) {
                e.failWhen(e.dim(a.v(), a.d()) + " != " + e.dim(a.want(), a.wantDim()), "node " + n.name() + " (RotaryEmbedding): "
                        + (a.v() == ids ? "position_ids do" : "the caches do") + " not match the batch or sequence of x");
            }
        }
        QuantizedEmitter.shapeLike(e, y, x);
        boolean interleaved = Nodes.intAttr(n, "interleaved", 0) != 0;
        long half = g.half();
        String seq = e.dim(x, g.seqAxis);
        String heads = g.heads(e, x);
        e.open("for (long b = 0; b < " + e.dim(x, 0) + "; b++) {");
        e.open("for (long s = 0; s < " + seq + "; s++) {");
        e.line("const long token = b * " + seq + " + s;");
        if (ids == null) {
            e.line("const long position = token;");
        } else {
            String positions = e.dim(n.input(1), 0);
            e.line("const long position = (long) " + e.ptr(ids) + "[token];");
            e.line("if (position < 0 || position >= " + positions + ") return kiln_fail_value("
                    + Emission.cString("node " + n.name() + " (RotaryEmbedding): a position id is outside the cached positions:") + ", position);");
        }
        e.open("for (long h = 0; h < " + heads + "; h++) {");
        e.line("const long base = " + (g.threeD ? "(token * " + heads + " + h) * " + g.head + "L" : "((b * " + heads + " + h) * " + seq + " + s) * " + g.head + "L") + ";");
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
