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

    /** Whether the output has input 0's shape, the other inputs broadcasting into it without growing it (PRelu, SwiGLU). */
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
     * offset into a variable a0, a1, ... of its compute type (or, where {@code bits}, its bits unconverted), then
     * the formula stored as the output's dtype. The variables are all the formula may read of the elements.
     */
    static void map(Node n, Emission e, int broadcast, boolean bits, Formula formula) {
        Value y = n.output(0);
        List<Value> inputs = n.inputs().subList(0, broadcast);
        LoopNest loops = LoopNest.open(e, y, inputs);
        List<String> operands = new ArrayList<>();
        for (int k = 0; k < inputs.size(); k++) {
            DType t = inputs.get(k).type().dtype();
            String element = element(e, inputs.get(k), bits) + "[" + loops.at(k) + "]";
            e.line((bits ? CTypes.bits(t) : CTypes.compute(t)) + " a" + k + " = " + (bits ? element : CTypes.load(t, element)) + ";");
            operands.add("a" + k);
        }
        String value = formula.element(n, e, operands);
        e.line(element(e, y, bits) + "[" + loops.out() + "] = " + (bits ? value : CTypes.store(y.type().dtype(), value)) + ";");
        loops.close(e);
    }

    /** A pointer to the value's elements: typed, or as unsigned words of their width. */
    private static String element(Emission e, Value v, boolean bits) {
        return bits ? "((" + CTypes.bits(v.type().dtype()) + "*) " + e.address(v) + ")" : e.ptr(v);
    }

    /** A scalar input's element 0 in its compute type (a bound of Clip, Dropout's ratio). */
    static String scalar(Emission e, Value v) {
        return CTypes.load(v.type().dtype(), e.ptr(v) + "[0]");
    }
}
