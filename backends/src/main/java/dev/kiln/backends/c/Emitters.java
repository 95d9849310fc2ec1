package dev.kiln.backends.c;

import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The op families of the C backend: each op to the family that emits it. */
final class Emitters {
    private Emitters() {}

    /** Every family, in the order their kernels and preparations run. */
    private static final List<Supplier<OpEmitter>> FAMILIES = List.of(
            ElementwiseEmitter::new,
            ReductionEmitter::new,
            ViewEmitter::new,
            JoinEmitter::new,
            CopyEmitter::new,
            PadEmitter::new,
            RowEmitter::new,
            GenerateEmitter::new,
            NormalizationEmitter::new,
            PoolingEmitter::new,
            ConvolutionEmitter::new,
            SqueezeExciteEmitter::new,
            ConvTransposeEmitter::new,
            GemmEmitter::new,
            GatherEmitter::new,
            ScatterEmitter::new,
            SelectionEmitter::new,
            ResizeEmitter::new,
            AttentionEmitter::new,
            QuantizedEmitter::new,
            RecurrentEmitter::new,
            SoftmaxEmitter::new,
            ArgEmitter::new,
            ScanEmitter::new,
            TopKEmitter::new,
            ChannelNormalizationEmitter::new,
            EinsumEmitter::new);

    /** One instance of each family for questions that need no state (which ops, which nodes). */
    private static final Map<String, OpEmitter> BY_OP = byOp(fresh());

    /** Fresh families for one generation, in table order. */
    static List<OpEmitter> fresh() { return FAMILIES.stream().map(Supplier::get).toList(); }

    /** Each op of the families to its family. */
    static Map<String, OpEmitter> byOp(List<OpEmitter> families) {
        Map<String, OpEmitter> m = new LinkedHashMap<>();
        for (OpEmitter f : families) {
            for (String op : f.ops()) {
                if (m.put(op, f) != null) throw new IllegalStateException("op " + op + " has two emitters");
            }
        }
        return Collections.unmodifiableMap(m);
    }

    /** The family that emits an op, or null. */
    static OpEmitter forOp(String op) { return BY_OP.get(op); }

    /** Every op some family emits. */
    static Map<String, OpEmitter> all() { return new HashMap<>(BY_OP); }
}
