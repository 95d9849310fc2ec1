package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static dev.kiln.backends.c.OpBatch.attrs;

/** MatMul, Gemm, their fused forms and MatMulInteger in every dtype their specs allow, against the interpreter. */
class GemmEmitterTest {
    @TempDir
    Path dir;

    /** Operand shapes of MatMul: plain, 1-D either side, broadcast batch dims, rank 6, empty dims. */
    private static final long[][][] MATMUL_SHAPES = {
            {{3, 5}, {5, 4}}, {{5}, {5}}, {{5}, {2, 5, 3}}, {{2, 1, 3, 5}, {5}}, {{2, 1, 3, 5}, {4, 5, 2}},
            {{1, 2, 1, 2, 3, 4}, {2, 1, 2, 4, 17}}, {{2, 0}, {0, 3}}, {{0, 3}, {3, 2}}, {{17, 33}, {33, 18}}};

    private static void matMuls(OpBatch b, DType t) {
        for (long[][] s : MATMUL_SHAPES) b.node("MatMul", List.of(b.input(t, s[0]), b.input(t, s[1])), Map.of());
    }

    /**
     * Gemm with every attribute and every shape of C (absent, scalar, row, column, matrix); every transposition
     * of each when thorough, else one.
     */
    private static void gemms(OpBatch b, DType t, boolean thorough) {
        long[][] cShapes = {null, {}, {4}, {1, 4}, {3, 1}, {3, 4}};
        int form = 0;
        for (int shape = 0; shape < cShapes.length; shape++) {
            long[] c = cShapes[shape];
            for (int trans = thorough ? 0 : shape % 4; trans < (thorough ? 4 : shape % 4 + 1); trans++) {
                boolean ta = (trans & 1) != 0;
                boolean tb = (trans & 2) != 0;
                Value a = b.input(t, ta ? new long[] {5, 3} : new long[] {3, 5});
                Value bb = b.input(t, tb ? new long[] {4, 5} : new long[] {5, 4});
                List<Value> inputs = new ArrayList<>(List.of(a, bb));
                if (c != null) inputs.add(b.input(t, c));
                float alpha = form % 3 == 0 ? 1f : form % 3 == 1 ? 2.5f : -0.75f;
                float beta = form % 2 == 0 ? 1f : 0.5f;
                form++;
                b.node("Gemm", inputs, attrs("transA", ta ? 1L : 0L, "transB", tb ? 1L : 0L, "alpha", alpha, "beta", beta));
            }
        }
    }

    /** f32 (the forms the fast paths leave), f16 and bf16: one library. */
    @Test
    void singlePrecisionProducts() {
        OpBatch b = new OpBatch("single", 1);
        for (DType t : List.of(DType.F16, DType.BF16, DType.F32)) {
            matMuls(b, t);
            gemms(b, t, t == DType.F16);
            fused(b, t, t == DType.F16);
        }
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    /** f64 products and epilogues, integer products (exact) and MatMulInteger with its zero points: one library. */
    @Test
    void doublePrecisionAndIntegerProducts() {
        OpBatch b = new OpBatch("double", 2);
        matMuls(b, DType.F64);
        gemms(b, DType.F64, true);
        fused(b, DType.F64, true);
        for (DType t : List.of(DType.I32, DType.I64, DType.U32, DType.U64)) {
            matMuls(b, t);
            gemms(b, t, t == DType.I32);
        }
        wrappingSums(b);
        matMulIntegers(b);
        b.assertMatchesAsWritten(dir, 1e-12);
    }

    /** Integer sums past 32 and 64 bits, and Gemm's alpha and beta through double. */
    private static void wrappingSums(OpBatch b) {
        double big = Math.pow(2, 40);
        b.node("MatMul", List.of(b.input(DType.I32, new long[] {2, 3}, () -> 2e9 * (b.random().nextDouble() - 0.5)),
                b.input(DType.I32, new long[] {3, 2}, () -> 2e9 * (b.random().nextDouble() - 0.5))), Map.of());
        b.node("MatMul", List.of(b.input(DType.I64, new long[] {2, 3}, () -> big * (b.random().nextDouble() - 0.5)),
                b.input(DType.I64, new long[] {3, 2}, () -> big * (b.random().nextDouble() - 0.5))), Map.of());
        b.node("Gemm", List.of(b.input(DType.I32, new long[] {2, 3}, () -> 2e9 * (b.random().nextDouble() - 0.5)),
                b.input(DType.I32, new long[] {3, 2}, () -> 2e9 * (b.random().nextDouble() - 0.5)), b.input(DType.I32, 2)), attrs("alpha", 0.5f, "beta", 3f));
    }

    /** Activations with their parameters, as the fusion passes write them. */
    private static final Object[][] ACTIVATIONS = {
            {"None", new float[0]}, {"Relu", new float[0]}, {"LeakyRelu", new float[] {0.1f}}, {"Clip", new float[] {-1f, 1.5f}},
            {"Sigmoid", new float[0]}, {"Tanh", new float[0]}, {"HardSigmoid", new float[] {0.2f, 0.5f}}, {"HardSwish", new float[0]},
            {"Swish", new float[] {1.5f}}, {"Gelu", new float[0]}, {"GeluTanh", new float[0]}, {"Elu", new float[] {0.7f}},
            {"Softplus", new float[0]}, {"Softsign", new float[0]}, {"Mish", new float[0]}};

    /** FusedMatMul and FusedGemm with biases and residuals of every shape; with every activation when thorough, else a few. */
    private static void fused(OpBatch b, DType t, boolean thorough) {
        long[][][] shapes = {
                {{2, 3, 5}, {5, 4}, {2, 3, 4}}, {{2, 3, 5}, {2, 5, 4}, {2, 1, 4}}, {{3, 5}, {5}, {3}}, {{5}, {2, 5, 4}, {2, 4}},
                {{2, 1, 3, 5}, {4, 5, 2}, {4, 3, 1}}, {{3, 5}, {5, 4}, {}}};
        int k = 0;
        for (Object[] act : thorough ? ACTIVATIONS : Arrays.copyOf(ACTIVATIONS, shapes.length)) {
            long[][] s = shapes[k++ % shapes.length];
            Value a = b.input(t, s[0]);
            Value bb = b.input(t, s[1]);
            long[] ys = dims(a, bb);
            List<Value> inputs = new ArrayList<>(List.of(a, bb, b.input(t, s[2])));
            if (k % 2 == 0) inputs.add(b.input(t, ys));
            b.node("FusedMatMul", inputs, attrs("activation", act[0], "activation_params", act[1]));
            List<Value> gemm = new ArrayList<>(List.of(b.input(t, 3, 5), b.input(t, 4, 5), b.input(t, 4)));
            if (k % 2 == 1) gemm.add(b.input(t, 3, 4));
            b.node("FusedGemm", gemm, attrs("transB", 1L, "alpha", 0.5f, "beta", 2f, "activation", act[0], "activation_params", act[1]));
        }
    }

    /** numpy.matmul's output dims. */
    private static long[] dims(Value a, Value bb) {
        long[] as = a.type().shape().sizes();
        long[] bs = bb.type().shape().sizes();
        long[] a2 = as.length == 1 ? new long[] {1, as[0]} : as;
        long[] b2 = bs.length == 1 ? new long[] {bs[0], 1} : bs;
        int batch = Math.max(a2.length, b2.length) - 2;
        List<Long> out = new ArrayList<>();
        for (int d = 0; d < batch; d++) {
            int da = d - (batch - (a2.length - 2));
            int db = d - (batch - (b2.length - 2));
            out.add(Math.max(da >= 0 ? a2[da] : 1, db >= 0 ? b2[db] : 1));
        }
        if (as.length > 1) out.add(a2[a2.length - 2]);
        if (bs.length > 1) out.add(b2[b2.length - 1]);
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    /** MatMulInteger of every byte type pair, zero points absent, scalar, per row of A, per column of B, broadcast. */
    private static void matMulIntegers(OpBatch b) {
        for (DType ta : List.of(DType.U8, DType.I8)) {
            for (DType tb : List.of(DType.U8, DType.I8)) {
                b.node("MatMulInteger", List.of(b.input(ta, 4, 7), b.input(tb, 7, 3)), Map.of());
                b.node("MatMulInteger", List.of(b.input(ta, 4, 7), b.input(tb, 7, 3), b.input(ta), b.input(tb)), Map.of());
                b.node("MatMulInteger", List.of(b.input(ta, 4, 7), b.input(tb, 7, 3), b.input(ta, 4), b.input(tb, 3)), Map.of());
                b.node("MatMulInteger", List.of(b.input(ta, 2, 4, 7), b.input(tb, 7, 3), b.input(ta, 4), b.input(tb, 1, 3)), Map.of());
                b.node("MatMulInteger", List.of(b.input(ta, 7), b.input(tb, 2, 7, 3), b.input(ta, 1)), Map.of());
            }
        }
        // full-range bytes: products far from zero
        b.node("MatMulInteger", List.of(b.input(DType.U8, new long[] {3, 64}, () -> b.random().nextInt(256)),
                b.input(DType.U8, new long[] {64, 5}, () -> b.random().nextInt(256)), b.input(DType.U8, new long[] {}, 7),
                b.input(DType.U8, new long[] {5}, 0, 255, 128, 1, 3)), Map.of());
    }

    @Test
    void levelThreePipelineKeepsGeneralProductsCorrect() {
        OpBatch b = new OpBatch("pipeline", 7);
        // a bias differing by batch: fused into a FusedMatMul the fast path leaves
        Value a = b.input(DType.F32, 2, 3, 8);
        Value w = b.randomConstant(DType.F32, 8, 5);
        Value bias = b.randomConstant(DType.F32, 2, 1, 5);
        b.node("Relu", List.of(b.node("Add", List.of(b.node("MatMul", List.of(a, w), Map.of()), bias), Map.of())), Map.of());
        Value x = b.input(DType.F64, 4, 6);
        b.node("Gemm", List.of(x, b.randomConstant(DType.F64, 3, 6), b.randomConstant(DType.F64, 3)), attrs("transB", 1L));
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * The products transformers export, f32: attention's batched products of activations (sequences 1, 7, 129;
     * heads broadcast), per-window biases that differ by batch, projections of many rows by constant weights
     * (A in cache, and past it with the batches stacked into one GEMM), batched constant weights, and enough
     * work for the threads to split batches, panels and rows.
     */
    @Test
    void transformerProducts() {
        OpBatch b = new OpBatch("transformer", 9);
        for (long seq : new long[] {1, 7, 129}) {
            Value q = b.input(DType.F32, 2, 3, seq, 16);
            Value kt = b.input(DType.F32, 2, 3, 16, seq);
            b.node("MatMul", List.of(q, kt), Map.of());
            b.node("MatMul", List.of(b.input(DType.F32, 2, 3, seq, seq), b.input(DType.F32, 2, 3, seq, 20)), Map.of());
        }
        b.node("MatMul", List.of(b.input(DType.F32, 3, 1, 5, 7), b.input(DType.F32, 4, 7, 33)), Map.of());
        b.node("MatMul", List.of(b.input(DType.F32, 6, 9), b.input(DType.F32, 5, 9, 40)), Map.of());
        b.node("FusedMatMul", List.of(b.input(DType.F32, 4, 2, 16, 16), b.input(DType.F32, 4, 2, 16, 16), b.input(DType.F32, 2, 16, 16)), Map.of());
        b.node("FusedMatMul", List.of(b.input(DType.F32, 3, 5, 8), b.randomConstant(DType.F32, 3, 8, 6), b.input(DType.F32, 6)),
                attrs("activation", "GeluTanh", "activation_params", new float[0]));
        b.node("FusedMatMul", List.of(b.input(DType.F32, 1, 16, 16, 32), b.randomConstant(DType.F32, 32, 128), b.randomConstant(DType.F32, 128)),
                attrs("activation", "Gelu", "activation_params", new float[0]));
        Value rows = b.input(DType.F32, 1, 16, 16, 128);
        b.node("FusedMatMul", List.of(rows, b.randomConstant(DType.F32, 128, 33), b.randomConstant(DType.F32, 33), b.input(DType.F32, 1, 16, 16, 33)),
                Map.of());
        b.node("FusedMatMul", List.of(b.input(DType.F32, 4, 300, 600), b.randomConstant(DType.F32, 600, 20), b.randomConstant(DType.F32, 20)), Map.of());
        b.node("FusedMatMul", List.of(b.input(DType.F32, 2, 300, 1000), b.randomConstant(DType.F32, 1000, 20), b.randomConstant(DType.F32, 20)), Map.of());
        b.node("MatMul", List.of(b.input(DType.F32, 2, 300, 1000), b.input(DType.F32, 2, 1000, 9)), Map.of());
        b.node("MatMul", List.of(b.input(DType.F32, 70, 513), b.randomConstant(DType.F32, 513, 47)), Map.of());
        b.node("Gemm", List.of(b.input(DType.F32, 300, 40), b.randomConstant(DType.F32, 50, 40), b.randomConstant(DType.F32, 50)), attrs("transB", 1L));
        b.node("MatMul", List.of(b.input(DType.F32, 8, 64, 64), b.input(DType.F32, 8, 64, 96)), Map.of());
        b.assertMatchesAsWritten(dir, 1e-5);
    }

    @Test
    void unknownEpilogueActivationsAreRefused() {
        OpBatch b = new OpBatch("refused", 8);
        b.node("FusedMatMul", List.of(b.input(DType.F16, 2, 3), b.input(DType.F16, 3, 2)), attrs("activation", "Sin", "activation_params", new float[0]));
        b.assertRefused(dir, "FusedMatMul (activation Sin)");
    }
}
