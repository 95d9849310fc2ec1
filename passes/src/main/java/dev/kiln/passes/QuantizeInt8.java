package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Post-training static INT8 quantization, when the options ask for INT8.
 * <p>
 * Calibration runs the graph with the evaluator on the calibration samples, every activation of interest
 * exposed as an extra output, and takes each one's range (MINMAX, or PERCENTILE: clipped at the
 * {@value #PERCENTILE}th percentile of |x|). Activations are quantized per tensor to uint8, asymmetric
 * (real = scale (q - zero point); post-ReLU tensors get all 256 levels); weights per output channel to int8,
 * symmetric in [-127, 127]; biases to int32 at scale x_scale * w_scale.
 * <p>
 * Every Conv, MatMul and Gemm with constant weights becomes an integer op: QLinearConv or QLinearMatMul when
 * what it produces is read quantized (by another integer op, possibly through data movement), else ConvInteger
 * or MatMulInteger, an int32 bias Add, and a DequantizeLinear that rescales to f32. A Relu or Clip between an
 * integer op and integer readers is absorbed into the output's clamp (its range lies within the clip bounds);
 * after a float op it is absorbed the same way into the QuantizeLinear. Data movement (Reshape, Transpose,
 * MaxPool, ...) runs on the uint8 data as it is, and a Concat whose inputs are all computed quantized does
 * too: those inputs share the Concat output's parameters. Every other op stays in float: a value gets at most
 * one DequantizeLinear and one QuantizeLinear per parameter set, made where float and integer meet, so chains
 * of integer ops carry no Q/DQ between them. Graph inputs and outputs keep their f32.
 * <p>
 * The quantized graph is then run on the calibration samples: while some output's cosine similarity to the float
 * graph's stays below {@value #AGREEMENT}, the leading layers are left in float, as few as reach it (found by
 * doubling, then bisection). Errors made early pass through, and are amplified by, everything after them, so
 * the first layers are the sensitive ones; most models need none left in float.
 */
public final class QuantizeInt8 extends Pass {
    /** PERCENTILE calibration clips each activation's range at this percentile of |x|. */
    public static final double PERCENTILE = 99.99;
    /** The least cosine similarity to the float outputs, over the calibration samples, that the result must keep. */
    public static final double AGREEMENT = 0.99;

    /** Ops that only move or select values, so that they commute with quantization and run on uint8 as they are. */
    private static final Set<String> DATA_MOVEMENT = Set.of("Identity", "Reshape", "Flatten", "Transpose", "Squeeze",
            "Unsqueeze", "Slice", "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "MaxPool");

    /** Fusion's products of convolutions and matrix products: quantizing them is left to running before fusion. */
    private static final Set<String> FUSED_PRODUCTS = Set.of("FusedConv", "FusedConvTranspose", "FusedGemm", "FusedMatMul");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        PassOptions options = ctx.options();
        if (options.dtype() != PassOptions.Precision.INT8) return graph;
        if (options.calibration().isEmpty()) {
            throw new IllegalArgumentException(name() + ": INT8 needs calibration samples (PassOptions.calibration)");
        }
        if (ctx.evaluator() == null) throw new IllegalArgumentException(name() + ": INT8 calibration needs an evaluator in the pass context");
        return new Quantization(graph, ctx, name()).run();
    }

    private enum Kind { CONV, MATMUL, GEMM }

    /** A Conv, MatMul or Gemm with constant weights (and bias, null when absent) over the activation x. */
    private record Layer(Node node, Kind kind, Value x, Constant weight, Constant bias) {}

    /** uint8 quantization parameters: real = scale * (q - zeroPoint). */
    private record QParams(float scale, int zeroPoint) {
        /** Over a range widened to hold 0 (so that zero padding and ReLU's zero are exact); null if it is not finite. */
        static QParams over(ActivationRanges.Range r) {
            float lo = Math.min(0f, r.min());
            float hi = Math.max(0f, r.max());
            if (!Float.isFinite(lo) || !Float.isFinite(hi)) return null;
            float scale = (hi - lo) / 255f;
            if (!(scale > 0)) return new QParams(1f, 0);
            return new QParams(scale, (int) Math.max(0, Math.min(255, Math.rint(-lo / scale))));
        }

        float lowest() { return -zeroPoint * scale; }

        float highest() { return (255 - zeroPoint) * scale; }
    }

    /** int8 weights in the layout the integer op reads, with one scale per output channel. */
    private record QuantizedWeights(Value values, float[] scales) {}

    /** One quantization: the layers that can be quantized, their calibration, and the choice of layers to quantize. */
    private static final class Quantization {
        private final Graph graph;
        private final PassContext ctx;
        private final String pass;
        private final Uses uses;
        /** The quantizable layers in graph order. */
        private final List<Layer> candidates = new ArrayList<>();
        private final Map<Value, QParams> calibrated = new HashMap<>();
        private List<Map<String, Attribute.Tensor>> floatOutputs;

        Quantization(Graph graph, PassContext ctx, String pass) {
            this.graph = graph;
            this.ctx = ctx;
            this.pass = pass;
            this.uses = Uses.of(graph);
        }

        Graph run() {
            for (Node n : graph.nodes()) {
                Layer l = layer(n);
                if (l != null) candidates.add(l);
            }
            if (candidates.isEmpty()) {
                ctx.debug(pass + ": no Conv, MatMul or Gemm with constant weights: nothing to quantize");
                return graph;
            }
            calibrate();
            candidates.removeIf(l -> {
                boolean unknown = paramsOf(l.x()) == null;
                if (unknown) ctx.debug(pass + ": leaves " + l.node().op() + " node @" + l.node().name() + " in float: its input has no finite range");
                return unknown;
            });
            return keepingAgreement();
        }

        /** The graph with all candidates quantized but as few leading ones as keep the outputs within AGREEMENT. */
        private Graph keepingAgreement() {
            int n = candidates.size();
            Graph best = quantizedFrom(0);
            if (n == 0 || agreement(best, 0) >= AGREEMENT) return best;
            int tooFew = 0;
            int enough = 1;
            while (true) {
                best = quantizedFrom(enough);
                if (agreement(best, enough) >= AGREEMENT || enough == n) break;
                tooFew = enough;
                enough = Math.min(n, 2 * enough);
            }
            while (enough - tooFew > 1) {
                int mid = (tooFew + enough) / 2;
                Graph g = quantizedFrom(mid);
                if (agreement(g, mid) >= AGREEMENT) {
                    best = g;
                    enough = mid;
                } else {
                    tooFew = mid;
                }
            }
            for (Layer l : candidates.subList(0, enough)) {
                ctx.debug(pass + ": leaves " + l.node().op() + " node @" + l.node().name() + " in float: it is among the first "
                        + enough + " layers, which stay in float to keep the outputs' cosine similarity to float at " + AGREEMENT);
            }
            return best;
        }

        private Graph quantizedFrom(int first) {
            return new Rewrite(candidates.subList(first, candidates.size())).build();
        }

        /** The least cosine similarity of the quantized graph's float outputs to the float graph's, over the samples. */
        private double agreement(Graph quantized, int inFloat) {
            List<Map<String, Attribute.Tensor>> samples = ctx.options().calibration();
            double least = 1;
            for (int s = 0; s < samples.size(); s++) {
                Map<String, Attribute.Tensor> got = ctx.evaluator().run(quantized, samples.get(s));
                for (Map.Entry<String, Attribute.Tensor> want : floatOutputs.get(s).entrySet()) {
                    if (want.getValue().type().dtype() == DType.F32) least = Math.min(least, cosine(want.getValue(), got.get(want.getKey())));
                }
            }
            ctx.debug(pass + ": with the first " + inFloat + " of " + candidates.size() + " layers in float, the outputs agree with float to cosine " + least);
            return least;
        }

        private static double cosine(Attribute.Tensor a, Attribute.Tensor b) {
            FloatBuffer x = a.data().asFloatBuffer();
            FloatBuffer y = b.data().asFloatBuffer();
            double xy = 0;
            double xx = 0;
            double yy = 0;
            for (int i = 0; i < x.limit(); i++) {
                xy += (double) x.get(i) * y.get(i);
                xx += (double) x.get(i) * x.get(i);
                yy += (double) y.get(i) * y.get(i);
            }
            if (xx == 0 || yy == 0) return xx == yy ? 1 : 0;
            return xy / Math.sqrt(xx * yy);
        }

        // ---- what can be quantized ----

        private Layer layer(Node n) {
            Kind kind = switch (n.op()) {
                case "Conv" -> Kind.CONV;
                case "MatMul" -> Kind.MATMUL;
                case "Gemm" -> Kind.GEMM;
                default -> null;
            };
            if (kind == null) {
                if (FUSED_PRODUCTS.contains(n.op())) {
                    ctx.debug(pass + ": leaves " + n.op() + " node @" + n.name() + " in float: quantization comes before fusion");
                }
                return null;
            }
            Value x = n.input(0);
            Constant w = constantBehind(n.input(1));
            Value biasInput = kind == Kind.MATMUL ? null : n.input(2);
            Constant b = constantBehind(biasInput);
            String why = null;
            if (x.isConstant() || x.type().dtype() != DType.F32) {
                why = "its input is not an f32 activation";
            } else if (w == null || w.type().dtype() != DType.F32) {
                why = "its weights are not an f32 constant";
            } else if (biasInput != null && (b == null || b.type().dtype() != DType.F32)) {
                why = "its bias is not an f32 constant";
            } else if (kind == Kind.CONV) {
                if (w.type().rank() < 3) why = "its weights have rank " + w.type().rank();
                else if (b != null && b.type().shape().elementCount() != w.type().shape().dim(0).size()) why = "its bias is not one value per channel";
            } else if (w.type().rank() != 2 || x.type().rank() < 2) {
                why = "it is not a product of an activation with a weight matrix";
            } else if (kind == Kind.GEMM && intAttr(n, "transA") != 0) {
                why = "it transposes its input";
            } else if (kind == Kind.GEMM && b != null && !oneValuePerColumn(b, columns(n, w))) {
                why = "its C is not one value per column";
            }
            if (why != null) {
                ctx.debug(pass + ": leaves " + n.op() + " node @" + n.name() + " in float: " + why);
                return null;
            }
            return new Layer(n, kind, x, w, b);
        }

        /** The constant behind a chain of Identity nodes (exporters put weights behind them), or null. */
        private static Constant constantBehind(Value v) {
            while (v != null && !(v instanceof Constant) && v.producer() != null && v.producer().op().equals("Identity")) {
                v = v.producer().input(0);
            }
            return v instanceof Constant c ? c : null;
        }

        private static boolean oneValuePerColumn(Constant c, long columns) {
            Shape s = c.type().shape();
            long count = s.elementCount();
            return (count == 1 || count == columns) && (s.rank() < 2 || s.rank() == 2 && s.dim(0).size() == 1);
        }

        private static long columns(Node gemm, Constant w) {
            return w.type().shape().dim(intAttr(gemm, "transB") != 0 ? 0 : 1).size();
        }

        private static long intAttr(Node n, String name) {
            return ((Attribute.Int) OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name)).value();
        }

        private static float floatAttr(Node n, String name) {
            return ((Attribute.Float) OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name)).value();
        }

        /** Relu, or Clip with constant bounds: a clamp that a uint8 range inside it does by itself. */
        private static boolean isClamp(Node n) {
            if (n.output(0).type().dtype() != DType.F32) return false;
            if (n.op().equals("Relu")) return true;
            return n.op().equals("Clip") && (n.input(1) == null || constantBehind(n.input(1)) != null)
                    && (n.input(2) == null || constantBehind(n.input(2)) != null);
        }

        private static boolean isDataMovement(Node n) {
            if (!DATA_MOVEMENT.contains(n.op()) || n.outputs().size() != 1) return false;
            if (n.input(0).type().dtype() != DType.F32) return false;
            for (int i = 1; i < n.inputs().size(); i++) {
                Value in = n.input(i);
                if (in != null && in.type().dtype().isFloatingPoint()) return false;
            }
            return true;
        }

        // ---- calibration and parameters ----

        private void calibrate() {
            Set<Value> observed = new LinkedHashSet<>();
            for (Layer l : candidates) {
                observed.add(l.x());
                observed.add(l.node().output(0));
            }
            for (Node n : graph.nodes()) {
                if (isClamp(n) || n.op().equals("Concat")) observed.add(n.output(0));
            }
            observed.removeIf(v -> v.isConstant() || v.type().dtype() != DType.F32);
            PassOptions o = ctx.options();
            ActivationRanges.Calibration c = ActivationRanges.measure(graph, observed, o.calibration(), ctx.evaluator(),
                    o.calibrationMethod(), PERCENTILE);
            c.ranges().forEach((v, range) -> {
                QParams p = QParams.over(range);
                if (p != null) calibrated.put(v, p);
            });
            floatOutputs = c.outputs();
        }

        /** A value read by a Concat alone takes the Concat's parameters, so that the Concat can run on uint8. */
        private QParams paramsOf(Value v) {
            Node c = uses.soleConsumer(v);
            if (c != null && c.op().equals("Concat")) {
                QParams shared = paramsOf(c.output(0));
                if (shared != null) return shared;
            }
            return calibrated.get(v);
        }

        /** Whether uint8 with parameters p only holds values within the clamp's bounds (up to half a step). */
        private static boolean clampHolds(Node clamp, QParams p) {
            float min = 0f;
            float max = Float.POSITIVE_INFINITY;
            if (clamp.op().equals("Clip")) {
                min = clamp.input(1) == null ? Float.NEGATIVE_INFINITY : scalar(constantBehind(clamp.input(1)));
                max = clamp.input(2) == null ? Float.POSITIVE_INFINITY : scalar(constantBehind(clamp.input(2)));
            }
            float slack = p.scale() / 2;
            return p.lowest() >= min - slack && p.highest() <= max + slack;
        }

        private static float scalar(Constant c) { return c.data().getFloat(0); }

        /** QLinearConv and QLinearMatMul give a quantized output; QLinearMatMul has no bias, so a Gemm with C cannot. */
        private static boolean quantizesOutput(Layer l) {
            return l.kind() != Kind.GEMM || l.bias() == null;
        }

        private static ByteBuffer bytes(int n) { return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN); }

        /** The rewrite with a given set of layers quantized: what absorbs what, and the graph it makes. */
        private final class Rewrite {
            private final Map<Node, Layer> layers = new LinkedHashMap<>();
            private final Map<Value, Boolean> readQuantized = new HashMap<>();
            /** Activation node -> the layer whose integer output clamp does its work, and back. */
            private final Map<Node, Node> absorbedByLayer = new HashMap<>();
            private final Map<Node, Node> absorbedActivation = new HashMap<>();
            private final Set<Node> absorbedByQuantize = new HashSet<>();

            private final GraphRewrite rw = new GraphRewrite(graph);
            /** Old values computed in uint8 (not in float), with their parameters. */
            private final Map<Value, QParams> computedQuantized = new HashMap<>();
            /** Every uint8 version of an old value made so far, by parameters. */
            private final Map<Value, Map<QParams, Value>> quantizedVersions = new HashMap<>();
            /** Old values computed quantized whose float version is not made yet. */
            private final Set<Value> withoutFloat = new HashSet<>();
            private final Map<QParams, List<Value>> paramConstants = new HashMap<>();
            /** Quantized weights by what they are made from (weights shared by layers are quantized once). */
            private final Map<List<Object>, QuantizedWeights> weights = new HashMap<>();
            private final Map<QuantizedWeights, Value> weightScales = new HashMap<>();
            private Value weightZeroPoint;

            Rewrite(List<Layer> quantized) {
                for (Layer l : quantized) layers.put(l.node(), l);
            }

            Graph build() {
                planAbsorption();
                for (Node n : graph.nodes()) emit(n);
                for (Value out : graph.outputs()) rw.replace(out, floatOf(out));
                return rw.finish();
            }

            /** Whether some reader takes v quantized: a layer as its input, or data movement or a Concat that is read so. */
            private boolean readQuantized(Value v) {
                Boolean known = readQuantized.get(v);
                if (known != null) return known;
                readQuantized.put(v, false);
                boolean quantized = false;
                for (Node c : uses.consumers(v)) {
                    if (readsQuantized(c, v)) {
                        quantized = true;
                        break;
                    }
                }
                readQuantized.put(v, quantized);
                return quantized;
            }

            private boolean readsQuantized(Node reader, Value v) {
                Layer l = layers.get(reader);
                if (l != null) return l.x() == v;
                boolean passesOn = isDataMovement(reader) && reader.input(0) == v || reader.op().equals("Concat");
                return passesOn && readQuantized(reader.output(0));
            }

            private boolean onlyReadQuantized(Value v) {
                List<Node> readers = uses.consumers(v);
                if (uses.isGraphOutput(v) || readers.isEmpty()) return false;
                for (Node c : readers) if (!readsQuantized(c, v)) return false;
                return true;
            }

            /** Decides which Relu and Clip nodes the uint8 clamp absorbs, and whether a layer's or a QuantizeLinear's. */
            private void planAbsorption() {
                for (Node a : graph.nodes()) {
                    if (!isClamp(a)) continue;
                    QParams p = paramsOf(a.output(0));
                    if (p == null || !onlyReadQuantized(a.output(0)) || !clampHolds(a, p)) continue;
                    Node producer = a.input(0).producer();
                    Layer l = producer == null ? null : layers.get(producer);
                    if (l != null && uses.soleConsumer(a.input(0)) == a && quantizesOutput(l)) {
                        absorbedByLayer.put(a, producer);
                        absorbedActivation.put(producer, a);
                    } else {
                        absorbedByQuantize.add(a);
                    }
                }
            }

            // ---- emission ----

            private void emit(Node n) {
                if (absorbedByLayer.containsKey(n)) return;
                if (absorbedByQuantize.contains(n)) {
                    Value z = n.output(0);
                    QParams p = paramsOf(z);
                    setComputedQuantized(z, p, quantize(floatOf(n.input(0)), p, z.name()));
                    return;
                }
                Layer l = layers.get(n);
                if (l != null) {
                    emitLayer(l);
                    return;
                }
                if (isDataMovement(n) && computedQuantized.containsKey(n.input(0)) && readQuantized(n.output(0))) {
                    List<Value> inputs = new ArrayList<>(rw.map(n.inputs().subList(1, n.inputs().size())));
                    QParams p = computedQuantized.get(n.input(0));
                    inputs.add(0, quantizedVersions.get(n.input(0)).get(p));
                    emitOnUint8(n, inputs, p);
                    return;
                }
                QParams shared = sharedParams(n);
                if (n.op().equals("Concat") && shared != null && readQuantized(n.output(0))) {
                    List<Value> inputs = new ArrayList<>();
                    for (Value in : n.inputs()) inputs.add(quantizedVersions.get(in).get(shared));
                    emitOnUint8(n, inputs, shared);
                    return;
                }
                boolean meetsIntegers = false;
                for (Value in : n.inputs()) meetsIntegers |= withoutFloat.contains(in);
                for (Value out : n.outputs()) meetsIntegers |= readQuantized(out);
                if (meetsIntegers) {
                    ctx.debug(pass + ": " + n.op() + " node @" + n.name() + " has no integer form: it runs in float between DequantizeLinear and QuantizeLinear");
                }
                for (Value in : n.inputs()) if (in != null) floatOf(in);
                rw.copy(n);
            }

            /** The parameters all of a node's inputs were computed quantized with, or null if they differ or one is float. */
            private QParams sharedParams(Node n) {
                QParams shared = null;
                for (Value in : n.inputs()) {
                    QParams p = in == null ? null : computedQuantized.get(in);
                    if (p == null || shared != null && !shared.equals(p)) return null;
                    shared = p;
                }
                return shared;
            }

            private void emitOnUint8(Node n, List<Value> inputs, QParams p) {
                Value out = rw.copy(n, inputs).output(0);
                rw.target().rename(out, rw.freshName(n.output(0).name() + "_q"));
                setComputedQuantized(n.output(0), p, out);
            }

            private void emitLayer(Layer l) {
                Node n = l.node();
                Node clamp = absorbedActivation.get(n);
                // An input computed in uint8 (by data movement, say) is read with the parameters it has.
                QParams xp = computedQuantized.getOrDefault(l.x(), paramsOf(l.x()));
                Value xq = quantizedOf(l.x(), xp);
                List<Value> xParams = paramConstants(xp, l.x());
                QuantizedWeights w = weights.computeIfAbsent(weightsKey(l), k -> quantizeWeights(l));
                Value out = clamp != null ? clamp.output(0) : n.output(0);
                QParams yp = clamp != null || quantizesOutput(l) && readQuantized(out) ? paramsOf(out) : null;
                Value bias = l.bias() == null ? null : quantizeBias(l, xp.scale(), w.scales(), yp == null);
                if (yp != null) {
                    List<Value> yParams = paramConstants(yp, out);
                    if (weightZeroPoint == null) weightZeroPoint = rw.constant("weight_zero_point", TensorType.of(DType.I8), bytes(1));
                    Value weightScale = weightScales.computeIfAbsent(w, k -> floats(n.input(1).name() + "_scale", k.scales()));
                    List<Value> inputs = new ArrayList<>(List.of(xq, xParams.get(0), xParams.get(1), w.values(),
                            weightScale, weightZeroPoint, yParams.get(0), yParams.get(1)));
                    if (bias != null) inputs.add(bias);
                    String op = l.kind() == Kind.CONV ? "QLinearConv" : "QLinearMatMul";
                    Map<String, Attribute> attrs = l.kind() == Kind.CONV ? n.attributes() : Map.of();
                    setComputedQuantized(out, yp, rw.add(n.name(), op, inputs, attrs, List.of(out.name() + "_q")).output(0));
                    return;
                }
                // An integer product accumulated in int32, the bias added there, then one rescale per channel to f32.
                Value acc = l.kind() == Kind.CONV
                        ? rw.add(n.name(), "ConvInteger", List.of(xq, w.values(), xParams.get(1)), n.attributes(), List.of(out.name() + "_int32")).output(0)
                        : rw.add(n.name(), "MatMulInteger", List.of(xq, w.values(), xParams.get(1)), Map.of(), List.of(out.name() + "_int32")).output(0);
                if (bias != null) acc = rw.add(n.name() + "_bias", "Add", List.of(acc, bias), Map.of(), List.of(out.name() + "_int32_biased")).output(0);
                float[] rescale = new float[w.scales().length];
                for (int c = 0; c < rescale.length; c++) rescale[c] = xp.scale() * w.scales()[c];
                int axis = l.kind() == Kind.CONV ? 1 : acc.type().rank() - 1;
                Value y = rw.add(n.name() + "_rescale", "DequantizeLinear", List.of(acc, floats(out.name() + "_rescale", rescale)),
                        Map.of("axis", new Attribute.Int(axis)), List.of(out.name())).output(0);
                rw.replace(out, y);
            }

            private List<Object> weightsKey(Layer l) {
                if (l.kind() != Kind.GEMM) return List.of(l.weight(), l.kind());
                return List.of(l.weight(), l.kind(), intAttr(l.node(), "transB"), floatAttr(l.node(), "alpha"));
            }

            /**
             * int8 weights, symmetric per output channel (scale = max |w| / 127). Conv keeps [M, C/group, k...];
             * MatMul and Gemm give [K, N] with Gemm's alpha and transB applied, quantized per column.
             */
            private QuantizedWeights quantizeWeights(Layer l) {
                Constant w = l.weight();
                ByteBuffer data = w.data();
                long[] dims = w.type().shape().sizes();
                int count = (int) w.type().shape().elementCount();
                double[] values = new double[count];
                int channels;
                long[] shape;
                boolean perRow;
                if (l.kind() == Kind.CONV) {
                    for (int i = 0; i < count; i++) values[i] = data.getFloat(i * 4);
                    channels = (int) dims[0];
                    shape = dims;
                    perRow = true;
                } else {
                    boolean transposed = l.kind() == Kind.GEMM && intAttr(l.node(), "transB") != 0;
                    double alpha = l.kind() == Kind.GEMM ? floatAttr(l.node(), "alpha") : 1;
                    int k = (int) dims[transposed ? 1 : 0];
                    int n = (int) dims[transposed ? 0 : 1];
                    for (int r = 0; r < k; r++) {
                        for (int c = 0; c < n; c++) values[r * n + c] = alpha * data.getFloat((transposed ? c * k + r : r * n + c) * 4);
                    }
                    channels = n;
                    shape = new long[] {k, n};
                    perRow = false;
                }
                int perChannel = count / Math.max(1, channels);
                float[] scales = new float[channels];
                for (int i = 0; i < count; i++) {
                    int c = perRow ? i / perChannel : i % channels;
                    scales[c] = (float) Math.max(scales[c], Math.abs(values[i]));
                }
                for (int c = 0; c < channels; c++) scales[c] = scales[c] > 0 ? scales[c] / 127f : 1f;
                ByteBuffer q = bytes(count);
                for (int i = 0; i < count; i++) {
                    int c = perRow ? i / perChannel : i % channels;
                    q.put(i, (byte) Math.max(-127, Math.min(127, Math.rint(values[i] / scales[c]))));
                }
                return new QuantizedWeights(rw.constant(l.node().input(1).name() + "_int8", TensorType.of(DType.I8, shape), q), scales);
            }

            /**
             * The bias in int32 at scale x_scale * w_scale[c] (Gemm's beta applied), shaped to add to a ConvInteger
             * accumulator ([M, 1, ...]) when {@code toAccumulator}, else one value per channel.
             */
            private Value quantizeBias(Layer l, float xScale, float[] wScales, boolean toAccumulator) {
                Constant b = l.bias();
                int channels = wScales.length;
                double beta = l.kind() == Kind.GEMM ? floatAttr(l.node(), "beta") : 1;
                boolean single = b.type().shape().elementCount() == 1;
                ByteBuffer out = bytes(channels * 4);
                for (int c = 0; c < channels; c++) {
                    double v = beta * b.data().getFloat((single ? 0 : c) * 4);
                    double q = Math.rint(v / (xScale * wScales[c]));
                    out.putInt(c * 4, (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, q)));
                }
                long[] shape = {channels};
                if (toAccumulator && l.kind() == Kind.CONV) {
                    shape = new long[l.x().type().rank() - 1];
                    Arrays.fill(shape, 1);
                    shape[0] = channels;
                }
                return rw.constant(l.node().input(2).name() + "_int32", TensorType.of(DType.I32, shape), out);
            }

            private Value floats(String name, float[] values) {
                ByteBuffer b = bytes(values.length * 4);
                for (int i = 0; i < values.length; i++) b.putFloat(i * 4, values[i]);
                return rw.constant(name, TensorType.of(DType.F32, values.length), b);
            }

            /** Scalar scale (f32) and zero point (u8) constants, one pair per parameter set. */
            private List<Value> paramConstants(QParams p, Value named) {
                return paramConstants.computeIfAbsent(p, k -> {
                    ByteBuffer scale = bytes(4).putFloat(0, k.scale());
                    ByteBuffer zero = bytes(1).put(0, (byte) k.zeroPoint());
                    return List.of(rw.constant(named.name() + "_scale", TensorType.of(DType.F32), scale),
                            rw.constant(named.name() + "_zero_point", TensorType.of(DType.U8), zero));
                });
            }

            private void setComputedQuantized(Value old, QParams p, Value q) {
                computedQuantized.put(old, p);
                quantizedVersions.computeIfAbsent(old, k -> new HashMap<>()).put(p, q);
                withoutFloat.add(old);
            }

            /** The old value in uint8 with parameters p: as computed, or quantized from its float version once. */
            private Value quantizedOf(Value old, QParams p) {
                Map<QParams, Value> versions = quantizedVersions.computeIfAbsent(old, k -> new HashMap<>());
                Value q = versions.get(p);
                if (q == null) {
                    q = quantize(floatOf(old), p, old.name());
                    versions.put(p, q);
                }
                return q;
            }

            /** The old value in float: as computed, or dequantized from how it was computed, once. */
            private Value floatOf(Value old) {
                if (withoutFloat.remove(old)) {
                    QParams p = computedQuantized.get(old);
                    List<Value> params = paramConstants(p, old);
                    Value q = quantizedVersions.get(old).get(p);
                    rw.replace(old, rw.add(old.name() + "_dequantize", "DequantizeLinear", List.of(q, params.get(0), params.get(1)),
                            Map.of(), List.of(old.name())).output(0));
                }
                return rw.map(old);
            }

            private Value quantize(Value x, QParams p, String name) {
                List<Value> params = paramConstants(p, x);
                return rw.add(name + "_quantize", "QuantizeLinear", List.of(x, params.get(0), params.get(1)), Map.of(),
                        List.of(name + "_q")).output(0);
            }
        }
    }
}
