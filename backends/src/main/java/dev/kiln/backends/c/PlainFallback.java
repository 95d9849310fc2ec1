package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.passes.GraphRewrite;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

/**
 * Nodes the layout pass put in the blocked layout NCHW{c}c whose family has no blocked kernel (a BatchNormalization,
 * an LpPool ...) run on plain values instead: their blocked inputs are moved to NCHW by a LayoutTransform before them
 * and their outputs back after them, as the passes would have left a node with no blocked form. The graph's other
 * nodes stay in the blocked layout.
 */
final class PlainFallback {
    private PlainFallback() {}

    /** Whether some node reads or writes a blocked activation. */
    static boolean hasBlocked(Node n) {
        for (Value v : n.inputs()) if (v != null && Nodes.isBlocked(v)) return true;
        for (Value v : n.outputs()) if (Nodes.isBlocked(v)) return true;
        return false;
    }

    /**
     * The node as it would be with its blocked activations plain (a node of a scratch graph: constants keep their
     * bytes, other inputs are stand-ins), or null when a filter or other input is in a blocked layout it cannot lose.
     */
    static Node plainTwin(Node n) {
        Graph scratch = new Graph("plain");
        List<Value> inputs = new ArrayList<>();
        for (Value v : n.inputs()) {
            if (v == null) {
                inputs.add(null);
            } else if (Nodes.isBlocked(v)) {
                inputs.add(scratch.addInput(v.name(), plain(v.type())));
            } else if (!Layouts.isPlain(v.type().layout())) {
                return null;
            } else if (v instanceof Constant c) {
                inputs.add(scratch.value(v.name()) != null ? scratch.value(v.name()) : scratch.addConstant(v.name(), c.type(), c.data()));
            } else {
                inputs.add(scratch.value(v.name()) != null ? scratch.value(v.name()) : scratch.addInput(v.name(), v.type()));
            }
        }
        List<String> names = n.outputs().stream().map(Value::name).toList();
        try {
            return scratch.addNode(n.name(), n.op(), inputs, n.attributes(), names);
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static TensorType plain(TensorType t) {
        return new TensorType(t.dtype(), Layouts.logicalShape(t.shape(), t.layout()), Layout.ANY);
    }

    /**
     * The graph with every node that {@code refused} refuses as it is, but would take plain, moved to plain values;
     * the same graph when there is none.
     */
    static Graph apply(Graph graph, Predicate<Node> refused) {
        List<Node> moved = new ArrayList<>();
        for (Node n : graph.nodes()) {
            if (refused.test(n) && hasBlocked(n)) {
                Node twin = plainTwin(n);
                if (twin != null && !refused.test(twin)) moved.add(n);
            }
        }
        if (moved.isEmpty()) return graph;
        GraphRewrite rw = new GraphRewrite(graph);
        for (Node n : graph.nodes()) {
            if (!moved.contains(n)) {
                rw.copy(n);
                continue;
            }
            List<Value> inputs = new ArrayList<>();
            for (Value v : n.inputs()) {
                if (v == null) inputs.add(null);
                else if (Nodes.isBlocked(v)) inputs.add(transform(rw, rw.map(v), v.type().layout(), Layout.ANY));
                else inputs.add(rw.map(v));
            }
            List<String> names = n.outputs().stream().map(v -> v.name() + "_plain").toList();
            Node plain = rw.add(n.name(), n.op(), inputs, n.attributes(), names);
            for (int i = 0; i < n.outputs().size(); i++) {
                Value old = n.output(i);
                Value now = plain.output(i);
                rw.replace(old, Nodes.isBlocked(old) ? transform(rw, now, Layout.ANY, old.type().layout()) : now);
            }
        }
        return rw.finish();
    }

    /**
     * A LayoutTransform between a blocked layout and plain NCHW over all of the blocked value's channels, its zero
     * padding included: the layout pass padded the node's per-channel operands to match.
     */
    private static Value transform(GraphRewrite rw, Value v, Layout from, Layout to) {
        Map<String, Attribute> attrs = new LinkedHashMap<>();
        Layout blocked = from.isAny() ? to : from;
        attrs.put("src_layout", Attribute.of((from.isAny() ? Layouts.logical(blocked) : from).name()));
        attrs.put("dst_layout", Attribute.of((to.isAny() ? Layouts.logical(blocked) : to).name()));
        String hint = v.name() + "_" + (to.isAny() ? "plain" : to.name());
        return rw.add(hint, "LayoutTransform", List.of(v), attrs, List.of(hint)).output(0);
    }
}
