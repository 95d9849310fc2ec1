package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.Recognition.Match;
import dev.kiln.passes.Recognition.Result;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Recognises GELU in the forms exporters write it and replaces it by Gelu:
 * <ul>
 *   <li>x * 0.5 * (1 + Erf(x / sqrt(2))) (or Erf(x * 1/sqrt(2))) becomes Gelu(x);</li>
 *   <li>x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3))) becomes Gelu(x) {approximate = "tanh"},
 *       with x^3 as Pow(x, 3) or a product of x's.</li>
 * </ul>
 * The outer product may associate and order its three factors x, 0.5 and (1 + ...) in any way
 * (PyTorch writes Mul(Mul(x, 1 + erf), 0.5)). Sums and products match in either operand order.
 */
public final class RecognizeGelu extends Pass {
    private static final double SQRT_2 = Math.sqrt(2);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
    private static final double CUBIC_COEFFICIENT = 0.044715;
    /** How many Muls up from (1 + erf) the outer product may reach before the search gives up. */
    private static final int MAX_PRODUCT_DEPTH = 3;

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return Recognition.rewrite(this, graph, ctx, Map.of("Erf", RecognizeGelu::recognizeErf, "Tanh", RecognizeGelu::recognizeTanh));
    }

    private static Result recognizeErf(Node erf, Uses uses) {
        Set<Node> nodes = new LinkedHashSet<>(List.of(erf));
        Value x = erfArgumentSource(erf, nodes);
        if (x == null) return Recognition.miss("its argument is not x / sqrt(2) or x * (1 / sqrt(2)) for a constant");
        return outerProduct(erf, x, nodes, uses, Map.of());
    }

    private static Result recognizeTanh(Node tanh, Uses uses) {
        Set<Node> nodes = new LinkedHashSet<>(List.of(tanh));
        Value x = tanhArgumentSource(tanh, nodes, uses);
        if (x == null) return Recognition.miss("its argument is not sqrt(2/pi) * (x + 0.044715 * x^3)");
        return outerProduct(tanh, x, nodes, uses, Map.of("approximate", Attribute.of("tanh")));
    }

    /** x for Erf(Div(x, sqrt 2)) or Erf(Mul(x, 1/sqrt 2)). */
    private static Value erfArgumentSource(Node erf, Set<Node> nodes) {
        Node div = Recognition.producer(erf.input(0), "Div");
        if (div != null && Recognition.isScalar(div.input(1), SQRT_2)) {
            nodes.add(div);
            return div.input(0);
        }
        Node mul = Recognition.producer(erf.input(0), "Mul");
        if (mul == null) return null;
        for (int i = 0; i < 2; i++) {
            if (Recognition.isScalar(mul.input(1 - i), 1 / SQRT_2)) {
                nodes.add(mul);
                return mul.input(i);
            }
        }
        return null;
    }

    /** x for Tanh(Mul(sqrt(2/pi), Add(x, Mul(0.044715, x^3)))), with either operand order everywhere. */
    private static Value tanhArgumentSource(Node tanh, Set<Node> nodes, Uses uses) {
        Node scaled = Recognition.producer(tanh.input(0), "Mul");
        if (scaled == null) return null;
        for (int i = 0; i < 2; i++) {
            if (!Recognition.isScalar(scaled.input(1 - i), SQRT_2_OVER_PI)) continue;
            Node sum = Recognition.producer(scaled.input(i), "Add");
            if (sum == null) return null;
            for (int j = 0; j < 2; j++) {
                Value x = sum.input(j);
                Set<Node> cubic = cubicTerm(sum.input(1 - j), x, uses);
                if (cubic != null) {
                    nodes.add(scaled);
                    nodes.add(sum);
                    nodes.addAll(cubic);
                    return x;
                }
            }
        }
        return null;
    }

    /** The nodes of 0.044715 * x^3 (a product of the constant with x's and Pow(x, k)'s whose powers sum to 3), or null. */
    private static Set<Node> cubicTerm(Value term, Value x, Uses uses) {
        Node top = Recognition.producer(term, "Mul");
        if (top == null) return null;
        Set<Node> nodes = new LinkedHashSet<>();
        List<Value> factors = new ArrayList<>();
        flattenProduct(top, uses, nodes, factors, 4);
        int power = 0;
        boolean coefficient = false;
        for (Value f : factors) {
            Node pow = Recognition.producer(f, "Pow");
            Double exponent = pow == null || pow.input(0) != x ? null : Recognition.scalar(pow.input(1));
            if (f == x) {
                power++;
            } else if (!coefficient && Recognition.isScalar(f, CUBIC_COEFFICIENT)) {
                coefficient = true;
            } else if (exponent != null && (exponent == 2 || exponent == 3)) {
                power += exponent.intValue();
                nodes.add(pow);
            } else {
                return null;
            }
        }
        return coefficient && power == 3 ? nodes : null;
    }

    /**
     * Finds the product x * 0.5 * (1 + activation) above the activation: the activation must feed
     * an Add with 1, and some Mul above it (through Muls only) must multiply exactly x, 0.5 and that sum.
     */
    private static Result outerProduct(Node activation, Value x, Set<Node> nodes, Uses uses, Map<String, Attribute> attrs) {
        if (!x.type().dtype().isFloatingPoint() || !x.type().equals(activation.output(0).type())) {
            return Recognition.miss("x " + x.type() + " is not a floating-point tensor of the activation's type");
        }
        Node plusOne = Recognition.consumer(uses, activation.output(0), "Add");
        if (plusOne == null || !Recognition.isScalar(Recognition.other(plusOne, activation.output(0)), 1)) {
            return Recognition.miss("it is not followed by an Add of 1");
        }
        nodes.add(plusOne);
        Value onePlus = plusOne.output(0);
        Value current = onePlus;
        for (int depth = 0; depth < MAX_PRODUCT_DEPTH; depth++) {
            Node mul = Recognition.consumer(uses, current, "Mul");
            if (mul == null) break;
            Set<Node> productNodes = new LinkedHashSet<>();
            List<Value> factors = new ArrayList<>();
            flattenProduct(mul, uses, productNodes, factors, 3);
            boolean product = factors.size() == 3 && factors.contains(x) && factors.contains(onePlus)
                    && factors.stream().anyMatch(f -> Recognition.isScalar(f, 0.5));
            if (product && mul.output(0).type().equals(x.type())) {
                nodes.addAll(productNodes);
                Value input = x;
                return new Match(mul, nodes, rw -> Recognition.addReplacement(rw, nodes, mul, "Gelu", List.of(rw.map(input)), attrs));
            }
            current = mul.output(0);
        }
        return Recognition.miss("(1 + " + activation.op() + ") is not multiplied by exactly x and 0.5");
    }

    /**
     * The factors of the product computed by {@code mul}, descending into operands that are Muls
     * read by nothing else (their nodes go to {@code nodes}); stops collecting past {@code limit} factors.
     */
    private static void flattenProduct(Node mul, Uses uses, Set<Node> nodes, List<Value> factors, int limit) {
        nodes.add(mul);
        for (Value operand : mul.inputs()) {
            if (factors.size() > limit) return;
            Node inner = Recognition.producer(operand, "Mul");
            if (inner != null && uses.onlyFeeds(operand, mul)) flattenProduct(inner, uses, nodes, factors, limit);
            else factors.add(operand);
        }
    }
}
