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
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;

import static dev.kiln.backends.c.ElementwiseOp.map;

/**
 * The ops of {@link ElementwiseEmitter}, each with its C: floating-point functions ({@link ElementwiseReal}) with
 * their float attributes as parameters, integer arithmetic ({@link ElementwiseIntegers}), comparisons and logic,
 * conversions ({@link ElementwiseCasts}), and the ops that only move bits (Where, BitCast, Dropout).
 */
final class ElementwiseTable {
    private ElementwiseTable() {}

    static final Map<String, ElementwiseOp> OPS = table();

    private static Map<String, ElementwiseOp> table() {
        Map<String, ElementwiseOp> t = new HashMap<>();
        for (String op : List.of("Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil", "Round", "Erf", "Sin", "Cos", "Tan", "Tanh",
                "Acos", "Asin", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Sigmoid", "Softplus", "Softsign", "HardSwish", "Mish")) {
            t.put(op, real(op));
        }
        for (String op : List.of("LeakyRelu", "Elu", "Celu", "ThresholdedRelu", "Swish")) t.put(op, real(op, "alpha"));
        t.put("Selu", real("Selu", "alpha", "gamma"));
        t.put("HardSigmoid", real("HardSigmoid", "alpha", "beta"));
        t.put("Gelu", ElementwiseOp.of((n, e, a) -> real(n).apply(Nodes.stringAttr(n, "approximate", "none").equals("tanh") ? "GeluTanh" : "Gelu", a)));
        t.put("Shrink", ElementwiseOp.of((n, e, a) -> {
            if (dtype(n).isFloatingPoint()) return real(n).apply("Shrink", withParams(n, real(n), a, "lambd", "bias"));
            // integers compute in double like the interpreter, stored by the float-to-integer rules
            ElementwiseReal d = ElementwiseReal.DOUBLE;
            return ElementwiseCasts.fromDouble(dtype(n), d.apply("Shrink", withParams(n, d, List.of("(double) " + a.get(0)), "lambd", "bias")));
        }));

        t.put("Abs", numeric("Abs", (d, a) -> ElementwiseIntegers.abs(d, a.get(0))));
        t.put("Neg", numeric("Neg", (d, a) -> ElementwiseIntegers.neg(d, a.get(0))));
        t.put("Sign", numeric("Sign", (d, a) -> ElementwiseIntegers.sign(d, a.get(0))));
        t.put("Relu", numeric("Relu", (d, a) -> ElementwiseIntegers.relu(a.get(0))));
        t.put("Add", numeric("Add", (d, a) -> ElementwiseIntegers.arithmetic(d, "+", a.get(0), a.get(1))));
        t.put("Sub", numeric("Sub", (d, a) -> ElementwiseIntegers.arithmetic(d, "-", a.get(0), a.get(1))));
        t.put("Mul", numeric("Mul", (d, a) -> ElementwiseIntegers.arithmetic(d, "*", a.get(0), a.get(1))));
        t.put("Div", ElementwiseOp.of((n, e, a) -> {
            if (dtype(n).isFloatingPoint()) return real(n).apply("Div", a);
            failOnZero(n, e, a.get(1));
            return ElementwiseIntegers.div(dtype(n), a.get(0), a.get(1));
        }));
        t.put("Mod", ElementwiseOp.of((n, e, a) -> {
            if (dtype(n).isFloatingPoint()) return real(n).apply("Mod", a); // the op spec allows floats only with fmod = 1
            failOnZero(n, e, a.get(1));
            return ElementwiseIntegers.mod(dtype(n), Nodes.intAttr(n, "fmod", 0) == 1, a.get(0), a.get(1));
        }));
        t.put("Pow", ElementwiseOp.of(ElementwiseTable::pow));
        t.put("PRelu", keepingInputShape(numeric("PRelu", (d, a) -> ElementwiseIntegers.prelu(d, a.get(0), a.get(1)))));
        t.put("Max", fold("Max", (d, a) -> ElementwiseIntegers.max(a.get(0), a.get(1)), false));
        t.put("Min", fold("Min", (d, a) -> ElementwiseIntegers.min(a.get(0), a.get(1)), false));
        t.put("Sum", fold("Add", null, false));
        t.put("Mean", fold("Add", null, true));

        t.put("BitShift", ElementwiseOp.of((n, e, a) -> ElementwiseIntegers.shift(dtype(n), Nodes.stringAttr(n, "direction", "").equals("LEFT"), a.get(0), a.get(1))));
        for (String[] op : new String[][] {{"BitwiseAnd", "&"}, {"BitwiseOr", "|"}, {"BitwiseXor", "^"}, {"And", "&"}, {"Or", "|"}, {"Xor", "^"}}) {
            t.put(op[0], ElementwiseOp.of((n, e, a) -> ElementwiseIntegers.bitwise(dtype(n), op[1], a.get(0), a.get(1))));
        }
        t.put("BitwiseNot", ElementwiseOp.of((n, e, a) -> ElementwiseIntegers.bitwiseNot(dtype(n), a.get(0))));
        t.put("Not", ElementwiseOp.of((n, e, a) -> "(" + a.get(0) + " ^ 1)")); // raw bytes as the interpreter reads them; the store tests != 0

        // comparisons of the loaded values (f16 and bf16 as float), giving bool
        for (String[] op : new String[][] {{"Equal", "=="}, {"Less", "<"}, {"LessOrEqual", "<="}, {"Greater", ">"}, {"GreaterOrEqual", ">="}}) {
            t.put(op[0], ElementwiseOp.of((n, e, a) -> "(" + a.get(0) + " " + op[1] + " " + a.get(1) + ")"));
        }
        t.put("IsNaN", ElementwiseOp.of((n, e, a) -> "isnan(" + a.get(0) + ")"));
        t.put("IsInf", ElementwiseOp.of(ElementwiseTable::isInf));
        // Where copies whole elements in their storage type: every dtype passes bit for bit
        t.put("Where", (n, e) -> map(n, e, 3, true, (m, f, a) -> "(" + a.get(0) + " ? " + a.get(1) + " : " + a.get(2) + ")"));
        t.put("FusedElementwise", new Program());
        t.put("Clip", new Clip());
        t.put("Cast", new Cast());
        t.put("CastLike", new Cast());
        t.put("BitCast", new ElementwiseOp() {
            @Override
            public int broadcastInputs(Node n) { return 1; }

            @Override
            public void emit(Node n, Emission e) { copy(e, n.input(0), n.output(0)); }
        });
        t.put("Dropout", new Dropout());
        return Map.copyOf(t);
    }

    private static DType dtype(Node n) { return n.input(0).type().dtype(); }

    private static ElementwiseReal real(Node n) { return ElementwiseReal.of(dtype(n)); }

    /** A floating-point function whose parameters are the node's float attributes of these names (their defaults where absent). */
    private static ElementwiseOp real(String function, String... attributes) {
        return ElementwiseOp.of((n, e, a) -> real(n).apply(function, withParams(n, real(n), a, attributes)));
    }

    /** The operands followed by the float attributes as literals of r. */
    private static List<String> withParams(Node n, ElementwiseReal r, List<String> operands, String... attributes) {
        List<String> args = new ArrayList<>(operands);
        for (String a : attributes) args.add(r.lit(Nodes.floatAttr(n, a, Double.NaN)));
        return args;
    }

    /** A function of the numeric dtypes: the floating-point one of that name, else {@code integer} of the dtype. */
    private static ElementwiseOp numeric(String function, BiFunction<DType, List<String>, String> integer) {
        return ElementwiseOp.of((n, e, a) -> dtype(n).isFloatingPoint() ? real(n).apply(function, a) : integer.apply(dtype(n), a));
    }

    private static ElementwiseOp keepingInputShape(ElementwiseOp op) {
        return new ElementwiseOp() {
            @Override
            public boolean keepsInputShape() { return true; }

            @Override
            public void emit(Node n, Emission e) { op.emit(n, e); }
        };
    }

    /** A variadic op: its inputs combined left to right (Mean then divides by their count). */
    private static ElementwiseOp fold(String function, BiFunction<DType, List<String>, String> integer, boolean mean) {
        return ElementwiseOp.of((n, e, a) -> {
            DType t = dtype(n);
            e.line(CTypes.compute(t) + " acc = " + a.get(0) + ";");
            for (int k = 1; k < a.size(); k++) {
                List<String> pair = List.of("acc", a.get(k));
                e.line("acc = " + (t.isFloatingPoint() ? real(n).apply(function, pair) : integer.apply(t, pair)) + ";");
            }
            return mean ? "acc / " + real(n).lit(a.size()) : "acc";
        });
    }

    private static void failOnZero(Node n, Emission e, String divisor) {
        e.failWhen(divisor + " == 0", n.op() + " node " + n.name() + ": integer division by zero");
    }

    /**
     * Pow with the base's dtype: in float where both are f32, f16 or bf16; through double where either is
     * floating point otherwise; for integers by squaring, wrapped (a negative exponent truncates 1 / base^|e|).
     */
    private static String pow(Node n, Emission e, List<String> a) {
        DType base = dtype(n);
        DType exponent = n.input(1).type().dtype();
        if (base.isFloatingPoint() && exponent.isFloatingPoint() && base != DType.F64 && exponent != DType.F64) {
            return ElementwiseReal.FLOAT.apply("Pow", a);
        }
        if (base.isFloatingPoint() || exponent.isFloatingPoint()) {
            return ElementwiseCasts.fromDouble(base, "pow((double) " + a.get(0) + ", (double) " + a.get(1) + ")");
        }
        if (exponent.isSignedInteger()) {
            e.failWhen(a.get(0) + " == 0 && " + a.get(1) + " < 0", "Pow node " + n.name() + ": integer 0 raised to a negative power");
        }
        return ElementwiseIntegers.pow(base, exponent, a.get(0), a.get(1));
    }

    private static String isInf(Node n, Emission e, List<String> a) {
        List<String> tests = new ArrayList<>();
        if (Nodes.intAttr(n, "detect_positive", 1) != 0) tests.add(a.get(0) + " == INFINITY");
        if (Nodes.intAttr(n, "detect_negative", 1) != 0) tests.add(a.get(0) + " == -INFINITY");
        return tests.isEmpty() ? "0" : "(" + String.join(" || ", tests) + ")";
    }

    /** A FusedElementwise program: its steps applied in turn to a running value x that starts as input 0. */
    private static final class Program implements ElementwiseOp {
        @Override
        public String problem(Node n) {
            for (Step s : steps(n)) if (!ElementwiseReal.has(s.function())) return " (step " + s + ")";
            return null;
        }

        @Override
        public void emit(Node n, Emission e) {
            ElementwiseReal r = real(n);
            map(n, e, n.inputs().size(), false, (m, f, a) -> {
                f.line(r.type() + " x = " + a.get(0) + ";");
                for (Step s : steps(n)) {
                    List<String> args = new ArrayList<>();
                    for (Operand o : s.operands()) {
                        if (o instanceof Input in) args.add(a.get(in.index()));
                        else if (o instanceof Literal l) args.add(r.lit(l.value()));
                        else args.add("x");
                    }
                    f.line("x = " + r.apply(s.function(), args) + ";");
                }
                return "x";
            });
        }

        private static List<Step> steps(Node n) {
            return ElementwiseProgram.parse(((Attribute.Strs) n.attribute("program")).values(), n.inputs().size());
        }
    }

    /** Copies a value's bytes to another of the same size (nothing where the memory plan put both in one place). */
    private static void copy(Emission e, Value from, Value to) {
        if (e.address(from).equals(e.address(to))) return;
        e.line("memcpy(" + e.address(to) + ", " + e.address(from) + ", (size_t) " + e.count(from) + " * " + from.type().dtype().byteSize() + ");");
    }

    /** Clip to optional scalar bounds of the input's dtype, constants or run-time values, each read once. */
    private static final class Clip implements ElementwiseOp {
        @Override
        public int broadcastInputs(Node n) { return 1; }

        @Override
        public void emit(Node n, Emission e) {
            String lo = bound(n, e, 1, "lo");
            String hi = bound(n, e, 2, "hi");
            DType t = dtype(n);
            map(n, e, 1, false, (m, f, a) -> {
                if (t.isFloatingPoint()) {
                    ElementwiseReal r = real(n);
                    return r.apply("Clip", List.of(a.get(0), lo != null ? lo : r.lit(Double.NEGATIVE_INFINITY), hi != null ? hi : r.lit(Double.POSITIVE_INFINITY)));
                }
                f.line(CTypes.storage(t) + " c = " + a.get(0) + ";");
                if (lo != null) f.line("c = c < lo ? lo : c;");
                if (hi != null) f.line("c = c > hi ? hi : c;");
                return "c";
            });
        }

        /** Declares the bound {@code name} from input i; null when the node has none. */
        private static String bound(Node n, Emission e, int input, String name) {
            if (input >= n.inputs().size() || n.input(input) == null) return null;
            e.line(CTypes.compute(dtype(n)) + " " + name + " = " + scalar(n, e, input) + ";");
            return name;
        }
    }

    /** Element 0 of a scalar input in its compute type; kiln_run fails when one of run-time shape is not one element. */
    private static String scalar(Node n, Emission e, int input) {
        Value v = n.input(input);
        if (!Emission.isStatic(v)) e.failWhen(e.count(v) + " != 1", n.op() + " node " + n.name() + ": input " + input + " is not one element");
        return ElementwiseOp.scalar(e, v);
    }

    /** Cast and CastLike (whose input 1 gives only the dtype). */
    private static final class Cast implements ElementwiseOp {
        @Override
        public int broadcastInputs(Node n) { return 1; }

        @Override
        public void emit(Node n, Emission e) {
            DType from = dtype(n);
            DType to = n.output(0).type().dtype();
            if (from == to) copy(e, n.input(0), n.output(0));
            else map(n, e, 1, false, (m, f, a) -> ElementwiseCasts.convert(from, to, a.get(0)));
        }
    }

    /**
     * Dropout as inference: the output is the input, the mask all true. Training mode with a ratio other than 0
     * draws random masks: refused when the node's constants say so, else kiln_run fails when its inputs do.
     */
    private static final class Dropout implements ElementwiseOp {
        @Override
        public int broadcastInputs(Node n) { return 1; }

        @Override
        public String problem(Node n) {
            if (!(input(n, 2) instanceof Constant training) || !constant(training).getBoolean(0)) return null;
            Value ratio = input(n, 1);
            if (ratio == null || ratio instanceof Constant c && constant(c).getDouble(0) != 0) return " (training mode with a ratio other than 0)";
            return null;
        }

        @Override
        public void emit(Node n, Emission e) {
            if (input(n, 2) != null) {
                String ratio = input(n, 1) == null ? "0.5" : scalar(n, e, 1);
                e.failWhen(scalar(n, e, 2) + " != 0 && " + ratio + " != 0",
                        "Dropout node " + n.name() + ": training mode with a ratio other than 0 draws random masks");
            }
            copy(e, n.input(0), n.output(0));
            if (n.outputs().size() > 1) e.line("memset(" + e.address(n.output(1)) + ", 1, (size_t) " + e.count(n.output(1)) + ");");
        }

        private static Value input(Node n, int i) { return i < n.inputs().size() ? n.input(i) : null; }

        private static Tensor constant(Constant c) { return Tensor.wrap(c.type().dtype(), c.type().shape().sizes(), c.data()); }
    }
}
