package dev.kiln.backends.c;

import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/** Normalisations: LayerNormalization over trailing axes (layer_norm.h). */
final class NormalizationEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("LayerNormalization"); }

    @Override
    public List<String> kernels() { return List.of("layer_norm.h"); }

    @Override
    public String problem(Node n) {
        String types = Nodes.staticF32(n, i -> false, false);
        if (types != null) return types;
        if (n.outputs().size() > 1) return " (Mean and InvStdDev outputs)";
        long size = normalizedSize(n);
        for (int i = 1; i <= 2 && i < n.inputs().size(); i++) {
            Value v = n.input(i);
            if (v != null && count(v) != 1 && count(v) != size) return " (scale or bias of " + count(v) + " values for rows of " + size + ")";
        }
        return null;
    }

    private static long rows(Node n) {
        long[] xs = dims(n.input(0));
        return Nodes.product(xs, 0, Nodes.axis(n, "axis", -1, xs.length));
    }

    private static long normalizedSize(Node n) { return count(n.input(0)) / Math.max(rows(n), 1); }

    @Override
    public void emit(Node n, Emission e) {
        long size = normalizedSize(n);
        long rows = rows(n);
        Value scale = n.input(1);
        Value bias = n.inputs().size() > 2 ? n.input(2) : null;
        e.line("kiln_layer_norm(" + rows + "L, " + size + "L, " + e.ptr(n.input(0)) + ", " + e.ptr(scale) + ", " + (count(scale) == 1 ? 0 : 1) + "L, "
                + (bias == null ? "0, 0L" : e.ptr(bias) + ", " + (count(bias) == 1 ? 0 : 1) + "L") + ", "
                + CTypes.floatLiteral(Nodes.floatAttr(n, "epsilon", 1e-5)) + ", " + e.ptr(n.output(0)) + ");");
    }
}
