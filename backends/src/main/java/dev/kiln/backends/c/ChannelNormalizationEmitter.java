package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.List;
import java.util.Set;

/**
 * Normalisations along the channel axis 1 of [N, C, ...] inputs: BatchNormalization (inference, and training
 * mode with its running mean and variance outputs), InstanceNormalization, GroupNormalization and LRN, of every
 * float dtype, shapes static or known at run time, in a plain layout (they are layout-sensitive: the generator
 * hands them plain values). Statistics and arithmetic in double as the interpreter does, the steps ONNX computes
 * in the element type rounded to it.
 */
final class ChannelNormalizationEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return Set.of("BatchNormalization", "InstanceNormalization", "GroupNormalization", "LRN"); }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) { return Nodes.plainLayouts(n); }

    @Override
    public void emit(Node n, Emission e) {
        Value x = n.input(0);
        Value y = n.output(0);
        DType t = x.type().dtype();
        int rank = x.type().rank();
        ReductionCode.sameDims(e, x, y);
        e.line("const " + CTypes.storage(t) + "* xs = " + e.ptr(x) + ";");
        e.line(CTypes.storage(t) + "* ys = " + e.ptr(y) + ";");
        e.line("const long batch = " + e.dim(x, 0) + ", channels = " + (rank > 1 ? e.dim(x, 1) : "1L")
                + ", inner = " + DimExprs.product(e, x, Math.min(2, rank), rank) + ";");
        switch (n.op()) {
            case "BatchNormalization" -> emitBatchNorm(n, e);
            case "InstanceNormalization" -> emitGroupNorm(n, e, "channels");
            case "GroupNormalization" -> emitGroupNorm(n, e, Nodes.intAttr(n, "num_groups", 1) + "L");
            default -> emitLrn(n, e);
        }
    }

    /** Element c of a per-channel input, as a double. */
    private static String parameter(Emission e, Value v, String c) { return Elements.asDouble(v.type().dtype(), e.ptr(v) + "[" + c + "]"); }

    /**
     * y = x * a + shift per channel, a = scale / sqrt(var + epsilon), shift = bias - mean * a; in training mode
     * the mean and population variance are the batch's, and the running ones are updated with the momentum.
     */
    private static void emitBatchNorm(Node n, Emission e) {
        DType t = n.input(0).type().dtype();
        boolean training = Nodes.intAttr(n, "training_mode", 0) != 0;
        String x = Elements.asDouble(t, "xs[at + i]");
        String mean = parameter(e, n.input(3), "c");
        String variance = parameter(e, n.input(4), "c");
        if (training) {
            String stats = Emission.isStatic(n.input(0))
                    ? e.workspace(4 * (n.input(0).type().rank() > 1 ? Nodes.dims(n.input(0))[1] : 1))
                    : e.scratch("channels * 16L", "BatchNormalization node " + n.name() + ": statistics");
            e.line("double* stats = (double*) " + stats + ";");
            e.open("for (long c = 0; c < channels; c++) {");
            e.line("const double elements = (double) batch * inner;");
            e.line("double sum = 0.0, squares = 0.0;");
            e.line("for (long b = 0; b < batch; b++) for (long i = 0, at = (b * channels + c) * inner; i < inner; i++) sum += " + x + ";");
            e.line("const double m = sum / elements;");
            e.line("for (long b = 0; b < batch; b++) for (long i = 0, at = (b * channels + c) * inner; i < inner; i++) squares += ("
                    + x + " - m) * (" + x + " - m);");
            e.line("stats[2 * c] = m;");
            e.line("stats[2 * c + 1] = squares / elements;");
            e.close("}");
            mean = "stats[2 * c]";
            variance = "stats[2 * c + 1]";
        }
        String epsilon = CTypes.floatLiteral(Nodes.floatAttr(n, "epsilon", 1e-5));
        e.open("for (long c = 0; c < channels; c++) {");
        e.line("const double a = " + parameter(e, n.input(1), "c") + " / sqrt(" + variance + " + " + epsilon + ");");
        e.line("const double shift = " + parameter(e, n.input(2), "c") + " - " + mean + " * a;");
        e.line("for (long b = 0; b < batch; b++) for (long i = 0, at = (b * channels + c) * inner; i < inner; i++) ys[at + i] = "
                + Elements.fromDouble(t, x + " * a + shift") + ";");
        e.close("}");
        String momentum = CTypes.floatLiteral(Nodes.floatAttr(n, "momentum", 0.9));
        for (int k = 1; k < n.outputs().size(); k++) {
            Value running = n.output(k);
            DimExprs.define(e, running, List.of("channels"));
            e.line("for (long c = 0; c < channels; c++) " + e.ptr(running) + "[c] = " + Elements.fromDouble(running.type().dtype(),
                    parameter(e, n.input(2 + k), "c") + " * " + momentum + " + stats[2 * c + " + (k - 1) + "] * (1.0 - " + momentum + ")") + ";");
        }
    }

    /**
     * Each (batch, group of channels) block normalised by its own mean and 1 / sqrt(variance + epsilon), then
     * scaled and shifted per channel; InstanceNormalization is one group per channel.
     */
    private static void emitGroupNorm(Node n, Emission e, String groups) {
        DType t = n.input(0).type().dtype();
        e.line("const long groups = " + groups + ";");
        e.failWhen("groups < 1 || channels % groups != 0", n.op() + " node " + n.name() + ": the channels are not divisible into the groups");
        e.line("const long per = channels / groups, block = per * inner;");
        String x = Elements.asDouble(t, "xs[base + j]");
        e.open("for (long g = 0; g < batch * groups; g++) {");
        e.line("const long base = g * block;");
        e.line("double sum = 0.0, squares = 0.0;");
        e.line("for (long j = 0; j < block; j++) sum += " + x + ";");
        e.line("const double mean = sum / (double) block;");
        e.line("for (long j = 0; j < block; j++) squares += (" + x + " - mean) * (" + x + " - mean);");
        e.line("const double inv = 1.0 / sqrt(squares / (double) block + " + CTypes.floatLiteral(Nodes.floatAttr(n, "epsilon", 1e-5)) + ");");
        e.open("for (long k = 0; k < per; k++) {");
        e.line("const long c = g % groups * per + k;");
        e.line("const double scale = " + parameter(e, n.input(1), "c") + ", bias = " + parameter(e, n.input(2), "c") + ";");
        String normalised = ReductionCode.rounded(t, "(" + Elements.asDouble(t, "xs[base + j]") + " - mean) * inv");
        String shifted = ReductionCode.rounded(t, ReductionCode.rounded(t, normalised + " * scale") + " + bias");
        e.line("for (long j = k * inner; j < (k + 1) * inner; j++) ys[base + j] = " + Elements.fromDouble(t, shifted) + ";");
        e.close("}");
        e.close("}");
    }

    /** y = x / (bias + alpha / size * the sum of squares over the channel window)^beta. */
    private static void emitLrn(Node n, Emission e) {
        DType t = n.input(0).type().dtype();
        long size = Nodes.intAttr(n, "size", 1);
        String alpha = CTypes.floatLiteral(Nodes.floatAttr(n, "alpha", 1e-4));
        String beta = CTypes.floatLiteral(Nodes.floatAttr(n, "beta", 0.75));
        String bias = CTypes.floatLiteral(Nodes.floatAttr(n, "bias", 1.0));
        e.open("for (long c = 0; c < batch * channels; c++) {");
        e.line("const long first = c % channels < " + (size - 1) / 2 + "L ? c - c % channels : c - " + (size - 1) / 2 + "L;");
        e.line("const long last = channels - 1 - c % channels < " + size / 2 + "L ? c - c % channels + channels - 1 : c + " + size / 2 + "L;");
        e.open("for (long i = 0; i < inner; i++) {");
        e.line("double squares = 0.0;");
        String v = Elements.asDouble(t, "xs[k * inner + i]");
        e.line("for (long k = first; k <= last; k++) squares += " + v + " * " + v + ";");
        e.line("ys[c * inner + i] = " + Elements.fromDouble(t, Elements.asDouble(t, "xs[c * inner + i]")
                + " / pow(" + bias + " + (double) " + alpha + " / " + size + ".0 * squares, " + beta + ")") + ";");
        e.close("}");
        e.close("}");
    }
}
