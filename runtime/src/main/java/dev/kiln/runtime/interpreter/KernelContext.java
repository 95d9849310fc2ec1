package dev.kiln.runtime.interpreter;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.ops.OpRegistry;
import dev.kiln.ir.ops.OpSpec;
import dev.kiln.runtime.Tensor;

import java.util.List;

/** What a kernel sees of one node at run time: input tensors, attributes with defaults, declared output types. */
final class KernelContext {
    private final Node node;
    private final OpSpec spec;
    private final List<Tensor> inputs;

    KernelContext(Node node, List<Tensor> inputs) {
        this.node = node;
        this.spec = OpRegistry.spec(node.op());
        this.inputs = inputs;
    }

    Node node() { return node; }

    int inputCount() { return inputs.size(); }

    boolean hasInput(int i) { return i < inputs.size() && inputs.get(i) != null; }

    /** Input i; fails when it is omitted. */
    Tensor input(int i) {
        if (!hasInput(i)) throw fail("input " + i + " is missing");
        return inputs.get(i);
    }

    /** Input i, or null when omitted. */
    Tensor optionalInput(int i) { return hasInput(i) ? inputs.get(i) : null; }

    int outputCount() { return node.outputs().size(); }

    /** The output type the IR declares (its dtype is authoritative; dims may be symbolic). */
    TensorType outputType(int i) { return node.output(i).type(); }

    DType outputDType(int i) { return outputType(i).dtype(); }

    boolean hasAttr(String name) { return spec.attributeOrDefault(node.attributes(), name) != null; }

    Attribute attr(String name) { return spec.attributeOrDefault(node.attributes(), name); }

    long intAttr(String name) {
        if (attr(name) instanceof Attribute.Int i) return i.value();
        throw fail("attribute '" + name + "' is not set");
    }

    float floatAttr(String name) {
        if (attr(name) instanceof Attribute.Float f) return f.value();
        throw fail("attribute '" + name + "' is not set");
    }

    String stringAttr(String name) {
        if (attr(name) instanceof Attribute.Str s) return s.value();
        throw fail("attribute '" + name + "' is not set");
    }

    /** An INTS attribute, or null when absent with no default. */
    long[] intsAttr(String name) { return attr(name) instanceof Attribute.Ints i ? i.values() : null; }

    /** A FLOATS attribute, or null when absent with no default. */
    float[] floatsAttr(String name) { return attr(name) instanceof Attribute.Floats f ? f.values() : null; }

    List<String> stringsAttr(String name) { return attr(name) instanceof Attribute.Strs s ? s.values() : null; }

    /** Normalises a possibly negative axis, failing when out of range. */
    int axis(long axis, int rank) {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) throw fail("axis " + axis + " is out of range for rank " + rank);
        return (int) a;
    }

    InterpreterException fail(String message) {
        return new InterpreterException(node.op() + " node '" + node.name() + "': " + message);
    }

    InterpreterException unsupportedDType(DType t) {
        return fail("dtype " + t + " is not supported");
    }
}
