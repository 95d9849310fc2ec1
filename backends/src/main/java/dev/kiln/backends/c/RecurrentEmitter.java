package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;
import static dev.kiln.backends.c.Nodes.dims;

/**
 * RNN, GRU and LSTM (recurrent.h): forward, reverse and bidirectional, both layouts, every activation with its
 * alpha and beta, clip, GRU's linear_before_reset, LSTM's input_forget and peepholes, optional bias, initial
 * states and sequence lengths (checked as the node runs), and any of the outputs Y, Y_h, Y_c. f32 and f64 are
 * computed in their own type; f16 and bf16 are converted to f32 in the workspace, computed, and converted back.
 */
final class RecurrentEmitter implements OpEmitter {
    /** Activation names (lower case) in the order of recurrent.h's KILN_RA_* codes. */
    private static final List<String> ACTIVATIONS = List.of("relu", "tanh", "sigmoid", "affine", "leakyrelu", "thresholdedrelu",
            "scaledtanh", "hardsigmoid", "elu", "softsign", "softplus");
    /** The alpha and beta each activation takes when the lists run out (NaN: it takes none). */
    private static final Map<String, double[]> PARAMETERS = Map.of("affine", new double[] {1, 0}, "leakyrelu", new double[] {0.01, Double.NaN},
            "thresholdedrelu", new double[] {1, Double.NaN}, "scaledtanh", new double[] {1, 1}, "hardsigmoid", new double[] {0.2, 0.5},
            "elu", new double[] {1, Double.NaN});

    /** The ops: gates per step, their cell code, and the activations each direction takes by default. */
    private enum Cell {
        RNN(1, List.of("Tanh")), GRU(3, List.of("Sigmoid", "Tanh")), LSTM(4, List.of("Sigmoid", "Tanh", "Tanh"));

        final int gates;
        final List<String> defaults;

        Cell(int gates, List<String> defaults) {
            this.gates = gates;
            this.defaults = defaults;
        }
    }

    /** One activation as the C struct takes it. */
    private record Activation(int code, double alpha, double beta) {}

    @Override
    public Set<String> ops() { return Set.of("RNN", "GRU", "LSTM"); }

    @Override
    public List<String> kernels() { return List.of("recurrent.h", "gemm.h", "small_gemm.h"); }

    /** The sizes of a node, read from its static shapes and attributes. */
    private record Geometry(Cell cell, long seq, long batch, long input, long hidden, int directions, boolean batchFirst) {
        static Geometry of(Node n) {
            long[] x = dims(n.input(0));
            boolean batchFirst = Nodes.intAttr(n, "layout", 0) == 1;
            long hidden = Nodes.attr(n, "hidden_size") instanceof Attribute.Int h ? h.value() : dims(n.input(2))[2];
            int directions = Nodes.stringAttr(n, "direction", "forward").equals("bidirectional") ? 2 : 1;
            return new Geometry(Cell.valueOf(n.op()), x[batchFirst ? 1 : 0], x[batchFirst ? 0 : 1], x[2], hidden, directions, batchFirst);
        }

        long gateRows() { return cell.gates * hidden; }

        long[] state() { return batchFirst ? new long[] {batch, directions, hidden} : new long[] {directions, batch, hidden}; }
    }

    @Override
    public String problem(Node n) {
        String values = Nodes.staticShapes(n) != null ? Nodes.staticShapes(n) : Nodes.plainLayouts(n);
        if (values != null) return values;
        String direction = Nodes.stringAttr(n, "direction", "forward");
        if (!Set.of("forward", "reverse", "bidirectional").contains(direction)) return " (direction " + direction + ")";
        long layout = Nodes.intAttr(n, "layout", 0);
        if (layout != 0 && layout != 1) return " (layout " + layout + ")";
        if (Nodes.attr(n, "clip") instanceof Attribute.Float c && !(c.value() > 0)) return " (clip " + c.value() + ")";
        if (activations(n, direction.equals("bidirectional") ? 2 : 1) == null) return " (activations " + names(n) + ")";
        Geometry g = Geometry.of(n);
        if (n.outputs().size() > (g.cell == Cell.LSTM ? 3 : 2)) return " (" + n.outputs().size() + " outputs)";
        if (!Arrays.equals(dims(n.input(1)), new long[] {g.directions, g.gateRows(), g.input})
                || !Arrays.equals(dims(n.input(2)), new long[] {g.directions, g.gateRows(), g.hidden})) return " (W or R of another shape than the node's)";
        long[] expected = {0, 0, 0, g.directions * 2L * g.gateRows(), g.batch, 0, 0, g.directions * 3L * g.hidden};
        for (int i : new int[] {3, 4, 7}) {
            if (n.input(i) != null && count(n.input(i)) != expected[i]) return " (input " + i + " of " + count(n.input(i)) + " elements)";
        }
        for (int i : new int[] {5, 6}) {
            if (n.input(i) != null && !Arrays.equals(dims(n.input(i)), g.state())) return " (initial state of shape " + Arrays.toString(dims(n.input(i))) + ")";
        }
        return null;
    }

    private static List<String> names(Node n) {
        return Nodes.attr(n, "activations") instanceof Attribute.Strs s ? s.values() : Cell.valueOf(n.op()).defaults;
    }

    /**
     * The activations of a node with {@code directions} directions, per direction, or null where the list does
     * not fit or names an unknown function. Alphas and betas go to the functions that take them in list order.
     */
    private static Activation[][] activations(Node n, int directions) {
        List<String> names = names(n);
        int per = Cell.valueOf(n.op()).defaults.size();
        if (names.size() != per && names.size() < per * directions) return null;
        float[] alphas = Nodes.attr(n, "activation_alpha") instanceof Attribute.Floats a ? a.values() : new float[0];
        float[] betas = Nodes.attr(n, "activation_beta") instanceof Attribute.Floats b ? b.values() : new float[0];
        int nextAlpha = 0;
        int nextBeta = 0;
        List<Activation> parsed = new ArrayList<>();
        for (String name : names) {
            String key = name.toLowerCase(Locale.ROOT);
            int code = ACTIVATIONS.indexOf(key);
            if (code < 0) return null;
            double[] defaults = PARAMETERS.getOrDefault(key, new double[] {Double.NaN, Double.NaN});
            double alpha = Double.isNaN(defaults[0]) ? 0 : nextAlpha < alphas.length ? alphas[nextAlpha++] : defaults[0];
            double beta = Double.isNaN(defaults[1]) ? 0 : nextBeta < betas.length ? betas[nextBeta++] : defaults[1];
            parsed.add(new Activation(code, alpha, beta));
        }
        Activation[][] result = new Activation[2][per];
        for (int d = 0; d < directions; d++) {
            int offset = parsed.size() >= per * directions ? d * per : 0;
            for (int k = 0; k < per; k++) result[d][k] = parsed.get(offset + k);
        }
        return result;
    }

    @Override
    public void emit(Node n, Emission e) {
        Geometry g = Geometry.of(n);
        DType t = Emission.dtype(n.input(0));
        boolean f64 = t == DType.F64;
        e.line(shape(n, g));
        Value lengths = n.input(4);
        if (lengths != null) {
            e.line("for (long b = 0; b < " + g.batch + "L; b++) {");
            e.line("    int32_t length = " + e.ptr(lengths) + "[b];");
            e.line("    if (length < 0 || length > " + g.seq + ") return kiln_fail_value("
                    + Emission.cString("node " + n.name() + " (" + n.op() + "): sequence_lens has an entry outside [0, " + g.seq + "]:") + ", length);");
            e.line("}");
        }
        Workspace ws = new Workspace();
        // f16 and bf16 values go through f32 copies
        String[] in = new String[8];
        for (int i : new int[] {0, 1, 2, 3, 5, 6, 7}) {
            Value v = n.input(i);
            if (v == null) in[i] = "0";
            else if (t == DType.F32 || f64) in[i] = e.ptr(v);
            else if (i == 2 && v instanceof Constant) in[i] = null; // converted as it is packed, at load
            else {
                in[i] = ws.take("float", count(v), 4);
                e.line("for (long i = 0; i < " + count(v) + "L; i++) " + in[i] + "[i] = " + CTypes.load(t, e.ptr(v) + "[i]") + ";");
            }
        }
        String[] out = {"0", "0", "0"};
        for (int k = 0; k < n.outputs().size(); k++) out[k] = t == DType.F32 || f64 ? e.ptr(n.output(k)) : ws.take("float", count(n.output(k)), 4);
        String states = lengths == null ? "0" : e.ptr(lengths);
        if (f64) {
            String kernel = ws.take("double", (g.seq * g.batch * g.cell.gates + g.cell.gates + 4) * g.hidden, 8);
            ws.reserve(e);
            e.line("kiln_rnn_f64(&s, " + in[0] + ", " + in[1] + ", " + in[2] + ", " + in[3] + ", " + states + ", " + in[5] + ", " + in[6] + ", "
                    + in[7] + ", " + out[0] + ", " + out[1] + ", " + out[2] + ", " + kernel + ");");
            return;
        }
        String proj = ws.take("float", g.directions * g.seq * g.batch * g.gateRows(), 4);
        project(n, g, e, ws, in[0], in[1], in[3], proj);
        String packed = packedRecurrence(n, g, e, ws, in[2]);
        String kernel = ws.take("float", (1 + g.batch) * g.cell.gates * padded(g.hidden) + 3 * g.batch * padded(g.hidden), 4);
        ws.reserve(e, Emission.GEMM_WORKSPACE_FLOATS);
        e.line("kiln_rnn_f32(&s, " + proj + ", " + packed + ", " + in[3] + ", " + states + ", " + in[5] + ", " + in[6] + ", " + in[7] + ", "
                + out[0] + ", " + out[1] + ", " + out[2] + ", " + kernel + ");");
        if (t == DType.F32) return;
        for (int k = 0; k < n.outputs().size(); k++) {
            Value y = n.output(k);
            e.line("for (long i = 0; i < " + count(y) + "L; i++) " + e.ptr(y) + "[i] = " + CTypes.store(t, out[k] + "[i]") + ";");
        }
    }

    /**
     * The input projections x W^T + Wb of every row of X, per direction, into proj: a few rows times a constant W go
     * to small_gemm.h with W packed at load (converted to float first when 16-bit), the rest to the packed GEMM.
     */
    private static void project(Node n, Geometry g, Emission e, Workspace ws, String x, String w, String bias, String proj) {
        long rows = g.seq * g.batch;
        long gh = g.gateRows();
        boolean small = n.input(1) instanceof Constant && rows <= GemmEmitter.SMALL_MATMUL_MAX_ROWS;
        String packed = null;
        if (small) {
            Constant c = (Constant) n.input(1);
            String weights = e.ptr(c);
            if (c.type().dtype() != DType.F32) {
                weights = "((float*) " + e.prepacked(count(c)) + ")";
                e.init("for (long i = 0; i < " + count(c) + "L; i++) " + weights + "[i] = " + CTypes.load(c.type().dtype(), e.ptr(c) + "[i]") + ";");
            }
            long panels = (gh + 31) / 32 * 32 * g.input;
            packed = e.prepacked(g.directions * panels);
            e.init("for (long d = 0; d < " + g.directions + "L; d++) kiln_smm_pack_b(" + g.input + "L, " + gh + "L, " + weights + " + d * " + gh * g.input
                    + "L, 1L, " + g.input + "L, " + packed + " + d * " + panels + "L);");
        }
        e.open("for (long d = 0; d < " + g.directions + "L; d++) {");
        e.line("kiln_epilogue e = {1.0f, 1.0f, " + (bias.equals("0") ? "0" : bias + " + d * " + 2 * gh + "L") + ", 0L, 1L, 0, 0L, KILN_ACT_NONE, 0.0f, 0.0f};");
        String to = proj + " + d * " + rows * gh + "L";
        if (small) {
            long panels = (gh + 31) / 32 * 32 * g.input;
            e.line("kiln_small_matmul(" + rows + "L, " + gh + "L, " + g.input + "L, " + x + ", " + g.input + "L, 1L, " + packed + " + d * " + panels + "L, "
                    + to + ", " + gh + "L, &e);");
        } else {
            e.line("kiln_sgemm(" + rows + "L, " + gh + "L, " + g.input + "L, " + x + ", " + g.input + "L, 1L, 0, " + w + " + d * " + gh * g.input + "L, 1L, "
                    + g.input + "L, " + to + ", " + gh + "L, &e, " + ws.rest() + ");");
        }
        e.close("}");
    }

    /** Hidden units rounded up to whole vectors of the widest target (kiln_rnn_hp is at most this). */
    private static long padded(long hidden) { return (hidden + 15) / 16 * 16; }

    /**
     * R as kiln_rnn_pack_r lays it out: a constant packed once at load (a 16-bit one converted to float beside it
     * first), else packed into the workspace as the node runs from {@code r}, its float elements.
     */
    private static String packedRecurrence(Node n, Geometry g, Emission e, Workspace ws, String r) {
        long floats = g.directions * g.hidden * g.cell.gates * padded(g.hidden);
        String pack = "kiln_rnn_pack_r(" + g.directions + "L, " + g.cell.gates + "L, " + g.hidden + "L, %s, %s);";
        if (!(n.input(2) instanceof Constant c)) {
            String packed = ws.take("float", floats, 4);
            e.line(String.format(pack, r, packed));
            return packed;
        }
        String packed = e.prepacked(floats);
        if (c.type().dtype() == DType.F32) {
            e.init(String.format(pack, e.ptr(c), packed));
        } else {
            String copy = "((float*) " + e.prepacked(count(c)) + ")";
            e.init("{ for (long i = 0; i < " + count(c) + "L; i++) " + copy + "[i] = " + CTypes.load(c.type().dtype(), e.ptr(c) + "[i]") + "; "
                    + String.format(pack, copy, packed) + " }");
        }
        return packed;
    }

    /** The declaration of the node's kiln_rnn_shape s. */
    private static String shape(Node n, Geometry g) {
        String direction = Nodes.stringAttr(n, "direction", "forward");
        double clip = Nodes.attr(n, "clip") instanceof Attribute.Float c ? c.value() : Double.POSITIVE_INFINITY;
        Activation[][] acts = activations(n, g.directions);
        StringBuilder a = new StringBuilder("{");
        for (int d = 0; d < 2; d++) {
            a.append(d > 0 ? ", {" : "{");
            for (int k = 0; k < g.cell.defaults.size(); k++) {
                Activation act = acts[d][k] == null ? acts[0][k] : acts[d][k];
                a.append(k > 0 ? ", " : "").append('{').append(act.code()).append(", ").append(CTypes.doubleLiteral(act.alpha())).append(", ")
                        .append(CTypes.doubleLiteral(act.beta())).append('}');
            }
            a.append('}');
        }
        a.append('}');
        return "static const kiln_rnn_shape s = {" + g.seq + ", " + g.batch + ", " + g.input + ", " + g.hidden + ", " + g.cell.ordinal() + ", "
                + g.cell.gates + ", " + g.directions + ", " + (direction.equals("reverse") ? 1 : 0) + ", " + (g.batchFirst ? 1 : 0) + ", "
                + (Nodes.intAttr(n, "linear_before_reset", 0) != 0 ? 1 : 0) + ", " + (Nodes.intAttr(n, "input_forget", 0) != 0 ? 1 : 0) + ", "
                + CTypes.doubleLiteral(clip) + ", " + a + "};";
    }
}
