package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.OpSpec;
import dev.kiln.ir.ops.PrecisionPolicy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Runs the graph's f32 arithmetic in f16 or bf16 when the options ask for FP16 or BF16, as each op's precision
 * policy says:
 * <ul>
 * <li>REDUCED_OK ops compute in the reduced type; their f32 constants are converted here, once each;</li>
 * <li>KEEP_FP32 ops read f32 (a reduced input is cast up) and their outputs stay f32;</li>
 * <li>FOLLOWS_INPUT ops run in the type their data comes in (reduced when any computed input is);</li>
 * <li>FIXED ops and ops the IR does not know are left as they were, reading their inputs in the original types.</li>
 * </ul>
 * Inputs an op types on its own ({@link OpSpec#keepsInputPrecision}) keep their type. Each value is cast at most
 * once per direction, where a reader first needs it, so a run of KEEP_FP32 ops reads f32 from one to the next and
 * a graph input is cast down only if a reduced op reads it. A cast back to where a value came from reuses the
 * value itself (f16 -> f32 -> f16 is exact). Graph inputs and outputs keep their f32: an input that reduced ops
 * read is cast down first thing, and outputs computed reduced are cast back last.
 * <p>
 * The result is then measured against the f32 graph with the evaluator, on the calibration samples or else on
 * {@value #PROBES} standard normal inputs. If some output moved by more than {@value #TARGET_EPSILONS} epsilons of the
 * reduced type, relative to its largest magnitude, the leading REDUCED_OK ops, with every node before them, stay in
 * f32: as few as bring the outputs within that (found by doubling, then bisection, as QuantizeInt8 finds the layers
 * it leaves in float). The leading ones because a rounding error made early passes through, and is amplified by,
 * every layer after it: on a network that amplifies its input's perturbations, rounding just the input image to
 * f16 can move the logits by over 1e-2, so keeping only the stem in f32 is not enough, while the classifier in f32
 * buys nothing. The kernels are not the cause: reduced convolutions and products accumulate in double and round
 * once per output.
 */
public final class ConvertPrecision extends Pass {
    /**
     * How far the outputs may move from f32's on the probe inputs, relative to their largest magnitude, in machine
     * epsilons of the reduced type (2^-10 for f16, 2^-7 for bf16): 5, so 4.9e-3 for FP16, half of the 1e-2 FP16 is
     * allowed, because the probes only stand in for the inputs the graph will see, on which the same conversion can
     * err twice as much. Counting in epsilons holds bf16 to the same number of its own rounding steps.
     */
    public static final double TARGET_EPSILONS = 5;
    /** How many probe inputs are drawn when the options hold no calibration samples. */
    static final int PROBES = 2;
    private static final long PROBE_SEED = 20240601L;

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        DType reduced = switch (ctx.options().dtype()) {
            case FP16 -> DType.F16;
            case BF16 -> DType.BF16;
            case FP32, INT8 -> null;
        };
        return reduced == null ? graph : new Search(graph, reduced, ctx, name()).run();
    }

    /** A converted graph and the debug notes its conversion made. */
    private record Converted(Graph graph, List<String> notes) {}

    /**
     * Finds how many of the leading REDUCED_OK ops stay in f32: none if the outputs on the probe inputs are within the
     * target of f32's with everything converted, else as few as get them there (by doubling, then bisection).
     */
    private static final class Search {
        private final Graph graph;
        private final DType reduced;
        private final double target;
        private final PassContext ctx;
        private final String pass;
        /** The positions in graph order of the REDUCED_OK nodes: the candidates for staying in f32. */
        private final List<Integer> reducible = new ArrayList<>();
        private List<Map<String, Attribute.Tensor>> probes;
        private List<Map<String, Attribute.Tensor>> want;

        Search(Graph graph, DType reduced, PassContext ctx, String pass) {
            this.graph = graph;
            this.reduced = reduced;
            this.target = TARGET_EPSILONS * (reduced == DType.F16 ? 0x1p-10 : 0x1p-7);
            this.ctx = ctx;
            this.pass = pass;
            List<Node> nodes = graph.nodes();
            for (int i = 0; i < nodes.size(); i++) {
                Node n = nodes.get(i);
                if (!OpRegistry.contains(n.op())) continue;
                OpSpec spec = OpRegistry.spec(n.op());
                if (spec.precisionPolicy() == PrecisionPolicy.REDUCED_OK && !Conversion.computedInputs(n, spec).isEmpty()) reducible.add(i);
            }
        }

        Graph run() {
            if (reducible.isEmpty() || !measurable()) return finish(keepingLeading(0));
            Converted best = within(0);
            if (best != null) return finish(best);
            int tooFew = 0;
            int enough = 1;
            while ((best = within(enough)) == null) {
                tooFew = enough;
                enough = Math.min(reducible.size(), 2 * enough);
            }
            while (enough - tooFew > 1) {
                int mid = (tooFew + enough) / 2;
                Converted c = within(mid);
                if (c != null) {
                    best = c;
                    enough = mid;
                } else {
                    tooFew = mid;
                }
            }
            return finish(best);
        }

        /** The conversion keeping {@code kept} leading ops in f32 if its outputs are within the target on the probes, else null. */
        private Converted within(int kept) {
            Converted c = keepingLeading(kept);
            // All of them kept is the f32 graph itself, exact without measuring.
            return kept == reducible.size() || difference(c, kept) <= target ? c : null;
        }

        private Graph finish(Converted c) {
            for (String note : c.notes()) ctx.debug(note);
            return c.graph();
        }

        /** The conversion with the first {@code kept} REDUCED_OK nodes, and every node before them, left in f32. */
        private Converted keepingLeading(int kept) {
            int firstConverted = kept == reducible.size() ? graph.nodes().size() : reducible.get(kept);
            List<String> notes = new ArrayList<>();
            String why = String.format(Locale.ROOT, "%d of %d reduced-precision ops, which stay in f32 to keep the outputs within %.2e"
                    + " of f32's on the probe inputs", kept, reducible.size(), target);
            Graph g = new Conversion(graph, reduced, firstConverted, why, notes::add, pass).run();
            return new Converted(g, notes);
        }

        /**
         * Whether there is something to measure on: the calibration samples, else PROBES inputs drawn from the standard
         * normal distribution (the scale networks' inputs are normalised to). Sets the probes and the f32 outputs on them.
         */
        private boolean measurable() {
            if (ctx.evaluator() == null) {
                ctx.debug(pass + ": converts without measuring: no evaluator to run the graph with");
                return false;
            }
            if (!ctx.options().calibration().isEmpty()) {
                probes = ctx.options().calibration();
                want = new ArrayList<>();
                for (Map<String, Attribute.Tensor> p : probes) want.add(ctx.evaluator().run(graph, p));
                return true;
            }
            Random random = new Random(PROBE_SEED);
            probes = new ArrayList<>();
            for (int s = 0; s < PROBES; s++) {
                Map<String, Attribute.Tensor> sample = new LinkedHashMap<>();
                for (Value in : graph.inputs()) {
                    TensorType t = in.type();
                    if (t.dtype() != DType.F32 || !t.shape().isStatic()) {
                        ctx.debug(pass + ": converts without measuring: no calibration samples, and input %" + in.name() + " : " + t
                                + " is not an f32 tensor of static shape to draw at random");
                        return false;
                    }
                    sample.put(in.name(), standardNormal(t, random));
                }
                probes.add(sample);
            }
            want = new ArrayList<>();
            try {
                for (Map<String, Attribute.Tensor> p : probes) want.add(ctx.evaluator().run(graph, p));
            } catch (RuntimeException e) {
                ctx.debug(pass + ": converts without measuring: the graph does not run on random inputs: " + e.getMessage());
                return false;
            }
            return true;
        }

        private static Attribute.Tensor standardNormal(TensorType t, Random random) {
            int count = (int) t.shape().elementCount();
            ByteBuffer data = ByteBuffer.allocate(count * 4).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < count; i++) data.putFloat(i * 4, (float) random.nextGaussian());
            return new Attribute.Tensor(t, data);
        }

        /** The largest difference from f32 over the probes and the f32 outputs, relative to each output's largest magnitude. */
        private double difference(Converted c, int kept) {
            double worst = 0;
            for (int s = 0; s < probes.size(); s++) {
                Map<String, Attribute.Tensor> got = ctx.evaluator().run(c.graph(), probes.get(s));
                for (Map.Entry<String, Attribute.Tensor> w : want.get(s).entrySet()) {
                    if (w.getValue().type().dtype() == DType.F32) worst = Math.max(worst, relativeDifference(w.getValue(), got.get(w.getKey())));
                }
            }
            ctx.debug(String.format(Locale.ROOT, "%s: with the first %d of %d reduced-precision ops in f32, the outputs differ from f32's by %.2e"
                    + " of their largest magnitude on the probe inputs", pass, kept, reducible.size(), worst));
            return worst;
        }

        /** max |got - want| / max |want|; infinite where one is NaN and the other is not. */
        private static double relativeDifference(Attribute.Tensor want, Attribute.Tensor got) {
            FloatBuffer w = want.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            FloatBuffer g = got.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
            double maxDiff = 0;
            double maxWant = 0;
            for (int i = 0; i < w.limit(); i++) {
                float a = w.get(i);
                float b = g.get(i);
                if (Float.isNaN(a) != Float.isNaN(b)) return Double.POSITIVE_INFINITY;
                if (Float.isNaN(a)) continue;
                maxWant = Math.max(maxWant, Math.abs(a));
                if (a != b) maxDiff = Math.max(maxDiff, Math.abs((double) b - a));
            }
            return maxDiff == 0 ? 0 : maxDiff / Math.max(maxWant, Double.MIN_NORMAL);
        }
    }

    /**
     * One conversion's state: the rewrite, the casts made so far, and the reduced copies of constants. Nodes before
     * position {@code firstConverted} in graph order are left in their own types.
     */
    private static final class Conversion {
        private final Graph graph;
        private final DType reduced;
        private final int firstConverted;
        /** Why the leading nodes stay in f32, for the notes. */
        private final String whyLeadingKept;
        private final Consumer<String> notes;
        private final String pass;
        private final GraphRewrite rw;
        /** Keyed by the value cast (of the new graph): its cast to the other type. */
        private final Map<Value, Value> casts = new HashMap<>();
        private final Map<Constant, Value> reducedConstants = new HashMap<>();

        Conversion(Graph graph, DType reduced, int firstConverted, String whyLeadingKept, Consumer<String> notes, String pass) {
            this.graph = graph;
            this.reduced = reduced;
            this.firstConverted = firstConverted;
            this.whyLeadingKept = whyLeadingKept;
            this.notes = notes;
            this.pass = pass;
            this.rw = new GraphRewrite(graph);
        }

        Graph run() {
            // An input read in reduced precision is cast once, up front, so that data movement on it follows suit.
            Uses uses = Uses.of(graph);
            Map<Node, Integer> positions = new HashMap<>();
            for (Node n : graph.nodes()) positions.put(n, positions.size());
            for (Value in : graph.inputs()) {
                if (in.type().dtype() == DType.F32 && readInReduced(in, uses, positions, new HashSet<>())) {
                    cast(rw.map(in), reduced, in.name() + "_" + reduced.irName());
                }
            }
            for (Node n : graph.nodes()) convert(n, positions.get(n) < firstConverted);
            for (Value out : graph.outputs()) {
                Value v = rw.map(out);
                if (out.type().dtype() == DType.F32 && v.type().dtype() == reduced) rw.replace(out, castBack(out, v));
            }
            return rw.finish();
        }

        private void convert(Node n, boolean leading) {
            if (!OpRegistry.contains(n.op())) {
                notes.accept(pass + ": leaves node @" + n.name() + " alone: unknown op " + n.op());
                rw.copy(n);
                return;
            }
            OpSpec spec = OpRegistry.spec(n.op());
            PrecisionPolicy policy = spec.precisionPolicy();
            List<Integer> computed = computedInputs(n, spec);
            if (leading && policy == PrecisionPolicy.REDUCED_OK && !computed.isEmpty()) {
                notes.accept(pass + ": leaves " + n.op() + " node @" + n.name() + " in f32: it is among the first " + whyLeadingKept);
            }
            boolean inReduced = !leading && !computed.isEmpty() && switch (policy) {
                case REDUCED_OK -> true;
                case FOLLOWS_INPUT -> followsReduced(n, computed);
                case KEEP_FP32, FIXED -> false;
            };
            if (inReduced && !acceptsReduced(n, spec, computed)) {
                notes.accept(pass + ": leaves " + n.op() + " node @" + n.name() + " in f32: the op does not take " + reduced);
                inReduced = false;
            }
            if (policy == PrecisionPolicy.FIXED && touchesF32(n)) {
                notes.accept(pass + ": leaves " + n.op() + " node @" + n.name() + " in its own types: it has no reduced-precision form");
            }
            List<Value> inputs = new ArrayList<>(n.inputs().size());
            for (int i = 0; i < n.inputs().size(); i++) {
                Value in = n.input(i);
                inputs.add(in == null ? null : as(in, inReduced && computed.contains(i) ? reduced : in.type().dtype()));
            }
            rw.copy(n, inputs);
        }

        /**
         * A data-movement op runs reduced when a computed input is at hand in reduced precision (computed so, or
         * cast already), or when all of them are constants.
         */
        private boolean followsReduced(Node n, List<Integer> computed) {
            boolean allConstant = true;
            for (int i : computed) {
                Value in = n.input(i);
                if (in.isConstant()) continue;
                allConstant = false;
                Value v = rw.map(in);
                if (v.type().dtype() == reduced || casts.containsKey(v)) return true;
            }
            return allConstant;
        }

        /** The f32 inputs that take the op's compute precision. */
        private static List<Integer> computedInputs(Node n, OpSpec spec) {
            List<Integer> computed = new ArrayList<>();
            for (int i = 0; i < n.inputs().size(); i++) {
                Value in = n.input(i);
                if (in != null && in.type().dtype() == DType.F32 && !spec.keepsInputPrecision(i)) computed.add(i);
            }
            return computed;
        }

        /** Whether a converted REDUCED_OK op reads v as a computed input, directly or through data movement. */
        private boolean readInReduced(Value v, Uses uses, Map<Node, Integer> positions, Set<Value> seen) {
            if (!seen.add(v)) return false;
            for (Node n : uses.consumers(v)) {
                if (!OpRegistry.contains(n.op()) || positions.get(n) < firstConverted) continue;
                OpSpec spec = OpRegistry.spec(n.op());
                List<Integer> computed = computedInputs(n, spec);
                boolean readsV = false;
                for (int i : computed) readsV |= n.input(i) == v;
                if (!readsV) continue;
                if (spec.precisionPolicy() == PrecisionPolicy.REDUCED_OK && acceptsReduced(n, spec, computed)) return true;
                if (spec.precisionPolicy() == PrecisionPolicy.FOLLOWS_INPUT) {
                    for (Value out : n.outputs()) {
                        if (out.type().dtype() == DType.F32 && readInReduced(out, uses, positions, seen)) return true;
                    }
                }
            }
            return false;
        }

        /** Whether the op's type inference takes the computed inputs in reduced precision (Shrink has no bf16, say). */
        private boolean acceptsReduced(Node n, OpSpec spec, List<Integer> computed) {
            Graph scratch = new Graph("scratch");
            List<Value> inputs = new ArrayList<>(n.inputs());
            for (int i : computed) inputs.set(i, scratch.addInput("input" + i, n.input(i).type().withDType(reduced)));
            try {
                spec.inferTypes(n.name(), inputs, n.attributes(), n.outputs().size());
                return true;
            } catch (IrException e) {
                return false;
            }
        }

        private static boolean touchesF32(Node n) {
            for (Value v : n.inputs()) if (v != null && v.type().dtype() == DType.F32) return true;
            for (Value v : n.outputs()) if (v.type().dtype() == DType.F32) return true;
            return false;
        }

        /** The old value as a new-graph value of dtype {@code want}: as computed, or cast, or a converted constant. */
        private Value as(Value old, DType want) {
            if (old instanceof Constant c && c.type().dtype() != want) return reducedConstant(c);
            Value v = rw.map(old);
            return v.type().dtype() == want ? v : cast(v, want, old.name() + "_" + want.irName());
        }

        private Value cast(Value v, DType to, String name) {
            Value done = casts.get(v);
            if (done != null) return done;
            Node producer = v.producer();
            // Casting back what was widened exactly gives the value it came from.
            if (producer != null && producer.op().equals("Cast") && producer.input(0).type().dtype() == to
                    && widensExactly(to, v.type().dtype())) {
                return producer.input(0);
            }
            Value c = rw.add(name, "Cast", List.of(v), Map.of("to", new Attribute.Int(onnxCode(to))), List.of(name)).output(0);
            casts.put(v, c);
            return c;
        }

        /**
         * The f32 cast of a graph output that was computed reduced. The cast takes the output's name; the reduced
         * value is renamed out of its way (otherwise finishing would need an Identity).
         */
        private Value castBack(Value out, Value computedReduced) {
            Value done = casts.get(computedReduced);
            if (done != null) return done;
            if (computedReduced.name().equals(out.name())) {
                rw.target().rename(computedReduced, rw.freshName(out.name() + "_" + reduced.irName()));
            }
            return cast(computedReduced, DType.F32, out.name());
        }

        private Value reducedConstant(Constant c) {
            return reducedConstants.computeIfAbsent(c, k -> {
                ByteBuffer from = k.data();
                int count = (int) k.type().shape().elementCount();
                ByteBuffer to = ByteBuffer.allocate(count * 2).order(ByteOrder.LITTLE_ENDIAN);
                for (int i = 0; i < count; i++) to.putShort(i * 2, ReducedFloats.bits(reduced, from.getFloat(i * 4)));
                return rw.constant(k.name() + "_" + reduced.irName(), k.type().withDType(reduced), to);
            });
        }

        private static boolean widensExactly(DType from, DType to) {
            return (from == DType.F16 || from == DType.BF16) && (to == DType.F32 || to == DType.F64);
        }

        private static long onnxCode(DType t) {
            return switch (t) {
                case F32 -> 1;
                case F16 -> 10;
                case BF16 -> 16;
                default -> throw new IllegalArgumentException("no cast to " + t + " here");
            };
        }
    }
}
