package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

import static dev.kiln.backends.c.DimExprs.what;
import static dev.kiln.backends.c.ShapeCode.isStatic;
import static dev.kiln.backends.c.ShapeCode.known;
import static dev.kiln.backends.c.ShapeCode.present;

/**
 * Pad (constant, reflect, edge, wrap; negative pads crop) and CenterCropPad (a constant pad with zeros and
 * crops around the centre), both as kiln_pad: each output coordinate reads the input coordinate its mode gives,
 * or the fill value. With static shapes and constant pads the begins are literals; otherwise the op's rules run
 * at run time.
 */
final class PadEmitter implements OpEmitter {
    private static final Map<String, BiConsumer<Node, Emission>> CODE = Map.of(
            "Pad", PadEmitter::pad,
            "CenterCropPad", PadEmitter::centerCropPad);

    private static final List<String> MODES = List.of("constant", "reflect", "edge", "wrap");

    @Override
    public Set<String> ops() { return CODE.keySet(); }

    @Override
    public List<String> kernels() { return List.of(ShapeCode.COPY, ShapeCode.RULES); }

    @Override
    public String problem(Node n) {
        String layout = Nodes.plainLayouts(n);
        if (layout != null) return layout;
        return n.op().equals("Pad") ? ShapeCode.integers(n, 1, 3) : ShapeCode.integers(n, 1);
    }

    @Override
    public void emit(Node n, Emission e) { CODE.get(n.op()).accept(n, e); }

    private static void pad(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        int rank = x.type().rank();
        int mode = MODES.indexOf(Nodes.stringAttr(n, "mode", "constant"));
        if (isStatic(x) && isStatic(y) && known(n, 1) && known(n, 3)) {
            long[] xs = Nodes.dims(x);
            long[] ys = Nodes.dims(y);
            for (int d = 0; d < rank; d++) {
                if (ys[d] > 0 && xs[d] == 0 && mode != 0) {
                    // as the interpreter, which fails on such a graph whatever the data
                    e.line("return kiln_fail(" + Emission.cString("node " + n.name() + " (Pad): cannot pad an empty axis in mode " + MODES.get(mode)) + ");");
                    return;
                }
            }
            long[] pads = Nodes.constantLongs(n, 1);
            long[] axes = present(n, 3) ? Nodes.constantLongs(n, 3) : null;
            long[] begin = new long[rank];
            for (int i = 0; i < (axes == null ? rank : axes.length); i++) begin[(int) (axes == null ? i : axes[i] < 0 ? axes[i] + rank : axes[i])] = pads[i];
            constLongs(e, "begin", begin);
            copy(n, e, mode, "begin", e.dimsArray(y), fill(n, e));
            return;
        }
        String pads = ShapeCode.params(e, n, 1, "pads");
        String axes = present(n, 3) ? ShapeCode.params(e, n, 3, "axes") : "0L";
        ShapeCode.longs(e, "begin", rank);
        ShapeCode.longs(e, "y", rank);
        e.check("kiln_pad_plan(" + rank + ", " + e.dimsArray(x) + ", " + axes + ", " + (present(n, 3) ? "axes" : "0") + ", " + pads
                + ", pads, " + (mode == 0 ? 1 : 0) + ", y, begin, " + what(n) + ")");
        ShapeCode.settle(e, n, y, "y");
        copy(n, e, mode, "begin", "y", fill(n, e));
    }

    /** The fill element of a constant Pad: element 0 of constant_value where it has one, else zero bytes. */
    private static String fill(Node n, Emission e) {
        String zero = zero(e);
        if (!present(n, 2)) return zero;
        Value v = n.input(2);
        if (isStatic(v)) return Nodes.count(v) > 0 ? e.address(v) : zero;
        return "(" + e.count(v) + " > 0 ? (const char*) " + e.address(v) + " : " + zero + ")";
    }

    private static String zero(Emission e) {
        e.global("static const uint64_t kiln_zero_element = 0;");
        return "(const char*) &kiln_zero_element";
    }

    private static void copy(Node n, Emission e, int mode, String begin, String outDims, String fill) {
        Value x = n.input(0);
        e.line("kiln_pad(" + x.type().rank() + ", " + e.dimsArray(x) + ", " + outDims + ", " + begin + ", " + mode + ", " + e.address(x) + ", "
                + e.address(n.output(0)) + ", " + ShapeCode.size(x) + ", " + fill + ");");
    }

    private static void centerCropPad(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        int rank = x.type().rank();
        long[] axes = n.attribute("axes") instanceof Attribute.Ints a ? a.values() : null;
        if (isStatic(x) && isStatic(y) && known(n, 1)) {
            long[] xs = Nodes.dims(x);
            long[] ys = Nodes.dims(y);
            long[] begin = new long[rank];
            for (int d = 0; d < rank; d++) begin[d] = ys[d] >= xs[d] ? (ys[d] - xs[d]) / 2 : -((xs[d] - ys[d]) / 2);
            constLongs(e, "begin", begin);
            copy(n, e, 0, "begin", e.dimsArray(y), zero(e));
            return;
        }
        String count = ShapeCode.params(e, n, 1, "target");
        ShapeCode.longs(e, "begin", rank);
        String axesCount = axes == null ? "0L" : ShapeCode.constParams(e, "axes", axes);
        ShapeCode.longs(e, "y", rank);
        e.check("kiln_crop_plan(" + rank + ", " + e.dimsArray(x) + ", " + axesCount + ", " + (axes == null ? "0" : "axes") + ", " + count
                + ", target, y, begin, " + what(n) + ")");
        ShapeCode.settle(e, n, y, "y");
        copy(n, e, 0, "begin", "y", zero(e));
    }

    /** Declares {@code static const long name[]} of these values. */
    private static void constLongs(Emission e, String name, long[] values) {
        StringBuilder b = new StringBuilder("static const long " + name + "[" + Math.max(1, values.length) + "] = {");
        for (int i = 0; i < values.length; i++) b.append(i > 0 ? ", " : "").append(values[i]).append('L');
        e.line(b.append(values.length == 0 ? "0L};" : "};").toString());
    }
}
