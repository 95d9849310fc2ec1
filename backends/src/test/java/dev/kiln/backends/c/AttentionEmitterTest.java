package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Attention (every form), RotaryEmbedding and SwiGLU against the interpreter. */
class AttentionEmitterTest {
    @TempDir
    Path dir;

    /** Attention of batch 2: 4-D [B, H, S, D] or 3-D [B, S, H * D] operands; inputs after V as given (null: absent). */
    private static List<Value> attention(OpBatch b, DType t, boolean threeD, long qHeads, long kvHeads, long qSeq, long kvSeq, long head, long vHead,
                                         List<Value> rest, Map<String, Attribute> extra, int outputs) {
        long batch = 2;
        List<Value> in = new ArrayList<>();
        in.add(b.input(t, threeD ? new long[] {batch, qSeq, qHeads * head} : new long[] {batch, qHeads, qSeq, head}));
        in.add(b.input(t, threeD ? new long[] {batch, kvSeq, kvHeads * head} : new long[] {batch, kvHeads, kvSeq, head}));
        in.add(b.input(t, threeD ? new long[] {batch, kvSeq, kvHeads * vHead} : new long[] {batch, kvHeads, kvSeq, vHead}));
        in.addAll(rest);
        while (in.size() > 3 && in.get(in.size() - 1) == null) in.remove(in.size() - 1);
        Map<String, Attribute> a = new LinkedHashMap<>(extra);
        if (threeD) a.putAll(attrs("q_num_heads", qHeads, "kv_num_heads", kvHeads));
        return b.node("Attention", in, a, outputs);
    }

    @Test
    void plainAndGroupedQueryAttention() {
        OpBatch b = new OpBatch("attention_plain", 21);
        for (boolean threeD : new boolean[] {false, true}) {
            attention(b, DType.F32, threeD, 4, 4, 5, 7, 8, 8, List.of(), Map.of(), 1);
            attention(b, DType.F32, threeD, 6, 2, 3, 19, 5, 7, List.of(), attrs("scale", 0.3f), 1);
            attention(b, DType.F32, threeD, 3, 1, 1, 40, 17, 3, List.of(), Map.of(), 1);
            for (DType t : List.of(DType.F64, DType.F16, DType.BF16)) attention(b, t, threeD, 4, 2, 6, 9, 8, 4, List.of(), Map.of(), 1);
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void masksCausalWindowsAndSoftcap() {
        OpBatch b = new OpBatch("attention_masks", 22);
        long qSeq = 5;
        long kv = 7;
        for (boolean threeD : new boolean[] {false, true}) {
            // additive masks of every rank and broadcast, one with fewer columns than keys (padded with -inf)
            for (long[] shape : List.of(new long[] {kv}, new long[] {qSeq, kv}, new long[] {4, qSeq, kv}, new long[] {2, 1, qSeq, kv},
                    new long[] {2, 4, 1, kv}, new long[] {1, 1, qSeq, 5})) {
                attention(b, DType.F32, threeD, 4, 2, qSeq, kv, 6, 6, List.of(b.input(DType.F32, shape)), Map.of(), 1);
            }
            // bool masks, rows with no key attended
            Value mask = b.input(DType.BOOL, new long[] {qSeq, kv}, () -> b.random().nextInt(3) > 0 ? 1 : 0);
            attention(b, DType.F32, threeD, 4, 4, qSeq, kv, 6, 6, List.of(mask), Map.of(), 1);
            attention(b, DType.F32, threeD, 4, 4, qSeq, kv, 6, 6, List.of(b.input(DType.BOOL, new long[] {2, 4, qSeq, kv}, () -> 0)), Map.of(), 1);
            attention(b, DType.F32, threeD, 4, 2, qSeq, kv, 6, 6, List.of(), attrs("is_causal", 1L), 1);
            attention(b, DType.F32, threeD, 4, 2, kv, kv, 6, 6, List.of(b.input(DType.BOOL, new long[] {kv, kv}, () -> b.random().nextInt(3) > 0 ? 1 : 0)),
                    attrs("is_causal", 1L, "softcap", 2.5f), 1);
            attention(b, DType.F32, threeD, 2, 2, qSeq, kv, 6, 6, List.of(), attrs("left_window_size", 1L), 1);
            attention(b, DType.F32, threeD, 2, 2, qSeq, kv, 6, 6, List.of(), attrs("right_window_size", 0L, "left_window_size", 3L), 1);
            attention(b, DType.F32, threeD, 2, 1, qSeq, kv, 6, 6, List.of(), attrs("softcap", 0.5f, "scale", 2f), 1);
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * f32 attention over sequences of 1, 7, 129 and 300 (several key and query blocks, partial ones), heads that
     * are not whole vectors, masks whose first key blocks are all masked out for some queries, padding masks
     * and causal limits with fewer or more queries than keys.
     */
    @Test
    void longSequencesAcrossBlocks() {
        OpBatch b = new OpBatch("attention_long", 26);
        for (long seq : new long[] {1, 7, 129, 300}) {
            attention(b, DType.F32, false, 2, 1, seq, seq, 64, 40, List.of(), attrs("is_causal", 1L), 1);
            attention(b, DType.F32, true, 3, 3, seq, seq + 5, 17, 24, List.of(b.input(DType.F32, seq, seq + 5)), Map.of(), 1);
        }
        // queries whose first 70 keys are masked out; a padding mask (the last keys) as a bool per key
        long kv = 150;
        double[] late = new double[(int) (20 * kv)];
        for (int i = 0; i < late.length; i++) late[i] = i % kv < 70 && i / kv % 3 == 0 ? Double.NEGATIVE_INFINITY : b.random().nextDouble() - 0.5;
        attention(b, DType.F32, false, 2, 2, 20, kv, 16, 16, List.of(b.input(DType.F32, new long[] {20, kv}, late)), Map.of(), 1);
        Value padding = b.input(DType.BOOL, new long[] {2, 1, 1, kv}, () -> b.random().nextInt(5) > 0 ? 1 : 0);
        attention(b, DType.F32, true, 4, 2, 33, kv, 16, 16, List.of(padding), Map.of(), 1);
        attention(b, DType.F32, false, 4, 4, 200, 70, 8, 8, List.of(), attrs("is_causal", 1L), 1);
        attention(b, DType.F32, false, 4, 4, 70, 200, 8, 8, List.of(padding), attrs("is_causal", 1L), 1);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void cachesScoresAndNonPadLengths() {
        OpBatch b = new OpBatch("attention_cache", 23);
        long past = 4;
        for (boolean threeD : new boolean[] {false, true}) {
            for (long[] heads : List.of(new long[] {3, 3}, new long[] {6, 2})) {
                long kvh = heads[1];
                Value pk = b.input(DType.F32, 2, kvh, past, 8);
                Value pv = b.input(DType.F32, 2, kvh, past, 5);
                attention(b, DType.F32, threeD, heads[0], kvh, 3, 2, 8, 5, Arrays.asList(null, pk, pv), Map.of(), 3);
                attention(b, DType.F32, threeD, heads[0], kvh, 3, 2, 8, 5, Arrays.asList(b.input(DType.F32, 3, past + 2), pk, pv), attrs("is_causal", 1L), 3);
                for (long mode = 0; mode <= 3; mode++) {
                    attention(b, DType.F32, threeD, heads[0], kvh, 3, 2, 8, 5, Arrays.asList(b.input(DType.BOOL, new long[] {3, past + 2}, () -> b.random().nextInt(4) > 0 ? 1 : 0), pk, pv),
                            attrs("qk_matmul_output_mode", mode, "softcap", mode == 2 ? 3f : 0f), 4);
                }
            }
        }
        // nonpad_kv_seqlen: decoding against a padded cache, alone and with a past cache
        Value lengths = b.input(DType.I64, new long[] {2}, 5, 2);
        attention(b, DType.F32, false, 4, 2, 1, 6, 8, 8, Arrays.asList(null, null, null, lengths), attrs("is_causal", 1L), 1);
        attention(b, DType.F32, false, 4, 2, 3, 6, 8, 8, Arrays.asList(b.input(DType.F32, 3, 6), null, null, lengths), Map.of(), 4);
        attention(b, DType.F32, false, 2, 2, 2, 3, 8, 8, Arrays.asList(null, b.input(DType.F32, 2, 2, 4, 8), b.input(DType.F32, 2, 2, 4, 8), lengths),
                attrs("is_causal", 1L), 3);
        // a past cache of length 0, and no new keys
        attention(b, DType.F32, false, 2, 2, 2, 3, 4, 4, Arrays.asList(null, b.input(DType.F32, 2, 2, 0, 4), b.input(DType.F32, 2, 2, 0, 4)), Map.of(), 3);
        attention(b, DType.F32, false, 2, 2, 2, 0, 4, 4, Arrays.asList(null, b.input(DType.F32, 2, 2, 3, 4), b.input(DType.F32, 2, 2, 3, 4)), Map.of(), 3);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void halfDoubleAndMixedTypes() {
        OpBatch b = new OpBatch("attention_types", 24);
        for (DType t : List.of(DType.F16, DType.BF16, DType.F64)) {
            Value pk = b.input(t, 2, 2, 3, 8);
            Value pv = b.input(t, 2, 2, 3, 8);
            attention(b, t, false, 4, 2, 3, 5, 8, 8, Arrays.asList(b.input(t, 3, 8), pk, pv), attrs("is_causal", 1L, "qk_matmul_output_mode", 1L, "softcap", 1.5f), 4);
            attention(b, t, true, 4, 2, 3, 5, 8, 8, Arrays.asList(b.input(DType.BOOL, new long[] {2, 1, 3, 8}, () -> b.random().nextInt(3) > 0 ? 1 : 0), pk, pv),
                    attrs("qk_matmul_output_mode", 3L), 4);
        }
        // f32 queries and keys with f16 values and cache, and an f16 mask
        Value q = b.input(DType.F32, 1, 2, 3, 4);
        Value k = b.input(DType.F32, 1, 2, 5, 4);
        Value v = b.input(DType.F16, 1, 2, 5, 6);
        b.node("Attention", List.of(q, k, v, b.input(DType.F16, 3, 8), b.input(DType.F32, 1, 2, 3, 4), b.input(DType.F16, 1, 2, 3, 6)), Map.of(), 4);
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void rotaryEmbeddings() {
        OpBatch b = new OpBatch("rotary", 25);
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16, DType.F64)) {
            for (long interleaved : new long[] {0, 1}) {
                // 4-D without position ids, caches per (batch, position)
                b.node("RotaryEmbedding", List.of(b.input(t, 2, 3, 5, 8), b.input(t, 2, 5, 4), b.input(t, 2, 5, 4)), attrs("interleaved", interleaved));
                // 3-D with position ids, a rotated part shorter than the head
                Value ids = b.input(DType.I64, new long[] {2, 5}, () -> b.random().nextInt(9));
                b.node("RotaryEmbedding", List.of(b.input(t, 2, 5, 3 * 10), b.input(t, 9, 3), b.input(t, 9, 3), ids),
                        attrs("interleaved", interleaved, "num_heads", 3L, "rotary_embedding_dim", 6L));
                b.node("RotaryEmbedding", List.of(b.input(t, 2, 1, 5, 6), b.input(t, 9, 3), b.input(t, 9, 3), ids), attrs("interleaved", interleaved));
            }
        }
        // batches known only at run time: x, position_ids and caches checked to agree as they run
        Value ids = GatherEmitterTest.runTimeRows(b, b.input(DType.I64, new long[] {6, 5}, () -> b.random().nextInt(7)));
        b.node("RotaryEmbedding", List.of(GatherEmitterTest.runTimeRows(b, b.input(DType.F32, 6, 2, 5, 8)), b.input(DType.F32, 7, 4), b.input(DType.F32, 7, 4), ids),
                attrs("interleaved", 1L));
        b.node("RotaryEmbedding", List.of(GatherEmitterTest.runTimeRows(b, b.input(DType.F16, 6, 5, 12)), b.input(DType.F16, 4, 5, 2), b.input(DType.F16, 4, 5, 2)),
                attrs("num_heads", 3L));
        Value cos = GatherEmitterTest.runTimeRows(b, b.input(DType.F32, 6, 3, 2));
        b.node("RotaryEmbedding", List.of(b.input(DType.F32, 4, 2, 3, 6), cos, GatherEmitterTest.runTimeRows(b, b.input(DType.F32, 6, 3, 2))),
                attrs("rotary_embedding_dim", 4L));
        b.assertMatchesInterpreter(dir, 1e-6);
    }

    @Test
    void positionIdsPastTheCacheFailTheRun() {
        Graph g = new Graph("rotary_ids");
        Value x = g.addInput("x", TensorType.of(DType.F32, 1, 1, 2, 4));
        Value cos = g.addInput("cos", TensorType.of(DType.F32, 3, 2));
        Value ids = g.addInput("ids", TensorType.of(DType.I64, 1, 2));
        g.addOutput(NativeTesting.node(g, "rope", "RotaryEmbedding", List.of(x, cos, cos, ids), Map.of()));
        Tensor positions = Tensor.allocate(DType.I64, 1, 2);
        positions.setLong(1, 3);
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> m.run(List.of(Tensor.allocate(DType.F32, 1, 1, 2, 4), Tensor.allocate(DType.F32, 3, 2), positions)));
            assertTrue(e.getMessage().endsWith("node rope (RotaryEmbedding): a position id is outside the cached positions: 3"), e.getMessage());
        }
    }

    @Test
    void positionIdsOfAnotherBatchThanXFailTheRun() {
        Graph g = new Graph("rotary_batches");
        Value x = NativeTesting.node(g, "x", "Compress", List.of(g.addInput("xs", TensorType.of(DType.F32, 3, 1, 2, 4)), g.addInput("keep", TensorType.of(DType.BOOL, 3))),
                attrs("axis", 0L));
        Value cos = g.addInput("cos", TensorType.of(DType.F32, 3, 2));
        Value ids = g.addInput("ids", TensorType.of(DType.I64, 2, 2));
        g.addOutput(NativeTesting.node(g, "rope", "RotaryEmbedding", List.of(x, cos, cos, ids), Map.of()));
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            List<Tensor> in = new ArrayList<>(List.of(Tensor.allocate(DType.F32, 3, 1, 2, 4), Tensor.ofBooleans(new boolean[] {true, false, true}, 3),
                    Tensor.allocate(DType.F32, 3, 2), Tensor.allocate(DType.I64, 2, 2)));
            m.run(in);
            in.set(1, Tensor.ofBooleans(new boolean[] {true, true, true}, 3));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(in));
            assertTrue(e.getMessage().endsWith("node rope (RotaryEmbedding): position_ids do not match the batch or sequence of x"), e.getMessage());
        }
    }

    @Test
    void swiGlu() {
        OpBatch b = new OpBatch("swiglu", 26);
        for (DType t : List.of(DType.F32, DType.F16, DType.BF16, DType.F64)) {
            b.node("SwiGLU", List.of(b.input(t, 3, 17), b.input(t, 3, 17)), Map.of());
            b.node("SwiGLU", List.of(b.input(t), b.input(t)), attrs("alpha", 1.702f));
            b.node("SwiGLU", List.of(b.input(t, 1, 2, 3, 1, 2), b.input(t, 1, 2, 3, 1, 2)), attrs("alpha", -0.5f));
        }
        b.node("SwiGLU", List.of(b.input(DType.F32, new long[] {6}, -800, -30, 0, 30, 800, Double.NaN), b.input(DType.F32, 6)), Map.of());
        b.node("SwiGLU", List.of(b.input(DType.F32, 0, 4), b.input(DType.F32, 0, 4)), Map.of());
        // run-time shapes: one value twice, two values whose rows agree as they run
        Value rows = GatherEmitterTest.runTimeRows(b, b.input(DType.F16, 6, 3));
        b.node("SwiGLU", List.of(rows, rows), Map.of());
        b.node("SwiGLU", List.of(rows, GatherEmitterTest.runTimeRows(b, b.input(DType.F16, 6, 3))), attrs("alpha", 0.5f));
        b.node("SwiGLU", List.of(GatherEmitterTest.runTimeRows(b, b.input(DType.F32, 6, 3)), b.input(DType.F32, 4, 3)), Map.of());
        b.assertMatchesInterpreter(dir, 1e-6);
    }

    @Test
    void swiGluOperandsThatDifferAsTheyRunFailTheRun() {
        Graph g = new Graph("swiglu_shapes");
        Value x = g.addInput("x", TensorType.of(DType.F32, 6, 2));
        Value keep = g.addInput("keep", TensorType.of(DType.BOOL, 6));
        Value rows = NativeTesting.node(g, "rows", "Compress", List.of(x, keep), attrs("axis", 0L));
        g.addOutput(NativeTesting.node(g, "glu", "SwiGLU", List.of(rows, g.addInput("value", TensorType.of(DType.F32, 3, 2))), Map.of()));
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            m.run(List.of(Tensor.allocate(DType.F32, 6, 2), Tensor.ofBooleans(new boolean[] {true, true, false, true, false, false}, 6), Tensor.allocate(DType.F32, 3, 2)));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(List.of(Tensor.allocate(DType.F32, 6, 2),
                    Tensor.ofBooleans(new boolean[] {true, true, false, true, true, false}, 6), Tensor.allocate(DType.F32, 3, 2))));
            assertTrue(e.getMessage().endsWith("node glu (SwiGLU): the gate and value shapes differ"), e.getMessage());
        }
    }

    @Test
    void refusals() {
        OpBatch mask = new OpBatch("refused", 27);
        attention(mask, DType.F32, false, 2, 2, 2, 3, 4, 4, List.of(mask.input(DType.F32, 2, 5)), Map.of(), 1);
        mask.assertRefused(dir, "Attention (attn_mask of shape [2, 5])");
        OpBatch cache = new OpBatch("refused", 28);
        cache.node("RotaryEmbedding", List.of(cache.input(DType.F32, 1, 2, 3, 4), cache.input(DType.F32, 3, 3, 2), cache.input(DType.F32, 3, 3, 2)), Map.of());
        cache.assertRefused(dir, "RotaryEmbedding (caches of shape [3,3,2])");
    }
}
