package dev.kiln.passes;

import dev.kiln.ir.Constant;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

/** Which nodes compute a function of their inputs alone, so that passes may evaluate or merge them. */
final class Purity {
    private Purity() {}

    /** Dropout in training mode draws a random mask: the only IR op whose result is not a function of its inputs. */
    static boolean isDeterministic(Node n) {
        return !n.op().equals("Dropout") || isInferenceDropout(n);
    }

    /** A Dropout that passes its input through: training_mode absent or a constant false (the ratio is then irrelevant). */
    static boolean isInferenceDropout(Node n) {
        if (!n.op().equals("Dropout")) return false;
        Value mode = n.input(2);
        if (mode == null) return true;
        return mode instanceof Constant c && c.type().shape().elementCount() == 1 && c.data().get(0) == 0;
    }
}
