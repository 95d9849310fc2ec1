package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
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
 * Recognises layer and RMS normalization over trailing axes in the forms exporters write them,
 * from the variance's ReduceMean:
 * <pre>
 *   d = x - ReduceMean(x, axes)                        (LayerNormalization; for RMSNormalization d = x)
 *   v = ReduceMean(Pow(d, 2) or Mul(d, d), axes) + eps  (eps a constant)
 *   n = d / Sqrt(v) | d / Pow(v, 0.5) | d * Reciprocal(Sqrt(v)) | d * Pow(v, -0.5)
 *   y = n * gamma + beta                               (gamma and beta optional; RMS takes no beta)
 * </pre>
 * becomes LayerNormalization(x, gamma, beta) or RMSNormalization(x, gamma) with axis = -(number of
 * axes) and epsilon = eps; a missing gamma becomes a constant of ones over the normalized shape.
 * The axes must be the last ones, both means must keep dimensions, and gamma and beta must vary
 * over the normalized axes only. Sums and products match in either operand order.
 */
public final class RecognizeLayerNorm extends Pass {

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return Recognition.rewrite(this, graph, ctx, Map.of("ReduceMean", RecognizeLayerNorm::recognize));
    }

    /** One recognised normalization, for the builder. */
    private record Normalization(String op, Value x, int axes, double epsilon, Value gamma, Value beta) {}

    private static Result recognize(Node variance, Uses uses) {
        Set<Node> nodes = new LinkedHashSet<>(List.of(variance));
        Value d = squaredValue(variance.input(0), nodes);
        if (d == null) return Recognition.miss("its input is not Pow(d, 2) or Mul(d, d): not a variance");
        if (!d.type().dtype().isFloatingPoint()) return Recognition.miss("it averages " + d.type() + ", not floating-point values");
        int rank = d.type().rank();
        int axes = trailingAxes(variance, rank);
        if (axes == 0) return Recognition.miss("it does not average over the last axes keeping dimensions");

        Node plusEps = Recognition.consumer(uses, variance.output(0), "Add");
        Value eps = plusEps == null ? null : Recognition.other(plusEps, variance.output(0));
        Double epsilon = Recognition.scalar(eps);
        if (epsilon == null || !eps.type().dtype().isFloatingPoint() || !plusEps.output(0).type().equals(variance.output(0).type())) {
            return Recognition.miss("the variance is not followed by an Add of a constant epsilon");
        }
        nodes.add(plusEps);
        Node normalized = divideByRoot(plusEps.output(0), d, uses, nodes);
        if (normalized == null || !normalized.output(0).type().equals(d.type())) {
            return Recognition.miss("d is not divided by the root of the variance (Div by Sqrt or Pow 0.5, Mul by Reciprocal(Sqrt) or Pow -0.5)");
        }

        Value x = d;
        String op = "RMSNormalization";
        Node sub = Recognition.producer(d, "Sub");
        Node mean = sub == null ? null : Recognition.producer(sub.input(1), "ReduceMean");
        if (mean != null && mean.input(0) == sub.input(0) && trailingAxes(mean, rank) == axes) {
            nodes.add(sub);
            nodes.add(mean);
            x = sub.input(0);
            op = "LayerNormalization";
        }

        Node root = normalized;
        Node scale = affine(root, "Mul", x, axes, uses, nodes);
        Value gamma = null;
        if (scale != null) {
            gamma = Recognition.other(scale, root.output(0));
            root = scale;
        }
        Value beta = null;
        Node shift = op.equals("LayerNormalization") ? affine(root, "Add", x, axes, uses, nodes) : null;
        if (shift != null) {
            beta = Recognition.other(shift, root.output(0));
            root = shift;
        }
        if (gamma == null && !normalizedShape(x, axes).isStatic()) {
            return Recognition.miss("there is no scale and the normalized shape " + normalizedShape(x, axes) + " is not static");
        }
        if (scale != null) nodes.add(scale);
        if (shift != null) nodes.add(shift);
        Normalization norm = new Normalization(op, x, axes, epsilon, gamma, beta);
        Node last = root;
        return new Match(root, nodes, rw -> build(rw, nodes, last, norm));
    }

    private static Value build(GraphRewrite rw, Set<Node> nodes, Node root, Normalization n) {
        TensorType x = n.x().type();
        Value gamma = n.gamma() != null ? rw.map(n.gamma())
                : Recognition.ones(rw, "ones", TensorType.of(x.dtype(), normalizedShape(n.x(), n.axes())));
        List<Value> inputs = new ArrayList<>(List.of(rw.map(n.x()), gamma));
        if (n.beta() != null) inputs.add(rw.map(n.beta()));
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        attrs.put("axis", Attribute.of((long) -n.axes()));
        attrs.put("epsilon", Attribute.of((float) n.epsilon()));
        // The decomposed f64 graph computed its statistics in f64; keep them there.
        if (x.dtype() == DType.F64) attrs.put("stash_type", Attribute.of(11L));
        return Recognition.addReplacement(rw, nodes, root, n.op(), inputs, attrs);
    }

    /** d for Pow(d, 2) or Mul(d, d). */
    private static Value squaredValue(Value v, Set<Node> nodes) {
        Node pow = Recognition.producer(v, "Pow");
        if (pow != null && Recognition.isScalar(pow.input(1), 2) && pow.output(0).type().equals(pow.input(0).type())) {
            nodes.add(pow);
            return pow.input(0);
        }
        Node mul = Recognition.producer(v, "Mul");
        if (mul != null && mul.input(0) == mul.input(1)) {
            nodes.add(mul);
            return mul.input(0);
        }
        return null;
    }

    /**
     * k when the ReduceMean averages over exactly the last k axes with keepdims, else 0. No axes
     * input means every axis (unless noop_with_empty_axes makes it the identity).
     */
    private static int trailingAxes(Node reduce, int rank) {
        if (intAttr(reduce, "keepdims", 1) != 1 || reduce.output(0).type().rank() != rank) return 0;
        long[] axes = reduce.input(1) == null ? new long[0] : Recognition.longs(reduce.input(1));
        if (axes == null) return 0;
        if (axes.length == 0) return intAttr(reduce, "noop_with_empty_axes", 0) == 0 ? rank : 0;
        long[] normalized = new long[axes.length];
        for (int i = 0; i < axes.length; i++) normalized[i] = axes[i] < 0 ? axes[i] + rank : axes[i];
        Arrays.sort(normalized);
        for (int i = 0; i < normalized.length; i++) {
            if (normalized[i] != rank - normalized.length + i) return 0;
        }
        return normalized.length;
    }

    private static long intAttr(Node n, String name, long fallback) {
        return n.attribute(name) instanceof Attribute.Int i ? i.value() : fallback;
    }

    /**
     * The node computing d / sqrt(v) from v: Div(d, Sqrt(v)), Div(d, Pow(v, 0.5)),
     * Mul(d, Reciprocal(Sqrt(v))) or Mul(d, Pow(v, -0.5)); its nodes go to {@code nodes}.
     */
    private static Node divideByRoot(Value v, Value d, Uses uses, Set<Node> nodes) {
        Node first = Recognition.consumer(uses, v, "Sqrt");
        if (first == null) first = Recognition.consumer(uses, v, "Pow");
        if (first == null) return null;
        List<Node> chain = new ArrayList<>(List.of(first));
        String combine;
        if (first.op().equals("Sqrt") || isPow(first, v, 0.5)) {
            combine = "Div";
        } else if (isPow(first, v, -0.5)) {
            combine = "Mul";
        } else {
            return null;
        }
        Value root = first.output(0);
        Node reciprocal = first.op().equals("Sqrt") ? Recognition.consumer(uses, root, "Reciprocal") : null;
        if (reciprocal != null) {
            chain.add(reciprocal);
            root = reciprocal.output(0);
            combine = "Mul";
        }
        Node n = Recognition.consumer(uses, root, combine);
        if (n == null) return null;
        boolean numeratorIsD = combine.equals("Div") ? n.input(0) == d && n.input(1) == root : Recognition.other(n, root) == d;
        if (!numeratorIsD) return null;
        nodes.addAll(chain);
        nodes.add(n);
        return n;
    }

    private static boolean isPow(Node n, Value base, double exponent) {
        return n.op().equals("Pow") && n.input(0) == base && Recognition.isScalar(n.input(1), exponent);
    }

    /**
     * The Mul by gamma (or Add of beta) that is the only use of {@code node}'s output, when the
     * other operand has x's dtype, varies over the normalized axes only, and keeps x's shape.
     */
    private static Node affine(Node node, String op, Value x, int axes, Uses uses, Set<Node> nodes) {
        Node next = uses.soleConsumer(node.output(0));
        if (next == null || !next.op().equals(op) || !next.output(0).type().equals(x.type())) return null;
        Value param = Recognition.other(next, node.output(0));
        if (param == node.output(0) || param.type().dtype() != x.type().dtype() || nodes.contains(param.producer())) return null;
        Shape p = param.type().shape();
        int rank = x.type().rank();
        if (p.rank() > rank) return null;
        for (int i = 0; i < p.rank(); i++) {
            int axis = rank - p.rank() + i;
            Dim dim = p.dim(i);
            if (axis < rank - axes && !(dim.isStatic() && dim.size() == 1)) return null;
        }
        return next;
    }

    private static Shape normalizedShape(Value x, int axes) {
        List<Dim> dims = x.type().shape().dims();
        return new Shape(dims.subList(dims.size() - axes, dims.size()));
    }
}
