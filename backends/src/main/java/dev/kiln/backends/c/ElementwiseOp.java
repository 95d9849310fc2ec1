package dev.kiln.backends.c;

import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.List;

/**
 * One elementwise op of {@link ElementwiseEmitter}: what it refuses, which inputs broadcast to its output, and its
 * code, written once the output's dims are known (literals, or set at run time and the buffer reserved). Most ops
 * are a {@link Formula} of the operand elements in the loop {@link #map} writes.
 */
interface ElementwiseOp {
    /** Null when the op takes the node's dtypes, attributes and constant operands; else what it does not, in brackets. */
    default String problem(Node n) { return null; }

    /** How many of the node's first inputs are read element by element, broadcast to the output (the others are scalars or only typed). */
    default int broadcastInputs(Node n) { return n.inputs().size(); }

    /** Whether the output has input 0's shape, the other inputs broadcasting into it without growing it (PRelu). */
    default boolean keepsInputShape() { return false; }

    void emit(Node n, Emission e);

    /** The output element as a C expression of the output's compute type; it may first write lines (checks, partial results). */
    @FunctionalInterface
    interface Formula {
        String element(Node n, Emission e, List<String> operands);
    }

    /** An op whose element is {@code formula} of its broadcast inputs' elements. */
    static ElementwiseOp of(Formula formula) { return (n, e) -> map(n, e, n.inputs().size(), false, formula); }

    /**
     * Writes the loop over output 0's elements: each of the first {@code broadcast} inputs read at its broadcast
     * offset into a variable a0, a1, ... of its compute type (or, where {@code stored}, of its storage type,
     * unconverted), then the formula stored as the output's dtype. The variables are all the formula may read of
     * the elements. Elements are read and written only through their dtype's storage type, as every family does:
     * the compiler may assume that pointers of other types do not alias them.
     */
    static void map(Node n, Emission e, int broadcast, boolean stored, Formula formula) {
        Value y = n.output(0);
        List<Value> inputs = n.inputs().subList(0, broadcast);
        LoopNest loops = LoopNest.open(e, y, inputs);
        List<String> operands = new ArrayList<>();
        for (int k = 0; k < inputs.size(); k++) {
            DType t = inputs.get(k).type().dtype();
            String element = e.ptr(inputs.get(k)) + "[" + loops.at(k) + "]";
            e.line((stored ? CTypes.storage(t) : CTypes.compute(t)) + " a" + k + " = " + (stored ? element : CTypes.load(t, element)) + ";");
            operands.add("a" + k);
        }
        String value = formula.element(n, e, operands);
        e.line(e.ptr(y) + "[" + loops.out() + "] = " + (stored ? value : CTypes.store(y.type().dtype(), value)) + ";");
        loops.close(e);
    }

    /** A scalar input's element 0 in its compute type (a bound of Clip, Dropout's ratio). */
    static String scalar(Emission e, Value v) {
        return CTypes.load(v.type().dtype(), e.ptr(v) + "[0]");
    }
}
