package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Arrays;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/**
 * Attention through attention_general.h, for {@link AttentionEmitter}: 3-D and 4-D, grouped-query heads, masks
 * (bool or additive, any broadcastable shape), causal and window limits, past/present caches, nonpad_kv_seqlen,
 * soft capping, scale and the scores output. Computed in float (f16 and bf16 operands widened into the
 * workspace) or in double when an operand is f64; present_key and present_value are copies in their own dtype.
 */
final class AttentionGeneral {
    private AttentionGeneral() {}

    /** The sizes of a node from its static shapes and head attributes; strides of q, k, v, y as {b, h, s}. */
    private record Geometry(boolean threeD, long batch, long qHeads, long kvHeads, long qSeq, long kvSeq, long past, long head, long vHead) {
        static Geometry of(Node n) {
            long[] q = dims(n.input(0));
            long[] k = dims(n.input(1));
            long[] v = dims(n.input(2));
            boolean threeD = q.length == 3;
            long qHeads = threeD ? Nodes.intAttr(n, "q_num_heads", 0) : q[1];
            long kvHeads = threeD ? Nodes.intAttr(n, "kv_num_heads", 0) : k[1];
            long head = threeD ? (qHeads > 0 ? q[2] / qHeads : 0) : q[3];
            long vHead = threeD ? (kvHeads > 0 ? v[2] / kvHeads : 0) : v[3];
            long past = n.input(4) != null ? dims(n.input(4))[2] : 0;
            return new Geometry(threeD, q[0], qHeads, kvHeads, q[threeD ? 1 : 2], k[threeD ? 1 : 2], past, head, vHead);
        }

        long total() { return past + kvSeq; }

        /** Batch, head and sequence strides of a [B, S, H*D] (3-D) or [B, H, S, D] tensor. */
        long[] strides(long heads, long seq, long size) {
            return threeD ? new long[] {seq * heads * size, size, heads * size} : new long[] {heads * seq * size, seq * size, size};
        }

        long[] k() { return strides(kvHeads, kvSeq, head); }

        long[] v() { return strides(kvHeads, kvSeq, vHead); }
    }

    /** Longs as a C initializer list's items. */
    private static String list(long... values) {
        StringBuilder b = new StringBuilder();
        for (long v : values) b.append(b.length() > 0 ? ", " : "").append(v).append('L');
        return b.toString();
    }

    static String problem(Node n) {
        String symbolic = Nodes.staticShapes(n);
        if (symbolic != null) return symbolic;
        long[] q = dims(n.input(0));
        long[] k = dims(n.input(1));
        long[] v = dims(n.input(2));
        boolean threeD = q.length == 3;
        if (threeD) {
            long qh = Nodes.intAttr(n, "q_num_heads", 0);
            long kvh = Nodes.intAttr(n, "kv_num_heads", 0);
            if (qh <= 0 || kvh <= 0 || q[2] % qh != 0 || v[2] % kvh != 0 || k[2] != kvh * (q[2] / qh)) return " (hidden sizes that do not split into heads)";
        }
        Geometry g = Geometry.of(n);
        if (g.kvHeads <= 0 || g.qHeads % g.kvHeads != 0) return " (" + g.qHeads + " query heads over " + g.kvHeads + " key/value heads)";
        if (!threeD && (v[1] != g.kvHeads || k[3] != g.head)) return " (K and V that do not match Q)";
        int seqAxis = threeD ? 1 : 2;
        if (k[0] != g.batch || v[0] != g.batch || v[seqAxis] != g.kvSeq) return " (Q, K and V of different batch or sequence)";
        if ((n.input(4) == null) != (n.input(5) == null)) return " (past_key without past_value)";
        if (n.input(4) != null && (!Arrays.equals(dims(n.input(4)), new long[] {g.batch, g.kvHeads, g.past, g.head})
                || !Arrays.equals(dims(n.input(5)), new long[] {g.batch, g.kvHeads, g.past, g.vHead}))) return " (past cache of another shape)";
        if (n.input(3) != null && maskStrides(dims(n.input(3)), g) == null) return " (attn_mask of shape " + Arrays.toString(dims(n.input(3))) + ")";
        if (n.input(6) != null && !Arrays.equals(dims(n.input(6)), new long[] {g.batch})) return " (nonpad_kv_seqlen of shape " + Arrays.toString(dims(n.input(6))) + ")";
        long mode = Nodes.intAttr(n, "qk_matmul_output_mode", 0);
        if (mode < 0 || mode > 3) return " (qk_matmul_output_mode " + mode + ")";
        return null;
    }

    /** The strides of the node's attn_mask as {@link #maskStrides(long[], Geometry)} gives them (all 0 when it has none). */
    static long[] maskStrides(Node n) {
        return n.input(3) == null ? new long[4] : maskStrides(dims(n.input(3)), Geometry.of(n));
    }

    /**
     * The mask's strides over batch, query head and query (0 where it broadcasts) and its columns, its dims
     * right-aligned to [batch, q_heads, q_seq, keys]; null when it does not broadcast or has more columns than keys.
     */
    private static long[] maskStrides(long[] shape, Geometry g) {
        if (shape.length < 1 || shape.length > 4) return null;
        long[] dims = new long[4];
        Arrays.fill(dims, 1);
        System.arraycopy(shape, 0, dims, 4 - shape.length, shape.length);
        long[] target = {g.batch, g.qHeads, g.qSeq};
        if (dims[3] > g.total()) return null;
        long[] strides = new long[4];
        long stride = dims[3];
        strides[3] = dims[3];
        for (int d = 2; d >= 0; d--) {
            if (dims[d] != 1 && dims[d] != target[d]) return null;
            strides[d] = dims[d] == 1 ? 0 : stride;
            stride *= dims[d];
        }
        return strides;
    }

    static void emit(Node n, Emission e) {
        Geometry g = Geometry.of(n);
        // double when an operand is f64, else float (f16 and bf16 widened)
        boolean f64 = n.inputs().stream().anyMatch(v -> v != null && Emission.dtype(v) == DType.F64);
        DType compute = f64 ? DType.F64 : DType.F32;
        String type = f64 ? "double" : "float";
        long[] mask = maskStrides(n);
        e.line("static const kiln_sdpa_shape s = {" + g.batch + ", " + g.qHeads + ", " + g.kvHeads + ", " + g.qSeq + ", " + g.kvSeq + ", " + g.past + ", "
                + g.head + ", " + g.vHead + ", " + list(g.strides(g.qHeads, g.qSeq, g.head)) + ", " + list(g.k()) + ", " + list(g.v()) + ", "
                + list(g.strides(g.qHeads, g.qSeq, g.vHead)) + ", " + list(mask) + ", " + (n.input(4) != null ? 1 : 0) + ", " + (Nodes.intAttr(n, "is_causal", 0) != 0 ? 1 : 0) + ", "
                + Nodes.intAttr(n, "qk_matmul_output_mode", 0) + ", " + Nodes.intAttr(n, "left_window_size", -1) + ", " + Nodes.intAttr(n, "right_window_size", -1)
                + ", " + CTypes.doubleLiteral(scale(n, g)) + ", " + CTypes.doubleLiteral(Nodes.floatAttr(n, "softcap", 0)) + "};");
        Workspace ws = new Workspace();
        String[] in = new String[6];
        for (int i = 0; i < 6; i++) in[i] = operand(n, i, compute, ws, e);
        Value y = n.output(0);
        String yAt = Emission.dtype(y) == compute ? e.ptr(y) : ws.take(type, count(y), compute.byteSize());
        Value scores = n.outputs().size() > 3 ? n.output(3) : null;
        String scoresAt = scores == null ? "0" : Emission.dtype(scores) == compute ? e.ptr(scores) : ws.take(type, count(scores), compute.byteSize());
        long row = g.total() * compute.byteSize() / 4;
        e.threadWorkspace(row);
        String ws0 = ws.rest();
        ws.reserve(e, row);
        e.line("kiln_sdpa_" + (f64 ? "f64" : "f32") + "(&s, " + String.join(", ", in[0], in[1], in[2], in[4], in[5], in[3]) + ", " + (n.input(6) == null ? "0" : e.ptr(n.input(6))) + ", "
                + yAt + ", " + scoresAt + ", " + ws0 + ");");
        narrow(e, y, yAt, compute);
        if (scores != null) narrow(e, scores, scoresAt, compute);
        if (n.outputs().size() > 1) present(n, e, g, 1, n.output(1), g.head, g.k());
        if (n.outputs().size() > 2) present(n, e, g, 2, n.output(2), g.vHead, g.v());
    }

    private static double scale(Node n, Geometry g) {
        return Nodes.attr(n, "scale") instanceof dev.kiln.ir.Attribute.Float f ? f.value() : 1 / Math.sqrt(g.head);
    }

    /**
     * A pointer of the compute type to input i ("0" when absent): the input itself when it has that type, else a
     * widened copy in the workspace (a bool mask as 0 / -inf).
     */
    static String operand(Node n, int i, DType compute, Workspace ws, Emission e) {
        Value v = n.input(i);
        if (v == null) return "0";
        DType t = Emission.dtype(v);
        if (t == compute) return e.ptr(v);
        String type = compute == DType.F64 ? "double" : "float";
        String copy = ws.take(type, count(v), compute.byteSize());
        String element = e.ptr(v) + "[i]";
        String value = t == DType.BOOL ? "(" + element + " ? (" + type + ") 0 : (" + type + ") -INFINITY)" : "(" + type + ") " + CTypes.load(t, element);
        e.line("for (long i = 0; i < " + count(v) + "L; i++) " + copy + "[i] = " + value + ";");
        return copy;
    }

    /** Stores a result computed in the workspace as its own dtype (nothing when it was computed in place). */
    private static void narrow(Emission e, Value out, String computed, DType compute) {
        if (Emission.dtype(out) == compute) return;
        e.line("for (long i = 0; i < " + count(out) + "L; i++) " + e.ptr(out) + "[i] = " + CTypes.store(Emission.dtype(out), "(float) " + computed + "[i]") + ";");
    }

    /**
     * present_key (input 1) or present_value (input 2): [batch, kv_heads, past + kv_seq, size], the past cache
     * then the new entries of each head, copied row by row in their dtype.
     */
    private static void present(Node n, Emission e, Geometry g, int input, Value out, long size, long[] st) {
        Value fresh = n.input(input);
        Value past = n.input(input + 3);
        long bytes = size * Emission.dtype(out).byteSize();
        e.open("for (long b = 0; b < " + g.batch + "L; b++) {");
        e.open("for (long h = 0; h < " + g.kvHeads + "L; h++) {");
        e.line("char* dst = " + e.address(out) + " + (b * " + g.kvHeads + "L + h) * " + (g.total() * bytes) + "L;");
        if (past != null && g.past > 0) {
            e.line("memcpy(dst, " + e.address(past) + " + (b * " + g.kvHeads + "L + h) * " + (g.past * bytes) + "L, " + (g.past * bytes) + ");");
        }
        e.line("for (long s = 0; s < " + g.kvSeq + "L; s++) memcpy(dst + (" + g.past + "L + s) * " + bytes + "L, " + e.address(fresh) + " + (b * " + st[0] + "L + h * "
                + st[1] + "L + s * " + st[2] + "L) * " + Emission.dtype(out).byteSize() + "L, " + bytes + ");");
        e.close("}");
        e.close("}");
    }
}
