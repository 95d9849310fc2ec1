package dev.kiln.ir;

import java.util.Map;

/**
 * Runs a graph on concrete inputs. The compiler needs values at compile time (constant folding,
 * calibration) but must not depend on an execution engine, so the engine is passed in behind this
 * interface; the reference interpreter implements it.
 */
@FunctionalInterface
public interface GraphEvaluator {
    /** Outputs by name, in the graph's output order; tensors are little-endian bytes with their types. */
    Map<String, Attribute.Tensor> run(Graph graph, Map<String, Attribute.Tensor> inputs);
}
