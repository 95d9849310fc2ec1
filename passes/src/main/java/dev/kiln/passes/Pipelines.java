package dev.kiln.passes;

import java.util.ArrayList;
import java.util.List;

/**
 * The pass lists per optimisation level: 0 imports only, 1 cleans up, 2 adds recognition, fusion,
 * layout conversion and memory planning, 3 adds the target's precision (FP16, BF16, INT8).
 * Each ordering constraint is stated where it arises.
 */
public final class Pipelines {
    public static final int MAX_LEVEL = 3;

    private Pipelines() {}

    public static Pipeline forLevel(int level, PassOptions options) {
        if (level < 0 || level > MAX_LEVEL) throw new IllegalArgumentException("optimisation level must be 0 to " + MAX_LEVEL + ", got " + level);
        List<Pass> p = new ArrayList<>();
        if (level == 0) return new Pipeline(p);

        // Static shapes first: folding's size rules and every no-op test below need them.
        p.add(new InferShapes());
        // Folding makes the constants that x*1, x+0 and Reshape merging look for.
        p.add(new FoldConstants());
        p.add(new SimplifyAlgebra());
        // Folding and simplification expose identical constants and nodes.
        p.add(new EliminateCommonSubexpressions());
        p.add(new EliminateDeadCode());
        if (level == 1) return new Pipeline(p);

        // Recognition before fusion: elementwise fusion would swallow the decomposed LayerNorm and GELU,
        // and MatMul -> Gelu can only fuse once Gelu exists.
        p.add(new RecognizeLayerNorm());
        p.add(new RecognizeGelu());
        p.add(new RecognizeAttention());
        // A BatchNormalization between a convolution and its activation would block the epilogue fusion.
        p.add(new FoldBatchNorm());
        // Quantize-dequantize pairs of quantization-aware exports as float ops, before fusion takes them into chains.
        p.add(new FoldQuantizeDequantize());
        if (level >= 3 && options.dtype() == PassOptions.Precision.INT8) {
            // Quantization rewrites plain Conv/MatMul/Gemm with folded weights, so after BN folding and before fusion.
            p.add(new QuantizeInt8());
        }
        // Epilogues before elementwise chains, or the chains would take the bias Add + activation away.
        p.add(new FuseEpilogue());
        // Squeeze-excite blocks once the epilogues have folded their activations into the 1x1 convolutions.
        p.add(new FuseSqueezeExcite());
        p.add(new FuseElementwise());
        // Recognition leaves key Transposes that may now merge or cancel.
        p.add(new SimplifyAlgebra());
        p.add(new EliminateDeadCode());
        if (level >= 3 && (options.dtype() == PassOptions.Precision.FP16 || options.dtype() == PassOptions.Precision.BF16)) {
            // After fusion, which reads f32 bias and clip constants; before layout, which pads channels.
            p.add(new ConvertPrecision());
        }
        if (!(level >= 3 && options.dtype() == PassOptions.Precision.INT8)) {
            // Layout after the dtype passes; only dead-code removal is safe after it. Integer convolutions run in
            // NCHW (their channels cannot be padded without changing the zero points), so an INT8 graph keeps its
            // layout rather than bouncing between layouts around every integer op.
            p.add(new ConvertLayout());
            p.add(new EliminateDeadCode());
        }
        // Last: sizes depend on the final dtypes and layouts, lifetimes on the final node order.
        p.add(new PlanMemory());
        return new Pipeline(p);
    }
}
