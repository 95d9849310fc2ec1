package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * What the quantized, recurrent and attention families share: a node's values, a stored element read as a
 * double (their reference computes in double), and an output given its input's run-time dims.
 */
final class Elements {
    private Elements() {}

    /** The node's outputs and the inputs it has. */
    static List<Value> of(Node n) {
        List<Value> all = new ArrayList<>(n.outputs());
        for (Value v : n.inputs()) if (v != null) all.add(v);
        return all;
    }

    /** Element {@code index} (a C expression) of a value, as a double. */
    static String asDouble(Value v, String index, Emission e) {
        return "(double) " + CTypes.load(Emission.dtype(v), e.ptr(v) + "[" + index + "]");
    }

    /** Gives y x's run-time dims (nothing for a static y) and reserves its buffer. */
    static void shapeLike(Emission e, Value y, Value x) {
        if (Emission.isStatic(y)) return;
        e.line("memcpy(" + e.dimsArray(y) + ", " + e.dimsArray(x) + ", " + Math.max(1, x.type().rank()) + " * sizeof(long));");
        e.allocate(y);
    }
}
