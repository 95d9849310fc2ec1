package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Graph;
import dev.kiln.ir.GraphEvaluator;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.runtime.Tensor;

import java.util.LinkedHashMap;
import java.util.Map;

/** The reference interpreter as the compiler's {@link GraphEvaluator}. */
public final class InterpreterEvaluator implements GraphEvaluator {
    @Override
    public Map<String, Attribute.Tensor> run(Graph graph, Map<String, Attribute.Tensor> inputs) {
        Map<String, Tensor> in = new LinkedHashMap<>();
        for (Map.Entry<String, Attribute.Tensor> e : inputs.entrySet()) {
            Attribute.Tensor t = e.getValue();
            in.put(e.getKey(), Tensor.wrap(t.type().dtype(), t.type().shape().sizes(), t.data()));
        }
        Map<String, Attribute.Tensor> out = new LinkedHashMap<>();
        for (Map.Entry<String, Tensor> e : new Interpreter(graph).run(in).entrySet()) {
            Tensor t = e.getValue();
            TensorType declared = graph.value(e.getKey()).type();
            out.put(e.getKey(), new Attribute.Tensor(new TensorType(t.dtype(), Shape.of(t.shape()), declared.layout()), t.data()));
        }
        return out;
    }
}
