package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.ir.ops.ElementwiseProgram.Input;
import dev.kiln.ir.ops.ElementwiseProgram.Literal;
import dev.kiln.ir.ops.ElementwiseProgram.Operand;
import dev.kiln.ir.ops.ElementwiseProgram.Step;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.PrecisionPolicy;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Fuses chains of floating-point elementwise ops into one FusedElementwise whose {@code program}
 * lists the steps ({@link ElementwiseProgram}): unary activations and math functions, and binary
 * ops whose other operand is a constant (single values become literals) or a tensor of the same
 * dtype that broadcasts into the running value without growing it. Each intermediate must have no
 * other use, and every absorbed op must be REDUCED_OK (so the fused op may be, too: Exp and Log,
 * kept in f32, are not absorbed). Chains of one op are left as they are.
 */
public final class FuseElementwise extends Pass {
    /** Ops that are unary functions of the program, their function name being the op name. */
    private static final Set<String> UNARY = Set.of("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
            "Swish", "Gelu", "Elu", "Softplus", "Softsign", "Mish", "Neg", "Abs", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil",
            "Round", "Sin", "Cos", "Exp", "Log");
    private static final Set<String> BINARY = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu");

    /** A chain being built: its nodes, its inputs ($0 the value it starts from) and its steps. */
    private static final class Chain {
        final List<Node> nodes = new ArrayList<>();
        final List<Value> inputs = new ArrayList<>();
        final List<Step> steps = new ArrayList<>();

        Chain(Value start) { inputs.add(start); }

        Operand operand(Value v) {
            int k = inputs.indexOf(v);
            if (k < 0) {
                k = inputs.size();
                inputs.add(v);
            }
            return new Input(k);
        }
    }

    @Override
    protected Graph run(Graph g, PassContext ctx) {
        Uses uses = Uses.of(g);
        Set<Node> claimed = new HashSet<>();
        Map<Node, Chain> byLastNode = new HashMap<>();
        for (Node n : g.nodes()) {
            if (claimed.contains(n) || !fusable(n)) continue;
            Chain c = grow(n, uses, claimed, ctx);
            if (c == null || c.nodes.size() < 2) continue;
            claimed.addAll(c.nodes);
            byLastNode.put(c.nodes.get(c.nodes.size() - 1), c);
        }
        GraphRewrite rw = new GraphRewrite(g);
        for (Node n : g.nodes()) {
            Chain c = byLastNode.get(n);
            if (c != null) emit(rw, c);
            else if (!claimed.contains(n)) rw.copy(n);
        }
        return rw.finish();
    }

    /** The chain that starts at head and takes each sole consumer no other chain has, while it can; null when head cannot start one. */
    private static Chain grow(Node head, Uses uses, Set<Node> claimed, PassContext ctx) {
        Value start = startValue(head);
        if (start == null) return null;
        Chain c = new Chain(start);
        Value t = start;
        Node n = head;
        while (true) {
            Step s = step(n, t, c);
            if (s == null) {
                if (n != head) ctx.debug("fuse-elementwise: " + n.op() + " '" + n.name()
                        + "' left out of the chain before it: it would broadcast or retype the running value, or a bound is not constant");
                return c;
            }
            c.nodes.add(n);
            c.steps.add(s);
            t = n.output(0);
            Node next = uses.soleConsumer(t);
            if (next == null) {
                if (uses.consumers(t).size() > 1 && c.nodes.size() > 1) {
                    ctx.debug("fuse-elementwise: chain ends at '" + n.name() + "': its output has several uses");
                }
                return c;
            }
            // A node an earlier chain took stays there: taking it twice would emit it out of order.
            if (claimed.contains(next)) return c;
            if (!fusable(next)) {
                if (UNARY.contains(next.op()) || BINARY.contains(next.op())) {
                    ctx.debug("fuse-elementwise: " + next.op() + " '" + next.name() + "' left out of the chain before it: its precision policy is "
                            + OpRegistry.spec(next.op()).precisionPolicy() + ", not REDUCED_OK, or it has other than one floating-point output");
                }
                return c;
            }
            n = next;
        }
    }

    /** Whether the op may be absorbed at all: a known elementwise function, floating-point, REDUCED_OK. */
    private static boolean fusable(Node n) {
        boolean known = UNARY.contains(n.op()) || (BINARY.contains(n.op()) && n.inputs().size() == 2);
        return known && n.outputs().size() == 1 && n.output(0).type().dtype().isFloatingPoint()
                && OpRegistry.spec(n.op()).precisionPolicy() == PrecisionPolicy.REDUCED_OK;
    }

    /** The value a chain starting at head runs over: a non-constant input of the output's type (input 0 preferred). */
    private static Value startValue(Node head) {
        int candidates = UNARY.contains(head.op()) ? 1 : 2;
        for (int i = 0; i < candidates; i++) {
            Value v = head.input(i);
            if (v != null && !(v instanceof Constant) && v.type().equals(head.output(0).type())) return v;
        }
        return null;
    }

    /** The step computing node n from the running value t, or null when n cannot be one. */
    private static Step step(Node n, Value t, Chain c) {
        if (!n.output(0).type().equals(t.type())) return null;
        if (UNARY.contains(n.op())) return n.input(0) == t ? unary(n) : null;
        Value a = n.input(0);
        Value b = n.input(1);
        if (a != t && b != t) return null;
        Operand oa = a == t ? ElementwiseProgram.X : operand(a, t, c);
        Operand ob = b == t ? ElementwiseProgram.X : operand(b, t, c);
        return oa == null || ob == null ? null : Step.binary(n.op(), oa, ob);
    }

    /** A binary step's other operand: a literal for single-value constants, else an input of the fused node. */
    private static Operand operand(Value v, Value t, Chain c) {
        if (v.type().dtype() != t.type().dtype()) return null;
        Double scalar = FusionConstants.scalar(v);
        if (scalar != null) return new Literal(scalar);
        return c.operand(v);
    }

    /** The unary step of n with its attributes (or constant bounds) as parameters; null when they are not constant. */
    private static Step unary(Node n) {
        return switch (n.op()) {
            case "LeakyRelu", "Swish", "Elu" -> Step.unary(n.op(), floatAttr(n, "alpha"));
            case "HardSigmoid" -> Step.unary(n.op(), floatAttr(n, "alpha"), floatAttr(n, "beta"));
            case "Clip" -> {
                Double min = n.input(1) == null ? Double.valueOf(Double.NEGATIVE_INFINITY) : FusionConstants.scalar(n.input(1));
                Double max = n.input(2) == null ? Double.valueOf(Double.POSITIVE_INFINITY) : FusionConstants.scalar(n.input(2));
                yield min == null || max == null ? null : Step.unary("Clip", min, max);
            }
            case "Gelu" -> {
                String approximate = ((Attribute.Str) OpRegistry.spec("Gelu").attributeOrDefault(n.attributes(), "approximate")).value();
                yield Step.unary(approximate.equals("tanh") ? "GeluTanh" : "Gelu");
            }
            default -> Step.unary(n.op());
        };
    }

    private static double floatAttr(Node n, String name) {
        return ((Attribute.Float) OpRegistry.spec(n.op()).attributeOrDefault(n.attributes(), name)).value();
    }

    private static void emit(GraphRewrite rw, Chain c) {
        List<String> program = new ArrayList<>();
        for (Step s : c.steps) program.add(s.toString());
        Node last = c.nodes.get(c.nodes.size() - 1);
        Node head = c.nodes.get(0);
        Node fused = rw.add(head.name(), "FusedElementwise", rw.map(c.inputs), Map.of("program", new Attribute.Strs(program)),
                List.of(last.output(0).name()));
        rw.replace(last.output(0), fused.output(0));
    }
}
