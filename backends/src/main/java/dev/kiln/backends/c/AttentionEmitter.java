package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Node;

import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.dims;

/** Attention (attention.h): softmax(scale q k^T) v per batch and head, without mask, cache or extra outputs. */
final class AttentionEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("Attention"); }

    @Override
    public List<String> kernels() { return List.of("attention.h"); }

    @Override
    public String problem(Node n) {
        String types = Nodes.staticF32(n, i -> false, false);
        if (types != null) return types;
        if (!isPlain(n)) return " (mask, cache, causal or window limits, softcap or extra outputs)";
        return head(n) > 4096 ? " (heads of " + head(n) + " values)" : null;
    }

    /** Attention as kiln_attention computes it: no mask, cache, causal or window limits, softcap or extra outputs. */
    private static boolean isPlain(Node n) {
        return n.inputs().size() <= 3 && n.outputs().size() == 1
                && !(n.attribute("is_causal") instanceof Attribute.Int c && c.value() != 0)
                && !(n.attribute("softcap") instanceof Attribute.Float f && f.value() != 0)
                && !(n.attribute("left_window_size") instanceof Attribute.Int l && l.value() >= 0)
                && !(n.attribute("right_window_size") instanceof Attribute.Int r && r.value() >= 0);
    }

    private static long head(Node n) {
        long[] q = dims(n.input(0));
        return q.length == 3 ? q[2] / Nodes.intAttr(n, "q_num_heads", 1) : q[3];
    }

    @Override
    public void emit(Node n, Emission e) {
        long[] q = dims(n.input(0));
        long[] k = dims(n.input(1));
        long[] v = dims(n.input(2));
        boolean threeD = q.length == 3;
        long qHeads = threeD ? Nodes.intAttr(n, "q_num_heads", 1) : q[1];
        long kvHeads = threeD ? Nodes.intAttr(n, "kv_num_heads", 1) : k[1];
        long head = head(n);
        long vHead = threeD ? v[2] / kvHeads : v[3];
        long qSeq = threeD ? q[1] : q[2];
        long kvSeq = threeD ? k[1] : k[2];
        double scale = n.attribute("scale") instanceof Attribute.Float f ? f.value() : 1 / Math.sqrt(head);
        e.line("static const kiln_attention_shape s = {" + q[0] + ", " + qHeads + ", " + kvHeads + ", " + qSeq + ", " + kvSeq + ", " + head + ", " + vHead + ", "
                + strides(threeD, qHeads, qSeq, head) + ", " + strides(threeD, kvHeads, kvSeq, head) + ", " + strides(threeD, kvHeads, kvSeq, vHead) + ", "
                + strides(threeD, qHeads, qSeq, vHead) + ", " + CTypes.floatLiteral(scale) + "};");
        String ws = e.workspace(head * 16 + 4 * 16 + 2 * 64); // KILN_ATTENTION_WORKSPACE(head)
        e.line("kiln_attention(&s, " + e.ptr(n.input(0)) + ", " + e.ptr(n.input(1)) + ", " + e.ptr(n.input(2)) + ", " + e.ptr(n.output(0)) + ", " + ws + ");");
    }

    /** Batch, head and sequence strides of a [B, S, H*D] (3-D) or [B, H, S, D] tensor. */
    private static String strides(boolean threeD, long heads, long seq, long size) {
        return threeD ? (seq * heads * size) + "L, " + size + "L, " + (heads * size) + "L"
                : (heads * seq * size) + "L, " + (seq * size) + "L, " + size + "L";
    }
}
