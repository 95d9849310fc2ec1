package dev.kiln.runtime;

import java.util.List;

/**
 * The time a compiled model's nodes took, counted by its native code over {@code runs} inferences since profiling
 * was switched on ({@link Model#setProfiling}). The nodes are those the library runs, in order: the optimised
 * graph's, fused ops included.
 *
 * @param runs  the inferences counted (those that succeeded)
 * @param nodes every node, in the order the library runs them
 */
public record Profile(long runs, List<Profile.Node> nodes) {
    public Profile {
        nodes = List.copyOf(nodes);
    }

    /**
     * @param name  the node's name in the optimised graph
     * @param op    its op (FusedConv, Gemm, ...)
     * @param flops floating-point operations of one run (2 per multiply-add of convolutions and matrix products; 0 for ops not counted)
     * @param nanos nanoseconds over all counted runs
     */
    public record Node(String name, String op, long flops, long nanos) {}
}
