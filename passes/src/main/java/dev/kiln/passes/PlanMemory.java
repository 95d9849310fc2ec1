package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.LayoutRule;
import dev.kiln.ir.ops.OpRegistry;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Static memory planning: gives every intermediate value an offset in one arena, reusing bytes of
 * values that are dead, and stores the {@link MemoryPlan} as the context's result. The graph is
 * returned unchanged.
 *
 * <p>Byte sizes come from the final types, so this runs last, after every pass that changes
 * layouts, dtypes or shapes. Values with a symbolic dimension cannot be placed at compile time;
 * they are left out of the arena (listed with the reason) rather than failing, since such graphs
 * are valid and still run with buffers allocated at run time.
 *
 * <p>First, values are grouped into buffers: a view aliases its input's buffer, an elementwise op
 * (layout rule AGNOSTIC or BROADCAST) takes over the buffer of an input of the same size, dtype and
 * layout when that buffer is read for the last time at this node, and a Concat whose inputs are
 * contiguous, aligned pieces of its output (all dims before the axis 1) has them written straight into
 * its buffer, which then lives from the first of them on. A Concat whose first inputs are those of an
 * earlier such Concat (DenseNet's blocks: each layer joins every earlier layer's features) takes the
 * earlier one's output as its first piece, so that the chain shares one buffer and none copies. Then
 * the buffers are placed
 * one by one, each in the smallest gap between the buffers already placed whose lifetimes overlap
 * its own, or on top of them; in two orders, by size and by breadth, keeping the smaller arena
 * ("greedy by size" and "greedy by breadth", Pisarchyk and Lee, "Efficient Memory Management for
 * Deep Neural Net Inference", 2020; TFLite's and TVM's planners work the same way).
 */
public final class PlanMemory extends Pass {
    /** Ops whose output 0 has the same elements as input 0 in the same order, so it can be the same bytes. */
    private static final Set<String> VIEWS = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity");

    /** The convolutions a LayoutTransform of their output may compute (see the Planner). */
    private static final Set<String> CONVOLUTIONS = Set.of("Conv", "FusedConv");

    /** A layout such as NCHW16c: the plain dimension letters, then blocks of a size along a dimension. */
    private static final Pattern BLOCK = Pattern.compile("([0-9]+)([a-z])");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        MemoryPlan plan = new Planner(graph, ctx).plan();
        ctx.putResult(MemoryPlan.class, plan);
        ctx.debug(plan.summary());
        return graph;
    }

    /** Bytes of contiguous storage a tensor of this type needs, or -1 when its shape is symbolic. */
    static long byteSize(TensorType type) {
        if (!type.shape().isStatic()) return -1;
        long[] dims = type.shape().sizes();
        padBlockedDims(type.layout(), dims);
        return Math.multiplyExact((long) type.dtype().byteSize(), Shape.elementCount(dims));
    }

    /**
     * A blocked layout given over the logical shape (NCHW16c on a rank-4 shape) stores the blocked
     * dimension rounded up to whole blocks; a shape that already spells out the blocks is stored as is.
     */
    private static void padBlockedDims(Layout layout, long[] dims) {
        String name = layout.name();
        String plain = BLOCK.matcher(name).replaceAll("");
        if (plain.length() != dims.length) return;
        Matcher m = BLOCK.matcher(name);
        while (m.find()) {
            int axis = plain.indexOf(Character.toUpperCase(m.group(2).charAt(0)));
            long block = Long.parseLong(m.group(1));
            if (axis >= 0 && block > 0) dims[axis] = (dims[axis] + block - 1) / block * block;
        }
    }

    static long align(long bytes) {
        return (bytes + MemoryPlan.ALIGNMENT - 1) / MemoryPlan.ALIGNMENT * MemoryPlan.ALIGNMENT;
    }

    /** Bytes shared by a value, the views of it and the values written in place over it. */
    private static final class Buffer {
        /** Its index in the planner's list of buffers. */
        final int id;
        /** Grown, with the lifetime, when a later Concat extends a Concat's buffer. */
        long bytes;
        int firstNode;
        int lastNode;
        long offset;

        Buffer(int id, long bytes, int firstNode, int lastNode) {
            this.id = id;
            this.bytes = bytes;
            this.firstNode = firstNode;
            this.lastNode = lastNode;
        }

        boolean livesWith(Buffer o) { return firstNode <= o.lastNode && o.firstNode <= lastNode; }
    }

    /** A planned value before offsets are known: {@code bytes} at {@code offset} in its buffer. */
    private record Member(Value value, int firstNode, int lastNode, MemoryPlan.Reuse reuse, Value source, Buffer buffer,
                          long offset, long bytes) {}

    /** Where a Concat input goes: in the Concat output's buffer, at its place in the output. */
    private record Part(Value concat, long offset) {}

    /** One planning run over one graph. */
    private static final class Planner {
        private final Graph graph;
        private final PassContext ctx;
        private final Map<Value, Integer> lastUse = new HashMap<>();
        /** The node index of each node's outputs. */
        private final Map<Value, Integer> definedAt = new HashMap<>();
        private final Set<Value> graphOutputs;
        private final Map<Value, Buffer> bufferOf = new HashMap<>();
        private final List<Buffer> buffers = new ArrayList<>();
        private final List<Member> members = new ArrayList<>();
        private final Map<String, String> outsideArena = new LinkedHashMap<>();
        /** Concat inputs written into their Concat's buffer, and the buffers of those Concats' outputs. */
        private final Map<Value, Part> parts = new HashMap<>();
        private final Map<Value, Buffer> concatBuffers = new HashMap<>();
        /** The inputs of each Concat given its parts, while no later Concat has extended its buffer. */
        private final Map<Value, List<Value>> extendable = new LinkedHashMap<>();

        Planner(Graph graph, PassContext ctx) {
            this.graph = graph;
            this.ctx = ctx;
            this.graphOutputs = new HashSet<>(graph.outputs());
            List<Node> nodes = graph.nodes();
            for (int i = 0; i < nodes.size(); i++) {
                for (Value in : nodes.get(i).inputs()) if (in != null) lastUse.put(in, i);
                for (Value out : nodes.get(i).outputs()) definedAt.put(out, i);
                // A backend may compute a convolution right before the LayoutTransform of its output straight into
                // the transform's output (the C backend does, for an image's few channels): its inputs live until then.
                Node prev = i > 0 ? nodes.get(i - 1) : null;
                if (nodes.get(i).op().equals("LayoutTransform") && prev != null && CONVOLUTIONS.contains(prev.op()) && nodes.get(i).input(0) == prev.output(0)) {
                    for (Value in : prev.inputs()) if (in != null) lastUse.put(in, i);
                }
            }
        }

        MemoryPlan plan() {
            List<Node> nodes = graph.nodes();
            for (int i = 0; i < nodes.size(); i++) if (nodes.get(i).op().equals("Concat")) planConcat(nodes.get(i), i);
            for (int i = 0; i < nodes.size(); i++) assign(nodes.get(i), i);
            long[] liveBytes = liveBytes(nodes.size());
            place(liveBytes);
            long lowerBound = 0;
            for (long live : liveBytes) lowerBound = Math.max(lowerBound, live);
            List<MemoryPlan.Slot> slots = new ArrayList<>(members.size());
            long arena = 0;
            for (Buffer b : buffers) arena = Math.max(arena, b.offset + align(b.bytes));
            for (Member m : members) {
                slots.add(new MemoryPlan.Slot(m.value().name(), m.buffer().offset + m.offset(), m.bytes(), m.firstNode(),
                        m.lastNode(), m.reuse(), m.source() == null ? null : m.source().name()));
            }
            return new MemoryPlan(graph.name(), slots, outsideArena, arena, lowerBound);
        }

        /**
         * Makes the Concat's inputs parts of its output's buffer when each is a whole, 64-byte aligned piece
         * of it, the output of a node (not a view) in the arena, read by no other Concat taking it so, and
         * not itself a Concat output given its parts. The buffer lives from the first part's node. When the
         * first inputs are all the inputs of an earlier Concat planned so (and not extended yet), that
         * Concat's output is the first part instead: its buffer grows into this one's.
         */
        private void planConcat(Node concat, int index) {
            Value y = concat.output(0);
            long bytes = byteSize(y.type());
            if (graphOutputs.contains(y) || bytes < 0 || concat.outputs().size() != 1) return;
            long[] dims = y.type().shape().sizes();
            long axis = concat.attribute("axis") instanceof Attribute.Int a ? a.value() : 0;
            if (axis < 0) axis += dims.length;
            for (int d = 0; d < axis; d++) if (dims[d] != 1) return;
            List<Value> inputs = concat.inputs();
            Value prefix = earlierConcatBeginning(inputs);
            int from = prefix == null ? 0 : extendable.get(prefix).size();
            Buffer grown = prefix == null ? null : concatBuffers.get(prefix);
            Set<Value> seen = new HashSet<>(inputs.subList(0, from));
            long offset = grown == null ? 0 : grown.bytes;
            int first = grown == null ? index : grown.firstNode;
            int last = Math.max(grown == null ? index : grown.lastNode, lastUse.getOrDefault(y, index));
            for (Value in : inputs.subList(from, inputs.size())) {
                long size = in == null ? -1 : byteSize(in.type());
                if (size < 0 || offset % MemoryPlan.ALIGNMENT != 0 || !seen.add(in) || in.producer() == null || graphOutputs.contains(in)
                        || VIEWS.contains(in.producer().op()) || parts.containsKey(in) || concatBuffers.containsKey(in)) {
                    return;
                }
                first = Math.min(first, definedAt.get(in));
                last = Math.max(last, lastUse.getOrDefault(in, index));
                offset += size;
            }
            if (offset != bytes) return;
            Buffer b = grown;
            if (b == null) {
                b = new Buffer(buffers.size(), bytes, first, last);
                buffers.add(b);
            } else {
                b.bytes = bytes;
                b.firstNode = first;
                b.lastNode = last;
                parts.put(prefix, new Part(y, 0));
                extendable.remove(prefix);
            }
            concatBuffers.put(y, b);
            extendable.put(y, inputs);
            offset = grown == null ? 0 : byteSize(prefix.type());
            for (Value in : inputs.subList(from, inputs.size())) {
                parts.put(in, new Part(y, offset));
                offset += byteSize(in.type());
            }
        }

        /** The output of an earlier planned Concat, not extended yet, whose inputs are the first (not all) of these; else null. */
        private Value earlierConcatBeginning(List<Value> inputs) {
            for (Map.Entry<Value, List<Value>> e : extendable.entrySet()) {
                List<Value> earlier = e.getValue();
                if (earlier.size() < inputs.size() && inputs.subList(0, earlier.size()).equals(earlier)) return e.getKey();
            }
            return null;
        }

        /** Decides where each output of node {@code index} lives: its own buffer, a part of a Concat's, an alias, in place, or outside. */
        private void assign(Node node, int index) {
            boolean known = OpRegistry.contains(node.op());
            if (!known) ctx.debug("plan-memory: op " + node.op() + " at node " + node.name() + " is unknown; its outputs get buffers of their own");
            Set<Buffer> takenOver = new HashSet<>();
            for (Value out : node.outputs()) {
                if (graphOutputs.contains(out)) continue;
                int last = lastUse.getOrDefault(out, index);
                long bytes = byteSize(out.type());
                if (bytes < 0) {
                    outsideArena.put(out.name(), "symbolic shape " + out.type());
                    ctx.debug("plan-memory: %" + out.name() + " of node " + node.name() + " has the symbolic shape "
                            + out.type() + "; it is left out of the arena");
                    continue;
                }
                Part part = parts.get(out);
                if (part != null) {
                    add(new Member(out, index, last, MemoryPlan.Reuse.PART, part.concat(), concatBuffers.get(part.concat()), part.offset(), bytes));
                    continue;
                }
                if (concatBuffers.containsKey(out)) {
                    add(new Member(out, index, last, MemoryPlan.Reuse.OWN, null, concatBuffers.get(out), 0, bytes));
                    continue;
                }
                if (VIEWS.contains(node.op()) && out == node.output(0) && aliasInput(node, out, bytes, index, last)) continue;
                Value source = known ? inPlaceSource(node, out, bytes, index, takenOver) : null;
                if (source != null) {
                    Buffer b = bufferOf.get(source);
                    takenOver.add(b);
                    b.lastNode = Math.max(b.lastNode, last);
                    add(new Member(out, index, last, MemoryPlan.Reuse.IN_PLACE, source, b, 0, bytes));
                } else {
                    Buffer b = new Buffer(buffers.size(), bytes, index, last);
                    buffers.add(b);
                    add(new Member(out, index, last, MemoryPlan.Reuse.OWN, null, b, 0, bytes));
                }
            }
        }

        /**
         * Makes a view share its input's bytes; false when the sizes differ (a view of a padded
         * blocked layout), so the view needs a buffer of its own.
         */
        private boolean aliasInput(Node node, Value out, long bytes, int index, int last) {
            Value in = node.input(0);
            Buffer b = bufferOf.get(in);
            if (b == null) {
                outsideArena.put(out.name(), "view of " + describeOutside(in));
                return true;
            }
            if (b.bytes != bytes || parts.containsKey(in)) return false;
            b.lastNode = Math.max(b.lastNode, last);
            add(new Member(out, index, last, MemoryPlan.Reuse.ALIAS, in, b, 0, bytes));
            return true;
        }

        private String describeOutside(Value v) {
            if (v.isConstant()) return "constant %" + v.name();
            if (v.producer() == null) return "graph input %" + v.name();
            if (graphOutputs.contains(v)) return "graph output %" + v.name();
            return "%" + v.name() + ", which is outside the arena";
        }

        /**
         * An input whose buffer the output may be written over: the op is elementwise, so output
         * element i depends on element i of every input of the output's size; the input has the
         * output's bytes, dtype and layout; and no value of its buffer is read after this node.
         */
        private Value inPlaceSource(Node node, Value out, long bytes, int index, Set<Buffer> takenOver) {
            LayoutRule rule = OpRegistry.spec(node.op()).layoutRule();
            if (rule != LayoutRule.AGNOSTIC && rule != LayoutRule.BROADCAST) return null;
            for (Value in : node.inputs()) {
                Buffer b = in == null ? null : bufferOf.get(in);
                if (b == null || b.lastNode != index || takenOver.contains(b) || b.bytes != bytes || parts.containsKey(in)) continue;
                TensorType it = in.type();
                if (it.dtype() == out.type().dtype() && it.layout().equals(out.type().layout())) return in;
            }
            return null;
        }

        private void add(Member m) {
            members.add(m);
            bufferOf.put(m.value(), m.buffer());
        }

        /**
         * Places the buffers greedily in a few orders and keeps the smallest arena: by size (largest
         * first), and by breadth (buffers of the most crowded nodes first, so those nodes stack
         * tightly), which wins on graphs of mixed sizes such as an encoder with f16 and f32 values.
         */
        private void place(long[] liveBytes) {
            Comparator<Buffer> bySize = Comparator.comparingLong((Buffer b) -> -b.bytes).thenComparingInt(b -> b.firstNode);
            Comparator<Buffer> byBreadth = Comparator.comparingLong((Buffer b) -> -breadth(b, liveBytes)).thenComparing(bySize);
            long[] best = null;
            for (Comparator<Buffer> order : List.of(bySize, byBreadth)) {
                List<Buffer> ordered = new ArrayList<>(buffers);
                ordered.sort(order);
                long[] offsets = placeInOrder(ordered);
                if (best == null || arenaBytes(offsets) < arenaBytes(best)) best = offsets;
            }
            for (int i = 0; i < buffers.size(); i++) buffers.get(i).offset = best[i];
        }

        /** The most bytes live at one node of a buffer's lifetime. */
        private static long breadth(Buffer b, long[] liveBytes) {
            long most = 0;
            for (int i = b.firstNode; i <= b.lastNode; i++) most = Math.max(most, liveBytes[i]);
            return most;
        }

        /** Offsets (indexed as {@link #buffers}) putting each buffer in turn into the tightest gap among the placed buffers it lives with, or on top. */
        private long[] placeInOrder(List<Buffer> ordered) {
            long[] offsets = new long[buffers.size()];
            List<Buffer> placed = new ArrayList<>();
            for (Buffer b : ordered) {
                long size = align(b.bytes);
                if (size == 0) continue;
                List<Buffer> neighbours = new ArrayList<>();
                for (Buffer p : placed) if (p.livesWith(b)) neighbours.add(p);
                neighbours.sort(Comparator.comparingLong(p -> offsets[p.id]));
                long top = 0;
                long bestOffset = -1;
                long bestGap = Long.MAX_VALUE;
                for (Buffer p : neighbours) {
                    long gap = offsets[p.id] - top;
                    if (gap >= size && gap < bestGap) {
                        bestGap = gap;
                        bestOffset = top;
                    }
                    top = Math.max(top, offsets[p.id] + align(p.bytes));
                }
                offsets[b.id] = bestOffset >= 0 ? bestOffset : top;
                placed.add(b);
            }
            return offsets;
        }

        private long arenaBytes(long[] offsets) {
            long arena = 0;
            for (Buffer b : buffers) arena = Math.max(arena, offsets[b.id] + align(b.bytes));
            return arena;
        }

        /** Bytes of the buffers live at each node. */
        private long[] liveBytes(int nodeCount) {
            long[] live = new long[nodeCount];
            long[] delta = new long[nodeCount + 1];
            for (Buffer b : buffers) {
                delta[b.firstNode] += b.bytes;
                delta[b.lastNode + 1] -= b.bytes;
            }
            long running = 0;
            for (int i = 0; i < nodeCount; i++) {
                running += delta[i];
                live[i] = running;
            }
            return live;
        }
    }
}
