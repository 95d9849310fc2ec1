package dev.kiln.passes;

import dev.kiln.ir.Dim;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;

import java.util.ArrayList;
import java.util.List;

/** Merges what type inference derives into what a value is typed: types only ever get more precise. */
final class TypeRefinement {
    private TypeRefinement() {}

    /**
     * The more precise of the two: a static size wins over a symbol, a recorded symbol stays when
     * inference has nothing better, and a recorded layout stays. Disagreeing dtypes, ranks or static
     * sizes are an error naming the node.
     */
    static TensorType refine(Node node, int output, TensorType have, TensorType inferred) {
        if (have.dtype() != inferred.dtype() || have.rank() != inferred.rank()) throw contradiction(node, output, have, inferred);
        List<Dim> dims = new ArrayList<>(have.rank());
        for (int d = 0; d < have.rank(); d++) {
            Dim a = have.shape().dim(d);
            Dim b = inferred.shape().dim(d);
            if (a.isStatic() && b.isStatic() && a.size() != b.size()) throw contradiction(node, output, have, inferred);
            dims.add(a.isStatic() || !b.isStatic() ? a : b);
        }
        Layout layout = have.layout().isAny() ? inferred.layout() : have.layout();
        TensorType refined = new TensorType(have.dtype(), new Shape(dims), layout);
        return refined.equals(have) ? have : refined;
    }

    private static IrException contradiction(Node node, int output, TensorType have, TensorType inferred) {
        return new IrException(node.op() + " node '" + node.name() + "': output %" + node.output(output).name()
                + " is typed " + have + " but its inputs give " + inferred);
    }
}
