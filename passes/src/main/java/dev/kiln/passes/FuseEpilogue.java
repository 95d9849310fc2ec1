package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.ir.ops.OpRegistry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fuses what follows a Conv, ConvTranspose, Gemm or MatMul into it: Adds of constant biases, one
 * Add of a residual tensor of the output's type (ResNet's skip connection), then one activation
 * (Relu, LeakyRelu, Clip with constant bounds, Sigmoid, Tanh, HardSigmoid, HardSwish, Swish,
 * SiLU written as x * Sigmoid(x) and HardSwish as x * HardSigmoid(x) of alpha 1/6 and beta 1/2, Gelu, Elu,
 * Softplus, Mish). Each absorbed intermediate must have
 * no other use. With a residual or an activation the result is FusedConv, FusedConvTranspose,
 * FusedGemm or FusedMatMul (see FusionOps); biases alone go into the op's own bias (a MatMul
 * becomes a FusedMatMul with a bias). A lone constant bias is used as it is; biases that must be
 * summed (with each other or the op's own) must be f32/f64.
 */
public final class FuseEpilogue extends Pass {
    private static final Set<String> PRODUCERS = Set.of("Conv", "ConvTranspose", "Gemm", "MatMul");

    /** The activations a fused op applies, by the op that computes them. */
    private static final Set<String> ACTIVATIONS = Set.of("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid",
            "HardSwish", "Swish", "Gelu", "Elu", "Softplus", "Mish");

    /** What one producer absorbs, in graph order. */
    private static final class Epilogue {
        final Node producer;
        final List<Node> absorbed = new ArrayList<>();
        final List<Constant> biases = new ArrayList<>();
        Value residual;
        String activation = ElementwiseProgram.NO_ACTIVATION;
        float[] params = new float[0];

        Epilogue(Node producer) { this.producer = producer; }

        Node last() { return absorbed.get(absorbed.size() - 1); }
    }

    @Override
    protected Graph run(Graph g, PassContext ctx) {
        Uses uses = Uses.of(g);
        Set<Node> claimed = new HashSet<>();
        Map<Node, Epilogue> byLastNode = new HashMap<>();
        for (Node n : g.nodes()) {
            if (!PRODUCERS.contains(n.op()) || n.outputs().size() != 1 || !n.output(0).type().dtype().isFloatingPoint()) continue;
            Epilogue e = plan(n, uses, claimed, ctx);
            if (e.absorbed.isEmpty()) continue;
            claimed.add(n);
            claimed.addAll(e.absorbed);
            byLastNode.put(e.last(), e);
        }
        GraphRewrite rw = new GraphRewrite(g);
        for (Node n : g.nodes()) {
            Epilogue e = byLastNode.get(n);
            if (e != null) emit(rw, e);
            else if (!claimed.contains(n)) rw.copy(n);
        }
        return rw.finish();
    }

    /** Follows the producer's output through biases, a residual and an activation while each step is legal. */
    private static Epilogue plan(Node p, Uses uses, Set<Node> claimed, PassContext ctx) {
        Epilogue e = new Epilogue(p);
        Value t = p.output(0);
        while (true) {
            Gated gated = gated(t, uses);
            if (gated != null && !claimed.contains(gated.gate()) && !claimed.contains(gated.mul())) {
                e.absorbed.addAll(List.of(gated.gate(), gated.mul()));
                e.activation = gated.activation();
                e.params = gated.params();
                return e;
            }
            Node c = uses.soleConsumer(t);
            if (c == null || claimed.contains(c)) {
                if (e.absorbed.isEmpty()) {
                    String why = c != null ? "feeds a node fused elsewhere"
                            : uses.isGraphOutput(t) ? "is a graph output" : "has " + uses.consumers(t).size() + " uses";
                    ctx.debug("fuse-epilogue: " + p.op() + " '" + p.name() + "' left unfused: its output " + why);
                }
                return e;
            }
            if (c.op().equals("Add") && absorbAdd(e, c, t)) {
                e.absorbed.add(c);
                t = c.output(0);
                continue;
            }
            if (ACTIVATIONS.contains(c.op()) && c.input(0) == t && setActivation(e, c)) {
                e.absorbed.add(c);
            } else if (e.absorbed.isEmpty()) {
                ctx.debug("fuse-epilogue: " + p.op() + " '" + p.name() + "' left unfused: "
                        + c.op() + " '" + c.name() + "' is no bias, residual or activation it can take");
            }
            return e;
        }
    }

    /** An activation written as t * gate(t): the gate's node, the Mul and the activation with its parameters. */
    private record Gated(Node gate, Node mul, String activation, float[] params) {}

    /**
     * The activation of Mul(t, gate(t)) when those two are t's only uses: SiLU (Swish 1) with a Sigmoid gate,
     * HardSwish with a HardSigmoid of alpha 1/6 and beta 1/2 (as exporters write them); else null.
     */
    private static Gated gated(Value t, Uses uses) {
        List<Node> c = uses.consumers(t);
        if (c.size() != 2 || uses.isGraphOutput(t)) return null;
        for (int i = 0; i < 2; i++) {
            Node gate = c.get(i);
            Node mul = c.get(1 - i);
            if (!mul.op().equals("Mul") || gate.input(0) != t || !uses.onlyFeeds(gate.output(0), mul)) continue;
            boolean product = (mul.input(0) == t && mul.input(1) == gate.output(0)) || (mul.input(1) == t && mul.input(0) == gate.output(0));
            if (!product) continue;
            if (gate.op().equals("Sigmoid")) return new Gated(gate, mul, "Swish", new float[] {1f});
            if (gate.op().equals("HardSigmoid") && Math.abs(floatAttr(gate, "alpha") - 1 / 6.0) < 1e-6 && floatAttr(gate, "beta") == 0.5f) {
                return new Gated(gate, mul, "HardSwish", new float[0]);
            }
        }
        return null;
    }

    /** Takes Add(t, other) as a constant bias or as the residual when it fits; false otherwise. */
    private static boolean absorbAdd(Epilogue e, Node add, Value t) {
        Value other = add.input(0) == t ? add.input(1) : add.input(0);
        if (other == t || !add.output(0).type().shape().equals(t.type().shape())) return false;
        if (other instanceof Constant k) {
            if (!biasFits(e, k, t.type())) return false;
            e.biases.add(k);
            return true;
        }
        if (e.residual != null || !other.type().equals(t.type())) return false;
        e.residual = other;
        return true;
    }

    /**
     * Whether constant k can join the producer's bias: of the output's dtype, of a shape the bias can
     * hold, and f32/f64 (with an own bias that is, too) unless it simply becomes the bias.
     */
    private static boolean biasFits(Epilogue e, Constant k, TensorType out) {
        Node p = e.producer;
        if (k.type().dtype() != out.dtype()) return false;
        long[] ks = k.type().shape().sizes();
        boolean convolution = p.op().startsWith("Conv");
        if (convolution) {
            // A convolution's bias is one value per output channel: k must be 1 everywhere but along axis 1.
            int channelAxis = 1 - (out.rank() - ks.length);
            for (int d = 0; d < ks.length; d++) {
                if (ks[d] != 1 && d != channelAxis) return false;
            }
            if (!out.shape().dim(1).isStatic()) return false;
        } else if (ks.length > out.rank()) {
            return false;
        }
        Value own = ownBias(p);
        if (own == null && e.biases.isEmpty() && (!convolution || channelVector(k, out) != null)) return true;
        return FusionConstants.foldable(out.dtype()) && (own == null || FusionConstants.readable(own));
    }

    /** k's shape as a convolution bias, [M], when k holds one value per channel (not one for all), else null. */
    private static Shape channelVector(Constant k, TensorType out) {
        long channels = out.shape().dim(1).size();
        return k.type().shape().elementCount() == channels ? Shape.of(channels) : null;
    }

    private static Value ownBias(Node p) { return p.op().equals("MatMul") ? null : p.input(2); }

    /** Reads the activation of node c into e; false when its parameters are not constants. */
    private static boolean setActivation(Epilogue e, Node c) {
        float[] params;
        String name = c.op();
        switch (c.op()) {
            case "LeakyRelu", "Swish", "Elu" -> params = new float[] {floatAttr(c, "alpha")};
            case "HardSigmoid" -> params = new float[] {floatAttr(c, "alpha"), floatAttr(c, "beta")};
            case "Clip" -> {
                Double min = c.input(1) == null ? Double.valueOf(Double.NEGATIVE_INFINITY) : FusionConstants.scalar(c.input(1));
                Double max = c.input(2) == null ? Double.valueOf(Double.POSITIVE_INFINITY) : FusionConstants.scalar(c.input(2));
                if (min == null || max == null) return false;
                params = new float[] {min.floatValue(), max.floatValue()};
            }
            case "Gelu" -> {
                params = new float[0];
                Attribute.Str approximate = (Attribute.Str) OpRegistry.spec("Gelu").attributeOrDefault(c.attributes(), "approximate");
                if (approximate.value().equals("tanh")) name = "GeluTanh";
            }
            default -> params = new float[0];
        }
        e.activation = name;
        e.params = params;
        return true;
    }

    private static float floatAttr(Node n, String name) {
        return ((Attribute.Float) OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name)).value();
    }

    /** Emits the fused (or bias-extended) producer in place of the last absorbed node. */
    private static void emit(GraphRewrite rw, Epilogue e) {
        Node p = e.producer;
        Map<String, Attribute> attrs = new LinkedHashMap<>(p.attributes());
        // The old bias is not mapped when a new one replaces it, so that it is not carried into the new graph.
        List<Value> inputs = new ArrayList<>(rw.map(p.inputs().subList(0, e.biases.isEmpty() ? p.inputs().size() : 2)));
        if (!e.biases.isEmpty()) {
            setInput(inputs, 2, bias(rw, e, attrs));
            if (p.op().equals("Gemm")) attrs.put("beta", Attribute.of(1f));
        }
        boolean activated = !e.activation.equals(ElementwiseProgram.NO_ACTIVATION);
        boolean fused = activated || e.residual != null || p.op().equals("MatMul");
        if (e.residual != null) setInput(inputs, 3, rw.map(e.residual));
        if (activated) attrs.put("activation", Attribute.of(e.activation));
        if (e.params.length > 0) attrs.put("activation_params", Attribute.of(e.params));
        Node last = e.last();
        Node n = rw.add(p.name(), fused ? "Fused" + p.op() : p.op(), inputs, attrs, List.of(last.output(0).name()));
        rw.replace(last.output(0), n.output(0));
    }

    /**
     * The producer's bias plus every absorbed constant: a vector of output channels for
     * convolutions, else the broadcast of them all (Gemm's C counted with its beta). A lone
     * constant is used as it is, its bytes shared (a convolution's reshaped to [M]).
     */
    private static Value bias(GraphRewrite rw, Epilogue e, Map<String, Attribute> attrs) {
        Node p = e.producer;
        Value own = ownBias(p);
        TensorType out = p.output(0).type();
        boolean convolution = p.op().startsWith("Conv");
        if (own == null && e.biases.size() == 1) {
            Constant k = e.biases.get(0);
            Shape vector = convolution ? channelVector(k, out) : k.type().shape();
            if (vector != null && vector.equals(k.type().shape())) return rw.map(k);
            if (vector != null) return rw.constant(k.name() + "_vector", TensorType.of(out.dtype(), vector), k.data());
        }
        String hint = (own == null ? p.name() : own.name()) + "_fused";
        if (convolution) {
            int channels = (int) out.shape().dim(1).size();
            double[] sum = own == null ? new double[channels] : FusionConstants.values(own);
            for (Constant k : e.biases) {
                double[] kv = FusionConstants.values(k);
                for (int m = 0; m < channels; m++) sum[m] += kv.length == 1 ? kv[0] : kv[m];
            }
            return FusionConstants.make(rw, hint, out.dtype(), Shape.of(channels), sum);
        }
        List<long[]> shapes = new ArrayList<>();
        if (own != null) shapes.add(own.type().shape().sizes());
        for (Constant k : e.biases) shapes.add(k.type().shape().sizes());
        long[] shape = FusionConstants.broadcastShape(shapes);
        double[] sum = new double[(int) Shape.elementCount(shape)];
        if (own != null) {
            double beta = ((Attribute.Float) OpRegistry.spec("Gemm").attributeOrDefault(attrs, "beta")).value();
            FusionConstants.addBroadcast(sum, shape, FusionConstants.values(own), own.type().shape().sizes(), beta);
        }
        for (Constant k : e.biases) FusionConstants.addBroadcast(sum, shape, FusionConstants.values(k), k.type().shape().sizes(), 1);
        return FusionConstants.make(rw, hint, out.dtype(), Shape.of(shape), sum);
    }

    private static void setInput(List<Value> inputs, int i, Value v) {
        while (inputs.size() <= i) inputs.add(null);
        inputs.set(i, v);
    }
}
