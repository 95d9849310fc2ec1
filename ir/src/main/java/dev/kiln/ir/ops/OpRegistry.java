package dev.kiln.ir.ops;

import dev.kiln.ir.IrException;

import java.util.Collections;
import java.util.Map;
import java.util.TreeMap;

/** Every op the IR knows, gathered from the op family classes. */
public final class OpRegistry {
    private static final Map<String, OpSpec> SPECS = load();

    private OpRegistry() {}

    private static Map<String, OpSpec> load() {
        Map<String, OpSpec> m = new TreeMap<>();
        for (OpSpec s : ElementwiseOps.specs()) add(m, s);
        for (OpSpec s : ReductionOps.specs()) add(m, s);
        for (OpSpec s : NnOps.specs()) add(m, s);
        for (OpSpec s : QuantizationOps.specs()) add(m, s);
        for (OpSpec s : RecurrentOps.specs()) add(m, s);
        for (OpSpec s : ShapeOps.specs()) add(m, s);
        for (OpSpec s : AttentionOps.specs()) add(m, s);
        for (OpSpec s : FusionOps.specs()) add(m, s);
        for (OpSpec s : LayoutOps.specs()) add(m, s);
        return Collections.unmodifiableMap(m);
    }

    private static void add(Map<String, OpSpec> m, OpSpec s) {
        if (m.put(s.name(), s) != null) throw new IllegalStateException("op " + s.name() + " declared twice");
    }

    public static boolean contains(String op) { return SPECS.containsKey(op); }

    public static OpSpec spec(String op) {
        OpSpec s = SPECS.get(op);
        if (s == null) throw new IrException("unknown op '" + op + "'");
        return s;
    }

    public static Map<String, OpSpec> all() { return SPECS; }
}
