package dev.kiln.backends.c;

import dev.kiln.ir.Node;

import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.dims;

/** Reductions along axes: softmax over one axis (softmax.h). */
final class ReductionEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("Softmax"); }

    @Override
    public List<String> kernels() { return List.of("softmax.h"); }

    @Override
    public String problem(Node n) { return Nodes.staticF32(n, i -> false, false); }

    @Override
    public void emit(Node n, Emission e) {
        long[] xs = dims(n.input(0));
        int axis = Nodes.axis(n, "axis", -1, xs.length);
        e.line("kiln_softmax(" + Nodes.product(xs, 0, axis) + "L, " + xs[axis] + "L, " + Nodes.product(xs, axis + 1, xs.length) + "L, "
                + e.ptr(n.input(0)) + ", " + e.ptr(n.output(0)) + ");");
    }
}
