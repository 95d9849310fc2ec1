package dev.kiln.ir;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class VerifierTest {

    @Test
    void acceptsAWellFormedGraph() {
        Graph g = new Graph("ok");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3));
        Value y = g.addNode("relu", "Relu", List.of(x), Map.of(), List.of("y")).output(0);
        g.addOutput(y);
        assertDoesNotThrow(() -> Verifier.verify(g));
    }

    @Test
    void reportsTypesThatContradictInference() {
        Graph g = new Graph("bad");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2, 3));
        Value y = g.addNode("relu", "Relu", List.of(x), Map.of(), List.of("y"), List.of(TensorType.of(DType.F32, 3, 2))).output(0);
        g.addOutput(y);
        IrException e = assertThrows(IrException.class, () -> Verifier.verify(g));
        assertEquals("graph bad is invalid:\n  Relu node @relu: output %y is typed f32[3,2] but its inputs give f32[2,3]", e.getMessage());
    }

    @Test
    void reportsUnknownOps() {
        Graph g = new Graph("bad");
        Value x = g.addInput("x", TensorType.of(DType.F32, 2));
        g.addOutput(g.addNode("n", "NoSuchOp", List.of(x), Map.of(), List.of("y"), List.of(TensorType.of(DType.F32, 2))).output(0));
        IrException e = assertThrows(IrException.class, () -> Verifier.verify(g));
        assertEquals("graph bad is invalid:\n  NoSuchOp node @n: unknown op", e.getMessage());
    }

    @Test
    void graphRejectsValuesUsedBeforeDefinition() {
        Graph g = new Graph("g");
        Graph other = new Graph("other");
        Value foreign = other.addInput("x", TensorType.of(DType.F32, 2));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> g.addNode("n", "Relu", List.of(foreign), Map.of(), List.of("y")));
        assertEquals("node 'n' uses value 'x' that is not defined before it", e.getMessage());
    }
}
