package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

import static dev.kiln.backends.c.Nodes.dims;

/**
 * The matrix products {@link GemmEmitter}'s fast paths do not take, in plain layouts, batch by batch with
 * broadcast batch dims and 1-D operands as numpy.matmul has them: f32, f16 and bf16 through small_gemm.h's batched
 * kernel where its products are small, else gemm.h's single-precision GEMM (the 16-bit floats converted around
 * them) with the epilogue's bias broadcast any way (differing by batch too); f64 through matmul_any.h's double GEMM, its epilogue after it in double; integer
 * MatMul and Gemm through its 64-bit integer GEMM (wrapping as fixed-width integers do, alpha and beta applied
 * as the reference applies them); MatMulInteger as exact integer sums in double wrapped to int32.
 */
final class GeneralMatMul {
    private GeneralMatMul() {}

    private static final Set<DType> MATMUL = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64, DType.I32, DType.I64, DType.U32, DType.U64);
    private static final Set<DType> FLOATS = EnumSet.of(DType.F32, DType.F16, DType.BF16, DType.F64);
    private static final Set<DType> MATMUL_INTEGER = EnumSet.of(DType.I8, DType.U8, DType.I32);

    /**
     * A batched product: for each batch index b (row-major over batch), C_b (m x n, at b * m * n in the output) =
     * A_b B_b with A_b(i, k) at aOffset(b) + i * aRs + k * aCs and B_b(k, j) at bOffset(b) + k * bRs + j * bCs.
     * yHasRows and yHasColumns: whether the output keeps the m and n axes (numpy drops those of 1-D operands).
     */
    private record Product(long[] batch, long m, long n, long k, long aRs, long aCs, String aOffset, long bRs, long bCs, String bOffset,
                           boolean yHasRows, boolean yHasColumns) {
        long batches() { return Nodes.product(batch, 0, batch.length); }

        /** aOffset or bOffset (operand 0 or 1) as numbers, batch by batch. */
        long[] offsets(Node node, int operand) {
            long[] dims = dims(node.input(operand));
            if (GemmEmitter.isGemm(node) || batch.length == 0) return new long[(int) batches()];
            return GemmEmitter.batchOffsets(batch, dims, Math.min(dims.length, 2), operand == 0 ? m * k : k * n);
        }

        static Product of(Node node) {
            long[] as = dims(node.input(0));
            long[] bs = dims(node.input(1));
            if (GemmEmitter.isGemm(node)) {
                boolean ta = Nodes.intAttr(node, "transA", 0) != 0;
                boolean tb = Nodes.intAttr(node, "transB", 0) != 0;
                long m = ta ? as[1] : as[0];
                long k = ta ? as[0] : as[1];
                long n = tb ? bs[0] : bs[1];
                return new Product(new long[0], m, n, k, ta ? 1 : as[1], ta ? as[1] : 1, "0L", tb ? 1 : bs[1], tb ? bs[1] : 1, "0L", true, true);
            }
            long m = as.length == 1 ? 1 : as[as.length - 2];
            long k = as[as.length - 1];
            long n = bs.length == 1 ? 1 : bs[bs.length - 1];
            long[] ys = dims(node.output(0));
            long[] batch = Arrays.copyOf(ys, ys.length - (as.length == 1 ? 0 : 1) - (bs.length == 1 ? 0 : 1));
            return new Product(batch, m, n, k, k, 1, GemmEmitter.batchOffset(batch, as, Math.min(as.length, 2), m * k), bs.length == 1 ? 1 : n, 1,
                    GemmEmitter.batchOffset(batch, bs, Math.min(bs.length, 2), k * n), as.length > 1, bs.length > 1);
        }

        /**
         * This product with its batches stacked into the rows of one product, when B is one matrix for all of
         * them and A holds one matrix per batch, row after row (numpy.matmul's own shortcut).
         */
        Product stacked(Node node) {
            long[] as = dims(node.input(0));
            long[] bs = dims(node.input(1));
            boolean sharedB = bs.length <= 2 || Nodes.product(bs, 0, bs.length - 2) == 1;
            if (GemmEmitter.isGemm(node) || !sharedB || as.length < 2 || Nodes.product(as, 0, as.length - 2) != batches()) return this;
            return new Product(new long[0], batches() * m, n, k, aRs, aCs, "0L", bRs, bCs, "0L", yHasRows, yHasColumns);
        }

        /** How an operand broadcast to the output (ONNX broadcasting against y's dims ys) is read for C_b(i, j). */
        Broadcast broadcast(long[] ys, long[] dims) {
            long[] strides = LoopNest.broadcastStrides(ys, dims);
            int at = batch.length;
            long rows = yHasRows ? strides[at++] : 0;
            long columns = yHasColumns ? strides[at] : 0;
            StringBuilder offset = new StringBuilder("0L");
            long outStride = 1;
            for (int d = batch.length - 1; d >= 0; d--) {
                if (strides[d] != 0) offset.append(" + ((b / ").append(outStride).append("L) % ").append(batch[d]).append("L) * ").append(strides[d]).append('L');
                outStride *= batch[d];
            }
            long[] offsets = new long[(int) batches()];
            for (int b = 0; b < offsets.length; b++) {
                long rest = b;
                for (int d = batch.length - 1; d >= 0; d--) {
                    offsets[b] += rest % batch[d] * strides[d];
                    rest /= batch[d];
                }
            }
            return new Broadcast("(" + offset + ")", offsets, rows, columns);
        }
    }

    /**
     * An operand read for C_b(i, j) at offset(b) + i * rowStride + j * columnStride (offset a C expression in b,
     * offsets its values batch by batch).
     */
    private record Broadcast(String offset, long[] offsets, long rowStride, long columnStride) {}

    static String problem(Node n) {
        String problem = switch (n.op()) {
            case "MatMulInteger" -> Nodes.plainOf(n, MATMUL_INTEGER);
            case "FusedMatMul", "FusedGemm" -> Nodes.plainOf(n, FLOATS);
            default -> Nodes.plainOf(n, MATMUL);
        };
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        if (problem == null) problem = Epilogue.problem(n);
        if (problem == null && n.op().equals("MatMulInteger")) {
            for (int i = 2; i <= 3 && problem == null; i++) {
                Value zero = GeneralConv.optional(n, i);
                if (zero != null && zeroPointDims(dims(zero), dims(n.input(i - 2)), i == 2) == null) {
                    problem = " (zero point of shape " + zero.type().shape() + ")";
                }
            }
        }
        return problem;
    }

    /**
     * The dims with which a MatMulInteger zero point broadcasts to its operand of dims {@code to}: its own, or for
     * A a vector of one value per row seen as a column; null when it does not broadcast.
     */
    private static long[] zeroPointDims(long[] zero, long[] to, boolean perRow) {
        if (perRow && zero.length == 1 && zero[0] > 1 && to.length >= 2) return zero[0] == to[to.length - 2] ? new long[] {zero[0], 1} : null;
        if (zero.length > to.length) return null;
        for (int d = 0; d < zero.length; d++) {
            long z = zero[d];
            if (z != 1 && z != to[to.length - zero.length + d]) return null;
        }
        return zero;
    }

    static void emit(Node n, Emission e) {
        DType t = n.output(0).type().dtype();
        ComputeBuffers buffers = new ComputeBuffers(e);
        if (n.op().equals("MatMulInteger")) emitMatMulInteger(n, e, buffers);
        else if (t == DType.F64) emitDouble(n, e, buffers);
        else if (t.isFloatingPoint()) emitSingle(n, e, buffers);
        else emitIntegers(n, e, buffers);
    }

    /** f32, f16, bf16: gemm.h's kiln_sgemm per batch, the epilogue's bias offset per batch. */
    private static void emitSingle(Node n, Emission e, ComputeBuffers buffers) {
        Value y = n.output(0);
        boolean gemm = GemmEmitter.isGemm(n);
        Value bias = GeneralConv.optional(n, 2);
        Value residual = GeneralConv.optional(n, 3);
        Product p = bias == null ? Product.of(n).stacked(n) : Product.of(n);
        String a = buffers.read(n.input(0), "float");
        String b = buffers.read(n.input(1), "float");
        String biasF = bias == null ? null : buffers.read(bias, "float");
        String residualF = residual == null ? null : buffers.read(residual, "float");
        String yf = buffers.output(y, "float");
        Broadcast bb = bias == null ? new Broadcast("0L", null, 0, 0) : p.broadcast(dims(y), dims(bias));
        Epilogue.declare(e, n, gemm ? Nodes.floatAttr(n, "alpha", 1) : 1, gemm ? Nodes.floatAttr(n, "beta", 1) : 1, biasF, bb.rowStride(),
                bb.columnStride(), residualF, p.n());
        if (GemmEmitter.fitsBatched(p.batches(), p.m(), p.k())) {
            GemmEmitter.emitBatched(e, p.offsets(n, 0), p.offsets(n, 1), bb.offsets(), p.m(), p.n(), p.k(), a, p.aRs(), p.aCs(), b, p.bRs(), p.bCs(), yf);
            buffers.store(y, yf, "float");
            return;
        }
        String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.threadWorkspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.open("for (long b = 0; b < " + p.batches() + "L; b++) {");
        e.line("kiln_epilogue eb = e;");
        if (bias != null) e.line("eb.bias += " + bb.offset() + ";");
        if (residual != null) e.line("eb.residual += b * " + p.m() * p.n() + "L;");
        e.line("kiln_sgemm(" + p.m() + "L, " + p.n() + "L, " + p.k() + "L, " + a + " + " + p.aOffset() + ", " + p.aRs() + "L, " + p.aCs() + "L, 0, "
                + b + " + " + p.bOffset() + ", " + p.bRs() + "L, " + p.bCs() + "L, " + yf + " + b * " + p.m() * p.n() + "L, " + p.n() + "L, &eb, " + ws + ");");
        e.close("}");
        buffers.store(y, yf, "float");
    }

    /** f64: matmul_any.h's kiln_gemm_f64 per batch into y, then alpha, beta, bias, residual and activation in double. */
    private static void emitDouble(Node n, Emission e, ComputeBuffers buffers) {
        Value y = n.output(0);
        Product p = Product.of(n).stacked(n);
        String b = rowMajorB(n, e, buffers, p, "double", x -> x);
        e.open("for (long b = 0; b < " + p.batches() + "L; b++) {");
        e.line("kiln_gemm_f64(" + p.m() + "L, " + p.n() + "L, " + p.k() + "L, " + e.ptr(n.input(0)) + " + " + p.aOffset() + ", " + p.aRs() + "L, "
                + p.aCs() + "L, " + b + " + " + p.bOffset() + ", " + ldb(p) + "L, " + e.ptr(y) + " + b * " + p.m() * p.n() + "L, " + p.n() + "L);");
        e.close("}");
        boolean gemm = GemmEmitter.isGemm(n);
        double alpha = gemm ? Nodes.floatAttr(n, "alpha", 1) : 1;
        double beta = gemm ? Nodes.floatAttr(n, "beta", 1) : 1;
        Value bias = GeneralConv.optional(n, 2);
        Value residual = GeneralConv.optional(n, 3);
        if (alpha == 1 && bias == null && residual == null && Epilogue.code(n) == 0) return;
        List<Value> operands = new ArrayList<>();
        if (bias != null) operands.add(bias);
        if (residual != null) operands.add(residual);
        LoopNest l = LoopNest.open(e, y, operands);
        String v = e.ptr(y) + "[" + l.out() + "]";
        String sum = (alpha == 1 ? v : CTypes.doubleLiteral(alpha) + " * " + v)
                + (bias == null ? "" : " + " + (beta == 1 ? "" : CTypes.doubleLiteral(beta) + " * ") + e.ptr(bias) + "[" + l.at(0) + "]")
                + (residual == null ? "" : " + " + e.ptr(residual) + "[" + l.at(operands.size() - 1) + "]");
        e.line(v + " = " + Epilogue.activateF64(n, sum) + ";");
        l.close(e);
    }

    /**
     * A pointer to B's elements as {@code type} with unit column stride, B_b(k, j) at bOffset(b) + k * {@link #ldb}
     * + j: B itself when stored so, else a copy, each element {@code convert}ed (from its storage type), transposed
     * for Gemm's transB.
     */
    private static String rowMajorB(Node n, Emission e, ComputeBuffers buffers, Product p, String type, UnaryOperator<String> convert) {
        Value bv = n.input(1);
        if (p.bCs() == 1 && CTypes.storage(bv.type().dtype()).equals(type)) return e.ptr(bv);
        String copy = buffers.buffer(Nodes.count(bv), type);
        if (p.bCs() == 1) {
            e.line("for (long i = 0; i < " + e.count(bv) + "; i++) " + copy + "[i] = " + convert.apply(e.ptr(bv) + "[i]") + ";");
        } else {
            // Gemm's transB: B (n x k) copied k x n
            e.line("for (long k = 0; k < " + p.k() + "L; k++) for (long j = 0; j < " + p.n() + "L; j++) " + copy + "[k * " + p.n() + "L + j] = "
                    + convert.apply(e.ptr(bv) + "[k * " + p.bRs() + "L + j * " + p.bCs() + "L]") + ";");
        }
        return copy;
    }

    /** The row stride of {@link #rowMajorB}'s B: B's own, or n where it copied B transposed. */
    private static long ldb(Product p) { return p.bCs() == 1 ? p.bRs() : p.n(); }

    /** An integer element in uint64_t: signed integers sign-extended. */
    private static String wide(DType t, String element) {
        return t.isUnsignedInteger() ? "(uint64_t) " + element : "(uint64_t) (int64_t) " + element;
    }

    /**
     * Integer MatMul and Gemm: operands widened to 64 bits, matmul_any.h's kiln_gemm_u64 per batch (sums wrap as
     * the reference's 64-bit sums do), then Gemm's alpha, beta and C as the reference applies them (through double
     * when they are not 1) and the result wrapped to y's width.
     */
    private static void emitIntegers(Node n, Emission e, ComputeBuffers buffers) {
        Value av = n.input(0);
        Value y = n.output(0);
        DType t = y.type().dtype();
        boolean wideType = t.byteSize() == 8;
        Product p = Product.of(n).stacked(n);
        String a = "((uint64_t*) " + e.ptr(av) + ")";
        if (!wideType) {
            a = buffers.buffer(Nodes.count(av), "uint64_t");
            e.line("for (long i = 0; i < " + e.count(av) + "; i++) " + a + "[i] = " + wide(t, e.ptr(av) + "[i]") + ";");
        }
        String b = wideType && p.bCs() == 1 ? "((uint64_t*) " + e.ptr(n.input(1)) + ")" : rowMajorB(n, e, buffers, p, "uint64_t", x -> wide(t, x));
        String acc = wideType ? "((uint64_t*) " + e.ptr(y) + ")" : buffers.buffer(Nodes.count(y), "uint64_t");
        e.open("for (long b = 0; b < " + p.batches() + "L; b++) {");
        e.line("kiln_gemm_u64(" + p.m() + "L, " + p.n() + "L, " + p.k() + "L, " + a + " + " + p.aOffset() + ", " + p.aRs() + "L, " + p.aCs() + "L, "
                + b + " + " + p.bOffset() + ", " + ldb(p) + "L, " + acc + " + b * " + p.m() * p.n() + "L, " + p.n() + "L);");
        e.close("}");
        Value c = GeneralConv.optional(n, 2);
        double alpha = GemmEmitter.isGemm(n) ? Nodes.floatAttr(n, "alpha", 1) : 1;
        double beta = GemmEmitter.isGemm(n) ? Nodes.floatAttr(n, "beta", 1) : 1;
        if (alpha == 1 && c == null) {
            if (!wideType) e.line("for (long i = 0; i < " + e.count(y) + "; i++) " + e.ptr(y) + "[i] = (" + CTypes.storage(t) + ") " + acc + "[i];");
            return;
        }
        LoopNest l = LoopNest.open(e, y, c == null ? List.of() : List.of(c));
        e.line("int64_t v = (int64_t) " + acc + "[" + l.out() + "];");
        if (alpha != 1) e.line("v = kiln_f64_to_i64(" + CTypes.doubleLiteral(alpha) + " * (double) v);");
        if (c != null) {
            e.line("int64_t addend = (int64_t) " + e.ptr(c) + "[" + l.at(0) + "];");
            if (beta != 1) e.line("addend = kiln_f64_to_i64(" + CTypes.doubleLiteral(beta) + " * (double) addend);");
            e.line("v = (int64_t) ((uint64_t) v + (uint64_t) addend);");
        }
        e.line(e.ptr(y) + "[" + l.out() + "] = (" + CTypes.storage(t) + ") v;");
        l.close(e);
    }

    /**
     * MatMulInteger: A and B less their zero points (a scalar, a tensor broadcast to the operand, or for A one per
     * row) in double, kiln_gemm_f64 per batch (exact: every partial sum is an integer far below 2^53), wrapped to int32.
     */
    private static void emitMatMulInteger(Node n, Emission e, ComputeBuffers buffers) {
        Value y = n.output(0);
        Product p = Product.of(n).stacked(n);
        String a = shifted(n, e, buffers, 0);
        String b = shifted(n, e, buffers, 1);
        String acc = buffers.buffer(Nodes.count(y), "double");
        e.open("for (long b = 0; b < " + p.batches() + "L; b++) {");
        e.line("kiln_gemm_f64(" + p.m() + "L, " + p.n() + "L, " + p.k() + "L, " + a + " + " + p.aOffset() + ", " + p.aRs() + "L, " + p.aCs() + "L, "
                + b + " + " + p.bOffset() + ", " + p.bRs() + "L, " + acc + " + b * " + p.m() * p.n() + "L, " + p.n() + "L);");
        e.close("}");
        e.line("for (long i = 0; i < " + e.count(y) + "; i++) " + e.ptr(y) + "[i] = (int32_t) (uint32_t) (int64_t) " + acc + "[i];");
    }

    /** Operand i (0: A, 1: B) of MatMulInteger less its zero point (input 2 + i), in a double buffer. */
    private static String shifted(Node n, Emission e, ComputeBuffers buffers, int i) {
        Value v = n.input(i);
        Value zero = GeneralConv.optional(n, 2 + i);
        String d = buffers.buffer(Nodes.count(v), "double");
        if (zero == null) {
            e.line("for (long i = 0; i < " + e.count(v) + "; i++) " + d + "[i] = (double) " + e.ptr(v) + "[i];");
            return d;
        }
        long[] vs = dims(v);
        long[] zs = zeroPointDims(dims(zero), vs, i == 0);
        e.open("{");
        if (zs.length == 2 && zs[1] == 1 && dims(zero).length == 1) {
            // one zero point per row of A
            long k = vs[vs.length - 1];
            long rows = Nodes.count(v) / Math.max(1, k);
            e.open("for (long r = 0; r < " + rows + "L; r++) {");
            e.line("int32_t z = (int32_t) " + e.ptr(zero) + "[r % " + zs[0] + "L];");
            e.line("for (long j = 0; j < " + k + "L; j++) " + d + "[r * " + k + "L + j] = (double) ((int32_t) " + e.ptr(v) + "[r * " + k + "L + j] - z);");
            e.close("}");
        } else {
            LoopNest l = LoopNest.open(e, v, List.of(zero));
            e.line(d + "[" + l.out() + "] = (double) ((int32_t) " + e.ptr(v) + "[" + l.out() + "] - (int32_t) " + e.ptr(zero) + "[" + l.at(0) + "]);");
            l.close(e);
        }
        e.close("}");
        return d;
    }
}
