package dev.kiln.ir.ops;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;
import java.util.function.Supplier;

/**
 * The layout rule of every op (ops not named here are {@link LayoutRule#PLAIN}), the filter input
 * of the layout-sensitive convolutions, and type inference over values in non-plain layouts.
 * LayoutTransform is PLAIN too: the layout pass hands a node it does not move its inputs in the
 * layouts the graph gave them, which for LayoutTransform are those its src_layout names.
 */
final class LayoutRules {
    private static final Map<String, LayoutRule> TABLE = new HashMap<>();
    private static final Map<String, Integer> WEIGHT_INPUT = new HashMap<>();
    /** For each RESAMPLE op: whether a node's inputs and attributes resample nothing but the image dims. */
    private static final Map<String, BiPredicate<List<Value>, Map<String, Attribute>>> IMAGE_ONLY = new HashMap<>();

    static {
        put(LayoutRule.SENSITIVE, "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool",
                "GlobalMaxPool", "GlobalLpPool", "BatchNormalization", "InstanceNormalization", "LRN", "QLinearConv", "ConvInteger");
        put(LayoutRule.AGNOSTIC, "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Gelu", "Mish", "Elu",
                "Selu", "Celu", "Softsign", "Softplus", "ThresholdedRelu", "Swish", "Clip", "Neg", "Abs", "Exp", "Log", "Sqrt",
                "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Erf", "Sin", "Cos", "Tan", "Identity", "Dropout", "Cast",
                "IsNaN", "IsInf", "Not", "Shrink");
        put(LayoutRule.BROADCAST, "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Where", "Equal",
                "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor");
        put(LayoutRule.AXIS, "Concat");
        put(LayoutRule.RESAMPLE, "Resize");
        IMAGE_ONLY.put("Resize", ShapeOps::resizesImageOnly);
        WEIGHT_INPUT.putAll(Map.of("Conv", 1, "ConvTranspose", 1, "QLinearConv", 3, "ConvInteger", 1));
    }

    // Fused ops (FusionOps): a fused convolution is as layout-sensitive as the convolution, its residual Z in the
    // output's layout; fused products need plain data; FusedElementwise broadcasts like the ops it absorbed;
    // SqueezeExcite pools and scales its input in any layout, its weights plain.
    static {
        put(LayoutRule.SENSITIVE, "FusedConv", "FusedConvTranspose", "SqueezeExcite");
        put(LayoutRule.PLAIN, "FusedGemm", "FusedMatMul");
        put(LayoutRule.BROADCAST, "FusedElementwise");
        WEIGHT_INPUT.putAll(Map.of("FusedConv", 1, "FusedConvTranspose", 1));
    }

    private LayoutRules() {}

    private static void put(LayoutRule r, String... ops) {
        for (String op : ops) {
            if (TABLE.put(op, r) != null) throw new IllegalStateException(op + " has two layout rules");
        }
    }

    static LayoutRule of(String op) { return TABLE.getOrDefault(op, LayoutRule.PLAIN); }

    static int weightInput(String op) { return WEIGHT_INPUT.getOrDefault(op, -1); }

    static boolean resamplesImageOnly(String op, List<Value> inputs, Map<String, Attribute> attrs) {
        BiPredicate<List<Value>, Map<String, Attribute>> p = IMAGE_ONLY.get(op);
        return p != null && p.test(inputs, attrs);
    }

    /**
     * Output types by the op's own inference, with layouts: a SENSITIVE or RESAMPLE op is inferred on the
     * logical (plain) types of its inputs and its output 0 re-expressed in input 0's layout; AGNOSTIC and
     * BROADCAST outputs the inference left unlabelled take the layout of their inputs.
     */
    static List<TensorType> infer(OpSpec spec, TypeInference inference, String nodeName, List<Value> inputs,
                                  Map<String, Attribute> attrs, int outputCount) {
        LayoutRule rule = of(spec.name());
        if ((rule == LayoutRule.SENSITIVE || rule == LayoutRule.RESAMPLE) && !inLayout(spec, nodeName, () -> allPlain(inputs))) {
            List<Value> logical = inLayout(spec, nodeName, () -> logicalInputs(inputs));
            List<TensorType> types = new ArrayList<>(inference.infer(new InferenceContext(spec, nodeName, logical, attrs, outputCount)));
            Layout activation = inputs.get(0).type().layout();
            if (!Layouts.isPlain(activation) && !types.isEmpty()) {
                TensorType y = types.get(0);
                types.set(0, new TensorType(y.dtype(), inLayout(spec, nodeName, () -> Layouts.physicalShape(y.shape(), activation)), activation));
            }
            return types;
        }
        List<TensorType> types = inference.infer(new InferenceContext(spec, nodeName, inputs, attrs, outputCount));
        return rule == LayoutRule.AGNOSTIC || rule == LayoutRule.BROADCAST ? withInputLayout(rule, inputs, types) : types;
    }

    /** Runs a layout computation, reporting a layout that does not fit as a problem of the node. */
    private static <T> T inLayout(OpSpec spec, String nodeName, Supplier<T> f) {
        try {
            return f.get();
        } catch (IllegalArgumentException e) {
            throw new IrException(spec.name() + " node '" + nodeName + "': " + e.getMessage());
        }
    }

    private static boolean allPlain(List<Value> inputs) {
        for (Value v : inputs) if (v != null && !Layouts.isPlain(v.type().layout())) return false;
        return true;
    }

    /** Stand-ins of the non-plain inputs with their logical types; plain inputs (constants among them) as they are. */
    private static List<Value> logicalInputs(List<Value> inputs) {
        Graph scratch = new Graph("logical");
        Map<Value, Value> standIns = new HashMap<>();
        List<Value> out = new ArrayList<>(inputs.size());
        for (Value v : inputs) {
            if (v == null || Layouts.isPlain(v.type().layout())) {
                out.add(v);
                continue;
            }
            out.add(standIns.computeIfAbsent(v, k -> {
                TensorType t = k.type();
                return scratch.addInput(k.name(), new TensorType(t.dtype(), Layouts.logicalShape(t.shape(), t.layout()), Layout.ANY));
            }));
        }
        return out;
    }

    private static List<TensorType> withInputLayout(LayoutRule rule, List<Value> inputs, List<TensorType> types) {
        List<TensorType> out = new ArrayList<>(types.size());
        for (TensorType t : types) out.add(t.layout().isAny() ? t.withLayout(inputLayout(rule, inputs, t.rank())) : t);
        return out;
    }

    /** The layout the inputs of the output's rank agree on (AGNOSTIC: input 0's), else ANY. */
    private static Layout inputLayout(LayoutRule rule, List<Value> inputs, int rank) {
        Layout found = Layout.ANY;
        for (int i = 0; i < (rule == LayoutRule.AGNOSTIC ? Math.min(1, inputs.size()) : inputs.size()); i++) {
            Value v = inputs.get(i);
            if (v == null || v.type().rank() != rank || v.type().layout().isAny()) continue;
            if (found.isAny()) found = v.type().layout();
            else if (!found.equals(v.type().layout())) return Layout.ANY;
        }
        return found;
    }
}
