package dev.kiln.ir;

/** A named tensor in a graph: a graph input, a constant, or an output of a node. */
public class Value {
    private String name;
    private TensorType type;
    private Node producer;

    Value(String name, TensorType type) {
        if (name == null || name.isEmpty()) throw new IllegalArgumentException("a value needs a non-empty name");
        this.name = name;
        this.type = type;
    }

    public String name() { return name; }

    void rename(String newName) { name = newName; }

    public TensorType type() { return type; }

    /** Passes refine types (for example shape inference); the graph verifier checks them. */
    public void setType(TensorType type) {
        if (type == null) throw new NullPointerException("type");
        this.type = type;
    }

    /** The node that computes this value, or null for graph inputs and constants. */
    public Node producer() { return producer; }

    void setProducer(Node producer) { this.producer = producer; }

    public boolean isConstant() { return false; }

    @Override
    public String toString() { return name + ": " + type; }
}
