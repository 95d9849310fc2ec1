package dev.kiln.passes;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.ShapeFolding;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Computes at compile time what does not depend on the graph inputs. Shape arithmetic (Shape and
 * Size of values with static shapes, and the small integer ops exporters build shapes with) folds
 * by {@link ShapeFolding}; Identity, Reshape and the like of a constant become a constant sharing
 * its bytes; any other node whose inputs are all constants is run once by the context's evaluator
 * and becomes a constant, unless that would make the weights grow (an output larger than the
 * constants it frees, beyond {@link #SMALL_BYTES}, parts of a constant aside: {@link #PARTS}) or exceed
 * {@link #MAX_ELEMENTS} elements.
 * Output types are re-inferred as inputs become constants, so a Reshape fed by a folded shape gets
 * its static type and the shape queries after it fold in the same walk. Without an evaluator only
 * the first two kinds fold. Training-mode Dropout, the one nondeterministic op, is left alone.
 */
public final class FoldConstants extends Pass {
    /** Ops whose result has the same bytes as their first input (given the same dtype): folded as a view, never copied. */
    private static final Set<String> SAME_BYTES = Set.of("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Dropout", "Cast");
    /** The most elements the outputs of one folded node may have. */
    static final long MAX_ELEMENTS = 16L << 20;
    /** Outputs up to this size fold even when larger than what they free (shape tensors, small tables). */
    static final long SMALL_BYTES = 64L << 10;
    /**
     * Ops whose outputs are parts of their first input. Parts of a constant that only such ops read fold while
     * together they are no larger than it (it goes once they all have): exporters reorder weights so, as PyTorch
     * does the gates of LSTM and GRU, and leaving them to run time would cut the weights up on every run.
     */
    private static final Set<String> PARTS = Set.of("Slice", "Split", "Gather");

    @Override
    protected Graph run(Graph graph, PassContext ctx) {
        return new Folding(graph, ctx).run();
    }

    /** One run over a graph; its state lives only as long as the run. */
    private final class Folding {
        private final Graph source;
        private final PassContext ctx;
        private final Uses uses;
        private final GraphRewrite rw;
        /** Holds folded values until a node that stays or a graph output needs them, so that intermediate results leave no trace. */
        private final Graph folds;
        private final Map<Value, Constant> folded = new HashMap<>();
        /** Bytes of the parts folded so far out of each constant that only PARTS ops read. */
        private final Map<Value, Long> partsTaken = new HashMap<>();

        Folding(Graph source, PassContext ctx) {
            this.source = source;
            this.ctx = ctx;
            this.uses = Uses.of(source);
            this.rw = new GraphRewrite(source);
            this.folds = new Graph(source.name() + "_folds");
        }

        Graph run() {
            for (Node n : source.nodes()) {
                if (!OpRegistry.contains(n.op())) {
                    ctx.debug(name() + ": leaves node @" + n.name() + " alone: unknown op " + n.op());
                    emit(n, null);
                    continue;
                }
                List<Value> inputs = new ArrayList<>(n.inputs().size());
                for (Value v : n.inputs()) inputs.add(current(v));
                List<TensorType> inferred = OpRegistry.spec(n.op()).inferTypes(n.name(), inputs, n.attributes(), n.outputs().size());
                List<TensorType> types = new ArrayList<>(inferred.size());
                for (int i = 0; i < inferred.size(); i++) types.add(TypeRefinement.refine(n, i, n.output(i).type(), inferred.get(i)));
                List<Attribute.Tensor> values = Purity.isDeterministic(n) ? fold(n, inputs, types) : null;
                if (values == null) {
                    emit(n, types);
                    continue;
                }
                for (int i = 0; i < values.size(); i++) {
                    Value out = n.output(i);
                    folded.put(out, folds.addConstant(folds.freshName(out.name()), types.get(i), values.get(i).data()));
                }
            }
            for (Value out : source.outputs()) materialize(out);
            return rw.finish();
        }

        /** What a node reading {@code v} sees now: a constant when it is one or was folded, else its value in the new graph. */
        private Value current(Value v) {
            if (v == null || v.isConstant()) return v;
            Constant c = folded.get(v);
            return c != null ? c : rw.map(v);
        }

        /** The node's results as constants, or null when it stays. */
        private List<Attribute.Tensor> fold(Node n, List<Value> inputs, List<TensorType> types) {
            List<Attribute.Tensor> shapeArithmetic = ShapeFolding.fold(n.op(), inputs, n.attributes(), types);
            if (shapeArithmetic != null) return shapeArithmetic;
            if (SAME_BYTES.contains(n.op()) && types.size() == 1 && inputs.get(0) instanceof Constant c
                    && c.type().dtype() == types.get(0).dtype() && types.get(0).shape().isStatic()) {
                return List.of(new Attribute.Tensor(types.get(0), c.data()));
            }
            GraphEvaluator evaluator = ctx.evaluator();
            if (evaluator == null || !allConstant(inputs)) return null;
            long elements = 0;
            long bytes = 0;
            for (TensorType t : types) {
                if (!t.shape().isStatic()) return null;
                elements += t.shape().elementCount();
                bytes += t.shape().elementCount() * t.dtype().byteSize();
            }
            long freed = 0;
            Set<Value> distinct = new HashSet<>();
            for (int i = 0; i < inputs.size(); i++) {
                Value in = inputs.get(i);
                if (in != null && distinct.add(in) && uses.onlyFeeds(n.input(i), n)) freed += in.type().shape().elementCount() * in.type().dtype().byteSize();
            }
            if (elements > MAX_ELEMENTS) {
                ctx.debug(name() + ": leaves " + n.op() + " node @" + n.name() + " to run time: its " + elements + " output elements are too many to fold");
                return null;
            }
            boolean part = takesParts(n);
            long whole = part ? inputs.get(0).type().shape().elementCount() * inputs.get(0).type().dtype().byteSize() : 0;
            if (bytes > Math.max(freed, SMALL_BYTES) && !(part && partsTaken.getOrDefault(n.input(0), 0L) + bytes <= whole)) {
                ctx.debug(name() + ": leaves " + n.op() + " node @" + n.name() + " to run time: its " + bytes
                        + " bytes of output would outweigh the " + freed + " bytes of constants it frees");
                return null;
            }
            List<Attribute.Tensor> values = evaluate(evaluator, n, inputs, types);
            if (values != null && part) partsTaken.merge(n.input(0), bytes, Long::sum);
            return values;
        }

        /** Whether the node is a PARTS op reading a constant (its first input) that only such ops read, as their first input. */
        private boolean takesParts(Node n) {
            if (!PARTS.contains(n.op())) return false;
            Value whole = n.input(0);
            if (uses.isGraphOutput(whole)) return false;
            for (Node reader : uses.consumers(whole)) {
                if (!PARTS.contains(reader.op()) || reader.inputs().lastIndexOf(whole) != 0) return false;
            }
            return true;
        }

        /** Runs the node alone on its constant inputs. */
        private List<Attribute.Tensor> evaluate(GraphEvaluator evaluator, Node n, List<Value> inputs, List<TensorType> types) {
            Graph single = new Graph(n.name());
            Map<Value, Value> constants = new HashMap<>();
            List<Value> singleInputs = new ArrayList<>(inputs.size());
            for (Value v : inputs) {
                if (v == null) {
                    singleInputs.add(null);
                    continue;
                }
                Value c = constants.get(v);
                if (c == null) {
                    c = single.addConstant("c" + constants.size(), v.type(), ((Constant) v).data());
                    constants.put(v, c);
                }
                singleInputs.add(c);
            }
            List<String> outputNames = new ArrayList<>();
            for (int i = 0; i < types.size(); i++) outputNames.add("y" + i);
            Node node = single.addNode(n.name(), n.op(), singleInputs, n.attributes(), outputNames, types);
            node.outputs().forEach(single::addOutput);
            Map<String, Attribute.Tensor> results;
            try {
                results = evaluator.run(single, Map.of());
            } catch (RuntimeException e) {
                ctx.debug(name() + ": leaves " + n.op() + " node @" + n.name() + " to run time: evaluating it failed: " + e.getMessage());
                return null;
            }
            List<Attribute.Tensor> values = new ArrayList<>(types.size());
            for (int i = 0; i < types.size(); i++) {
                Attribute.Tensor t = results.get(outputNames.get(i));
                if (t.type().dtype() != types.get(i).dtype() || !t.type().shape().equals(types.get(i).shape())) {
                    throw new IllegalStateException(n.op() + " node '" + n.name() + "' evaluated to " + t.type() + " but is typed " + types.get(i));
                }
                values.add(new Attribute.Tensor(types.get(i), t.data()));
            }
            return values;
        }

        /** Copies a node that stays, reading folded inputs as constants of the new graph; refined types replace the old ones. */
        private void emit(Node n, List<TensorType> types) {
            for (Value in : n.inputs()) if (in != null) materialize(in);
            Node copy = rw.copy(n);
            if (types != null) for (int i = 0; i < types.size(); i++) copy.output(i).setType(types.get(i));
        }

        private void materialize(Value old) {
            Constant value = folded.remove(old);
            if (value != null) rw.replace(old, rw.constant(old.name(), value.type(), value.data()));
        }
    }

    private static boolean allConstant(List<Value> inputs) {
        boolean any = false;
        for (Value v : inputs) {
            if (v != null && !v.isConstant()) return false;
            any |= v != null;
        }
        return any;
    }
}
