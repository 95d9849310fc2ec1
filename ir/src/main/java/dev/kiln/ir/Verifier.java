package dev.kiln.ir;

import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.OpSpec;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Checks the invariants every pass must keep: nodes in topological order, no dangling or foreign
 * values, known ops with valid arity and attributes, and recorded types that agree with what
 * inference derives from the inputs.
 */
public final class Verifier {
    private Verifier() {}

    /** Throws an {@link IrException} listing every problem found. */
    public static void verify(Graph g) {
        List<String> problems = new ArrayList<>();
        Set<Value> defined = new HashSet<>(g.inputs());
        defined.addAll(g.constants().values());
        for (Value v : defined) {
            if (v.producer() != null) problems.add("%" + v.name() + " is a graph input or constant but has a producer");
            if (g.value(v.name()) != v) problems.add("%" + v.name() + " is not registered in the graph");
        }
        Set<String> nodeNames = new HashSet<>();
        for (Node n : g.nodes()) {
            String where = n.op() + " node @" + n.name();
            if (!nodeNames.add(n.name())) problems.add("node name @" + n.name() + " is used twice");
            for (Value in : n.inputs()) {
                if (in == null) continue;
                if (g.value(in.name()) != in) problems.add(where + " uses %" + in.name() + ", which is not a value of this graph");
                else if (!defined.contains(in)) problems.add(where + " uses %" + in.name() + " before it is defined");
            }
            for (Value out : n.outputs()) {
                if (out.producer() != n) problems.add(where + ": output %" + out.name() + " names another producer");
                if (!defined.add(out)) problems.add("%" + out.name() + " is defined twice");
            }
            if (!OpRegistry.contains(n.op())) {
                problems.add(where + ": unknown op");
                continue;
            }
            OpSpec spec = OpRegistry.spec(n.op());
            try {
                List<TensorType> inferred = spec.inferTypes(n.name(), n.inputs(), n.attributes(), n.outputs().size());
                for (int i = 0; i < inferred.size(); i++) {
                    TensorType have = n.output(i).type();
                    if (!compatible(have, inferred.get(i))) {
                        problems.add(where + ": output %" + n.output(i).name() + " is typed " + have + " but its inputs give " + inferred.get(i));
                    }
                }
            } catch (IrException e) {
                problems.add(e.getMessage());
            }
        }
        for (Value out : g.outputs()) {
            if (!defined.contains(out)) problems.add("graph output %" + out.name() + " is never defined");
        }
        if (!problems.isEmpty()) {
            throw new IrException("graph " + g.name() + " is invalid:\n  " + String.join("\n  ", problems));
        }
    }

    /**
     * A recorded type may be more precise than inference (a pass resolved a symbol) but never
     * contradict it: same dtype and rank, equal sizes wherever both are static.
     */
    static boolean compatible(TensorType have, TensorType inferred) {
        if (have.dtype() != inferred.dtype() || have.rank() != inferred.rank()) return false;
        for (int d = 0; d < have.rank(); d++) {
            Dim a = have.shape().dim(d);
            Dim b = inferred.shape().dim(d);
            if (a.isStatic() && b.isStatic() && a.size() != b.size()) return false;
        }
        return true;
    }
}
