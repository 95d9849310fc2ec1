package dev.kiln.ir.ops;

/** How an op relates to the memory layout of its tensors, read by the layout pass. */
public enum LayoutRule {
    /** Its activation input has a channel layout and a preferred one (Conv, pooling, BatchNormalization, ...). */
    SENSITIVE,
    /** Elementwise on one tensor: works in any layout, output in the input's layout. */
    AGNOSTIC,
    /** Elementwise over several broadcast tensors: works in any layout once the others are brought into it. */
    BROADCAST,
    /** Needs plain row-major data (Reshape, Flatten, MatMul, Gather, ...): the layout pass converts back before it. */
    PLAIN
}
