package dev.kiln.ir.ops;

/**
 * How an op relates to the memory layout of its tensors, read by the layout pass (see
 * {@link dev.kiln.ir.Layouts} for layout names). Blocked layouts pad channels with zeros, and every
 * op that runs on blocked data must keep that padding zero (the layout pass checks this).
 */
public enum LayoutRule {
    /**
     * Input 0 and output 0 are activations (N, C, spatial...) that may be in any layout of those
     * dims; the op computes as it would on the plain tensors (Conv, pooling, BatchNormalization,
     * ...). Its filter input ({@link OpSpec#weightInput()}) may be in any layout of the filter's dims;
     * other inputs are activations of the output's shape (in the output's layout), per-channel vectors
     * (padded along with the channels) or scalars, or constants of lower rank (a squeeze-excite's weight
     * matrices), which stay plain.
     */
    SENSITIVE,
    /** Elementwise on one tensor (other inputs are scalars): works in any layout, output in the input's layout. */
    AGNOSTIC,
    /** Elementwise over several broadcast tensors: works in any layout once the others are brought into it. */
    BROADCAST,
    /**
     * Joins tensors along the dim its {@code axis} attribute names (Concat): works in any layout once
     * the axis is re-expressed, along a blocked dim only when every part fills whole blocks.
     */
    AXIS,
    /**
     * Resamples the dims of input 0, an activation (N, C, spatial...), by per-dim scales or sizes its other inputs
     * give over the logical dims (Resize): works in input 0's layout, which it follows, when the node leaves every
     * dim but an image's height and width (the last two, at most: a 1-D signal's length) exactly as they are
     * ({@link OpSpec#resamplesImageOnly}); each (batch, channel) plane is then resampled from its own plane alone.
     */
    RESAMPLE,
    /** Needs plain row-major data (Reshape, Flatten, MatMul, Gather, ...): the layout pass converts back before it. */
    PLAIN
}
