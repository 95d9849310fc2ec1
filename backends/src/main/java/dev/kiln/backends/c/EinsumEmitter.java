package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.EinsumLoops;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Einsum of any equation (explicit or implicit output, ellipsis broadcasting, labels repeated within an operand)
 * as loops specialised to the static shapes: one loop per label, the output's outermost, the summed ones
 * innermost, each operand read at a literal stride per label (the sum of its strides where a label repeats,
 * none where the operand broadcasts). Floating types sum products in double, integers in 64 bits (wrapping as
 * the reference's long arithmetic does), each output element stored once. A single-precision einsum of two
 * operands that is a batched matrix product (at most one row, one column and one summed label besides the
 * batch labels, the output's last axis a row or a column) runs as gemm.h's GEMM instead, batch by batch.
 */
final class EinsumEmitter implements OpEmitter {
    private static final Set<DType> TYPES = EnumSet.of(DType.F32, DType.F16, DType.F64, DType.I8, DType.I16, DType.I32, DType.I64,
            DType.U8, DType.U16, DType.U32, DType.U64);

    @Override
    public Set<String> ops() { return Set.of("Einsum"); }

    @Override
    public List<String> kernels() { return List.of("gemm.h", "convert.h"); }

    @Override
    public String problem(Node n) {
        String problem = Nodes.plainOf(n, TYPES);
        if (problem == null) problem = ComputeBuffers.staticProblem(n);
        if (problem != null) return problem;
        try {
            plan(n);
            return null;
        } catch (IllegalArgumentException e) {
            return " (" + e.getMessage() + ")";
        }
    }

    /** The loops of the node's einsum over its inputs' static shapes. */
    private static EinsumLoops plan(Node n) {
        List<long[]> shapes = n.inputs().stream().map(Nodes::dims).toList();
        return EinsumLoops.of(Nodes.stringAttr(n, "equation", ""), shapes);
    }

    /**
     * The einsum as GEMMs, one per batch index b (row-major over the batch loops): C_b(i, j) = sum over k of
     * A_b(i, k) B_b(k, j), each operand at offset(b) + row * rowStride + column * columnStride, C with unit column
     * stride. Loop indices name the row (m), column (n) and summed (k) loops, -1 where there is none.
     */
    private record Product(int m, int n, int k, List<Integer> batch) {
        /** The product an einsum of two f32 or f16 operands is, or null when it is not one. */
        static Product of(Node node, EinsumLoops plan) {
            DType t = node.output(0).type().dtype();
            if (node.inputs().size() != 2 || (t != DType.F32 && t != DType.F16)) return null;
            long[] a = plan.strides()[0];
            long[] b = plan.strides()[1];
            long[] out = outputStrides(plan);
            int m = -1;
            int n = -1;
            int k = -1;
            List<Integer> batch = new ArrayList<>();
            for (int l = 0; l < plan.sizes().length; l++) {
                if (plan.sizes()[l] == 1) continue;
                boolean output = l < plan.outputLoops();
                if (output && (a[l] != 0) == (b[l] != 0)) {
                    batch.add(l);
                } else if (output && a[l] != 0) {
                    if (m >= 0) return null;
                    m = l;
                } else if (output) {
                    if (n >= 0) return null;
                    n = l;
                } else if (a[l] != 0 && b[l] != 0) {
                    if (k >= 0) return null;
                    k = l;
                } else {
                    return null;
                }
            }
            boolean columns = n < 0 || out[n] == 1;
            boolean rows = m < 0 || out[m] == 1;
            if (!columns && !rows) return null;
            // the output's unit stride on the row loop: C transposed, B^T A^T
            return columns ? new Product(m, n, k, batch) : new Product(n, m, k, batch);
        }
    }

    /** Row-major strides of the output's loops (0 for the summed ones). */
    private static long[] outputStrides(EinsumLoops plan) {
        return Arrays.copyOf(Nodes.strides(Arrays.copyOf(plan.sizes(), plan.outputLoops())), plan.sizes().length);
    }

    @Override
    public void emit(Node n, Emission e) {
        EinsumLoops plan = plan(n);
        Product gemm = Product.of(n, plan);
        if (gemm != null) {
            emitProduct(n, e, plan, gemm);
            return;
        }
        Value y = n.output(0);
        DType t = y.type().dtype();
        boolean floating = t.isFloatingPoint();
        String acc = floating ? "double" : "uint64_t";
        int loops = plan.sizes().length;
        for (int l = 0; l < plan.outputLoops(); l++) e.open("for (long l" + l + " = 0; l" + l + " < " + plan.sizes()[l] + "L; l" + l + "++) {");
        e.line(acc + " sum = 0;");
        for (int l = plan.outputLoops(); l < loops; l++) e.open("for (long l" + l + " = 0; l" + l + " < " + plan.sizes()[l] + "L; l" + l + "++) {");
        StringBuilder product = new StringBuilder();
        for (int i = 0; i < n.inputs().size(); i++) {
            Value v = n.input(i);
            String element = e.ptr(v) + "[" + offset(plan.strides()[i], loops) + "]";
            String value = floating ? "(double) " + CTypes.load(t, element) : v.type().dtype().isUnsignedInteger() ? "(uint64_t) " + element
                    : "(uint64_t) (int64_t) " + element;
            product.append(i > 0 ? " * " : "").append(value);
        }
        e.line("sum += " + product + ";");
        for (int l = plan.outputLoops(); l < loops; l++) e.close("}");
        long[] strides = outputStrides(plan);
        String stored = floating ? ComputeBuffers.fromDouble(t, "sum") : "(" + CTypes.storage(t) + ") sum";
        e.line(e.ptr(y) + "[" + offset(strides, plan.outputLoops()) + "] = " + stored + ";");
        for (int l = 0; l < plan.outputLoops(); l++) e.close("}");
    }

    private static void emitProduct(Node node, Emission e, EinsumLoops plan, Product p) {
        long[] sizes = plan.sizes();
        long[] out = outputStrides(plan);
        // operand 0 is A unless the product computes C transposed, which swaps the operands' roles
        boolean swapped = p.m() >= 0 && plan.strides()[0][p.m()] == 0;
        long[] a = plan.strides()[swapped ? 1 : 0];
        long[] b = plan.strides()[swapped ? 0 : 1];
        long m = p.m() < 0 ? 1 : sizes[p.m()];
        long n = p.n() < 0 ? 1 : sizes[p.n()];
        long k = p.k() < 0 ? 1 : sizes[p.k()];
        ComputeBuffers buffers = new ComputeBuffers(e);
        String x0 = buffers.read(node.input(swapped ? 1 : 0), "float");
        String x1 = buffers.read(node.input(swapped ? 0 : 1), "float");
        Value y = node.output(0);
        String yf = buffers.output(y, "float");
        Epilogue.declare(e, node, 1, 1, null, 0, 0, null, 0);
        String ws = e.workspace(Emission.GEMM_WORKSPACE_FLOATS);
        e.threadWorkspace(Emission.GEMM_WORKSPACE_FLOATS);
        long batches = 1;
        for (int l : p.batch()) batches *= sizes[l];
        e.open("for (long b = 0; b < " + batches + "L; b++) {");
        e.line("kiln_sgemm(" + m + "L, " + n + "L, " + k + "L, " + x0 + " + " + batchOffset(p, sizes, a) + ", " + stride(a, p.m()) + "L, "
                + stride(a, p.k()) + "L, 0, " + x1 + " + " + batchOffset(p, sizes, b) + ", " + stride(b, p.k()) + "L, " + stride(b, p.n()) + "L, "
                + yf + " + " + batchOffset(p, sizes, out) + ", " + (p.m() < 0 ? n : out[p.m()]) + "L, &e, " + ws + ");");
        e.close("}");
        buffers.store(y, yf, "float");
    }

    private static long stride(long[] strides, int loop) { return loop < 0 ? 0 : strides[loop]; }

    /** The C offset of batch index b (row-major over the product's batch loops) in an operand of these loop strides. */
    private static String batchOffset(Product p, long[] sizes, long[] strides) {
        StringBuilder b = new StringBuilder("0L");
        long inner = 1;
        for (int i = p.batch().size() - 1; i >= 0; i--) {
            int l = p.batch().get(i);
            if (strides[l] != 0) b.append(" + (b / ").append(inner).append("L % ").append(sizes[l]).append("L) * ").append(strides[l]).append('L');
            inner *= sizes[l];
        }
        return "(" + b + ")";
    }

    /** The C offset of loop indices l0, l1, ... times the strides (those of the first {@code loops} loops). */
    private static String offset(long[] strides, int loops) {
        StringBuilder b = new StringBuilder();
        for (int l = 0; l < loops; l++) {
            if (strides[l] == 0) continue;
            b.append(b.length() > 0 ? " + " : "").append("l").append(l).append(strides[l] == 1 ? "" : " * " + strides[l] + "L");
        }
        return b.length() == 0 ? "0" : b.toString();
    }
}
