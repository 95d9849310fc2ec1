package dev.kiln.runtime.interpreter;

import java.util.Map;

/** Kernels of the NN ops: convolutions, pooling, normalizations, matrix products and Einsum. */
final class NnKernels {
    private NnKernels() {}

    static void register(Map<String, Kernel> table) {
        table.put("Conv", ConvKernels::conv);
        table.put("ConvTranspose", ConvKernels::convTranspose);
        table.put("CausalConvWithState", ConvKernels::causalConvWithState);
        table.put("MaxPool", PoolKernels::maxPool);
        table.put("AveragePool", PoolKernels::averagePool);
        table.put("LpPool", PoolKernels::lpPool);
        table.put("GlobalAveragePool", PoolKernels::globalAveragePool);
        table.put("GlobalMaxPool", PoolKernels::globalMaxPool);
        table.put("GlobalLpPool", PoolKernels::globalLpPool);
        table.put("BatchNormalization", NnNormalization::batchNormalization);
        table.put("InstanceNormalization", NnNormalization::instanceNormalization);
        table.put("GroupNormalization", NnNormalization::groupNormalization);
        table.put("LayerNormalization", NnNormalization::layerNormalization);
        table.put("RMSNormalization", NnNormalization::rmsNormalization);
        table.put("LRN", NnNormalization::lrn);
        table.put("MatMul", GemmKernels::matMul);
        table.put("MatMulInteger", GemmKernels::matMulInteger);
        table.put("Gemm", GemmKernels::gemm);
        table.put("Einsum", EinsumKernel::einsum);
    }
}
