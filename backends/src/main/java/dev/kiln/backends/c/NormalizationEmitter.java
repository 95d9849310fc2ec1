package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/**
 * Normalisations over the trailing axes from an axis on (LayerNormalization with its Mean and InvStdDev
 * outputs, RMSNormalization) and along one axis (LpNormalization), of every float dtype, shapes static or
 * known at run time. f32 LayerNormalization with a scale and bias of one value or one per normalised element is
 * layer_norm.h's kernel (float statistics, rows across threads); the rest is computed as the interpreter does:
 * statistics in double, then scale and bias broadcast to the input, each step rounded to the element type.
 */
final class NormalizationEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("LayerNormalization", "RMSNormalization", "LpNormalization"); }

    @Override
    public List<String> kernels() { return List.of("layer_norm.h"); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        switch (n.op()) {
            case "LpNormalization" -> emitLp(n, e);
            case "LayerNormalization" -> {
                if (takesLayerNormKernel(n)) emitLayerNormKernel(n, e);
                else emitNormalization(n, e, false);
            }
            default -> emitNormalization(n, e, true);
        }
    }

    /** f32, static, no statistics outputs, and a scale and bias that hold one value or vary only along the normalised dims. */
    private static boolean takesLayerNormKernel(Node n) {
        if (n.outputs().size() > 1 || Nodes.staticF32(n, i -> false, false) != null) return false;
        return rowIndex(n, n.input(1)) != null && (n.input(2) == null || rowIndex(n, n.input(2)) != null);
    }

    /**
     * How element j of a row reads a scale or bias: "0" for one value, "j" for an operand shaped like the row
     * (static normalised dims, the operand's dims after leading 1s the same), else null (it varies otherwise).
     */
    private static String rowIndex(Node n, Value v) {
        if (!Emission.isStatic(v)) return null;
        if (count(v) == 1) return "0";
        Value x = n.input(0);
        int rank = x.type().rank();
        int axis = Nodes.axis(n, "axis", -1, rank);
        long[] vs = dims(v);
        int leadingOnes = 0;
        while (leadingOnes < vs.length && vs[leadingOnes] == 1) leadingOnes++;
        if (vs.length - leadingOnes > rank - axis) return null;
        for (int d = axis; d < rank; d++) {
            int vd = d - (rank - vs.length);
            long size = vd < 0 ? 1 : vs[vd];
            if (!x.type().shape().dim(d).isStatic() || x.type().shape().dim(d).size() != size) return null;
        }
        return "j";
    }

    private static long normalisedSize(Node n) {
        long[] xs = dims(n.input(0));
        return Nodes.product(xs, Nodes.axis(n, "axis", -1, xs.length), xs.length);
    }

    private static void emitLayerNormKernel(Node n, Emission e) {
        long size = normalisedSize(n);
        long rows = size == 0 ? 0 : count(n.input(0)) / size;
        Value scale = n.input(1);
        Value bias = n.input(2);
        e.line("kiln_layer_norm(" + rows + "L, " + size + "L, " + e.ptr(n.input(0)) + ", " + e.ptr(scale) + ", " + (count(scale) == 1 ? 0 : 1) + "L, "
                + (bias == null ? "0, 0L" : e.ptr(bias) + ", " + (count(bias) == 1 ? 0 : 1) + "L") + ", "
                + CTypes.floatLiteral(Nodes.floatAttr(n, "epsilon", 1e-5)) + ", " + e.ptr(n.output(0)) + ");");
    }

    /**
     * LayerNormalization, or RMSNormalization with {@code rms}: per row (the elements from the axis on) its mean and
     * 1 / sqrt(variance + epsilon), or 1 / sqrt(mean square + epsilon), in double; then every element with its
     * row's statistics and its scale and bias, which broadcast to the input (usually one value or one per element
     * of a row).
     */
    private static void emitNormalization(Node n, Emission e, boolean rms) {
        Value x = n.input(0);
        Value y = n.output(0);
        Value scale = n.input(1);
        Value bias = rms ? null : n.input(2);
        DType t = x.type().dtype();
        int rank = x.type().rank();
        int axis = Nodes.axis(n, "axis", -1, rank);
        ReductionCode.sameDims(e, x, y);
        String rows = DimExprs.product(e, x, 0, axis);
        String size = DimExprs.product(e, x, axis, rank);
        String stats = Emission.isStatic(x)
                ? e.workspace(4 * Nodes.product(dims(x), 0, axis))
                : e.scratch(rows + " * 16L", n.op() + " node " + n.name() + ": statistics");
        e.line("double* stats = (double*) " + stats + ";");
        e.line("const " + CTypes.storage(t) + "* xs = " + e.ptr(x) + ";");
        e.open("for (long r = 0; r < " + rows + "; r++) {");
        e.line("const " + CTypes.storage(t) + "* line = xs + r * " + size + ";");
        String v = Elements.asDouble(t, "line[j]");
        String each = "for (long j = 0; j < " + size + "; j++) ";
        String epsilon = CTypes.floatLiteral(Nodes.floatAttr(n, "epsilon", 1e-5));
        if (rms) {
            e.line("double squares = 0.0;");
            e.line(each + "squares += " + v + " * " + v + ";");
            e.line("stats[2 * r] = 0.0;");
            e.line("stats[2 * r + 1] = 1.0 / sqrt(squares / (double) " + size + " + " + epsilon + ");");
        } else {
            e.line("double sum = 0.0, squares = 0.0;");
            e.line(each + "sum += " + v + ";");
            e.line("const double mean = sum / (double) " + size + ";");
            e.line(each + "squares += (" + v + " - mean) * (" + v + " - mean);");
            e.line("stats[2 * r] = mean;");
            e.line("stats[2 * r + 1] = 1.0 / sqrt(squares / (double) " + size + " + " + epsilon + ");");
        }
        e.close("}");
        String scaleIndex = rowIndex(n, scale);
        String biasIndex = bias == null ? "0" : rowIndex(n, bias);
        if (scaleIndex != null && biasIndex != null) {
            e.open("for (long r = 0; r < " + rows + "; r++) {");
            e.open(each + "{");
            e.line("const long p = r * " + size + " + j;");
            e.line(e.ptr(y) + "[p] = " + normalised(n, rms, "p", "r", scaleIndex, bias == null ? null : biasIndex, e) + ";");
            e.close("}");
            e.close("}");
        } else {
            // scale or bias broadcast along dims before the axis too: a row counter follows the loops
            List<Value> operands = new ArrayList<>(List.of(x, scale));
            if (bias != null) operands.add(bias);
            e.line("long row = 0, column = 0;");
            LoopNest loops = LoopNest.open(e, y, operands);
            e.line(e.ptr(y) + "[" + loops.out() + "] = " + normalised(n, rms, loops.at(0), "row", loops.at(1), bias == null ? null : loops.at(2), e) + ";");
            e.open("if (++column == " + size + ") {");
            e.line("column = 0;");
            e.line("row++;");
            e.close("}");
            loops.close(e);
        }
        for (int k = 1; k < n.outputs().size(); k++) {
            Value s = n.output(k);
            List<String> statsDims = DimExprs.dims(e, x).subList(0, axis);
            statsDims = new ArrayList<>(statsDims);
            while (statsDims.size() < rank) statsDims.add("1L");
            DimExprs.define(e, s, statsDims);
            e.line("for (long r = 0; r < " + rows + "; r++) " + e.ptr(s) + "[r] = " + Elements.fromDouble(s.type().dtype(), "stats[2 * r + " + (k - 1) + "]") + ";");
        }
    }

    /**
     * The output element from x at {@code at}, its row's statistics and the scale and bias at their offsets (bias
     * null when there is none): scale * (x - mean) * inverse, each step rounded to the input's type as the
     * interpreter does; RMSNormalization's output has the scale's type.
     */
    private static String normalised(Node n, boolean rms, String at, String row, String scaleAt, String biasAt, Emission e) {
        DType t = n.input(0).type().dtype();
        Value scale = n.input(1);
        String normalised = ReductionCode.rounded(t, "(" + Elements.asDouble(t, e.ptr(n.input(0)) + "[" + at + "]") + " - stats[2 * " + row
                + "]) * stats[2 * " + row + " + 1]");
        String scaled = normalised + " * " + Elements.asDouble(scale.type().dtype(), e.ptr(scale) + "[" + scaleAt + "]");
        if (rms) return Elements.fromDouble(n.output(0).type().dtype(), scaled);
        String shifted = ReductionCode.rounded(t, scaled);
        if (biasAt != null) shifted = ReductionCode.rounded(t, shifted + " + " + Elements.asDouble(t, e.ptr(n.input(2)) + "[" + biasAt + "]"));
        return Elements.fromDouble(t, shifted);
    }

    /** LpNormalization: each line along the axis divided by its L1 or L2 norm (in double); a zero norm gives zeros. */
    private static void emitLp(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        ReductionCode.sameDims(e, x, y);
        ReductionCode.Lines lines = ReductionCode.Lines.of(e, x, Nodes.axis(n, "axis", -1, x.type().rank()));
        boolean l1 = Nodes.intAttr(n, "p", 2) == 1;
        e.line("const " + CTypes.storage(t) + "* xs = " + e.ptr(x) + ";");
        e.line(CTypes.storage(t) + "* ys = " + e.ptr(y) + ";");
        String v = Elements.asDouble(t, "xs[" + lines.at("k") + "]");
        String each = "for (long k = 0; k < " + lines.n() + "; k++) ";
        lines.open(e);
        e.line("double norm = 0.0;");
        e.line(each + "norm += " + (l1 ? "fabs(" + v + ")" : v + " * " + v) + ";");
        if (!l1) e.line("norm = sqrt(norm);");
        e.line(each + "ys[" + lines.at("k") + "] = " + Elements.fromDouble(t, "norm != 0.0 ? " + v + " / norm : 0.0") + ";");
        lines.close(e);
    }
}
