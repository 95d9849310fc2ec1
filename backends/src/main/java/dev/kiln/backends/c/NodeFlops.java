package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.Map;
import java.util.function.ToLongFunction;

/**
 * The floating-point operations of one run of a node, as the profile reports them (kiln_node_flops): 2 per
 * multiply-add of the convolutions and matrix products, counted over logical dims (channel padding of the blocked
 * layout included, as the kernels compute it). Other ops count 0: their cost is memory, not arithmetic.
 */
final class NodeFlops {
    private NodeFlops() {}

    private static final Map<String, ToLongFunction<Node>> MULTIPLY_ADDS = Map.of(
            "Conv", NodeFlops::convolution,
            "FusedConv", NodeFlops::convolution,
            "ConvTranspose", NodeFlops::transposedConvolution,
            "FusedConvTranspose", NodeFlops::transposedConvolution,
            "Gemm", NodeFlops::gemm,
            "FusedGemm", NodeFlops::gemm,
            "MatMul", NodeFlops::matMul,
            "FusedMatMul", NodeFlops::matMul);

    /** 2 x the node's multiply-adds; 0 for an op not counted or a shape known only at run time. */
    static long of(Node n) {
        ToLongFunction<Node> macs = MULTIPLY_ADDS.get(n.op());
        if (macs == null || n.inputs().size() < 2) return 0;
        for (Value v : new Value[] {n.input(0), n.input(1), n.output(0)}) {
            if (v == null || !v.type().shape().isStatic()) return 0;
        }
        return 2 * macs.applyAsLong(n);
    }

    /** Each output element sums (C_in / group) x kernel elements: the filter's dims after the first. */
    private static long convolution(Node n) {
        long[] w = Nodes.logical(n.input(1));
        return Nodes.count(n.output(0)) * Nodes.product(w, 1, w.length);
    }

    /** Each input element scatters into (C_out / group) x kernel elements: the filter's dims after the first. */
    private static long transposedConvolution(Node n) {
        long[] w = Nodes.logical(n.input(1));
        return Nodes.count(n.input(0)) * Nodes.product(w, 1, w.length);
    }

    private static long gemm(Node n) {
        long[] a = Nodes.dims(n.input(0));
        return Nodes.count(n.output(0)) * (Nodes.intAttr(n, "transA", 0) != 0 ? a[0] : a[a.length - 1]);
    }

    private static long matMul(Node n) {
        long[] a = Nodes.dims(n.input(0));
        return Nodes.count(n.output(0)) * a[a.length - 1];
    }
}
