package dev.kiln.ir.ops;

/** How an op takes to reduced precision (f16, bf16), read by the dtype passes. */
public enum PrecisionPolicy {
    /** Arithmetic that is accurate enough in f16/bf16 (convolutions, matrix products, most activations). */
    REDUCED_OK,
    /** Numerically sensitive (softmax, normalizations, reductions, exp/log): computed in f32 even in an f16 graph. */
    KEEP_FP32,
    /** Moves or selects data without arithmetic (reshape, concat, gather, ...): runs in whatever dtype it gets. */
    FOLLOWS_INPUT,
    /** Has integer or fixed-dtype semantics (quantization, casts, shape queries, indices): never retyped. */
    FIXED
}
