package dev.kiln.ir;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * One operation. Inputs may contain null for an omitted optional input. Attributes are kept
 * sorted by name so that printing is canonical.
 */
public final class Node {
    private final String name;
    private final String op;
    private final List<Value> inputs;
    private final List<Value> outputs;
    private final Map<String, Attribute> attributes;

    Node(String name, String op, List<Value> inputs, List<Value> outputs, Map<String, Attribute> attributes) {
        this.name = name;
        this.op = op;
        this.inputs = new ArrayList<>(inputs);
        this.outputs = List.copyOf(outputs);
        this.attributes = new TreeMap<>(attributes);
    }

    public String name() { return name; }

    public String op() { return op; }

    public List<Value> inputs() { return Collections.unmodifiableList(inputs); }

    /** The i-th input, or null when it is omitted or beyond the inputs given. */
    public Value input(int i) { return i < inputs.size() ? inputs.get(i) : null; }

    public List<Value> outputs() { return outputs; }

    public Value output(int i) { return outputs.get(i); }

    public Map<String, Attribute> attributes() { return Collections.unmodifiableMap(attributes); }

    public Attribute attribute(String key) { return attributes.get(key); }

    /** Rewires one input; used by passes. */
    public void replaceInput(int i, Value v) { inputs.set(i, v); }

    @Override
    public String toString() { return op + " " + name; }
}
