package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.AttrSpec;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Merges what computes the same thing, keeping the first: constants of the same type and bytes,
 * then nodes with the same op, the same inputs and equal attributes (defaults filled in).
 * Unknown ops and training-mode Dropout are never merged; nor is a node that makes a graph output,
 * which would only trade itself for an Identity.
 */
public final class EliminateCommonSubexpressions extends Pass {

    private static final int HASHED_WORDS = 256;

    /** What decides a node's result. Inputs compare by identity, after earlier merges. */
    private record Key(String op, List<Value> inputs, Map<String, Attribute> attributes, int outputs) {}

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        GraphRewrite rw = new GraphRewrite(graph);
        Map<Constant, Constant> sameConstant = duplicateConstants(graph);
        Map<Key, Node> computed = new HashMap<>();
        Set<Value> graphOutputs = new HashSet<>(graph.outputs());
        for (Node n : graph.nodes()) {
            for (Value in : n.inputs()) {
                Constant first = in instanceof Constant c ? sameConstant.remove(c) : null;
                if (first != null) rw.replace(in, rw.map(first));
            }
            if (!OpRegistry.contains(n.op())) {
                ctx.debug(name() + ": leaves node @" + n.name() + " alone: unknown op " + n.op());
                rw.copy(n);
                continue;
            }
            if (!Purity.isDeterministic(n)) {
                rw.copy(n);
                continue;
            }
            Key key = new Key(n.op(), new ArrayList<>(rw.map(n.inputs())), withDefaults(n), n.outputs().size());
            Node earlier = computed.get(key);
            if (earlier == null || n.outputs().stream().anyMatch(graphOutputs::contains)) {
                Node copy = rw.copy(n);
                computed.putIfAbsent(key, copy);
                continue;
            }
            for (int i = 0; i < n.outputs().size(); i++) rw.replace(n.output(i), earlier.output(i));
        }
        return rw.finish();
    }

    /** The node's attributes with the spec's defaults for those it leaves out, so that both spellings compare equal. */
    private static Map<String, Attribute> withDefaults(Node n) {
        Map<String, Attribute> all = new TreeMap<>(n.attributes());
        for (AttrSpec s : OpRegistry.spec(n.op()).attributes().values()) {
            if (s.defaultValue() != null) all.putIfAbsent(s.name(), s.defaultValue());
        }
        return all;
    }

    /**
     * Each constant that repeats an earlier one, mapped to that earlier one. Only constants of the
     * same type are compared; of those, a sampled hash of the contents, then the bytes decide.
     */
    static Map<Constant, Constant> duplicateConstants(Graph graph) {
        Map<TensorType, List<Constant>> byType = new LinkedHashMap<>();
        for (Constant c : graph.constants().values()) byType.computeIfAbsent(c.type(), t -> new ArrayList<>()).add(c);
        Map<Constant, Constant> duplicates = new HashMap<>();
        for (List<Constant> sameType : byType.values()) {
            if (sameType.size() < 2) continue;
            Map<Long, List<Constant>> distinctByHash = new HashMap<>();
            for (Constant c : sameType) {
                ByteBuffer bytes = c.data();
                List<Constant> candidates = distinctByHash.computeIfAbsent(sampledHash(bytes), h -> new ArrayList<>());
                Constant first = null;
                for (Constant k : candidates) {
                    if (k.data().equals(bytes)) {
                        first = k;
                        break;
                    }
                }
                if (first == null) candidates.add(c);
                else duplicates.put(c, first);
            }
        }
        return duplicates;
    }

    /**
     * A hash of at most {@link #HASHED_WORDS} evenly spaced 8-byte words: enough to tell weights
     * apart without reading them all; equal hashes are confirmed byte by byte.
     */
    private static long sampledHash(ByteBuffer b) {
        int n = b.remaining();
        int words = n / 8;
        int step = Math.max(1, words / HASHED_WORDS);
        long h = n;
        for (int w = 0; w < words; w += step) h = (h ^ b.getLong(w * 8)) * 0x9E3779B97F4A7C15L;
        for (int i = words * 8; i < n; i++) h = (h ^ b.get(i)) * 0x9E3779B97F4A7C15L;
        return h;
    }
}
