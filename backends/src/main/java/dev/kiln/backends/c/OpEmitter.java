package dev.kiln.backends.c;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;

import java.util.List;
import java.util.Set;

/**
 * The C emission of one family of ops: which nodes it takes, and the code it writes for them through an
 * {@link Emission}. Families are listed in {@link Emitters}; a generation makes fresh instances, so a family
 * may keep what {@link #prepare} planned for the graph at hand.
 */
interface OpEmitter {
    /** The ops this family emits. */
    Set<String> ops();

    /** The kernel sources (files of kernels/) its code calls; {@link KernelSources} adds what they build on. */
    List<String> kernels();

    /**
     * Null when this family emits the node as typed (dtypes, static or run-time shapes, layouts, attributes),
     * else what it does not take, in brackets (" (f64)"), for an OperatorNotImplemented message. Never looks
     * at state {@link #prepare} keeps.
     */
    String problem(Node n);

    /** Plans across the whole graph before any code is written: weights to pack, tiles, fusions of nodes. */
    default void prepare(Graph graph, Emission e) {}

    /** Writes the node's code; the node has passed {@link #problem}. */
    void emit(Node n, Emission e);
}
