package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Constant;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Runs a graph node by node with the reference kernels. Correct before fast: every result is
 * checked against the type the IR declares, and intermediates are released after their last use.
 */
public final class Interpreter {
    private final Graph graph;
    private final Kernel[] kernels;
    private final Map<String, Integer> lastUse = new HashMap<>();

    public Interpreter(Graph graph) {
        this.graph = graph;
        List<Node> nodes = graph.nodes();
        this.kernels = new Kernel[nodes.size()];
        TreeSet<String> missing = new TreeSet<>();
        for (int i = 0; i < nodes.size(); i++) {
            kernels[i] = Kernels.forOp(nodes.get(i).op());
            if (kernels[i] == null) missing.add(nodes.get(i).op());
        }
        if (!missing.isEmpty()) throw new InterpreterException("the interpreter has no kernel for " + String.join(", ", missing));
        // Last node index that reads each value, so that intermediates can be dropped early.
        for (int i = 0; i < nodes.size(); i++) {
            for (Value v : nodes.get(i).inputs()) if (v != null) lastUse.put(v.name(), i);
        }
        for (Value v : graph.outputs()) lastUse.put(v.name(), Integer.MAX_VALUE);
    }

    /** Runs the graph; inputs by name, outputs by name in the graph's output order. */
    public Map<String, Tensor> run(Map<String, Tensor> inputs) {
        Map<String, Long> symbols = new HashMap<>();
        Map<String, Tensor> env = new HashMap<>();
        for (String name : inputs.keySet()) {
            if (graph.inputs().stream().noneMatch(v -> v.name().equals(name))) {
                throw new IllegalArgumentException("the model has no input named '" + name + "'; its inputs are " + inputNames());
            }
        }
        for (Value in : graph.inputs()) {
            Tensor t = inputs.get(in.name());
            if (t == null) throw new IllegalArgumentException("missing input '" + in.name() + "' of type " + in.type());
            checkType("input '" + in.name() + "'", in.type(), t, symbols, true);
            env.put(in.name(), t);
        }
        for (Constant c : graph.constants().values()) {
            env.put(c.name(), Tensor.wrap(c.type().dtype(), c.type().shape().sizes(), c.data()));
        }
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            Node node = nodes.get(i);
            List<Tensor> args = new ArrayList<>(node.inputs().size());
            for (Value v : node.inputs()) {
                if (v == null) {
                    args.add(null);
                } else {
                    Tensor t = env.get(v.name());
                    if (t == null) throw new InterpreterException("value '" + v.name() + "' is used by node '" + node.name() + "' before it is computed");
                    args.add(t);
                }
            }
            List<Tensor> results = kernels[i].run(new KernelContext(node, args));
            if (results.size() != node.outputs().size()) {
                throw new InterpreterException(node.op() + " node '" + node.name() + "' produced " + results.size() + " outputs, expected " + node.outputs().size());
            }
            for (int k = 0; k < results.size(); k++) {
                Value out = node.output(k);
                checkType(node.op() + " node '" + node.name() + "' output '" + out.name() + "'", out.type(), results.get(k), symbols, false);
                env.put(out.name(), results.get(k));
            }
            for (Value v : node.inputs()) {
                if (v != null && !v.isConstant() && lastUse.getOrDefault(v.name(), -1) == i) env.remove(v.name());
            }
        }
        Map<String, Tensor> outputs = new LinkedHashMap<>();
        for (Value v : graph.outputs()) outputs.put(v.name(), env.get(v.name()));
        return outputs;
    }

    private List<String> inputNames() {
        return graph.inputs().stream().map(Value::name).toList();
    }

    private static void checkType(String what, TensorType declared, Tensor t, Map<String, Long> symbols, boolean userInput) {
        String problem = null;
        Shape s = declared.shape();
        if (t.dtype() != declared.dtype()) {
            problem = "has dtype " + t.dtype() + " but " + declared.dtype() + " is expected";
        } else if (t.rank() != s.rank()) {
            problem = "has shape " + Arrays.toString(t.shape()) + " but " + s + " is expected";
        } else {
            for (int d = 0; d < s.rank() && problem == null; d++) {
                Dim dim = s.dim(d);
                if (dim.isStatic()) {
                    if (dim.size() != t.dim(d)) problem = "has shape " + Arrays.toString(t.shape()) + " but " + s + " is expected";
                } else {
                    Long bound = symbols.putIfAbsent(dim.symbol(), t.dim(d));
                    if (bound != null && bound != t.dim(d)) {
                        problem = "has shape " + Arrays.toString(t.shape()) + " but dimension " + dim.symbol() + " is " + bound + " elsewhere";
                    }
                }
            }
        }
        if (problem == null) return;
        if (userInput) throw new IllegalArgumentException(what + " " + problem);
        throw new InterpreterException(what + " " + problem);
    }
}
