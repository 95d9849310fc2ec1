package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.ir.ops.ElementwiseProgram.Input;
import dev.kiln.ir.ops.ElementwiseProgram.Literal;
import dev.kiln.ir.ops.ElementwiseProgram.Operand;
import dev.kiln.ir.ops.ElementwiseProgram.Step;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static dev.kiln.backends.c.Nodes.count;

/**
 * Elementwise ops and FusedElementwise chains: one loop over the output, each input read at its broadcast
 * index, the steps applied in registers (activations.h's kiln_&lt;op&gt; functions).
 */
final class ElementwiseEmitter implements OpEmitter {
    private static final Set<String> BINARY = Set.of("Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Max", "Min");
    private static final Set<String> UNARY = Set.of("Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus", "Softsign",
            "Mish", "Neg", "Abs", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Sin", "Cos", "Exp", "Log",
            "LeakyRelu", "Elu", "HardSigmoid", "Clip", "Gelu");

    @Override
    public Set<String> ops() {
        Set<String> ops = new java.util.HashSet<>(BINARY);
        ops.addAll(UNARY);
        ops.add("FusedElementwise");
        return ops;
    }

    @Override
    public List<String> kernels() { return List.of(); }

    @Override
    public String problem(Node n) {
        String types = Nodes.staticF32(n, i -> n.op().equals("Clip") && i > 0, true);
        if (types != null) return types;
        if (n.op().equals("Clip")) {
            for (int i = 1; i <= 2 && i < n.inputs().size(); i++) {
                Value v = n.input(i);
                if (v != null && !(v instanceof Constant c && count(c) == 1 && c.type().dtype() == DType.F32)) return " (bounds that are not f32 constants)";
            }
        }
        return null;
    }

    @Override
    public void emit(Node n, Emission e) {
        List<Step> steps = program(n);
        Value y = n.output(0);
        LoopNest loops = LoopNest.open(e, y, n.inputs());
        List<String> reads = new ArrayList<>();
        for (int k = 0; k < n.inputs().size(); k++) reads.add(e.ptr(n.input(k)) + "[" + loops.at(k) + "]");
        e.line("float x = " + reads.get(0) + ";");
        for (Step s : steps) {
            StringBuilder call = new StringBuilder("kiln_").append(s.function()).append('(');
            for (int i = 0; i < s.operands().size(); i++) {
                Operand o = s.operands().get(i);
                call.append(i > 0 ? ", " : "");
                if (o instanceof Input in) call.append(reads.get(in.index()));
                else if (o instanceof Literal l) call.append(CTypes.floatLiteral(l.value()));
                else call.append('x');
            }
            e.line("x = " + call + ");");
        }
        e.line(e.ptr(y) + "[" + loops.out() + "] = x;");
        loops.close(e);
    }

    /** The step program of an elementwise node: a FusedElementwise's own, or the one step a plain op is. */
    private static List<Step> program(Node n) {
        String op = n.op();
        if (op.equals("FusedElementwise")) return ElementwiseProgram.parse(((Attribute.Strs) n.attribute("program")).values(), n.inputs().size());
        if (BINARY.contains(op)) {
            // Max and Min take one or more inputs: a chain of binary steps (one input is a copy).
            List<Step> steps = new ArrayList<>();
            for (int i = 1; i < n.inputs().size(); i++) steps.add(Step.binary(op, ElementwiseProgram.X, new Input(i)));
            return steps;
        }
        return switch (op) {
            case "LeakyRelu" -> List.of(Step.unary(op, Nodes.floatAttr(n, "alpha", 0.01)));
            case "Elu" -> List.of(Step.unary(op, Nodes.floatAttr(n, "alpha", 1.0)));
            case "HardSigmoid" -> List.of(Step.unary(op, Nodes.floatAttr(n, "alpha", 0.2), Nodes.floatAttr(n, "beta", 0.5)));
            case "Gelu" -> List.of(Step.unary(Nodes.stringAttr(n, "approximate", "none").equals("tanh") ? "GeluTanh" : "Gelu"));
            case "Clip" -> List.of(Step.unary(op, clipBound(n, 1, Double.NEGATIVE_INFINITY), clipBound(n, 2, Double.POSITIVE_INFINITY)));
            default -> List.of(Step.unary(op));
        };
    }

    private static double clipBound(Node n, int input, double fallback) {
        if (input >= n.inputs().size() || n.input(input) == null) return fallback;
        return ((Constant) n.input(input)).data().getFloat(0);
    }
}
