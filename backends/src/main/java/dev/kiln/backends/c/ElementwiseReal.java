package dev.kiln.backends.c;

import dev.kiln.ir.DType;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The floating-point elementwise functions as C expressions, in float (f32, and f16 and bf16 computed in float)
 * or double (f64): the ops of these names and the steps of FusedElementwise programs, with the semantics of the
 * interpreter's kernels. Arguments are side-effect free expressions (variables and literals), so an argument may
 * be written more than once; parameters (LeakyRelu's alpha, Clip's bounds) follow the operand.
 */
enum ElementwiseReal {
    FLOAT("float", "f"), DOUBLE("double", "");

    private final String type;
    private final String suffix;

    ElementwiseReal(String type, String suffix) {
        this.type = type;
        this.suffix = suffix;
    }

    /** The precision a floating-point dtype computes in. */
    static ElementwiseReal of(DType t) { return t == DType.F64 ? DOUBLE : FLOAT; }

    /** The C type. */
    String type() { return type; }

    /** A literal of this precision. */
    String lit(double v) { return this == FLOAT ? CTypes.floatLiteral(v) : CTypes.doubleLiteral(v); }

    /** A call of the libm function of this precision (exp: expf or exp). */
    String libm(String name, String... args) { return name + suffix + "(" + String.join(", ", args) + ")"; }

    /** A call of one of elementwise.h's helpers (kiln_max_f or kiln_max_d). */
    String helper(String name, String... args) { return "kiln_" + name + (this == FLOAT ? "_f(" : "_d(") + String.join(", ", args) + ")"; }

    /** A function of operands: the operand, then parameters or the second operand. */
    @FunctionalInterface
    interface Function {
        String of(ElementwiseReal r, List<String> a);
    }

    private static final Map<String, Function> FUNCTIONS = table();

    /** Whether there is a function of this name (an op, or a step of a FusedElementwise program). */
    static boolean has(String name) { return FUNCTIONS.containsKey(name); }

    /** The expression of function {@code name} of {@code args}. */
    String apply(String name, List<String> args) {
        Function f = FUNCTIONS.get(name);
        if (f == null) throw new IllegalArgumentException("no floating-point elementwise function " + name);
        return f.of(this, args);
    }

    private static Map<String, Function> table() {
        Map<String, Function> t = new HashMap<>();
        for (String f : Set.of("Exp", "Log", "Sqrt", "Floor", "Ceil", "Sin", "Cos", "Tan", "Tanh", "Acos", "Asin", "Atan",
                "Sinh", "Cosh", "Asinh", "Acosh", "Atanh")) {
            String name = f.toLowerCase(java.util.Locale.ROOT);
            t.put(f, (r, a) -> r.libm(name, a.get(0)));
        }
        t.put("Round", (r, a) -> r.libm("nearbyint", a.get(0))); // halves to even, as Math.rint
        t.put("Reciprocal", (r, a) -> "(" + r.lit(1) + " / " + a.get(0) + ")");
        // kiln_erf (activations.h) vectorises and is within 1e-7 of erf: float's own precision
        t.put("Erf", (r, a) -> r == FLOAT ? "kiln_erf(" + a.get(0) + ")" : "erf(" + a.get(0) + ")");
        t.put("Abs", (r, a) -> r.libm("fabs", a.get(0)));
        t.put("Neg", (r, a) -> "(-" + a.get(0) + ")");
        t.put("Sign", (r, a) -> "(" + a.get(0) + " > 0 ? " + r.lit(1) + " : (" + a.get(0) + " < 0 ? " + r.lit(-1) + " : " + a.get(0) + "))");
        t.put("Relu", (r, a) -> "(" + a.get(0) + " < 0 ? " + r.lit(0) + " : " + a.get(0) + ")");
        t.put("Sigmoid", (r, a) -> sigmoid(r, a.get(0)));
        t.put("Softplus", (r, a) -> softplus(r, a.get(0)));
        t.put("Softsign", (r, a) -> "(" + a.get(0) + " / (" + r.lit(1) + " + " + r.libm("fabs", a.get(0)) + "))");
        t.put("HardSwish", (r, a) -> "(" + a.get(0) + " * " + r.helper("unit", a.get(0) + " / " + r.lit(6) + " + " + r.lit(0.5)) + ")");
        t.put("Mish", (r, a) -> "(" + a.get(0) + " * " + r.libm("tanh", softplus(r, a.get(0))) + ")");
        t.put("LeakyRelu", (r, a) -> "(" + a.get(0) + " < 0 ? " + a.get(1) + " * " + a.get(0) + " : " + a.get(0) + ")");
        t.put("Elu", (r, a) -> "(" + a.get(0) + " < 0 ? " + a.get(1) + " * " + r.libm("expm1", a.get(0)) + " : " + a.get(0) + ")");
        // max(0, x) + min(0, alpha (e^(x/alpha) - 1)): one of the two terms is 0 on each side of 0
        t.put("Celu", (r, a) -> "(" + a.get(0) + " > 0 ? " + a.get(0) + " : " + a.get(1) + " * " + r.libm("expm1", a.get(0) + " / " + a.get(1)) + ")");
        t.put("Selu", (r, a) -> "(" + a.get(0) + " > 0 ? " + a.get(2) + " * " + a.get(0) + " : " + a.get(2) + " * " + a.get(1) + " * "
                + r.libm("expm1", a.get(0)) + ")");
        t.put("ThresholdedRelu", (r, a) -> "(" + a.get(0) + " > " + a.get(1) + " ? " + a.get(0) + " : " + r.lit(0) + ")");
        t.put("HardSigmoid", (r, a) -> r.helper("unit", a.get(1) + " * " + a.get(0) + " + " + a.get(2)));
        t.put("Shrink", (r, a) -> "(" + a.get(0) + " < -" + a.get(1) + " ? " + a.get(0) + " + " + a.get(2) + " : (" + a.get(0) + " > " + a.get(1)
                + " ? " + a.get(0) + " - " + a.get(2) + " : " + r.lit(0) + "))");
        t.put("Swish", (r, a) -> "(" + a.get(0) + " * " + sigmoid(r, a.get(1) + " * " + a.get(0)) + ")");
        // float: activations.h's vectorised kiln_Gelu; double: erfc keeps the small values for negative x accurate
        t.put("Gelu", (r, a) -> r == FLOAT ? "kiln_Gelu(" + a.get(0) + ")"
                : "(0.5 * " + a.get(0) + " * erfc(-" + a.get(0) + " * " + r.lit(Math.sqrt(0.5)) + "))");
        t.put("GeluTanh", (r, a) -> "(" + r.lit(0.5) + " * " + a.get(0) + " * (" + r.lit(1) + " + " + r.libm("tanh", r.lit(Math.sqrt(2 / Math.PI))
                + " * (" + a.get(0) + " + " + r.lit(0.044715) + " * " + a.get(0) + " * " + a.get(0) + " * " + a.get(0) + ")") + "))");
        t.put("Clip", (r, a) -> r.helper("clip", a.get(0), a.get(1), a.get(2)));
        t.put("Add", (r, a) -> "(" + a.get(0) + " + " + a.get(1) + ")");
        t.put("Sub", (r, a) -> "(" + a.get(0) + " - " + a.get(1) + ")");
        t.put("Mul", (r, a) -> "(" + a.get(0) + " * " + a.get(1) + ")");
        t.put("Div", (r, a) -> "(" + a.get(0) + " / " + a.get(1) + ")");
        t.put("Pow", (r, a) -> r.libm("pow", a.get(0), a.get(1)));
        t.put("Mod", (r, a) -> r.libm("fmod", a.get(0), a.get(1)));
        t.put("Max", (r, a) -> r.helper("max", a.get(0), a.get(1)));
        t.put("Min", (r, a) -> r.helper("min", a.get(0), a.get(1)));
        t.put("PRelu", (r, a) -> "(" + a.get(0) + " < 0 ? " + a.get(0) + " * " + a.get(1) + " : " + a.get(0) + ")");
        return Map.copyOf(t);
    }

    private static String sigmoid(ElementwiseReal r, String x) {
        return "(" + r.lit(1) + " / (" + r.lit(1) + " + " + r.libm("exp", "-(" + x + ")") + "))";
    }

    /** log(1 + e^x) as max(x, 0) + log1p(e^-|x|), which neither overflows nor loses small values. */
    private static String softplus(ElementwiseReal r, String x) {
        return "((" + x + " > 0 ? " + x + " : " + r.lit(0) + ") + " + r.libm("log1p", r.libm("exp", "-" + r.libm("fabs", x))) + ")";
    }
}
