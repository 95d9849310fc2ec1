package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Node;
import dev.kiln.ir.ops.ElementwiseProgram;

import java.util.List;

/** The epilogue of a fused kernel (activations.h's kiln_epilogue): y = act(alpha * acc + beta * bias + residual). */
final class Epilogue {
    private Epilogue() {}

    /** Activation names in the order of the C enum KILN_ACT_*. */
    static final List<String> ACTIVATIONS = List.of(ElementwiseProgram.NO_ACTIVATION, "Relu", "LeakyRelu", "Clip",
            "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Swish", "Gelu", "GeluTanh", "Elu", "Softplus", "Softsign", "Mish");

    /** Null when the node's fused activation (attribute activation) has an epilogue, else what it lacks in brackets. */
    static String problem(Node n) {
        if (n.attribute("activation") instanceof Attribute.Str a && !ACTIVATIONS.contains(a.value())) return " (activation " + a.value() + ")";
        return null;
    }

    /** Declares {@code kiln_epilogue e} with the node's activation (attributes activation/activation_params). */
    static void declare(Emission e, Node n, double alpha, double beta, String bias, long biasRs, long biasCs, String residual, long residualLd) {
        float[] params = params(n);
        e.line("kiln_epilogue e = {" + CTypes.floatLiteral(alpha) + ", " + CTypes.floatLiteral(beta) + ", " + (bias == null ? "0" : bias) + ", "
                + biasRs + "L, " + biasCs + "L, " + (residual == null ? "0" : residual) + ", " + residualLd + "L, " + code(n) + ", "
                + CTypes.floatLiteral(params[0]) + ", " + CTypes.floatLiteral(params[1]) + "};");
    }

    /** The KILN_ACT_* code of the node's activation (0 for none). */
    static int code(Node n) { return code(n, "activation"); }

    /** The KILN_ACT_* code of the activation the node names in attribute {@code attr} (0 for none). */
    static int code(Node n, String attr) {
        String act = Nodes.attr(n, attr) instanceof Attribute.Str s ? s.value() : ElementwiseProgram.NO_ACTIVATION;
        int code = ACTIVATIONS.indexOf(act);
        if (code < 0) throw new IllegalArgumentException("node " + n.name() + ": backend c has no epilogue for activation " + act);
        return code;
    }

    /** The activation's two parameters (0 where it has fewer). */
    private static float[] params(Node n) { return params(n, "activation_params"); }

    /** The two parameters (0 where there are fewer) in attribute {@code attr}. */
    static float[] params(Node n, String attr) {
        float[] params = n.attribute(attr) instanceof Attribute.Floats f ? f.values() : new float[0];
        return new float[] {params.length > 0 ? params[0] : 0, params.length > 1 ? params[1] : 0};
    }

    /** A C call of matmul_any.h's kiln_activate_f64 on {@code x} with the node's activation. */
    static String activateF64(Node n, String x) { return activateF64(n, "activation", "activation_params", x); }

    /** A C call of matmul_any.h's kiln_activate_f64 on {@code x} with the activation the node names in attribute {@code attr}. */
    static String activateF64(Node n, String attr, String paramsAttr, String x) {
        float[] params = params(n, paramsAttr);
        return "kiln_activate_f64(" + x + ", " + code(n, attr) + ", " + CTypes.doubleLiteral(params[0]) + ", " + CTypes.doubleLiteral(params[1]) + ")";
    }

    /**
     * The epilogue in double over output planes of f64 elements computed in place at y: y = act(y + bias[channel] +
     * residual), channel = plane % channels; bias and residual (y's shape) are double pointers or null.
     */
    static void planesF64(Emission e, Node n, String y, long planes, long channels, long size, String bias, String residual) {
        if (bias == null && residual == null && code(n) == 0) return;
        e.open("for (long p = 0; p < " + planes + "L; p++) {");
        e.line("double* v = " + y + " + p * " + size + "L;");
        e.line("double b = " + (bias == null ? "0.0" : bias + "[p % " + channels + "L]") + ";");
        String sum = "v[i] + b" + (residual == null ? "" : " + " + residual + "[p * " + size + "L + i]");
        e.line("for (long i = 0; i < " + size + "L; i++) v[i] = " + activateF64(n, sum) + ";");
        e.close("}");
    }

    /** A float* expression of optional input i, or null when absent. */
    static String optional(Emission e, Node n, int i) {
        return i < n.inputs().size() && n.input(i) != null ? e.ptr(n.input(i)) : null;
    }
}
