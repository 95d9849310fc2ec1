package dev.kiln.ir;

import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A dataflow graph: named inputs, constants, nodes in topological order, and outputs.
 * Every value name is unique within the graph.
 */
public final class Graph {
    private final String name;
    private final List<Value> inputs = new ArrayList<>();
    private final Map<String, Constant> constants = new LinkedHashMap<>();
    private final List<Node> nodes = new ArrayList<>();
    private final List<Value> outputs = new ArrayList<>();
    private final Map<String, Value> values = new HashMap<>();
    private final Map<String, Node> nodesByName = new HashMap<>();

    public Graph(String name) {
        this.name = name;
    }

    public String name() { return name; }

    public List<Value> inputs() { return Collections.unmodifiableList(inputs); }

    public Map<String, Constant> constants() { return Collections.unmodifiableMap(constants); }

    public List<Node> nodes() { return Collections.unmodifiableList(nodes); }

    public List<Value> outputs() { return Collections.unmodifiableList(outputs); }

    /** The value of this name, or null. */
    public Value value(String valueName) { return values.get(valueName); }

    public Node node(String nodeName) { return nodesByName.get(nodeName); }

    public Value addInput(String valueName, TensorType type) {
        Value v = new Value(valueName, type);
        register(v);
        inputs.add(v);
        return v;
    }

    public Constant addConstant(String valueName, TensorType type, ByteBuffer data) {
        Constant c = new Constant(valueName, type, data);
        register(c);
        constants.put(valueName, c);
        return c;
    }

    /** Appends a node whose output types are inferred from its op spec. */
    public Node addNode(String nodeName, String op, List<Value> nodeInputs, Map<String, Attribute> attributes,
                        List<String> outputNames) {
        List<TensorType> types = OpRegistry.spec(op).inferTypes(nodeName, nodeInputs, attributes, outputNames.size());
        return addNode(nodeName, op, nodeInputs, attributes, outputNames, types);
    }

    /** Appends a node with the given output types (as read from IR text). */
    public Node addNode(String nodeName, String op, List<Value> nodeInputs, Map<String, Attribute> attributes,
                        List<String> outputNames, List<TensorType> outputTypes) {
        if (nodesByName.containsKey(nodeName)) throw new IllegalArgumentException("duplicate node name '" + nodeName + "'");
        if (outputNames.size() != outputTypes.size()) {
            throw new IllegalArgumentException("node '" + nodeName + "' has " + outputNames.size() + " outputs but " + outputTypes.size() + " types");
        }
        for (Value in : nodeInputs) {
            if (in != null && values.get(in.name()) != in) {
                throw new IllegalArgumentException("node '" + nodeName + "' uses value '" + in.name() + "' that is not defined before it");
            }
        }
        List<Value> outs = new ArrayList<>(outputNames.size());
        for (int i = 0; i < outputNames.size(); i++) {
            Value v = new Value(outputNames.get(i), outputTypes.get(i));
            register(v);
            outs.add(v);
        }
        Node n = new Node(nodeName, op, nodeInputs, outs, attributes);
        for (Value v : outs) v.setProducer(n);
        nodes.add(n);
        nodesByName.put(nodeName, n);
        return n;
    }

    public void addOutput(Value v) {
        if (values.get(v.name()) != v) throw new IllegalArgumentException("output '" + v.name() + "' is not a value of this graph");
        outputs.add(v);
    }

    /** Gives a value of this graph another unused name (passes keep graph output names this way). */
    public void rename(Value v, String newName) {
        if (values.get(v.name()) != v) throw new IllegalArgumentException("'" + v.name() + "' is not a value of this graph");
        if (newName.equals(v.name())) return;
        if (values.containsKey(newName)) throw new IllegalArgumentException("duplicate value name '" + newName + "'");
        values.remove(v.name());
        v.rename(newName);
        values.put(newName, v);
        if (v instanceof Constant c) {
            Map<String, Constant> reordered = new LinkedHashMap<>();
            for (Constant k : constants.values()) reordered.put(k.name(), k);
            constants.clear();
            constants.putAll(reordered);
        }
    }

    /** A name based on {@code hint} that no value or node of this graph uses yet. */
    public String freshName(String hint) {
        if (!values.containsKey(hint) && !nodesByName.containsKey(hint)) return hint;
        for (int i = 1; ; i++) {
            String candidate = hint + "_" + i;
            if (!values.containsKey(candidate) && !nodesByName.containsKey(candidate)) return candidate;
        }
    }

    private void register(Value v) {
        if (values.putIfAbsent(v.name(), v) != null) throw new IllegalArgumentException("duplicate value name '" + v.name() + "'");
    }
}
