package dev.kiln.backends.c;

import dev.kiln.ir.IrException;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;

/**
 * Elementwise ops and FusedElementwise programs of every dtype their op specs allow: one loop over the output
 * ({@link LoopNest}: flat and vectorisable for static shapes), each input read at its broadcast offset, the op's
 * C expression ({@link ElementwiseTable}) stored as the output's dtype. Outputs of inputs whose dims are known
 * only at run time get their dims there (ONNX broadcasting, kiln_run failing on dims that do not broadcast)
 * and their buffer. Values in the blocked layout NCHW{c}c are taken as plain data when every operand that
 * broadcasts has the output's layout or is a single element.
 */
final class ElementwiseEmitter implements OpEmitter {
    @Override
    public Set<String> ops() { return ElementwiseTable.OPS.keySet(); }

    @Override
    public List<String> kernels() { return List.of("elementwise.h"); }

    @Override
    public String problem(Node n) {
        ElementwiseOp op = ElementwiseTable.OPS.get(n.op());
        String typing = typing(n);
        if (typing != null) return typing;
        String layout = layout(n, op.broadcastInputs(n));
        return layout != null ? layout : op.problem(n);
    }

    @Override
    public void emit(Node n, Emission e) {
        ElementwiseOp op = ElementwiseTable.OPS.get(n.op());
        shapeOutputs(n, e, op);
        op.emit(n, e);
    }

    /**
     * Null when the op spec gives the node the dtypes it has (the C of each op is written for the dtypes its spec
     * allows, which graphs read from text need not have been checked against); else the spec's objection.
     */
    private static String typing(Node n) {
        List<TensorType> inferred;
        try {
            inferred = OpRegistry.spec(n.op()).inferTypes(n.name(), n.inputs(), n.attributes(), n.outputs().size());
        } catch (IrException e) {
            String prefix = n.op() + " node '" + n.name() + "': ";
            return " (" + (e.getMessage().startsWith(prefix) ? e.getMessage().substring(prefix.length()) : e.getMessage()) + ")";
        }
        for (int i = 0; i < inferred.size(); i++) {
            if (inferred.get(i).dtype() != n.output(i).type().dtype()) return " (output " + i + " of dtype " + n.output(i).type().dtype() + ")";
        }
        return null;
    }

    /** Null when every output and broadcast input is plain, or all in one blocked activation layout (single elements aside). */
    private static String layout(Node n, int broadcast) {
        Layout layout = n.output(0).type().layout();
        boolean blocked = Nodes.isBlockedActivation(layout);
        List<Value> values = new ArrayList<>(n.outputs());
        values.addAll(n.inputs().subList(0, broadcast));
        for (Value v : values) {
            Layout l = v.type().layout();
            boolean single = v.producer() != n && Emission.isStatic(v) && v.type().shape().elementCount() == 1;
            boolean fits = blocked ? l.equals(layout) || (Layouts.isPlain(l) && single) : Layouts.isPlain(l);
            if (!fits) return blocked ? " (layouts " + Nodes.layoutName(layout) + " and " + Nodes.layoutName(l) + ")" : " (layout " + l + ")";
        }
        return null;
    }

    /**
     * Where an input that broadcasts has run-time dims, or an output does: the broadcast dims computed at run time,
     * checked against the output's static dims and set as its run-time ones, and its buffer reserved.
     */
    private static void shapeOutputs(Node n, Emission e, ElementwiseOp op) {
        List<Value> inputs = n.inputs().subList(0, op.broadcastInputs(n));
        if (inputs.stream().allMatch(Emission::isStatic) && n.outputs().stream().allMatch(Emission::isStatic)) return;
        int rank = n.output(0).type().rank();
        String what = n.op() + " node " + n.name();
        e.line("long bd[" + Math.max(1, rank) + "] = {" + String.join(", ", Collections.nCopies(Math.max(1, rank), "1L")) + "};");
        for (Value v : inputs) {
            e.check("kiln_broadcast_dims(" + rank + ", bd, " + v.type().rank() + ", " + e.dimsArray(v) + ", " + Emission.cString(what) + ")");
        }
        for (int d = 0; d < rank && op.keepsInputShape(); d++) {
            e.failWhen("bd[" + d + "] != " + e.dim(inputs.get(0), d), what + ": an input does not broadcast to the shape of input 0");
        }
        for (Value y : n.outputs()) {
            for (int d = 0; d < rank; d++) {
                if (y.type().shape().dim(d).isStatic()) {
                    e.failWhen("bd[" + d + "] != " + e.dim(y, d), what + ": the run-time dims of its inputs do not give its output's shape " + y.type().shape());
                }
                if (!Emission.isStatic(y)) e.line(e.dimsArray(y) + "[" + d + "] = bd[" + d + "];");
            }
            e.allocate(y);
        }
    }
}
