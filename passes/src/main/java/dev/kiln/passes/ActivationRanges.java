package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Calibration: runs a graph on sample inputs with the activations of interest exposed as extra outputs, and
 * measures the range each one takes. MINMAX takes the smallest and largest value seen; PERCENTILE clips both ends
 * at the given percentile of |x| over all samples (from a histogram, so samples need not be kept).
 */
final class ActivationRanges {
    /** The range an activation is to be quantized over. */
    record Range(float min, float max) {}

    /** The ranges found, and the graph's own outputs on each sample (a reference for what quantization changes). */
    record Calibration(Map<Value, Range> ranges, List<Map<String, Attribute.Tensor>> outputs) {}

    private static final int BINS = 2048;

    private ActivationRanges() {}

    /** The range of every f32 value in {@code values} (values of {@code g}) over the samples, and g's outputs on each. */
    static Calibration measure(Graph g, Set<Value> values, List<Map<String, Attribute.Tensor>> samples,
                               GraphEvaluator evaluator, PassOptions.CalibrationMethod method, double percentile) {
        GraphRewrite rw = new GraphRewrite(g);
        for (Node n : g.nodes()) rw.copy(n);
        Graph probe = rw.finish();
        Map<String, Value> observedByName = new LinkedHashMap<>();
        for (Value v : values) {
            Value exposed = rw.map(v);
            if (!probe.outputs().contains(exposed)) probe.addOutput(exposed);
            observedByName.put(exposed.name(), v);
        }
        boolean histograms = method == PassOptions.CalibrationMethod.PERCENTILE;
        Map<Value, Observer> observers = new HashMap<>();
        List<Map<String, Attribute.Tensor>> graphOutputs = new ArrayList<>();
        for (Map<String, Attribute.Tensor> sample : samples) {
            Map<String, Attribute.Tensor> outputs = evaluator.run(probe, sample);
            Map<String, Attribute.Tensor> own = new LinkedHashMap<>();
            for (Value out : g.outputs()) own.put(out.name(), outputs.get(out.name()));
            graphOutputs.add(own);
            for (Map.Entry<String, Value> e : observedByName.entrySet()) {
                Attribute.Tensor t = outputs.get(e.getKey());
                if (t == null || t.type().dtype() != DType.F32) continue;
                observers.computeIfAbsent(e.getValue(), k -> new Observer(histograms)).add(t.data().asFloatBuffer());
            }
        }
        Map<Value, Range> ranges = new HashMap<>();
        for (Map.Entry<Value, Observer> e : observers.entrySet()) {
            Observer o = e.getValue();
            if (!(o.min <= o.max)) continue;
            if (!histograms) {
                ranges.put(e.getKey(), new Range(o.min, o.max));
            } else {
                float clip = o.absPercentile(percentile);
                ranges.put(e.getKey(), new Range(Math.max(o.min, -clip), Math.min(o.max, clip)));
            }
        }
        return new Calibration(ranges, graphOutputs);
    }

    /**
     * Smallest and largest value, and optionally a histogram of |x| over [0, top). When a larger magnitude comes,
     * top doubles and neighbouring bins merge, so the histogram needs no second pass over the data.
     */
    private static final class Observer {
        float min = Float.POSITIVE_INFINITY;
        float max = Float.NEGATIVE_INFINITY;
        private final long[] bins;
        private double top;
        private long zeros;

        Observer(boolean histogram) { bins = histogram ? new long[BINS] : null; }

        void add(FloatBuffer data) {
            float largest = 0;
            for (int i = 0; i < data.limit(); i++) {
                float v = data.get(i);
                if (v < min) min = v;
                if (v > max) max = v;
                largest = Math.max(largest, Math.abs(v));
            }
            if (bins == null || !Float.isFinite(largest)) return;
            if (largest > 0 && top == 0) top = largest;
            while (top > 0 && largest > top) grow();
            for (int i = 0; i < data.limit(); i++) {
                float a = Math.abs(data.get(i));
                if (a == 0 || top == 0) zeros++;
                else bins[Math.min(BINS - 1, (int) (a / top * BINS))]++;
            }
        }

        private void grow() {
            for (int i = 0; i < BINS / 2; i++) bins[i] = bins[2 * i] + bins[2 * i + 1];
            for (int i = BINS / 2; i < BINS; i++) bins[i] = 0;
            top *= 2;
        }

        /** The upper edge of the bin holding the given percentile of |x|. */
        float absPercentile(double percentile) {
            long total = zeros;
            for (long b : bins) total += b;
            long wanted = (long) Math.ceil(percentile / 100 * total);
            long seen = zeros;
            if (seen >= wanted) return 0;
            for (int i = 0; i < BINS; i++) {
                seen += bins[i];
                if (seen >= wanted) return (float) ((i + 1) * top / BINS);
            }
            return (float) top;
        }
    }
}
