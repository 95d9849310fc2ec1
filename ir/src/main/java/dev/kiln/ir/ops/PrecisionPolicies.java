package dev.kiln.ir.ops;

import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * The precision policy of every op; ops not named here are {@link PrecisionPolicy#FIXED}. Also which inputs of a
 * REDUCED_OK or FOLLOWS_INPUT op keep their own dtype when the op computes in reduced precision.
 */
final class PrecisionPolicies {
    private static final Map<String, PrecisionPolicy> TABLE = new HashMap<>();
    private static final Map<String, Set<Integer>> OWN_TYPE_INPUTS = new HashMap<>();

    static {
        // BatchNormalization in inference is a per-channel affine map; its sensitive part (var + epsilon, the root)
        // lives in the statistics, which keep their f32 (ONNX types them apart from X).
        put(PrecisionPolicy.REDUCED_OK, "Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "Add", "Sub", "Mul", "Div",
                "Neg", "Abs", "Relu", "LeakyRelu", "PRelu", "Clip", "Max", "Min", "Sum", "Mean", "Sigmoid", "Tanh", "HardSigmoid",
                "HardSwish", "Gelu", "Mish", "Elu", "Selu", "Celu", "Softsign", "ThresholdedRelu", "Swish", "Sign", "Floor",
                "Ceil", "Round", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Where", "Pad",
                "Sqrt", "Reciprocal", "Sin", "Cos", "Tan", "Erf", "Shrink", "Softplus", "Pow", "Dropout", "SwiGLU",
                "BatchNormalization");
        put(PrecisionPolicy.KEEP_FP32, "Softmax", "LogSoftmax", "LayerNormalization",
                "InstanceNormalization", "GroupNormalization", "RMSNormalization", "LpNormalization", "LRN", "Exp", "Log",
                "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "CumProd", "LpPool", "Attention", "Hardmax", "TopK",
                "LSTM", "GRU", "RNN", "RotaryEmbedding", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh");
        // Data movement, selection, comparisons and shape queries: exact in any float type.
        put(PrecisionPolicy.FOLLOWS_INPUT, "Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Expand",
                "Tile", "DepthToSpace", "SpaceToDepth", "Trilu", "Compress", "ReverseSequence", "CenterCropPad",
                "TensorScatter", "Shape", "Size", "Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "IsNaN",
                "IsInf", "ArgMax", "ArgMin", "NonZero", "LayoutTransform");

        // Float inputs typed apart from the data (ONNX's T1/T2): Resize's roi and scales, Pow's exponent,
        // Dropout's ratio, BatchNormalization's scale, bias, mean and variance.
        OWN_TYPE_INPUTS.put("Resize", Set.of(1, 2));
        OWN_TYPE_INPUTS.put("Pow", Set.of(1));
        OWN_TYPE_INPUTS.put("Dropout", Set.of(1));
        OWN_TYPE_INPUTS.put("BatchNormalization", Set.of(1, 2, 3, 4));
    }

    // Fused ops (FusionOps): made only from REDUCED_OK ops (FuseElementwise absorbs no others; SqueezeExcite is
    // GlobalAveragePool, 1x1 convolutions, activations and a Mul).
    static {
        put(PrecisionPolicy.REDUCED_OK, "FusedConv", "FusedConvTranspose", "FusedGemm", "FusedMatMul", "FusedElementwise", "SqueezeExcite");
    }

    private PrecisionPolicies() {}

    private static void put(PrecisionPolicy p, String... ops) {
        for (String op : ops) {
            if (TABLE.put(op, p) != null) throw new IllegalStateException(op + " has two precision policies");
        }
    }

    static PrecisionPolicy of(String op) { return TABLE.getOrDefault(op, PrecisionPolicy.FIXED); }

    static boolean keepsOwnType(String op, int input) {
        Set<Integer> own = OWN_TYPE_INPUTS.get(op);
        return own != null && own.contains(input);
    }
}
