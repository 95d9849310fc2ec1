package dev.kiln.runtime.interpreter;

import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Attention and RotaryEmbedding, computed in double for every floating-point dtype and rounded
 * once to the output dtype. Attention runs one (batch, query head) pair at a time over arrays in
 * (batch, heads, sequence, head size) order, so every inner loop walks contiguous memory.
 */
final class AttentionKernels {
    private AttentionKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("Attention", AttentionKernels::attention);
        table.put("RotaryEmbedding", AttentionKernels::rotaryEmbedding);
    }

    /** The sizes of one Attention node, from its inputs and attributes. */
    private record Geometry(boolean threeD, int batch, int qHeads, int kvHeads, int qSeq, int kvSeq, int past,
                            int headSize, int vHeadSize) {
        int total() { return past + kvSeq; }

        static Geometry of(KernelContext ctx) {
            Tensor q = ctx.input(0);
            Tensor k = ctx.input(1);
            Tensor v = ctx.input(2);
            boolean threeD = q.rank() == 3;
            int batch = (int) q.dim(0);
            int qHeads;
            int kvHeads;
            int headSize;
            int vHeadSize;
            if (threeD) {
                qHeads = (int) ctx.intAttr("q_num_heads");
                kvHeads = (int) ctx.intAttr("kv_num_heads");
                headSize = (int) (q.dim(2) / qHeads);
                vHeadSize = (int) (v.dim(2) / kvHeads);
                if (q.dim(2) % qHeads != 0 || k.dim(2) != (long) kvHeads * headSize || v.dim(2) % kvHeads != 0) {
                    throw ctx.fail("hidden sizes of Q " + q.dim(2) + ", K " + k.dim(2) + " and V " + v.dim(2)
                            + " do not split into " + qHeads + " query and " + kvHeads + " key/value heads of equal size");
                }
            } else {
                qHeads = (int) q.dim(1);
                kvHeads = (int) k.dim(1);
                headSize = (int) q.dim(3);
                vHeadSize = (int) v.dim(3);
                if (v.dim(1) != kvHeads || k.dim(3) != headSize) {
                    throw ctx.fail("K " + Arrays.toString(k.shape()) + " and V " + Arrays.toString(v.shape()) + " do not match Q " + Arrays.toString(q.shape()));
                }
            }
            int seqAxis = threeD ? 1 : 2;
            int qSeq = (int) q.dim(seqAxis);
            int kvSeq = (int) k.dim(seqAxis);
            if (k.dim(0) != batch || v.dim(0) != batch || v.dim(seqAxis) != kvSeq) {
                throw ctx.fail("Q, K and V disagree on batch or K/V sequence length: " + Arrays.toString(q.shape()) + ", "
                        + Arrays.toString(k.shape()) + ", " + Arrays.toString(v.shape()));
            }
            if (qHeads % kvHeads != 0) throw ctx.fail(qHeads + " query heads are not a multiple of " + kvHeads + " key/value heads");
            Tensor pastKey = ctx.optionalInput(4);
            int past = pastKey == null ? 0 : (int) pastKey.dim(2);
            Geometry g = new Geometry(threeD, batch, qHeads, kvHeads, qSeq, kvSeq, past, headSize, vHeadSize);
            if (pastKey != null) {
                g.requireCache(ctx, pastKey, headSize, "past_key");
                g.requireCache(ctx, ctx.input(5), vHeadSize, "past_value");
            }
            return g;
        }

        private void requireCache(KernelContext ctx, Tensor cache, int size, String name) {
            long[] expected = {batch, kvHeads, past, size};
            if (!Arrays.equals(cache.shape(), expected)) {
                throw ctx.fail(name + " has shape " + Arrays.toString(cache.shape()) + "; expected " + Arrays.toString(expected));
            }
        }
    }

    /**
     * The additive bias over the keys of one query row: attn_mask (bool as 0 / -inf, padded with
     * -inf past its last column), the causal and sliding-window limits around the query's absolute
     * position, and the nonpad_kv_seqlen padding limit.
     */
    private static final class Bias {
        private final double[] mask;
        private final int[] maskStrides;
        private final int maskKeys;
        private final long[] nonpad;
        private final boolean causal;
        private final long left;
        private final long right;
        private final boolean hasPast;
        private final Geometry g;

        Bias(KernelContext ctx, Geometry g) {
            this.g = g;
            Tensor m = ctx.optionalInput(3);
            long[] target = {g.batch, g.qHeads, g.qSeq, g.total()};
            if (m == null) {
                mask = null;
                maskStrides = null;
                maskKeys = 0;
            } else {
                if (m.rank() < 1 || m.rank() > 4) throw ctx.fail("attn_mask must have rank 1 to 4, got " + Arrays.toString(m.shape()));
                long[] dims = new long[4];
                Arrays.fill(dims, 1);
                System.arraycopy(m.shape(), 0, dims, 4 - m.rank(), m.rank());
                if (dims[3] > target[3]) {
                    throw ctx.fail("attn_mask " + Arrays.toString(m.shape()) + " has more columns than the " + target[3] + " keys");
                }
                maskStrides = new int[4];
                int stride = 1;
                for (int d = 3; d >= 0; d--) {
                    if (d < 3 && dims[d] != 1 && dims[d] != target[d]) {
                        throw ctx.fail("attn_mask " + Arrays.toString(m.shape()) + " does not broadcast to " + Arrays.toString(target));
                    }
                    maskStrides[d] = dims[d] == 1 && d < 3 ? 0 : stride;
                    stride *= (int) dims[d];
                }
                maskKeys = (int) dims[3];
                mask = new double[m.size()];
                boolean bool = m.dtype() == DType.BOOL;
                for (int i = 0; i < mask.length; i++) {
                    mask[i] = bool ? (m.getBoolean(i) ? 0 : Double.NEGATIVE_INFINITY) : m.getDouble(i);
                }
            }
            Tensor n = ctx.optionalInput(6);
            if (n != null && (n.rank() != 1 || n.dim(0) != g.batch)) {
                throw ctx.fail("nonpad_kv_seqlen has shape " + Arrays.toString(n.shape()) + "; expected [" + g.batch + "]");
            }
            nonpad = n == null ? null : n.toLongArray();
            causal = ctx.intAttr("is_causal") != 0;
            left = ctx.intAttr("left_window_size");
            right = ctx.intAttr("right_window_size");
            hasPast = ctx.hasInput(4);
        }

        /** Keys before the query block: the past length, else nonpad_kv_seqlen minus the query length, else 0. */
        private long offset(int b) {
            if (hasPast) return g.past;
            return nonpad == null ? 0 : nonpad[b] - g.qSeq;
        }

        void fill(int b, int h, int i, double[] row) {
            long position = offset(b) + i;
            long valid = nonpad == null ? Long.MAX_VALUE : nonpad[b];
            int maskBase = mask == null ? 0 : b * maskStrides[0] + h * maskStrides[1] + i * maskStrides[2];
            for (int j = 0; j < row.length; j++) {
                double bias = 0;
                if (mask != null) bias = j < maskKeys ? mask[maskBase + j * maskStrides[3]] : Double.NEGATIVE_INFINITY;
                boolean blocked = (causal && j > position)
                        || (left >= 0 && j < position - left)
                        || (right >= 0 && j > position + right)
                        || j >= valid;
                row[j] = blocked ? Double.NEGATIVE_INFINITY : bias;
            }
        }
    }

    private static List<Tensor> attention(KernelContext ctx) {
        Geometry g = Geometry.of(ctx);
        Bias bias = new Bias(ctx, g);
        double[] q = headsFirst(ctx.input(0), g.threeD, g.batch, g.qSeq, g.qHeads, g.headSize);
        double[] keys = withPast(ctx.optionalInput(4), headsFirst(ctx.input(1), g.threeD, g.batch, g.kvSeq, g.kvHeads, g.headSize),
                g.batch * g.kvHeads, g.past, g.kvSeq, g.headSize);
        double[] values = withPast(ctx.optionalInput(5), headsFirst(ctx.input(2), g.threeD, g.batch, g.kvSeq, g.kvHeads, g.vHeadSize),
                g.batch * g.kvHeads, g.past, g.kvSeq, g.vHeadSize);
        double scale = ctx.hasAttr("scale") ? ctx.floatAttr("scale") : 1 / Math.sqrt(g.headSize);
        double softcap = ctx.floatAttr("softcap");
        int mode = (int) ctx.intAttr("qk_matmul_output_mode");
        boolean wantScores = ctx.outputCount() > 3;
        int total = g.total();
        int groupSize = g.qHeads / g.kvHeads;

        double[] y = new double[g.batch * g.qHeads * g.qSeq * g.vHeadSize];
        double[] scores = wantScores ? new double[g.batch * g.qHeads * g.qSeq * total] : null;
        long work = (long) g.batch * g.qHeads * g.qSeq * total * (g.headSize + g.vHeadSize);
        NnArrays.forEach(g.batch * g.qHeads, work, bh -> {
            int b = bh / g.qHeads;
            int h = bh % g.qHeads;
            int kvBase = (b * g.kvHeads + h / groupSize) * total;
            double[] biasRow = new double[total];
            double[] logits = new double[total];
            for (int i = 0; i < g.qSeq; i++) {
                int qBase = (bh * g.qSeq + i) * g.headSize;
                bias.fill(b, h, i, biasRow);
                int scoreBase = (bh * g.qSeq + i) * total;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < total; j++) {
                    int kBase = (kvBase + j) * g.headSize;
                    double dot = 0;
                    for (int d = 0; d < g.headSize; d++) dot += q[qBase + d] * keys[kBase + d];
                    double raw = dot * scale;
                    double capped = softcap > 0 ? softcap * Math.tanh(raw / softcap) : raw;
                    double logit = capped + biasRow[j];
                    if (wantScores && mode < 3) scores[scoreBase + j] = mode == 0 ? raw : mode == 1 ? capped : logit;
                    logits[j] = logit;
                    max = Math.max(max, logit);
                }
                // A row with no attended key (every logit -inf) gives zero probabilities and a zero output.
                double sum = 0;
                for (int j = 0; j < total; j++) {
                    logits[j] = max == Double.NEGATIVE_INFINITY ? 0 : Math.exp(logits[j] - max);
                    sum += logits[j];
                }
                int yBase = g.threeD ? ((b * g.qSeq + i) * g.qHeads + h) * g.vHeadSize : (bh * g.qSeq + i) * g.vHeadSize;
                for (int j = 0; j < total; j++) {
                    double p = sum == 0 ? 0 : logits[j] / sum;
                    if (wantScores && mode == 3) scores[scoreBase + j] = p;
                    if (p == 0) continue;
                    int vBase = (kvBase + j) * g.vHeadSize;
                    for (int d = 0; d < g.vHeadSize; d++) y[yBase + d] += p * values[vBase + d];
                }
            }
        });

        List<Tensor> out = new ArrayList<>();
        long[] yShape = g.threeD ? new long[] {g.batch, g.qSeq, (long) g.qHeads * g.vHeadSize}
                : new long[] {g.batch, g.qHeads, g.qSeq, g.vHeadSize};
        out.add(NnArrays.fromDoubles(ctx.outputDType(0), yShape, y));
        if (ctx.outputCount() > 1) out.add(NnArrays.fromDoubles(ctx.outputDType(1), new long[] {g.batch, g.kvHeads, total, g.headSize}, keys));
        if (ctx.outputCount() > 2) out.add(NnArrays.fromDoubles(ctx.outputDType(2), new long[] {g.batch, g.kvHeads, total, g.vHeadSize}, values));
        if (wantScores) out.add(NnArrays.fromDoubles(ctx.outputDType(3), new long[] {g.batch, g.qHeads, g.qSeq, total}, scores));
        return out;
    }

    /** The tensor's values in (batch, heads, sequence, head size) order; a 3-D (batch, sequence, heads * head size) input is transposed. */
    private static double[] headsFirst(Tensor t, boolean threeD, int batch, int seq, int heads, int size) {
        double[] src = t.toDoubleArray();
        if (!threeD) return src;
        double[] r = new double[src.length];
        for (int b = 0; b < batch; b++) {
            for (int s = 0; s < seq; s++) {
                for (int h = 0; h < heads; h++) {
                    System.arraycopy(src, ((b * seq + s) * heads + h) * size, r, ((b * heads + h) * seq + s) * size, size);
                }
            }
        }
        return r;
    }

    /** The past cache followed by the new entries along the sequence axis, per (batch, head). */
    private static double[] withPast(Tensor past, double[] current, int batchHeads, int pastLength, int length, int size) {
        if (past == null) return current;
        double[] cached = past.toDoubleArray();
        int total = pastLength + length;
        double[] r = new double[batchHeads * total * size];
        for (int bh = 0; bh < batchHeads; bh++) {
            System.arraycopy(cached, bh * pastLength * size, r, bh * total * size, pastLength * size);
            System.arraycopy(current, bh * length * size, r, (bh * total + pastLength) * size, length * size);
        }
        return r;
    }

    /**
     * Rotates the first rotary_embedding_dim values of every head by the angle of each token's
     * position: pairs are (k, k + half) or, interleaved, (2k, 2k + 1).
     */
    private static List<Tensor> rotaryEmbedding(KernelContext ctx) {
        Tensor x = ctx.input(0);
        Tensor cosCache = ctx.input(1);
        Tensor sinCache = ctx.input(2);
        Tensor positionIds = ctx.optionalInput(3);
        boolean threeD = x.rank() == 3;
        int batch = (int) x.dim(0);
        int heads = threeD ? (int) ctx.intAttr("num_heads") : (int) x.dim(1);
        int seq = (int) x.dim(threeD ? 1 : 2);
        int headSize = threeD ? (int) (x.dim(2) / heads) : (int) x.dim(3);
        if (threeD && x.dim(2) % heads != 0) throw ctx.fail("hidden size " + x.dim(2) + " is not a multiple of num_heads " + heads);
        long rotaryAttr = ctx.intAttr("rotary_embedding_dim");
        int rotated = rotaryAttr == 0 ? headSize : (int) rotaryAttr;
        if (rotated % 2 != 0 || rotated > headSize) throw ctx.fail("rotated size " + rotated + " must be even and at most the head size " + headSize);
        int half = rotated / 2;
        boolean interleaved = ctx.intAttr("interleaved") != 0;

        long[] expectedCache = positionIds == null ? new long[] {batch, seq, half} : new long[] {cosCache.dim(0), half};
        for (Tensor cache : List.of(cosCache, sinCache)) {
            if (!Arrays.equals(cache.shape(), expectedCache)) {
                throw ctx.fail("cos_cache and sin_cache must have shape " + Arrays.toString(expectedCache) + ", got "
                        + Arrays.toString(cosCache.shape()) + " and " + Arrays.toString(sinCache.shape()));
            }
        }
        long[] positions = null;
        if (positionIds != null) {
            if (!Arrays.equals(positionIds.shape(), new long[] {batch, seq})) {
                throw ctx.fail("position_ids has shape " + Arrays.toString(positionIds.shape()) + "; expected [" + batch + ", " + seq + "]");
            }
            positions = positionIds.toLongArray();
            for (long p : positions) {
                if (p < 0 || p >= cosCache.dim(0)) throw ctx.fail("position id " + p + " is outside the " + cosCache.dim(0) + " cached positions");
            }
        }
        double[] cos = cosCache.toDoubleArray();
        double[] sin = sinCache.toDoubleArray();
        double[] y = x.toDoubleArray();
        for (int b = 0; b < batch; b++) {
            for (int s = 0; s < seq; s++) {
                int token = b * seq + s;
                int cacheBase = (int) (positions == null ? token : positions[token]) * half;
                for (int h = 0; h < heads; h++) {
                    int base = (threeD ? token * heads + h : (b * heads + h) * seq + s) * headSize;
                    for (int k = 0; k < half; k++) {
                        int first = base + (interleaved ? 2 * k : k);
                        int second = base + (interleaved ? 2 * k + 1 : k + half);
                        double c = cos[cacheBase + k];
                        double sn = sin[cacheBase + k];
                        double x1 = y[first];
                        double x2 = y[second];
                        y[first] = c * x1 - sn * x2;
                        y[second] = sn * x1 + c * x2;
                    }
                }
            }
        }
        return List.of(NnArrays.fromDoubles(ctx.outputDType(0), x.shape(), y));
    }
}
