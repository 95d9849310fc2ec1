package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/**
 * Matrix products: Gemm and MatMul with their fused epilogues. In f32, rows times constant 2-D weights go to
 * small_gemm.h with the weights packed at load while A fits in cache, batches of small products of activations
 * (attention's) to its batched kernel; everything else to gemm.h's packed, register-blocked GEMM, the batches
 * stacked into one product where they share B, else batch by batch with broadcast batch dims. What these fast paths do not take (other dtypes, biases that differ
 * by batch or meet a 1-D operand) and MatMulInteger, {@link GeneralMatMul} emits.
 */
final class GemmEmitter implements OpEmitter {
    /** The most rows (of A, batch dims folded in) that always go to kiln_small_matmul rather than the packed GEMM. */
    static final long SMALL_MATMUL_MAX_ROWS = 64;
    /**
     * More rows go to small_gemm.h too while A (rows x K, re-read once per panel of 32 columns) fits in a core's
     * L2 and a panel of B (K x 32) in its L1; past that the packed GEMM's blocking pays.
     */
    private static final long SMALL_MATMUL_MAX_A = 1L << 18;
    private static final long SMALL_MATMUL_MAX_K = 512;
    /** A batched product of activations packs a panel of B (K x 32 floats) per thread; its batches' offsets are tables. */
    private static final long BATCHED_MAX_K = 4096;
    private static final long BATCHED_MAX_BATCHES = 4096;

    @Override
    public Set<String> ops() { return Set.of("Gemm", "FusedGemm", "MatMul", "FusedMatMul", "MatMulInteger"); }

    @Override
    public List<String> kernels() { return List.of("gemm.h", "small_gemm.h", "matmul_any.h", "convert.h"); }

    @Override
    public String problem(Node n) { return takesFast(n) ? null : GeneralMatMul.problem(n); }

    private static boolean takesFast(Node n) { return !n.op().equals("MatMulInteger") && fastProblem(n) == null; }

    private static String fastProblem(Node n) {
        String types = Nodes.staticF32(n, i -> false, false);
        if (types != null) return types;
        String activation = Epilogue.problem(n);
        if (activation != null) return activation;
        if (n.op().equals("MatMul") || n.op().equals("FusedMatMul")) {
            long[] cs = n.inputs().size() < 3 || n.input(2) == null ? new long[0] : dims(n.input(2));
            for (int d = 0; d < cs.length - 2; d++) if (cs[d] != 1) return " (bias differing by batch)";
            // the bias strides below read a bias's last dim as the product's columns
            if (cs.length > 0 && (n.input(0).type().rank() == 1 || n.input(1).type().rank() == 1)) return " (1-D operand with a bias)";
        }
        return null;
    }

    @Override
    public void emit(Node n, Emission e) {
        if (!takesFast(n)) GeneralMatMul.emit(n, e);
        else if (isSmallMatMul(n)) emitSmallMatMul(n, e);
        else if (n.op().equals("Gemm") || n.op().equals("FusedGemm")) emitGemm(n, e);
        else emitMatMul(n, e);
    }

    static boolean isGemm(Node n) { return n.op().equals("Gemm") || n.op().equals("FusedGemm"); }

    /**
     * Whether a product goes to kiln_small_matmul: a few rows times constant 2-D weights (transformer
     * projections at small batch, classifier heads); a MatMul's batch dims then fold into the rows when
     * its bias is the same for every row.
     */
    private static boolean isSmallMatMul(Node n) {
        boolean gemm = isGemm(n);
        if (!(n.input(1) instanceof Constant) || dims(n.input(1)).length != 2) return false;
        long[] as = dims(n.input(0));
        if (as.length == 0) return false;
        Value y = n.output(0);
        long cols = dims(y)[dims(y).length - 1];
        long rows = gemm ? dims(y)[0] : count(y) / Math.max(cols, 1);
        long k = count(n.input(1)) / Math.max(cols, 1);
        if (rows == 0 || cols == 0 || !fitsSmall(rows, k)) return false;
        Value bias = n.inputs().size() > 2 ? n.input(2) : null;
        if (!gemm && bias != null && count(bias) != 1 && (count(bias) != cols || dims(bias)[dims(bias).length - 1] != cols)) return false;
        Value residual = n.inputs().size() > 3 ? n.input(3) : null;
        return residual == null || count(residual) == count(y);
    }

    /** Whether a product of rows x k by constant weights goes to kiln_small_matmul. */
    private static boolean fitsSmall(long rows, long k) {
        return rows <= SMALL_MATMUL_MAX_ROWS || k <= SMALL_MATMUL_MAX_K && rows * k <= SMALL_MATMUL_MAX_A;
    }

    /** Whether a batched product with m x k blocks of A goes to kiln_batched_matmul. */
    static boolean fitsBatched(long batches, long m, long k) {
        return batches <= BATCHED_MAX_BATCHES && k <= BATCHED_MAX_K && (m <= SMALL_MATMUL_MAX_ROWS || m * k <= SMALL_MATMUL_MAX_A);
    }

    /**
     * kiln_batched_matmul: per batch b (row-major over its dims), C_b (m x n, at b * m * n of y) = epilogue(A_b B_b)
     * with A_b, B_b and the bias at the offsets given per batch; the epilogue {@code e} is declared.
     */
    static void emitBatched(Emission e, long[] aOffsets, long[] bOffsets, long[] biasOffsets, long m, long n, long k, String a, long aRs, long aCs,
                            String b, long bRs, long bCs, String y) {
        String ws = e.workspace(k * 32);
        e.threadWorkspace(k * 32);
        e.line("static const kiln_smm_batches bt = {" + aOffsets.length + "L, " + table(e, "a_off", aOffsets) + ", " + table(e, "b_off", bOffsets) + ", "
                + (biasOffsets == null ? "0" : table(e, "bias_off", biasOffsets)) + ", " + m * n + "L};");
        e.line("kiln_batched_matmul(&bt, " + m + "L, " + n + "L, " + k + "L, " + a + ", " + aRs + "L, " + aCs + "L, " + b + ", " + bRs + "L, " + bCs + "L, "
                + y + ", " + n + "L, &e, " + ws + ");");
    }

    /** A static table of the node's block holding values, or "0" when all are 0. */
    private static String table(Emission e, String name, long[] values) {
        if (Arrays.stream(values).allMatch(v -> v == 0)) return "0";
        StringBuilder b = new StringBuilder("static const long " + name + "[] = {");
        for (int i = 0; i < values.length; i++) b.append(i > 0 ? ", " : "").append(values[i]).append('L');
        e.line(b.append("};").toString());
        return name;
    }

    /** The element offsets of an operand's matrix for each batch index, broadcasting its batch dims to {@code batch} (as batchOffset). */
    static long[] batchOffsets(long[] batch, long[] operand, int matrixDims, long matrixSize) {
        int opBatch = operand.length - matrixDims;
        long[] offsets = new long[(int) Nodes.product(batch, 0, batch.length)];
        for (int b = 0; b < offsets.length; b++) {
            long rest = b;
            long inStride = matrixSize;
            for (int d = batch.length - 1; d >= 0; d--) {
                long index = rest % batch[d];
                rest /= batch[d];
                int od = d - (batch.length - opBatch);
                if (od < 0) continue;
                if (operand[od] != 1) offsets[b] += index * inStride;
                inStride *= operand[od];
            }
        }
        return offsets;
    }

    /** Row and column strides of a bias broadcast over [rows, cols] (0 where it has one row or one column). */
    private static long[] biasStrides(Value bias) {
        long[] cs = dims(bias);
        long cols = cs.length >= 1 ? cs[cs.length - 1] : 1;
        long rows = cs.length >= 2 ? cs[cs.length - 2] : 1;
        return new long[] {rows == 1 ? 0 : cols, cols == 1 ? 0 : 1};
    }

    /** C = epilogue(A B) with B packed at init into column panels (roundup(N, 32) x K floats reserved, the widest panels). */
    private static void emitSmallMatMul(Node n, Emission e) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        boolean gemm = isGemm(n);
        boolean ta = gemm && Nodes.intAttr(n, "transA", 0) != 0;
        boolean tb = gemm && Nodes.intAttr(n, "transB", 0) != 0;
        long[] as = dims(a);
        long[] bs = dims(b);
        long k = tb ? bs[1] : bs[0];
        long cols = tb ? bs[0] : bs[1];
        long rows = count(y) / cols;
        long aRs = ta ? 1 : k;
        long aCs = ta ? as[1] : 1;
        String bias = n.inputs().size() > 2 ? Epilogue.optional(e, n, 2) : null;
        long[] bstr = bias == null ? new long[2] : biasStrides(n.input(2));
        double alpha = gemm ? Nodes.floatAttr(n, "alpha", 1.0) : 1.0;
        double beta = gemm ? Nodes.floatAttr(n, "beta", 1.0) : 1.0;
        Epilogue.declare(e, n, alpha, beta, bias, bstr[0], bstr[1], n.inputs().size() > 3 ? Epilogue.optional(e, n, 3) : null, cols);
        String packed = e.prepacked((cols + 31) / 32 * 32 * k);
        e.init("kiln_smm_pack_b(" + k + "L, " + cols + "L, " + e.ptr(b) + ", " + (tb ? 1 : cols) + "L, " + (tb ? k : 1) + "L, " + packed + ");");
        e.line("kiln_small_matmul(" + rows + "L, " + cols + "L, " + k + "L, " + e.ptr(a) + ", " + aRs + "L, " + aCs + "L, " + packed + ", "
                + e.ptr(y) + ", " + cols + "L, &e);");
    }

    private static void emitGemm(Node n, Emission e) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        boolean ta = Nodes.intAttr(n, "transA", 0) != 0;
        boolean tb = Nodes.intAttr(n, "transB", 0) != 0;
        long[] as = dims(a);
        long[] bs = dims(b);
        long m = dims(y)[0];
        long nn = dims(y)[1];
        long k = ta ? as[0] : as[1];
        String bias = Epilogue.optional(e, n, 2);
        long[] bstr = bias == null ? new long[2] : biasStrides(n.input(2));
        Epilogue.declare(e, n, Nodes.floatAttr(n, "alpha", 1.0), Nodes.floatAttr(n, "beta", 1.0), bias, bstr[0], bstr[1], Epilogue.optional(e, n, 3), nn);
        String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.line("kiln_sgemm(" + m + "L, " + nn + "L, " + k + "L, " + e.ptr(a) + ", " + (ta ? 1 : as[1]) + "L, " + (ta ? as[1] : 1) + "L, 0, " + e.ptr(b) + ", "
                + (tb ? 1 : bs[1]) + "L, " + (tb ? bs[1] : 1) + "L, " + e.ptr(y) + ", " + nn + "L, &e, " + ws + ");");
    }

    private static void emitMatMul(Node n, Emission e) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        long[] as = dims(a);
        long[] bs = dims(b);
        long m = as.length == 1 ? 1 : as[as.length - 2];
        long k = as[as.length - 1];
        long nn = bs.length == 1 ? 1 : bs[bs.length - 1];
        long bRs = bs.length == 1 ? 1 : nn;
        long[] ys = dims(y);
        long[] batch = Arrays.copyOf(ys, ys.length - (as.length == 1 ? 0 : 1) - (bs.length == 1 ? 0 : 1));
        long batches = Nodes.product(batch, 0, batch.length);
        String bias = Epilogue.optional(e, n, 2);
        long[] bstr = bias == null ? new long[2] : biasStrides(n.input(2));
        String residual = Epilogue.optional(e, n, 3);
        Epilogue.declare(e, n, 1, 1, bias, bstr[0], bstr[1], residual, nn);
        if (fitsBatched(batches, m, k)) {
            emitBatched(e, batchOffsets(batch, as, Math.min(as.length, 2), m * k), batchOffsets(batch, bs, Math.min(bs.length, 2), k * nn), null, m, nn, k,
                    e.ptr(a), k, 1, e.ptr(b), bRs, 1, e.ptr(y));
            return;
        }
        String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
        if (bs.length <= 2 && as.length >= 2 && bstr[0] == 0) {
            // one B for every batch, A's batches row after row, the bias the same for every row: one product of all the rows
            e.line("kiln_sgemm(" + batches * m + "L, " + nn + "L, " + k + "L, " + e.ptr(a) + ", " + k + "L, 1L, 0, " + e.ptr(b) + ", " + bRs + "L, 1L, "
                    + e.ptr(y) + ", " + nn + "L, &e, " + ws + ");");
            return;
        }
        e.open("for (long b = 0; b < " + batches + "L; b++) {");
        e.line("kiln_epilogue eb = e;");
        if (residual != null) e.line("eb.residual += b * " + (m * nn) + "L;");
        String aOff = batchOffset(batch, as, Math.min(as.length, 2), m * k);
        String bOff = batchOffset(batch, bs, Math.min(bs.length, 2), k * nn);
        e.line("kiln_sgemm(" + m + "L, " + nn + "L, " + k + "L, " + e.ptr(a) + " + " + aOff + ", " + k + "L, 1L, 0, " + e.ptr(b) + " + " + bOff + ", "
                + bRs + "L, 1L, " + e.ptr(y) + " + b * " + (m * nn) + "L, " + nn + "L, &eb, " + ws + ");");
        e.close("}");
    }

    /** C expression of an operand's element offset for batch index b, broadcasting its batch dims to {@code batch}. */
    static String batchOffset(long[] batch, long[] operand, int matrixDims, long matrixSize) {
        int opBatch = operand.length - matrixDims;
        StringBuilder e = new StringBuilder("0L");
        long outStride = 1;
        long inStride = matrixSize;
        for (int d = batch.length - 1; d >= 0; d--) {
            int od = d - (batch.length - opBatch);
            if (od >= 0 && operand[od] != 1) e.append(" + ((b / ").append(outStride).append("L) % ").append(batch[d]).append("L) * ").append(inStride).append('L');
            if (od >= 0) inStride *= operand[od];
            outStride *= batch[d];
        }
        return "(" + e + ")";
    }
}
