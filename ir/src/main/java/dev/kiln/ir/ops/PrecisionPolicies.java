package dev.kiln.ir.ops;

import java.util.HashMap;
import java.util.Map;

/** The precision policy of every op; ops not named here are {@link PrecisionPolicy#FIXED}. */
final class PrecisionPolicies {
    private static final Map<String, PrecisionPolicy> TABLE = new HashMap<>();

    static {
        put(PrecisionPolicy.REDUCED_OK, "Conv", "ConvTranspose", "MatMul", "Gemm", "Einsum", "Add", "Sub", "Mul", "Div",
                "Neg", "Abs", "Relu", "LeakyRelu", "PRelu", "Clip", "Max", "Min", "Sum", "Mean", "Sigmoid", "Tanh", "HardSigmoid",
                "HardSwish", "Gelu", "Mish", "Elu", "Selu", "Celu", "Softsign", "ThresholdedRelu", "Swish", "Sign", "Floor",
                "Ceil", "Round", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize", "Where", "Pad",
                "Sqrt", "Reciprocal", "Sin", "Cos", "Tan", "Erf", "Shrink", "Softplus", "Pow", "Dropout", "SwiGLU");
        put(PrecisionPolicy.KEEP_FP32, "Softmax", "LogSoftmax", "LayerNormalization", "BatchNormalization",
                "InstanceNormalization", "GroupNormalization", "RMSNormalization", "LpNormalization", "LRN", "Exp", "Log",
                "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
                "ReduceLogSumExp", "ReduceSumSquare", "CumSum", "CumProd", "LpPool", "Attention", "Hardmax", "TopK",
                "LSTM", "GRU", "RNN", "RotaryEmbedding", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh");
        put(PrecisionPolicy.FOLLOWS_INPUT, "Identity", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze",
                "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Expand",
                "Tile", "DepthToSpace", "SpaceToDepth", "Trilu", "Compress", "ReverseSequence", "CenterCropPad",
                "TensorScatter");
    }

    private PrecisionPolicies() {}

    private static void put(PrecisionPolicy p, String... ops) {
        for (String op : ops) {
            if (TABLE.put(op, p) != null) throw new IllegalStateException(op + " has two precision policies");
        }
    }

    static PrecisionPolicy of(String op) { return TABLE.getOrDefault(op, PrecisionPolicy.FIXED); }

}
