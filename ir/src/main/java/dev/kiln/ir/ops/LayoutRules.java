package dev.kiln.ir.ops;

import java.util.HashMap;
import java.util.Map;

/** The layout rule of every op; ops not named here are {@link LayoutRule#PLAIN}. */
final class LayoutRules {
    private static final Map<String, LayoutRule> TABLE = new HashMap<>();

    static {
        put(LayoutRule.SENSITIVE, "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
                "GlobalMaxPool", "BatchNormalization", "InstanceNormalization", "LRN", "QLinearConv", "ConvInteger");
        put(LayoutRule.AGNOSTIC, "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Mish", "Elu",
                "Selu", "Celu", "Softsign", "Softplus", "ThresholdedRelu", "Swish", "Clip", "Neg", "Abs", "Exp", "Log", "Sqrt",
                "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Identity", "Dropout", "Cast",
                "IsNaN", "IsInf", "Not", "Shrink");
        put(LayoutRule.BROADCAST, "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "Equal",
                "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor");
    }

    private LayoutRules() {}

    private static void put(LayoutRule r, String... ops) {
        for (String op : ops) {
            if (TABLE.put(op, r) != null) throw new IllegalStateException(op + " has two layout rules");
        }
    }

    static LayoutRule of(String op) { return TABLE.getOrDefault(op, LayoutRule.PLAIN); }
}
