package dev.kiln.backends.c;

import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/** What the quantized, recurrent and attention families refuse of a node's values, in brackets (null: nothing). */
final class Refusals {
    private Refusals() {}

    /** A value in a layout other than plain. */
    static String layout(Node n) {
        for (Value v : values(n)) {
            if (!Layouts.isPlain(v.type().layout())) return " (layout " + v.type().layout() + ")";
        }
        return null;
    }

    /** A value whose shape is known only at run time. */
    static String symbolic(Node n) {
        for (Value v : values(n)) {
            if (!Emission.isStatic(v)) return " (symbolic shape " + v.type().shape() + ")";
        }
        return null;
    }

    /** The node's outputs and the inputs it has. */
    private static List<Value> values(Node n) {
        List<Value> all = new ArrayList<>(n.outputs());
        for (Value v : n.inputs()) if (v != null) all.add(v);
        return all;
    }
}
