package dev.kiln.runtime.interpreter;

import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleUnaryOperator;

/**
 * RNN, GRU and LSTM, computed in double for every floating-point dtype. Each batch entry runs
 * on its own for its sequence_lens steps (backwards for the reverse direction); output steps
 * past a sequence's end are zero and Y_h / Y_c hold the state after its last step.
 */
final class RecurrentKernels {
    private RecurrentKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("RNN", ctx -> run(ctx, Cell.RNN));
        table.put("GRU", ctx -> run(ctx, Cell.GRU));
        table.put("LSTM", ctx -> run(ctx, Cell.LSTM));
    }

    /** The three cells: gates per step and the activation functions each direction takes (with defaults). */
    private enum Cell {
        RNN(1, List.of("Tanh")),
        GRU(3, List.of("Sigmoid", "Tanh")),
        LSTM(4, List.of("Sigmoid", "Tanh", "Tanh"));

        final int gates;
        final List<String> defaultActivations;

        Cell(int gates, List<String> defaultActivations) {
            this.gates = gates;
            this.defaultActivations = defaultActivations;
        }
    }

    private static List<Tensor> run(KernelContext ctx, Cell cell) {
        RecurrentShapes s = new RecurrentShapes(ctx, cell.gates);
        DoubleUnaryOperator[][] activations = activations(ctx, cell, s.directions);
        double clip = ctx.hasAttr("clip") ? ctx.floatAttr("clip") : Double.POSITIVE_INFINITY;
        if (!(clip > 0)) throw ctx.fail("clip " + clip + " must be positive");
        boolean reverseOnly = ctx.stringAttr("direction").equals("reverse");
        double[] x = ctx.input(0).toDoubleArray();
        double[] w = ctx.input(1).toDoubleArray();
        double[] r = ctx.input(2).toDoubleArray();
        double[] bias = optional(ctx, 3, s.directions * 2L * cell.gates * s.hidden, "B");
        int[] lengths = sequenceLengths(ctx, s);
        double[] h0 = optional(ctx, 5, (long) s.directions * s.batch * s.hidden, "initial_h");
        double[] c0 = cell == Cell.LSTM ? optional(ctx, 6, (long) s.directions * s.batch * s.hidden, "initial_c") : null;
        double[] peepholes = cell == Cell.LSTM ? optional(ctx, 7, s.directions * 3L * s.hidden, "P") : null;
        boolean inputForget = cell == Cell.LSTM && ctx.intAttr("input_forget") != 0;
        boolean linearBeforeReset = cell == Cell.GRU && ctx.intAttr("linear_before_reset") != 0;

        int hidden = s.hidden;
        int gateRows = cell.gates * hidden;
        double[] y = new double[s.seq * s.directions * s.batch * hidden];
        double[] yh = new double[s.directions * s.batch * hidden];
        double[] yc = new double[yh.length];
        double[] gates = new double[gateRows];
        double[] recurrent = new double[gateRows];
        double[] h = new double[hidden];
        double[] c = new double[hidden];
        double[] next = new double[hidden];
        for (int d = 0; d < s.directions; d++) {
            boolean backwards = reverseOnly || d == 1;
            DoubleUnaryOperator[] act = activations[d];
            int wBase = d * gateRows * s.input;
            int rBase = d * gateRows * hidden;
            int bBase = d * 2 * gateRows;
            for (int b = 0; b < s.batch; b++) {
                for (int j = 0; j < hidden; j++) {
                    h[j] = h0 == null ? 0 : h0[s.state(d, b, j)];
                    c[j] = c0 == null ? 0 : c0[s.state(d, b, j)];
                }
                int length = lengths[b];
                for (int step = 0; step < length; step++) {
                    int t = backwards ? length - 1 - step : step;
                    // gates = W x_t + Wb; recurrent = R h + Rb (GRU keeps them apart for the hidden gate).
                    for (int g = 0; g < gateRows; g++) {
                        double sw = bias == null ? 0 : bias[bBase + g];
                        double sr = bias == null ? 0 : bias[bBase + gateRows + g];
                        int wRow = wBase + g * s.input;
                        for (int i = 0; i < s.input; i++) sw += w[wRow + i] * x[s.input(t, b, i)];
                        int rRow = rBase + g * hidden;
                        for (int k = 0; k < hidden; k++) sr += r[rRow + k] * h[k];
                        gates[g] = sw;
                        recurrent[g] = sr;
                    }
                    switch (cell) {
                        case RNN -> {
                            for (int j = 0; j < hidden; j++) next[j] = act[0].applyAsDouble(clip(gates[j] + recurrent[j], clip));
                        }
                        case GRU -> gruStep(act, gates, recurrent, r, rBase, bias, bBase, h, next, hidden, clip, linearBeforeReset);
                        case LSTM -> lstmStep(act, gates, recurrent, peepholes, d * 3 * hidden, h, c, next, hidden, clip, inputForget);
                    }
                    System.arraycopy(next, 0, h, 0, hidden);
                    for (int j = 0; j < hidden; j++) y[s.output(t, d, b, j)] = h[j];
                }
                for (int j = 0; j < hidden; j++) {
                    yh[s.state(d, b, j)] = h[j];
                    yc[s.state(d, b, j)] = c[j];
                }
            }
        }
        List<Tensor> out = new ArrayList<>();
        double[][] values = {y, yh, yc};
        for (int i = 0; i < ctx.outputCount(); i++) {
            long[] shape = i == 0 ? s.outputShape() : s.stateShape();
            Tensor t = Tensor.allocate(ctx.outputDType(i), shape);
            for (int k = 0; k < values[i].length; k++) t.setDouble(k, values[i][k]);
            out.add(t);
        }
        return out;
    }

    /** z and r from the summed projections; the hidden gate applies r before or after R_h h (linear_before_reset). */
    private static void gruStep(DoubleUnaryOperator[] act, double[] gates, double[] recurrent, double[] r, int rBase, double[] bias,
                                int bBase, double[] h, double[] next, int hidden, double clip, boolean linearBeforeReset) {
        double[] update = new double[hidden];
        double[] reset = new double[hidden];
        for (int j = 0; j < hidden; j++) {
            update[j] = act[0].applyAsDouble(clip(gates[j] + recurrent[j], clip));
            reset[j] = act[0].applyAsDouble(clip(gates[hidden + j] + recurrent[hidden + j], clip));
        }
        for (int j = 0; j < hidden; j++) {
            double candidate;
            if (linearBeforeReset) {
                candidate = gates[2 * hidden + j] + reset[j] * recurrent[2 * hidden + j];
            } else {
                // R_h (r . h) + Rb_h: the recurrent product is redone with the reset hidden state.
                candidate = gates[2 * hidden + j] + (bias == null ? 0 : bias[bBase + 5 * hidden + j]);
                int row = rBase + (2 * hidden + j) * hidden;
                for (int k = 0; k < hidden; k++) candidate += r[row + k] * reset[k] * h[k];
            }
            double hh = act[1].applyAsDouble(clip(candidate, clip));
            next[j] = (1 - update[j]) * hh + update[j] * h[j];
        }
    }

    /** Gates in i, o, f, c order; peepholes in i, o, f order; the cell state c is updated in place. */
    private static void lstmStep(DoubleUnaryOperator[] act, double[] gates, double[] recurrent, double[] peepholes, int pBase,
                                 double[] h, double[] c, double[] next, int hidden, double clip, boolean inputForget) {
        for (int j = 0; j < hidden; j++) {
            double pi = peepholes == null ? 0 : peepholes[pBase + j];
            double po = peepholes == null ? 0 : peepholes[pBase + hidden + j];
            double pf = peepholes == null ? 0 : peepholes[pBase + 2 * hidden + j];
            double in = act[0].applyAsDouble(clip(gates[j] + recurrent[j] + pi * c[j], clip));
            double forget = inputForget ? 1 - in
                    : act[0].applyAsDouble(clip(gates[2 * hidden + j] + recurrent[2 * hidden + j] + pf * c[j], clip));
            double candidate = act[1].applyAsDouble(clip(gates[3 * hidden + j] + recurrent[3 * hidden + j], clip));
            c[j] = forget * c[j] + in * candidate;
            double out = act[0].applyAsDouble(clip(gates[hidden + j] + recurrent[hidden + j] + po * c[j], clip));
            next[j] = out * act[2].applyAsDouble(c[j]);
        }
    }

    private static double clip(double v, double bound) {
        return Math.max(-bound, Math.min(bound, v));
    }

    /** An optional input's elements, checking its element count; null when omitted. */
    private static double[] optional(KernelContext ctx, int input, long expected, String name) {
        Tensor t = ctx.optionalInput(input);
        if (t == null) return null;
        if (t.size() != expected) throw ctx.fail(name + " of shape " + Arrays.toString(t.shape()) + " should have " + expected + " elements");
        return t.toDoubleArray();
    }

    private static int[] sequenceLengths(KernelContext ctx, RecurrentShapes s) {
        int[] lengths = new int[s.batch];
        Tensor t = ctx.optionalInput(4);
        if (t != null && t.size() != s.batch) throw ctx.fail("sequence_lens has " + t.size() + " entries for batch " + s.batch);
        for (int b = 0; b < s.batch; b++) {
            long v = t == null ? s.seq : t.getLong(b);
            if (v < 0 || v > s.seq) throw ctx.fail("sequence_lens[" + b + "] = " + v + " is outside [0, " + s.seq + "]");
            lengths[b] = (int) v;
        }
        return lengths;
    }

    /**
     * The activation functions of each direction. A list of one direction's functions is shared by
     * both directions of a bidirectional node; alphas and betas are consumed in list order by the
     * functions that take them.
     */
    private static DoubleUnaryOperator[][] activations(KernelContext ctx, Cell cell, int directions) {
        List<String> names = ctx.hasAttr("activations") ? ctx.stringsAttr("activations") : cell.defaultActivations;
        int per = cell.defaultActivations.size();
        float[] alphas = ctx.hasAttr("activation_alpha") ? ctx.floatsAttr("activation_alpha") : new float[0];
        float[] betas = ctx.hasAttr("activation_beta") ? ctx.floatsAttr("activation_beta") : new float[0];
        if (names.size() != per && names.size() < per * directions) throw ctx.fail("activations " + names + " should list " + per * directions + " functions");
        int[] nextAlpha = {0};
        int[] nextBeta = {0};
        List<DoubleUnaryOperator> parsed = new ArrayList<>();
        for (String name : names) parsed.add(RecurrentActivation.of(ctx, name, alphas, nextAlpha, betas, nextBeta));
        DoubleUnaryOperator[][] result = new DoubleUnaryOperator[directions][per];
        for (int d = 0; d < directions; d++) {
            int offset = parsed.size() >= per * directions ? d * per : 0;
            for (int k = 0; k < per; k++) result[d][k] = parsed.get(offset + k);
        }
        return result;
    }
}
