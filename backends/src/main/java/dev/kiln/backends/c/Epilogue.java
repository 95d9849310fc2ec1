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
        String act = n.attribute("activation") instanceof Attribute.Str s ? s.value() : ElementwiseProgram.NO_ACTIVATION;
        float[] params = n.attribute("activation_params") instanceof Attribute.Floats f ? f.values() : new float[0];
        int code = ACTIVATIONS.indexOf(act);
        if (code < 0) throw new IllegalArgumentException("node " + n.name() + ": backend c has no epilogue for activation " + act);
        e.line("kiln_epilogue e = {" + CTypes.floatLiteral(alpha) + ", " + CTypes.floatLiteral(beta) + ", " + (bias == null ? "0" : bias) + ", "
                + biasRs + "L, " + biasCs + "L, " + (residual == null ? "0" : residual) + ", " + residualLd + "L, " + code + ", "
                + CTypes.floatLiteral(params.length > 0 ? params[0] : 0) + ", " + CTypes.floatLiteral(params.length > 1 ? params[1] : 0) + "};");
    }

    /** A float* expression of optional input i, or null when absent. */
    static String optional(Emission e, Node n, int i) {
        return i < n.inputs().size() && n.input(i) != null ? e.ptr(n.input(i)) : null;
    }
}
