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
import dev.kiln.passes.Recognition.Match;
import dev.kiln.passes.Recognition.Result;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fuses squeeze-and-excitation blocks into SqueezeExcite (FusionOps): Mul(x, g) (either operand order) where
 * g = conv2(conv1(pool(x))), pool is GlobalAveragePool or ReduceMean over every spatial axis (constant axes) keeping them, and
 * conv1 and conv2 are Conv or FusedConv with constant weights, one output position (1x1 filters on the 1x1
 * pooled map, no group, no residual) and optional constant biases: conv1's activation (any, or none) is the
 * squeeze's, conv2's (Sigmoid, HardSigmoid, ...) the gate. Runs after FuseEpilogue, which folds the
 * activations into the convolutions; the pooled value and both products must feed nothing else. The filters
 * become the matrices W1 [R, C] and W2 [C, R], their bytes shared.
 */
public final class FuseSqueezeExcite extends Pass {
    private static final Set<String> CONVOLUTIONS = Set.of("Conv", "FusedConv");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return Recognition.rewrite(this, graph, ctx, Map.of("Mul", FuseSqueezeExcite::recognize));
    }

    private static Result recognize(Node mul, Uses uses) {
        for (int i = 0; i < 2; i++) {
            Value x = mul.input(i);
            Node gate = Recognition.producer(mul.input(1 - i), "FusedConv");
            if (gate == null || !mul.output(0).type().equals(x.type()) || !x.type().dtype().isFloatingPoint()) continue;
            String why = fullyConnected(gate);
            if (why != null) return Recognition.miss("the gate " + why);
            Node squeeze = gate.input(0).producer();
            if (squeeze == null || !CONVOLUTIONS.contains(squeeze.op())) return Recognition.miss("the gate does not read a convolution");
            why = fullyConnected(squeeze);
            if (why != null) return Recognition.miss("the squeeze " + why);
            Node pool = squeeze.input(0).producer();
            if (pool == null || pool.input(0) != x || !poolsSpatialAxes(pool)) return Recognition.miss("the squeeze does not read a spatial mean of " + x.name());
            return match(mul, x, pool, squeeze, gate);
        }
        return Recognition.miss("neither operand is a gate computed by a FusedConv");
    }

    /** Null when the convolution multiplies one position by a constant matrix (plus a constant bias), else what it does not. */
    private static String fullyConnected(Node conv) {
        if (!(conv.input(1) instanceof Constant)) return "filter is not a constant";
        if (conv.inputs().size() > 2 && conv.input(2) != null && !(conv.input(2) instanceof Constant)) return "bias is not a constant";
        if (conv.inputs().size() > 3 && conv.input(3) != null) return "adds a residual";
        if (((Attribute.Int) OpRegistry.spec(conv.op()).attributeOrDefault(conv.attributes(), "group")).value() != 1) return "has groups";
        for (Value v : List.of(conv.input(0), conv.output(0), conv.input(1))) {
            long[] dims = v.type().shape().isStatic() ? v.type().shape().sizes() : null;
            if (dims == null || dims.length < 3 || Arrays.stream(dims, 2, dims.length).anyMatch(d -> d != 1)) return "is not over one position";
        }
        return null;
    }

    /** GlobalAveragePool, or ReduceMean over exactly the spatial axes keeping them. */
    private static boolean poolsSpatialAxes(Node pool) {
        int rank = pool.input(0).type().rank();
        if (pool.op().equals("GlobalAveragePool")) return rank >= 3;
        if (!pool.op().equals("ReduceMean") || rank < 3) return false;
        if (((Attribute.Int) OpRegistry.spec("ReduceMean").attributeOrDefault(pool.attributes(), "keepdims")).value() != 1) return false;
        long[] axes = pool.inputs().size() > 1 ? Recognition.longs(pool.input(1)) : null;
        if (axes == null) return false;
        long[] normal = Arrays.stream(axes).map(a -> a < 0 ? a + rank : a).sorted().toArray();
        long[] spatial = new long[rank - 2];
        for (int d = 0; d < spatial.length; d++) spatial[d] = d + 2;
        return Arrays.equals(normal, spatial);
    }

    private static Match match(Node mul, Value x, Node pool, Node squeeze, Node gate) {
        Set<Node> nodes = new LinkedHashSet<>(List.of(pool, squeeze, gate, mul));
        return new Match(mul, nodes, rw -> {
            List<Value> inputs = new ArrayList<>(Arrays.asList(rw.map(x), matrix(rw, squeeze), matrix(rw, gate), bias(rw, squeeze), bias(rw, gate)));
            while (inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
            Map<String, Attribute> attrs = new LinkedHashMap<>();
            putActivation(attrs, squeeze, "activation", "activation_params");
            putActivation(attrs, gate, "gate", "gate_params");
            return Recognition.addReplacement(rw, nodes, mul, "SqueezeExcite", inputs, attrs);
        });
    }

    /** The convolution's filter [M, C, 1...] as the matrix [M, C], sharing its bytes. */
    private static Value matrix(GraphRewrite rw, Node conv) {
        Constant w = (Constant) conv.input(1);
        TensorType t = w.type();
        Shape m = Shape.of(t.shape().dim(0).size(), t.shape().dim(1).size());
        return rw.constant(w.name() + "_matrix", TensorType.of(t.dtype(), m), w.data());
    }

    private static Value bias(GraphRewrite rw, Node conv) {
        return conv.inputs().size() > 2 && conv.input(2) != null ? rw.map(conv.input(2)) : null;
    }

    /** The convolution's activation (None for a plain Conv) under the given attribute names. */
    private static void putActivation(Map<String, Attribute> attrs, Node conv, String name, String params) {
        Attribute act = conv.attribute("activation");
        attrs.put(name, act != null ? act : Attribute.of(ElementwiseProgram.NO_ACTIVATION));
        if (conv.attribute("activation_params") instanceof Attribute.Floats p && p.values().length > 0) attrs.put(params, p);
    }
}
