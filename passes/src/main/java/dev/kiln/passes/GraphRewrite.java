package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds the rewritten graph while a pass walks the old one in order. Old values map to new ones;
 * constants are carried over (sharing their bytes) when first used, so unused ones fall away;
 * graph outputs keep their names.
 */
public final class GraphRewrite {
    private final Graph source;
    private final Graph target;
    private final Map<Value, Value> mapped = new HashMap<>();

    public GraphRewrite(Graph source) {
        this.source = source;
        this.target = new Graph(source.name());
        for (Value in : source.inputs()) mapped.put(in, target.addInput(in.name(), in.type()));
    }

    public Graph source() { return source; }

    public Graph target() { return target; }

    /** The new value standing for an old one (null stays null). */
    public Value map(Value old) {
        if (old == null) return null;
        Value v = mapped.get(old);
        if (v != null) return v;
        if (old instanceof Constant c) {
            Value copy = target.addConstant(freshName(c.name()), c.type(), c.data());
            mapped.put(old, copy);
            return copy;
        }
        throw new IllegalStateException("value '" + old.name() + "' is used before the rewrite defined it");
    }

    public List<Value> map(List<Value> old) {
        List<Value> r = new ArrayList<>(old.size());
        for (Value v : old) r.add(map(v));
        return r;
    }

    /** From now on, uses of {@code old} read {@code replacement} (a value of the new graph). */
    public void replace(Value old, Value replacement) { mapped.put(old, replacement); }

    /** Copies a node unchanged but for its inputs, which are mapped. */
    public Node copy(Node n) {
        List<String> names = new ArrayList<>();
        List<TensorType> types = new ArrayList<>();
        for (Value v : n.outputs()) {
            names.add(freshName(v.name()));
            types.add(v.type());
        }
        Node c = target.addNode(freshNodeName(n.name()), n.op(), map(n.inputs()), n.attributes(), names, types);
        for (int i = 0; i < n.outputs().size(); i++) mapped.put(n.output(i), c.output(i));
        return c;
    }

    /**
     * Copies a node onto other inputs (values of the new graph) and maps its outputs to the copy's. The outputs
     * keep their shapes and layouts and take the dtypes inference gives for the new inputs: for passes that
     * change what a node computes in, not what it computes.
     */
    public Node copy(Node n, List<Value> inputs) {
        List<TensorType> inferred = OpRegistry.spec(n.op()).inferTypes(n.name(), inputs, n.attributes(), n.outputs().size());
        List<String> names = new ArrayList<>();
        List<TensorType> types = new ArrayList<>();
        for (int i = 0; i < n.outputs().size(); i++) {
            names.add(freshName(n.output(i).name()));
            types.add(n.output(i).type().withDType(inferred.get(i).dtype()));
        }
        Node c = target.addNode(freshNodeName(n.name()), n.op(), inputs, n.attributes(), names, types);
        for (int i = 0; i < n.outputs().size(); i++) mapped.put(n.output(i), c.output(i));
        return c;
    }

    /** Adds a new node over new-graph inputs; output types are inferred. */
    public Node add(String nodeName, String op, List<Value> inputs, Map<String, Attribute> attrs, List<String> outputNames) {
        List<String> names = new ArrayList<>();
        for (String n : outputNames) names.add(freshName(n));
        return target.addNode(freshNodeName(nodeName), op, inputs, attrs, names);
    }

    /** Adds a node computing what an old node's outputs were, and maps them to its outputs. */
    public Node replaceNode(Node old, String op, List<Value> inputs, Map<String, Attribute> attrs) {
        List<String> names = new ArrayList<>();
        for (Value v : old.outputs()) names.add(v.name());
        Node n = add(old.name(), op, inputs, attrs, names);
        for (int i = 0; i < old.outputs().size(); i++) mapped.put(old.output(i), n.output(i));
        return n;
    }

    public Constant constant(String hint, TensorType type, ByteBuffer data) {
        return target.addConstant(freshName(hint), type, data);
    }

    public String freshName(String hint) { return target.freshName(hint); }

    private String freshNodeName(String hint) { return target.node(hint) == null ? hint : target.freshName(hint); }

    /**
     * The new graph, its outputs those of the old one under the same names. A replacement value
     * that is a plain intermediate is renamed; one that is an input, a constant or another output
     * keeps its name and the output gets an Identity.
     */
    public Graph finish() {
        List<Value> outs = new ArrayList<>();
        for (Value old : source.outputs()) {
            Value v = map(old);
            if (!v.name().equals(old.name())) {
                boolean renamable = v.producer() != null && !outs.contains(v) && target.value(old.name()) == null;
                if (renamable) {
                    target.rename(v, old.name());
                } else {
                    String keep = old.name();
                    if (target.value(keep) != null) target.rename(target.value(keep), freshName(keep + "_0"));
                    v = target.addNode(freshNodeName(keep), "Identity", List.of(v), Map.of(), List.of(keep)).output(0);
                }
            }
            outs.add(v);
        }
        for (Value v : outs) target.addOutput(v);
        return target;
    }
}
