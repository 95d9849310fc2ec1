package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Attribute.Kind;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Transformer building blocks: Attention (scaled dot-product attention with grouped-query heads,
 * masks, causal and sliding-window limits, KV cache and soft capping) and RotaryEmbedding, with
 * the semantics of their newest ONNX versions.
 */
final class AttentionOps {
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    /** ONNX element type codes softmax_precision may name: FLOAT, FLOAT16, DOUBLE, BFLOAT16. */
    private static final Set<Long> SOFTMAX_PRECISIONS = Set.of(1L, 10L, 11L, 16L);

    private AttentionOps() {}

    static List<OpSpec> specs() {
        return List.of(
                OpSpec.builder("Attention").inputs(3, 7).outputs(1, 4)
                        .attr("is_causal", Kind.INT, Attribute.of(0L))
                        .attr("kv_num_heads", Kind.INT, null)
                        .attr("left_window_size", Kind.INT, Attribute.of(-1L))
                        .attr("q_num_heads", Kind.INT, null)
                        .attr("qk_matmul_output_mode", Kind.INT, Attribute.of(0L))
                        .attr("right_window_size", Kind.INT, Attribute.of(-1L))
                        .attr("scale", Kind.FLOAT, null)
                        .attr("softcap", Kind.FLOAT, Attribute.of(0f))
                        .attr("softmax_precision", Kind.INT, null)
                        .infer(AttentionOps::inferAttention).build(),
                OpSpec.builder("RotaryEmbedding").inputs(3, 4)
                        .attr("interleaved", Kind.INT, Attribute.of(0L))
                        .attr("num_heads", Kind.INT, null)
                        .attr("rotary_embedding_dim", Kind.INT, Attribute.of(0L))
                        .infer(AttentionOps::inferRotaryEmbedding).build());
    }

    /** Outputs: Y, present_key, present_value, qk_matmul_output (each optional after Y). */
    private static List<TensorType> inferAttention(InferenceContext ctx) {
        DType t = requireFloat(ctx, 0, "Q");
        if (ctx.dtype(1) != t) throw ctx.fail("K has dtype " + ctx.dtype(1) + " but Q has " + t);
        DType tv = requireFloat(ctx, 2, "V");
        checkAttentionAttributes(ctx);
        Shape q = ctx.shape(0);
        Shape k = ctx.shape(1);
        Shape v = ctx.shape(2);
        int rank = q.rank();
        if (rank != 3 && rank != 4) throw ctx.fail("Q must be 3-D or 4-D, got " + q);
        if (k.rank() != rank || v.rank() != rank) throw ctx.fail("Q, K and V must have the same rank, got " + q + ", " + k + ", " + v);
        Dim batch = q.dim(0);
        Dim qHeads;
        Dim kvHeads;
        Dim qSeq;
        Dim kvSeq;
        Dim headSize;
        Dim vHeadSize;
        if (rank == 4) {
            qHeads = q.dim(1);
            kvHeads = k.dim(1);
            qSeq = q.dim(2);
            kvSeq = k.dim(2);
            headSize = q.dim(3);
            vHeadSize = v.dim(3);
            requireSame(ctx, "K and V heads", kvHeads, v.dim(1));
            requireSame(ctx, "Q and K head size", headSize, k.dim(3));
        } else {
            if (!ctx.hasAttr("q_num_heads") || !ctx.hasAttr("kv_num_heads")) {
                throw ctx.fail("3-D Q, K and V need the q_num_heads and kv_num_heads attributes");
            }
            long qh = ctx.intAttr("q_num_heads");
            long kvh = ctx.intAttr("kv_num_heads");
            if (qh <= 0 || kvh <= 0) throw ctx.fail("q_num_heads " + qh + " and kv_num_heads " + kvh + " must be positive");
            qHeads = Dim.of(qh);
            kvHeads = Dim.of(kvh);
            qSeq = q.dim(1);
            kvSeq = k.dim(1);
            headSize = divide(ctx, q.dim(2), qh, "Q hidden size");
            Dim kHeadSize = divide(ctx, k.dim(2), kvh, "K hidden size");
            requireSame(ctx, "Q and K head size", headSize, kHeadSize);
            vHeadSize = divide(ctx, v.dim(2), kvh, "V hidden size");
        }
        requireSame(ctx, "Q and K batch", batch, k.dim(0));
        requireSame(ctx, "Q and V batch", batch, v.dim(0));
        requireSame(ctx, "K and V sequence length", kvSeq, v.dim(rank == 4 ? 2 : 1));
        if (qHeads.isStatic() && kvHeads.isStatic() && qHeads.size() % kvHeads.size() != 0) {
            throw ctx.fail("q_num_heads " + qHeads + " is not a multiple of kv_num_heads " + kvHeads);
        }

        if (ctx.hasInput(3)) {
            Shape mask = ctx.shape(3);
            if (mask.rank() < 1 || mask.rank() > 4) throw ctx.fail("attn_mask must have rank 1 to 4, got " + mask);
        }
        Dim total = kvSeq;
        if (ctx.hasInput(4) != ctx.hasInput(5)) throw ctx.fail("past_key and past_value must be given together");
        if (ctx.hasInput(4)) {
            if (ctx.dtype(4) != t || ctx.dtype(5) != tv) {
                throw ctx.fail("past_key and past_value have dtypes " + ctx.dtype(4) + " and " + ctx.dtype(5) + "; expected " + t + " and " + tv);
            }
            Shape pastKey = ctx.shape(4);
            Shape pastValue = ctx.shape(5);
            if (pastKey.rank() != 4 || pastValue.rank() != 4) throw ctx.fail("past_key and past_value must be 4-D, got " + pastKey + " and " + pastValue);
            requireSame(ctx, "past_key and past_value length", pastKey.dim(2), pastValue.dim(2));
            requireSame(ctx, "past_key head size", pastKey.dim(3), headSize);
            requireSame(ctx, "past_value head size", pastValue.dim(3), vHeadSize);
            total = sum(ctx, pastKey.dim(2), kvSeq);
        }
        if (ctx.hasInput(6)) {
            if (ctx.dtype(6) != DType.I64) throw ctx.fail("nonpad_kv_seqlen must be i64, got " + ctx.dtype(6));
            Shape nonpad = ctx.shape(6);
            if (nonpad.rank() != 1) throw ctx.fail("nonpad_kv_seqlen must be a vector, got " + nonpad);
            requireSame(ctx, "nonpad_kv_seqlen length and batch", nonpad.dim(0), batch);
        }

        List<TensorType> out = new ArrayList<>();
        Shape y = rank == 4 ? new Shape(List.of(batch, qHeads, qSeq, vHeadSize))
                : new Shape(List.of(batch, qSeq, product(ctx, qHeads, vHeadSize)));
        out.add(TensorType.of(t, y));
        if (ctx.outputCount() > 1) out.add(TensorType.of(t, new Shape(List.of(batch, kvHeads, total, headSize))));
        if (ctx.outputCount() > 2) out.add(TensorType.of(tv, new Shape(List.of(batch, kvHeads, total, vHeadSize))));
        if (ctx.outputCount() > 3) out.add(TensorType.of(t, new Shape(List.of(batch, qHeads, qSeq, total))));
        return out;
    }

    private static void checkAttentionAttributes(InferenceContext ctx) {
        long causal = ctx.intAttr("is_causal");
        if (causal != 0 && causal != 1) throw ctx.fail("is_causal " + causal + " is not 0 or 1");
        long mode = ctx.intAttr("qk_matmul_output_mode");
        if (mode < 0 || mode > 3) throw ctx.fail("qk_matmul_output_mode " + mode + " is not 0, 1, 2 or 3");
        for (String window : List.of("left_window_size", "right_window_size")) {
            if (ctx.intAttr(window) < -1) throw ctx.fail(window + " " + ctx.intAttr(window) + " must be -1 (unbounded) or at least 0");
        }
        if (ctx.hasAttr("softmax_precision") && !SOFTMAX_PRECISIONS.contains(ctx.intAttr("softmax_precision"))) {
            throw ctx.fail("softmax_precision " + ctx.intAttr("softmax_precision") + " is not 1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or 16 (BFLOAT16)");
        }
        if (ctx.floatAttr("softcap") < 0) throw ctx.fail("softcap " + ctx.floatAttr("softcap") + " must not be negative");
    }

    private static List<TensorType> inferRotaryEmbedding(InferenceContext ctx) {
        DType t = requireFloat(ctx, 0, "X");
        for (int i = 1; i <= 2; i++) {
            if (ctx.dtype(i) != t) throw ctx.fail((i == 1 ? "cos_cache" : "sin_cache") + " has dtype " + ctx.dtype(i) + " but X has " + t);
        }
        Shape x = ctx.shape(0);
        Dim headSize;
        if (x.rank() == 4) {
            headSize = x.dim(3);
        } else if (x.rank() == 3) {
            if (!ctx.hasAttr("num_heads")) throw ctx.fail("a 3-D X needs the num_heads attribute");
            long heads = ctx.intAttr("num_heads");
            if (heads <= 0) throw ctx.fail("num_heads " + heads + " must be positive");
            headSize = divide(ctx, x.dim(2), heads, "X hidden size");
        } else {
            throw ctx.fail("X must be 3-D or 4-D, got " + x);
        }
        long rotaryDim = ctx.intAttr("rotary_embedding_dim");
        if (rotaryDim < 0 || rotaryDim % 2 != 0) throw ctx.fail("rotary_embedding_dim " + rotaryDim + " must be even and not negative");
        Dim rotated = rotaryDim == 0 ? headSize : Dim.of(rotaryDim);
        if (rotated.isStatic() && rotated.size() % 2 != 0) throw ctx.fail("head size " + rotated + " must be even");
        if (rotated.isStatic() && headSize.isStatic() && rotated.size() > headSize.size()) {
            throw ctx.fail("rotary_embedding_dim " + rotated + " exceeds the head size " + headSize);
        }
        int cacheRank = ctx.hasInput(3) ? 2 : 3;
        for (int i = 1; i <= 2; i++) {
            Shape cache = ctx.shape(i);
            String name = i == 1 ? "cos_cache" : "sin_cache";
            if (cache.rank() != cacheRank) {
                throw ctx.fail(name + " must be " + cacheRank + "-D " + (ctx.hasInput(3) ? "with" : "without") + " position_ids, got " + cache);
            }
            Dim last = cache.dim(cacheRank - 1);
            if (last.isStatic() && rotated.isStatic() && last.size() * 2 != rotated.size()) {
                throw ctx.fail(name + " has " + last + " columns; expected half the rotated size " + rotated);
            }
        }
        if (ctx.hasInput(3)) {
            if (ctx.dtype(3) != DType.I64) throw ctx.fail("position_ids must be i64, got " + ctx.dtype(3));
            if (ctx.shape(3).rank() != 2) throw ctx.fail("position_ids must be 2-D (batch, sequence), got " + ctx.shape(3));
        }
        return List.of(TensorType.of(t, x));
    }

    private static DType requireFloat(InferenceContext ctx, int i, String name) {
        DType t = ctx.dtype(i);
        if (!FLOATS.contains(t)) throw ctx.fail(name + " has dtype " + t + "; expected one of " + FLOATS);
        return t;
    }

    private static void requireSame(InferenceContext ctx, String what, Dim a, Dim b) {
        if (a.isStatic() && b.isStatic() && a.size() != b.size()) throw ctx.fail(what + " differ: " + a + " vs " + b);
    }

    /** hidden / heads, failing when a static hidden size does not split evenly. */
    private static Dim divide(InferenceContext ctx, Dim hidden, long heads, String what) {
        if (!hidden.isStatic()) return ctx.freshDim();
        if (hidden.size() % heads != 0) throw ctx.fail(what + " " + hidden + " is not a multiple of " + heads + " heads");
        return Dim.of(hidden.size() / heads);
    }

    private static Dim sum(InferenceContext ctx, Dim a, Dim b) {
        return a.isStatic() && b.isStatic() ? Dim.of(a.size() + b.size()) : ctx.freshDim();
    }

    private static Dim product(InferenceContext ctx, Dim a, Dim b) {
        return a.isStatic() && b.isStatic() ? Dim.of(a.size() * b.size()) : ctx.freshDim();
    }
}
