package dev.kiln.backends.c;

import dev.kiln.ir.ops.OpRegistry;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

class EmittersTest {
    /** The interpreter runs every op of the registry; the C backend has a family for each of them too. */
    @Test
    void everyOpOfTheIrHasAFamily() {
        List<String> without = OpRegistry.all().keySet().stream().filter(op -> Emitters.forOp(op) == null).toList();
        assertEquals(List.of(), without, "ops the C backend has no family for");
    }

    /** Families name ops of the registry and kernel sources of the table (closure fails on an unknown one). */
    @Test
    void familiesNameKnownOpsAndKernelSources() {
        List<String> unknown = Emitters.all().keySet().stream().filter(op -> !OpRegistry.contains(op)).sorted().toList();
        assertEquals(List.of(), unknown, "ops of no registry");
        for (OpEmitter family : Emitters.fresh()) KernelSources.closure(family.kernels());
    }
}
