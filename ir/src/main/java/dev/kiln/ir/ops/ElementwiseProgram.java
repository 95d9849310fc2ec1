package dev.kiln.ir.ops;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The step language of the fused ops. A FusedElementwise node's {@code program} is a list of steps
 * applied in order to a running value {@code x} that starts as input 0; each step is a function of
 * operands that are {@code x}, an input {@code $k} or a number literal, e.g.
 * {@code ["Mul(x, $1)", "Add(x, 0.5)", "Clip(x, 0.0, 6.0)"]}. Unary functions take their parameters as
 * trailing literals ({@code LeakyRelu(x, 0.1)}); their names are also the activations FusedConv,
 * FusedConvTranspose, FusedGemm and FusedMatMul accept, with the parameters in {@code activation_params}.
 * Every function has the semantics of the ONNX op of its name; {@code GeluTanh} is Gelu with
 * approximate = "tanh", {@code Swish(x, a)} is x * sigmoid(a x) (SiLU for a = 1).
 */
public final class ElementwiseProgram {
    /** The activation of a fused op that applies none. */
    public static final String NO_ACTIVATION = "None";

    /** Unary functions and the number of parameters each takes. */
    private static final Map<String, Integer> UNARY = Map.ofEntries(
            Map.entry("Relu", 0), Map.entry("LeakyRelu", 1), Map.entry("Clip", 2), Map.entry("Sigmoid", 0),
            Map.entry("Tanh", 0), Map.entry("HardSigmoid", 2), Map.entry("HardSwish", 0), Map.entry("Swish", 1),
            Map.entry("Gelu", 0), Map.entry("GeluTanh", 0), Map.entry("Elu", 1), Map.entry("Softplus", 0),
            Map.entry("Softsign", 0), Map.entry("Mish", 0), Map.entry("Neg", 0), Map.entry("Abs", 0),
            Map.entry("Sqrt", 0), Map.entry("Reciprocal", 0), Map.entry("Erf", 0), Map.entry("Floor", 0),
            Map.entry("Ceil", 0), Map.entry("Round", 0), Map.entry("Sin", 0), Map.entry("Cos", 0),
            Map.entry("Exp", 0), Map.entry("Log", 0));
    private static final Set<String> BINARY = Set.of("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "PRelu");
    private static final Pattern STEP = Pattern.compile("\\s*([A-Za-z]+)\\((.*)\\)\\s*");

    private ElementwiseProgram() {}

    /** What a step reads: the running value, a node input, or a number. */
    public sealed interface Operand permits Running, Input, Literal {}

    /** The running value x. */
    public record Running() implements Operand {
        @Override
        public String toString() { return "x"; }
    }

    /** Node input {@code $index}, broadcast to the output. */
    public record Input(int index) implements Operand {
        @Override
        public String toString() { return "$" + index; }
    }

    /** A number; read at the precision of the node's dtype (a float for f32, f16 and bf16). */
    public record Literal(double value) implements Operand {
        @Override
        public String toString() {
            float f = (float) value;
            return f == value ? Float.toString(f) : Double.toString(value);
        }
    }

    public static final Running X = new Running();

    /** One step: a function applied to its operands (for unary functions, the operand then literal parameters). */
    public record Step(String function, List<Operand> operands) {
        public Step {
            operands = List.copyOf(operands);
        }

        /** {@code function(x, params...)}. */
        public static Step unary(String function, double... params) {
            List<Operand> ops = new ArrayList<>(List.of(X));
            for (double p : params) ops.add(new Literal(p));
            return new Step(function, ops);
        }

        public static Step binary(String function, Operand a, Operand b) { return new Step(function, List.of(a, b)); }

        public boolean isUnary() { return UNARY.containsKey(function); }

        /** A unary step's parameters (its literals after the operand). */
        public double[] params() {
            double[] p = new double[operands.size() - 1];
            for (int i = 0; i < p.length; i++) p[i] = ((Literal) operands.get(i + 1)).value();
            return p;
        }

        @Override
        public String toString() {
            StringBuilder b = new StringBuilder(function).append('(');
            for (int i = 0; i < operands.size(); i++) b.append(i > 0 ? ", " : "").append(operands.get(i));
            return b.append(')').toString();
        }
    }

    /** Whether {@code function} is a unary function of this language (and so a valid fused activation). */
    public static boolean isUnary(String function) { return UNARY.containsKey(function); }

    public static boolean isBinary(String function) { return BINARY.contains(function); }

    /** How many parameters a unary function takes; fails for names that are not one. */
    public static int paramCount(String function) {
        Integer n = UNARY.get(function);
        if (n == null) throw new IllegalArgumentException("'" + function + "' is not a unary function");
        return n;
    }

    /** Parses and checks a program over a node with {@code inputCount} inputs; fails naming the bad step. */
    public static List<Step> parse(List<String> program, int inputCount) {
        if (program.isEmpty()) throw new IllegalArgumentException("the program has no steps");
        List<Step> steps = new ArrayList<>(program.size());
        for (String text : program) steps.add(parseStep(text, inputCount));
        return steps;
    }

    /** Checks an activation and its parameters as a fused op carries them; fails saying what is wrong. */
    public static void checkActivation(String activation, float[] params) {
        int expected = activation.equals(NO_ACTIVATION) ? 0 : UNARY.getOrDefault(activation, -1);
        if (expected < 0) throw new IllegalArgumentException("unknown activation '" + activation + "'; expected None or one of " + UNARY.keySet());
        if (params.length != expected) {
            throw new IllegalArgumentException("activation " + activation + " takes " + expected + " parameters, got " + params.length);
        }
    }

    private static Step parseStep(String text, int inputCount) {
        Matcher m = STEP.matcher(text);
        if (!m.matches()) throw new IllegalArgumentException("step '" + text + "' is not of the form Function(operands)");
        String function = m.group(1);
        List<Operand> operands = new ArrayList<>();
        for (String arg : m.group(2).split(",")) operands.add(operand(arg.trim(), text, inputCount));
        if (BINARY.contains(function)) {
            if (operands.size() != 2) throw new IllegalArgumentException("step '" + text + "': " + function + " takes 2 operands");
        } else if (UNARY.containsKey(function)) {
            int params = UNARY.get(function);
            if (operands.size() != 1 + params) {
                throw new IllegalArgumentException("step '" + text + "': " + function + " takes an operand and " + params + " parameters");
            }
            for (int i = 1; i < operands.size(); i++) {
                if (!(operands.get(i) instanceof Literal)) throw new IllegalArgumentException("step '" + text + "': parameters must be numbers");
            }
        } else {
            throw new IllegalArgumentException("step '" + text + "': unknown function '" + function + "'");
        }
        return new Step(function, operands);
    }

    private static Operand operand(String arg, String step, int inputCount) {
        if (arg.equals("x")) return X;
        if (arg.startsWith("$")) {
            int k;
            try {
                k = Integer.parseInt(arg.substring(1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("step '" + step + "': bad input reference '" + arg + "'");
            }
            if (k < 0 || k >= inputCount) throw new IllegalArgumentException("step '" + step + "' reads $" + k + " but the node has " + inputCount + " inputs");
            return new Input(k);
        }
        try {
            return new Literal(Double.parseDouble(arg));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("step '" + step + "': '" + arg + "' is not x, $k or a number");
        }
    }
}
