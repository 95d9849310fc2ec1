package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;

/**
 * Views ({@link CCodeGenerator#VIEWS}): the output is the input's bytes under another shape, so nothing moves
 * (unless the memory plan gave the output bytes of its own: a graph output). Where the output's dims are
 * known only at run time (a shape or axes read from an input, an input of run-time shape) the node computes
 * them by the op's rules, failing where the interpreter fails.
 */
final class ViewEmitter implements OpEmitter {
    /** Each op's code that computes its output's dims into the local {@code long y[rank]}. */
    private static final Map<String, BiConsumer<Node, Emission>> DIMS = Map.of(
            "Reshape", ViewEmitter::reshape,
            "Flatten", ViewEmitter::flatten,
            "Squeeze", ViewEmitter::squeeze,
            "Unsqueeze", ViewEmitter::unsqueeze,
            "Identity", ViewEmitter::identity);

    @Override
    public Set<String> ops() { return DIMS.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        // Identity keeps any layout (the same bytes); the others reshape logical dims, which blocked data does not have
        if (n.op().equals("Identity")) {
            return n.input(0).type().layout().equals(n.output(0).type().layout()) ? null : " (layout " + n.output(0).type().layout() + ")";
        }
        String layout = Nodes.plainLayouts(n);
        return layout != null ? layout : ShapeCode.integers(n, 1);
    }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        if (!isStatic(x) || !isStatic(y) || !ShapeCode.known(n, 1)) {
            ShapeCode.longs(e, "y", y.type().rank());
            DIMS.get(n.op()).accept(n, e);
            ShapeCode.settle(e, n, y, "y");
        }
        if (isStatic(y) && !e.address(x).equals(e.address(y))) {
            e.line("memcpy(" + e.address(y) + ", " + e.address(x) + ", " + Nodes.count(y) * ShapeCode.size(y) + ");");
        }
    }

    private static void reshape(Node n, Emission e) {
        Value x = n.input(0);
        ShapeCode.params(e, n, 1, "target");
        e.check("kiln_reshape_dims(" + x.type().rank() + ", " + e.dimsArray(x) + ", " + n.output(0).type().rank() + ", target, "
                + Nodes.intAttr(n, "allowzero", 0) + ", y, " + what(n) + ")");
    }

    private static void flatten(Node n, Emission e) {
        Value x = n.input(0);
        int rank = x.type().rank();
        int axis = Nodes.axis(n, "axis", 1, rank);
        e.line("y[0] = " + DimExprs.product(e, x, 0, axis) + ";");
        e.line("y[1] = " + DimExprs.product(e, x, axis, rank) + ";");
    }

    private static void squeeze(Node n, Emission e) {
        Value x = n.input(0);
        int rank = x.type().rank();
        String count;
        if (ShapeCode.present(n, 1)) {
            count = ShapeCode.params(e, n, 1, "axes");
        } else {
            // without axes the IR squeezed the dims it knew to be 1; a dim known only at run time stays, and must not be 1
            List<Long> ones = new ArrayList<>();
            List<String> unknownOnes = new ArrayList<>();
            for (int d = 0; d < rank; d++) {
                if (!x.type().shape().dim(d).isStatic()) unknownOnes.add(e.dim(x, d) + " == 1");
                else if (x.type().shape().dim(d).size() == 1) ones.add((long) d);
            }
            if (!unknownOnes.isEmpty()) {
                e.failWhen(String.join(" || ", unknownOnes), "node " + n.name() + " (Squeeze): a dim known only at run time is 1, which would change the output's rank");
            }
            count = ShapeCode.constParams(e, "axes", ones.stream().mapToLong(Long::longValue).toArray());
        }
        e.check("kiln_squeeze_dims(" + rank + ", " + e.dimsArray(x) + ", " + count + ", axes, " + n.output(0).type().rank() + ", y, " + what(n) + ")");
    }

    private static void unsqueeze(Node n, Emission e) {
        Value x = n.input(0);
        String count = ShapeCode.params(e, n, 1, "axes");
        e.check("kiln_unsqueeze_dims(" + x.type().rank() + ", " + e.dimsArray(x) + ", " + count + ", axes, " + n.output(0).type().rank()
                + ", y, " + what(n) + ")");
    }

    private static void identity(Node n, Emission e) {
        Value x = n.input(0);
        for (int d = 0; d < x.type().rank(); d++) e.line("y[" + d + "] = " + e.dim(x, d) + ";");
    }
}
