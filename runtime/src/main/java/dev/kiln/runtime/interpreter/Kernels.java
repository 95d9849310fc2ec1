package dev.kiln.runtime.interpreter;

import java.util.Collections;
import java.util.HashMap;
import java.util.Map;

/** The kernel table, gathered from the kernel family classes. */
final class Kernels {
    private static final Map<String, Kernel> TABLE = load();

    private Kernels() {}

    private static Map<String, Kernel> load() {
        Map<String, Kernel> m = new HashMap<>();
        ElementwiseKernels.register(m);
        ReductionKernels.register(m);
        NnKernels.register(m);
        QuantizationKernels.register(m);
        RecurrentKernels.register(m);
        ShapeKernels.register(m);
        AttentionKernels.register(m);
        FusedKernels.register(m);
        LayoutKernels.register(m);
        LayoutKernels.acceptLayouts(m); // after every family: wraps the layout-sensitive kernels registered above
        return Collections.unmodifiableMap(m);
    }

    /** The kernel for an op, or null. */
    static Kernel forOp(String op) { return TABLE.get(op); }
}
