package dev.kiln.passes;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Who reads each value of a graph: its consuming nodes, and whether it is a graph output. */
public final class Uses {
    private final Map<Value, List<Node>> consumers = new HashMap<>();
    private final Set<Value> outputs;

    private Uses(Graph g) {
        for (Node n : g.nodes()) {
            for (Value v : n.inputs()) {
                if (v == null) continue;
                List<Node> l = consumers.computeIfAbsent(v, k -> new ArrayList<>());
                if (!l.contains(n)) l.add(n);
            }
        }
        outputs = new HashSet<>(g.outputs());
    }

    public static Uses of(Graph g) { return new Uses(g); }

    /** The distinct nodes reading v, in graph order. */
    public List<Node> consumers(Value v) { return consumers.getOrDefault(v, List.of()); }

    public boolean isGraphOutput(Value v) { return outputs.contains(v); }

    /** Whether v is read by nothing but {@code node} (and is not a graph output), so a rewrite may absorb it. */
    public boolean onlyFeeds(Value v, Node node) {
        List<Node> c = consumers(v);
        return !isGraphOutput(v) && c.size() == 1 && c.get(0) == node;
    }

    /** The single consumer of v when it has exactly one and is not a graph output, else null. */
    public Node soleConsumer(Value v) {
        List<Node> c = consumers(v);
        return !isGraphOutput(v) && c.size() == 1 ? c.get(0) : null;
    }

    public boolean isUnused(Value v) { return consumers(v).isEmpty() && !isGraphOutput(v); }
}
