package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;

import static dev.kiln.backends.c.Nodes.dims;

/**
 * Transformer blocks: Attention, RotaryEmbedding and SwiGLU. Attention in f32 (its mask f32 or bool) without
 * cache, window limits, soft cap or extra outputs takes attention.h's blocked online-softmax kernel, with its
 * mask and causal limit; every other form the general kernel of attention_general.h ({@link AttentionGeneral}).
 * RotaryEmbedding and SwiGLU are loops over the elements in double, rounded once to the output dtype as the
 * interpreter does ({@link RotaryAndSwiGlu}).
 */
final class AttentionEmitter implements OpEmitter {
    /** One op: what it does not take (null: everything), and its code. */
    private record Op(Function<Node, String> problem, BiConsumer<Node, Emission> emit) {}

    private static final Map<String, Op> OPS = Map.of(
            "Attention", new Op(AttentionEmitter::attentionProblem, AttentionEmitter::emitAttention),
            "RotaryEmbedding", new Op(RotaryAndSwiGlu::rotaryProblem, RotaryAndSwiGlu::emitRotary),
            "SwiGLU", new Op(RotaryAndSwiGlu::swiGluProblem, RotaryAndSwiGlu::emitSwiGlu));

    @Override
    public Set<String> ops() { return OPS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("attention.h", "attention_general.h"); }

    @Override
    public String problem(Node n) {
        String layout = Nodes.plainLayouts(n);
        return layout != null ? layout : OPS.get(n.op()).problem().apply(n);
    }

    @Override
    public void emit(Node n, Emission e) { OPS.get(n.op()).emit().accept(n, e); }

    private static String attentionProblem(Node n) {
        return isFast(n) ? null : AttentionGeneral.problem(n);
    }

    private static void emitAttention(Node n, Emission e) {
        if (isFast(n)) emitFast(n, e);
        else AttentionGeneral.emit(n, e);
    }

    /**
     * Attention as kiln_attention computes it: static f32 (a bool mask read as 0 / -inf) without cache, window
     * limits, nonpad_kv_seqlen, softcap or extra outputs.
     */
    private static boolean isFast(Node n) {
        Value mask = n.inputs().size() > 3 ? n.input(3) : null;
        return Nodes.staticF32(n, i -> i == 3, false) == null && n.inputs().stream().skip(4).allMatch(Objects::isNull) && n.outputs().size() == 1
                && (mask == null || Emission.dtype(mask) == DType.F32 || Emission.dtype(mask) == DType.BOOL)
                && !(n.attribute("softcap") instanceof Attribute.Float f && f.value() != 0)
                && !(n.attribute("left_window_size") instanceof Attribute.Int l && l.value() >= 0)
                && !(n.attribute("right_window_size") instanceof Attribute.Int r && r.value() >= 0)
                && AttentionGeneral.problem(n) == null && head(n) <= 4096;
    }

    private static long head(Node n) {
        long[] q = dims(n.input(0));
        return q.length == 3 ? q[2] / Nodes.intAttr(n, "q_num_heads", 1) : q[3];
    }

    private static void emitFast(Node n, Emission e) {
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
        long[] mask = AttentionGeneral.maskStrides(n);
        boolean causal = n.attribute("is_causal") instanceof Attribute.Int c && c.value() != 0;
        e.line("static const kiln_attention_shape s = {" + q[0] + ", " + qHeads + ", " + kvHeads + ", " + qSeq + ", " + kvSeq + ", " + head + ", " + vHead + ", "
                + strides(threeD, qHeads, qSeq, head) + ", " + strides(threeD, kvHeads, kvSeq, head) + ", " + strides(threeD, kvHeads, kvSeq, vHead) + ", "
                + strides(threeD, qHeads, qSeq, vHead) + ", " + mask[0] + "L, " + mask[1] + "L, " + mask[2] + "L, " + mask[3] + "L, " + (causal ? 1 : 0) + ", "
                + CTypes.floatLiteral(scale) + "};");
        Workspace ws = new Workspace();
        String maskAt = n.inputs().size() > 3 ? AttentionGeneral.operand(n, 3, DType.F32, ws, e) : "0";
        // KILN_ATTENTION_WORKSPACE(head) with the widest key blocks
        long kernel = head * 64 + 4 * 64 + 2 * 64;
        String at = ws.rest();
        ws.reserve(e, kernel);
        e.threadWorkspace(kernel);
        e.line("kiln_attention(&s, " + e.ptr(n.input(0)) + ", " + e.ptr(n.input(1)) + ", " + e.ptr(n.input(2)) + ", " + maskAt + ", " + e.ptr(n.output(0)) + ", "
                + at + ");");
    }

    /** Batch, head and sequence strides of a [B, S, H*D] (3-D) or [B, H, S, D] tensor. */
    static String strides(boolean threeD, long heads, long seq, long size) {
        return threeD ? (seq * heads * size) + "L, " + size + "L, " + (heads * size) + "L"
                : (heads * seq * size) + "L, " + (seq * size) + "L, " + size + "L";
    }
}
