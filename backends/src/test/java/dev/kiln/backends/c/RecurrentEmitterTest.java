package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static dev.kiln.backends.c.OpBatch.attrs;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** RNN, GRU and LSTM against the interpreter: every direction, layout, optional input and output, attribute and float dtype. */
class RecurrentEmitterTest {
    @TempDir
    Path dir;

    /** What one node has: its sizes and which optional inputs it takes. */
    private record Case(String op, DType t, long seq, long batch, long input, long hidden, String direction, long layout,
                        boolean bias, boolean lengths, boolean initial, boolean peepholes, int outputs, Map<String, Attribute> extra,
                        boolean constantWeights) {
        Case(String op, DType t, long seq, long batch, long input, long hidden, String direction, long layout,
             boolean bias, boolean lengths, boolean initial, boolean peepholes, int outputs, Map<String, Attribute> extra) {
            this(op, t, seq, batch, input, hidden, direction, layout, bias, lengths, initial, peepholes, outputs, extra, false);
        }
    }

    private static int gates(String op) { return op.equals("LSTM") ? 4 : op.equals("GRU") ? 3 : 1; }

    /** Values in [-0.6, 0.6): weights that keep the gates away from saturation. */
    private static Value small(OpBatch b, DType t, long... shape) {
        return b.input(t, shape, () -> b.random().nextDouble() * 1.2 - 0.6);
    }

    /**
     * Such values times scale as a constant, as models hold their weights (packed once as the library loads).
     * Recurrent weights are scaled by 1 / sqrt(hidden), as trained networks' are: larger ones make a long
     * sequence chaotic, rounding errors growing step by step whatever computes them.
     */
    private static Value smallConstant(OpBatch b, DType t, double scale, long... shape) {
        double[] values = new double[(int) Arrays.stream(shape).reduce(1, (x, y) -> x * y)];
        for (int i = 0; i < values.length; i++) values[i] = (b.random().nextDouble() * 1.2 - 0.6) * scale;
        return b.constant(t, shape, values);
    }

    private static void add(OpBatch b, Case c) {
        int dirs = c.direction.equals("bidirectional") ? 2 : 1;
        long g = gates(c.op);
        List<Value> in = new ArrayList<>();
        in.add(b.input(c.t, c.layout == 0 ? new long[] {c.seq, c.batch, c.input} : new long[] {c.batch, c.seq, c.input}));
        in.add(c.constantWeights ? smallConstant(b, c.t, 1, dirs, g * c.hidden, c.input) : small(b, c.t, dirs, g * c.hidden, c.input));
        in.add(c.constantWeights ? smallConstant(b, c.t, 1 / Math.sqrt(c.hidden), dirs, g * c.hidden, c.hidden) : small(b, c.t, dirs, g * c.hidden, c.hidden));
        in.add(c.bias ? (c.constantWeights ? smallConstant(b, c.t, 1, dirs, 2 * g * c.hidden) : small(b, c.t, dirs, 2 * g * c.hidden)) : null);
        in.add(c.lengths ? b.input(DType.I32, new long[] {c.batch}, () -> b.random().nextInt((int) c.seq + 1)) : null);
        long[] state = c.layout == 0 ? new long[] {dirs, c.batch, c.hidden} : new long[] {c.batch, dirs, c.hidden};
        in.add(c.initial ? b.input(c.t, state) : null);
        if (c.op.equals("LSTM")) {
            in.add(c.initial ? b.input(c.t, state) : null);
            in.add(c.peepholes ? small(b, c.t, dirs, 3 * c.hidden) : null);
        }
        while (in.get(in.size() - 1) == null) in.remove(in.size() - 1);
        Map<String, Attribute> a = new LinkedHashMap<>(attrs("direction", c.direction, "layout", c.layout, "hidden_size", c.hidden));
        a.putAll(c.extra);
        b.node(c.op, in, a, c.outputs);
    }

    private static Case basic(String op, DType t, String direction, long layout) {
        return new Case(op, t, 5, 3, 4, 6, direction, layout, true, false, false, false, op.equals("LSTM") ? 3 : 2, Map.of());
    }

    @Test
    void everyCellDirectionAndLayout() {
        OpBatch b = new OpBatch("recurrent", 11);
        for (String op : List.of("RNN", "GRU", "LSTM")) {
            for (String direction : List.of("forward", "reverse", "bidirectional")) {
                for (long layout : new long[] {0, 1}) {
                    add(b, basic(op, DType.F32, direction, layout));
                    // every optional input, sequence lengths from 0 to seq
                    add(b, new Case(op, DType.F32, 4, 5, 3, 7, direction, layout, true, true, true, true, op.equals("LSTM") ? 3 : 2, Map.of()));
                }
            }
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void attributesAndOptionalParts() {
        OpBatch b = new OpBatch("recurrent_attributes", 12);
        for (String op : List.of("RNN", "GRU", "LSTM")) {
            int per = op.equals("LSTM") ? 3 : op.equals("GRU") ? 2 : 1;
            // no bias, initial state only, Y alone, Y and Y_h
            add(b, new Case(op, DType.F32, 3, 2, 5, 4, "forward", 0, false, false, true, false, 1, Map.of()));
            add(b, new Case(op, DType.F32, 3, 2, 5, 4, "reverse", 1, false, true, false, false, 2, Map.of()));
            add(b, new Case(op, DType.F32, 6, 2, 3, 5, "bidirectional", 0, true, false, false, false, 1, attrs("clip", 0.7f)));
            // every activation with and without alpha / beta, one list per direction
            List<String> funcs = List.of("Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus");
            for (int k = 0; k < funcs.size(); k += per) {
                List<String> names = new ArrayList<>();
                for (int j = 0; j < 2 * per; j++) names.add(funcs.get((k + j) % funcs.size()).toLowerCase(java.util.Locale.ROOT).equals("tanh") ? "TANH" : funcs.get((k + j) % funcs.size()));
                Map<String, Attribute> a = new LinkedHashMap<>();
                a.put("activations", new Attribute.Strs(names));
                if (k % 2 == 0) {
                    a.put("activation_alpha", new Attribute.Floats(new float[] {0.3f, 0.7f, 1.4f}));
                    a.put("activation_beta", new Attribute.Floats(new float[] {-0.2f, 0.4f}));
                }
                add(b, new Case(op, DType.F32, 4, 2, 3, 3, "bidirectional", k % 2, true, true, true, true, per == 3 ? 3 : 2, a));
            }
        }
        add(b, new Case("GRU", DType.F32, 5, 3, 4, 6, "bidirectional", 0, true, true, true, false, 2, attrs("linear_before_reset", 1L)));
        add(b, new Case("GRU", DType.F32, 5, 3, 4, 6, "forward", 1, true, false, false, false, 2, attrs("linear_before_reset", 1L, "clip", 0.5f)));
        add(b, new Case("LSTM", DType.F32, 5, 3, 4, 6, "bidirectional", 0, true, true, true, true, 3, attrs("input_forget", 1L)));
        add(b, new Case("LSTM", DType.F32, 5, 3, 4, 6, "reverse", 1, false, false, true, true, 3, attrs("input_forget", 1L, "clip", 0.4f)));
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void floatTypesAndOddSizes() {
        OpBatch b = new OpBatch("recurrent_types", 13);
        for (DType t : List.of(DType.F64, DType.F16, DType.BF16)) {
            for (String op : List.of("RNN", "GRU", "LSTM")) {
                add(b, new Case(op, t, 4, 3, 5, 6, "bidirectional", 0, true, true, true, true, op.equals("LSTM") ? 3 : 2, Map.of()));
                add(b, new Case(op, t, 3, 2, 4, 5, "reverse", 1, true, false, false, false, 2, Map.of()));
            }
        }
        // one step, one of everything, wide inputs (several GEMM panels), a long sequence, no batch
        for (String op : List.of("RNN", "GRU", "LSTM")) {
            add(b, new Case(op, DType.F32, 1, 1, 1, 1, "forward", 0, true, true, true, true, 2, Map.of()));
            add(b, new Case(op, DType.F32, 3, 13, 70, 17, "bidirectional", 1, true, true, true, false, 2, Map.of()));
            add(b, new Case(op, DType.F32, 40, 2, 3, 4, "reverse", 0, true, true, true, true, 2, Map.of()));
            add(b, new Case(op, DType.F32, 3, 0, 3, 4, "bidirectional", 0, true, false, false, false, 2, Map.of()));
            add(b, new Case(op, DType.F32, 0, 2, 3, 4, "bidirectional", 1, true, true, true, false, 2, Map.of()));
        }
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    /**
     * Constant weights (R packed at load, 16-bit ones converted first), sequences of 1, 7, 129 and 300 steps,
     * hidden sizes that are not whole vectors, batches past the product's 4-row tiles and products the threads
     * split, every cell both ways.
     */
    @Test
    void constantWeightsLongSequencesAndOddSizes() {
        OpBatch b = new OpBatch("recurrent_constant", 17);
        for (String op : List.of("RNN", "GRU", "LSTM")) {
            int outputs = op.equals("LSTM") ? 3 : 2;
            add(b, new Case(op, DType.F32, 1, 1, 5, 17, "bidirectional", 0, true, false, false, false, outputs, Map.of(), true));
            add(b, new Case(op, DType.F32, 7, 3, 16, 33, "bidirectional", 1, true, true, true, true, outputs, Map.of(), true));
            add(b, new Case(op, DType.F32, 129, 2, 8, 20, "forward", 0, true, true, false, false, outputs, Map.of(), true));
            add(b, new Case(op, DType.F32, 300, 5, 3, 48, "reverse", 1, false, false, true, false, outputs, Map.of(), true));
            add(b, new Case(op, DType.F32, 9, 6, 12, 70, "bidirectional", 0, true, true, true, true, outputs, Map.of(), true));
            add(b, new Case(op, DType.F16, 6, 2, 7, 19, "bidirectional", 1, true, true, true, true, outputs, Map.of(), true));
        }
        add(b, new Case("GRU", DType.F32, 130, 5, 10, 37, "bidirectional", 1, true, true, true, false, 2, attrs("linear_before_reset", 1L), true));
        // products large enough for the pool's threads to split their columns
        add(b, new Case("LSTM", DType.F32, 4, 8, 20, 260, "bidirectional", 0, true, true, true, true, 3, Map.of(), true));
        add(b, new Case("GRU", DType.F32, 4, 7, 9, 300, "forward", 1, true, false, true, false, 2, Map.of(), true));
        b.assertMatchesInterpreter(dir, 1e-5);
    }

    @Test
    void sequenceLengthsPastTheSequenceFailTheRun() {
        Graph g = new Graph("recurrent_lengths");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 1, 3));
        Value lengths = g.addInput("lengths", TensorType.of(DType.I32, 1));
        Random r = new Random(14);
        List<Value> in = Arrays.asList(x, NativeTesting.randomConstant(g, "w", r, 0.5, 1, 4, 3), NativeTesting.randomConstant(g, "r", r, 0.5, 1, 4, 4), null, lengths);
        g.addOutput(NativeTesting.node(g, "rnn", "RNN", in, attrs("hidden_size", 4L)));
        Tensor len = Tensor.allocate(DType.I32, 1);
        len.setLong(0, 3);
        try (NativeModel m = NativeTesting.planAndCompile(g, dir).load()) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.run(List.of(Tensor.allocate(DType.F32, 2, 1, 3), len)));
            assertTrue(e.getMessage().endsWith("node rnn (RNN): sequence_lens has an entry outside [0, 2]: 3"), e.getMessage());
        }
    }

    @Test
    void refusals() {
        OpBatch names = new OpBatch("refused", 15);
        names.node("GRU", List.of(names.input(DType.F32, 2, 1, 3), small(names, DType.F32, 1, 12, 3), small(names, DType.F32, 1, 12, 4)),
                Map.of("hidden_size", new Attribute.Int(4), "activations", new Attribute.Strs(List.of("Sigmoid", "Swish"))), 1);
        names.assertRefused(dir, "GRU (activations [Sigmoid, Swish])");
        OpBatch clip = new OpBatch("refused", 16);
        clip.node("RNN", List.of(clip.input(DType.F32, 2, 1, 3), small(clip, DType.F32, 1, 4, 3), small(clip, DType.F32, 1, 4, 4)),
                attrs("hidden_size", 4L, "clip", 0f), 1);
        clip.assertRefused(dir, "RNN (clip 0.0)");
    }
}
