package dev.kiln.frontend.onnx;

import ai.onnx.proto.OnnxMl;
import dev.kiln.frontend.DataInputConfig;
import dev.kiln.frontend.ImportException;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Dim;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Shape;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.OpRegistry;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Turns a parsed ONNX ModelProto into an IR graph. */
final class OnnxImporter {
    static final int MIN_IR_VERSION = 3;
    static final int MAX_IR_VERSION = 13;
    static final int MIN_OPSET = 1;
    static final int MAX_OPSET = 28;

    private final OnnxMl.ModelProto model;
    private final Path modelDir;
    private final Map<String, Integer> opsets = new HashMap<>();
    private int unknownDims;
    /** Attributes of a kind the IR has no form for (subgraphs, sparse tensors); an error only if the op is supported. */
    private final Map<OnnxNode, String> unsupportedAttributes = new HashMap<>();

    OnnxImporter(OnnxMl.ModelProto model, Path modelDir) {
        this.model = model;
        this.modelDir = modelDir;
    }

    Graph importGraph(DataInputConfig config) {
        checkVersions();
        OnnxMl.GraphProto g = model.getGraph();
        Graph graph = new Graph(g.getName().isEmpty() ? "main" : g.getName());
        ImportContext ctx = new ImportContext(graph);

        Set<String> initializerNames = new HashSet<>();
        for (OnnxMl.TensorProto t : g.getInitializerList()) initializerNames.add(t.getName());
        List<OnnxMl.ValueInfoProto> realInputs = new ArrayList<>();
        for (OnnxMl.ValueInfoProto vi : g.getInputList()) {
            if (!initializerNames.contains(vi.getName())) realInputs.add(vi);
        }
        Map<String, long[]> fixed = resolveConfig(config, realInputs);
        for (OnnxMl.ValueInfoProto vi : realInputs) {
            TensorType type = inputType(vi, fixed.get(vi.getName()));
            ctx.bind(vi.getName(), graph.addInput(checkedName(vi.getName(), "input"), type));
        }
        for (OnnxMl.TensorProto t : g.getInitializerList()) {
            if (t.getName().isEmpty()) throw ImportException.client("an initializer has no name");
            Attribute.Tensor data = OnnxTensors.decode(t, modelDir);
            ctx.bind(t.getName(), graph.addConstant(t.getName(), data.type(), data.data()));
        }
        if (g.getSparseInitializerCount() > 0) {
            throw new ImportException("UnsupportedDataType", "sparse initializers are not supported");
        }

        List<OnnxNode> nodes = orderedNodes(g, ctx);
        checkOpsSupported(nodes);
        for (OnnxNode n : nodes) convert(n, ctx);

        if (g.getOutputCount() == 0) throw ImportException.client("the model's graph has no outputs");
        Set<String> seen = new HashSet<>();
        for (OnnxMl.ValueInfoProto out : g.getOutputList()) {
            if (!ctx.isBound(out.getName())) throw ImportException.client("graph output '" + out.getName() + "' is never computed");
            if (seen.add(out.getName())) graph.addOutput(ctx.value(out.getName()));
        }
        return graph;
    }

    private void checkVersions() {
        long ir = model.getIrVersion();
        if (ir < MIN_IR_VERSION || ir > MAX_IR_VERSION) {
            throw ImportException.client("ONNX IR version " + ir + " is not supported; Kiln reads IR versions "
                    + MIN_IR_VERSION + " to " + MAX_IR_VERSION);
        }
        for (OnnxMl.OperatorSetIdProto id : model.getOpsetImportList()) {
            String domain = id.getDomain().equals("ai.onnx") ? "" : id.getDomain();
            opsets.put(domain, (int) id.getVersion());
        }
        Integer def = opsets.get("");
        if (def == null) {
            if (model.getOpsetImportCount() == 0) opsets.put("", 1);
            else return;
        }
        int v = opsets.get("");
        if (v < MIN_OPSET || v > MAX_OPSET) {
            throw ImportException.client("ONNX opset " + v + " is not supported; Kiln reads opsets " + MIN_OPSET + " to " + MAX_OPSET);
        }
    }

    private Map<String, long[]> resolveConfig(DataInputConfig config, List<OnnxMl.ValueInfoProto> inputs) {
        Map<String, long[]> fixed = new LinkedHashMap<>();
        if (config.isEmpty()) return fixed;
        List<String> names = inputs.stream().map(OnnxMl.ValueInfoProto::getName).toList();
        if (config.isNamed()) {
            for (DataInputConfig.Entry e : config.entries()) {
                if (!names.contains(e.name())) {
                    throw ImportException.client("InputConfiguration: DataInputConfig names input '" + e.name()
                            + "', but the model's inputs are " + names);
                }
                fixed.put(e.name(), e.shape());
            }
        } else {
            if (config.entries().size() > names.size()) {
                throw ImportException.client("InputConfiguration: DataInputConfig gives " + config.entries().size()
                        + " shapes, but the model has " + names.size() + " inputs " + names);
            }
            for (int i = 0; i < config.entries().size(); i++) fixed.put(names.get(i), config.entries().get(i).shape());
        }
        return fixed;
    }

    private TensorType inputType(OnnxMl.ValueInfoProto vi, long[] fixedShape) {
        String where = "input '" + vi.getName() + "'";
        if (!vi.getType().hasTensorType()) {
            throw new ImportException("UnsupportedDataType", where + " is not a tensor (sequence, map and optional inputs are not supported)");
        }
        OnnxMl.TypeProto.Tensor tt = vi.getType().getTensorType();
        DType dtype = OnnxTensors.dtype(tt.getElemType(), where);
        if (!tt.hasShape()) {
            if (fixedShape == null) {
                throw ImportException.client("InputConfiguration: " + where + " has no declared shape; give it in DataInputConfig");
            }
            return TensorType.of(dtype, fixedShape);
        }
        List<Dim> dims = new ArrayList<>();
        for (OnnxMl.TensorShapeProto.Dimension d : tt.getShape().getDimList()) {
            if (d.hasDimValue()) {
                if (d.getDimValue() < 0) throw ImportException.client(where + " has negative dimension " + d.getDimValue());
                dims.add(Dim.of(d.getDimValue()));
            } else if (d.hasDimParam() && !d.getDimParam().isEmpty()) {
                dims.add(Dim.symbol(symbol(d.getDimParam())));
            } else {
                dims.add(Dim.symbol("unk__" + unknownDims++));
            }
        }
        if (fixedShape != null) {
            if (fixedShape.length != dims.size()) {
                throw ImportException.client("InputConfiguration: " + where + " has rank " + dims.size() + " (" + new Shape(dims)
                        + ") but DataInputConfig gives shape " + Shape.of(fixedShape));
            }
            for (int i = 0; i < dims.size(); i++) {
                if (dims.get(i).isStatic() && dims.get(i).size() != fixedShape[i]) {
                    throw ImportException.client("InputConfiguration: " + where + " has shape " + new Shape(dims)
                            + " but DataInputConfig gives " + Shape.of(fixedShape));
                }
            }
            return TensorType.of(dtype, fixedShape);
        }
        return TensorType.of(dtype, new Shape(dims));
    }

    /** ONNX dim_params are free text; IR symbols are identifiers. */
    private static String symbol(String param) {
        String s = param.replaceAll("[^A-Za-z0-9_]", "_");
        return Character.isDigit(s.charAt(0)) ? "_" + s : s;
    }

    private static String checkedName(String name, String what) {
        if (name.isEmpty()) throw ImportException.client("a graph " + what + " has no name");
        return name;
    }

    /**
     * The nodes in an order where every input is defined first. ONNX requires topological order,
     * but exporters do not always keep it; a cycle or an undefined input is an error.
     */
    private List<OnnxNode> orderedNodes(OnnxMl.GraphProto g, ImportContext ctx) {
        List<OnnxNode> nodes = new ArrayList<>();
        Set<String> usedNames = new HashSet<>();
        Map<String, Integer> producer = new HashMap<>();
        for (int i = 0; i < g.getNodeCount(); i++) {
            OnnxMl.NodeProto np = g.getNode(i);
            String name = np.getName().isEmpty() || usedNames.contains(np.getName()) ? uniqueNodeName(np, i, usedNames) : np.getName();
            usedNames.add(name);
            String domain = np.getDomain().equals("ai.onnx") ? "" : np.getDomain();
            Integer opset = opsets.get(domain);
            OnnxNode n = new OnnxNode(name, np.getOpType(), domain, opset == null ? -1 : opset,
                    List.copyOf(np.getInputList()), List.copyOf(np.getOutputList()), attributes(np, name));
            for (OnnxMl.AttributeProto a : np.getAttributeList()) {
                if (!n.attributes().containsKey(a.getName())) unsupportedAttributes.put(n, a.getName() + " of kind " + a.getType());
            }
            for (String out : n.outputs()) {
                if (out.isEmpty()) continue;
                if (ctx.isBound(out) || producer.putIfAbsent(out, i) != null) {
                    throw ImportException.client("value '" + out + "' is defined twice (again by node " + name + ")");
                }
            }
            nodes.add(n);
        }
        int[] state = new int[nodes.size()];
        List<OnnxNode> order = new ArrayList<>(nodes.size());
        for (int i = 0; i < nodes.size(); i++) visit(i, nodes, producer, ctx, state, order);
        return order;
    }

    private static String uniqueNodeName(OnnxMl.NodeProto np, int index, Set<String> used) {
        String base = (np.getName().isEmpty() ? np.getOpType() : np.getName()) + "_" + index;
        String name = base;
        for (int k = 1; used.contains(name); k++) name = base + "_" + k;
        return name;
    }

    /** Depth-first topological sort without recursion, so that deep graphs cannot overflow the stack. */
    private static void visit(int root, List<OnnxNode> nodes, Map<String, Integer> producer, ImportContext ctx, int[] state, List<OnnxNode> order) {
        if (state[root] == 2) return;
        Deque<int[]> stack = new ArrayDeque<>();
        stack.push(new int[] {root, 0});
        state[root] = 1;
        while (!stack.isEmpty()) {
            int[] top = stack.peek();
            OnnxNode n = nodes.get(top[0]);
            if (top[1] < n.inputs().size()) {
                String in = n.inputs().get(top[1]++);
                if (in.isEmpty() || ctx.isBound(in)) continue;
                Integer p = producer.get(in);
                if (p == null) throw ImportException.client("node " + n.name() + " (" + n.opType() + ") uses value '" + in + "', which is neither a graph input, an initializer nor a node output");
                if (state[p] == 1) throw ImportException.client("the graph has a cycle: node " + nodes.get(p).name() + " depends on its own output through node " + n.name());
                if (state[p] == 0) {
                    state[p] = 1;
                    stack.push(new int[] {p, 0});
                }
            } else {
                state[top[0]] = 2;
                order.add(n);
                stack.pop();
            }
        }
    }

    private void checkOpsSupported(List<OnnxNode> nodes) {
        Set<String> unsupported = new LinkedHashSet<>();
        for (OnnxNode n : nodes) {
            boolean known = n.domain().isEmpty()
                    && (n.opType().equals("Constant") || OnnxConverters.forOp(n.opType()) != null || OpRegistry.contains(n.opType()));
            if (!known) unsupported.add(n.describe());
        }
        if (!unsupported.isEmpty()) {
            throw new ImportException("OperatorNotImplemented", "ONNX op " + String.join("; ONNX op ", unsupported));
        }
    }

    private void convert(OnnxNode n, ImportContext ctx) {
        String badAttribute = unsupportedAttributes.get(n);
        if (badAttribute != null) throw ctx.fail(n, "attribute " + badAttribute + " is not supported");
        if (n.opType().equals("Constant")) {
            convertConstant(n, ctx);
            return;
        }
        OnnxOpConverter c = OnnxConverters.forOp(n.opType());
        if (c != null) {
            c.convert(n, ctx);
            return;
        }
        List<Value> inputs = new ArrayList<>(n.inputs().size());
        for (String in : n.inputs()) inputs.add(ctx.value(in));
        while (!inputs.isEmpty() && inputs.get(inputs.size() - 1) == null) inputs.remove(inputs.size() - 1);
        List<String> outputs = new ArrayList<>(n.outputs());
        while (!outputs.isEmpty() && outputs.get(outputs.size() - 1).isEmpty()) outputs.remove(outputs.size() - 1);
        ctx.emit(n.opType(), n.name(), inputs, n.attributes(), outputs);
    }

    private static void convertConstant(OnnxNode n, ImportContext ctx) {
        if (n.attributes().size() != 1) throw ctx.fail(n, "a Constant needs exactly one value attribute, got " + n.attributes().keySet());
        Map.Entry<String, Attribute> e = n.attributes().entrySet().iterator().next();
        Attribute.Tensor t = switch (e.getKey()) {
            case "value" -> (Attribute.Tensor) e.getValue();
            case "value_float" -> scalar(DType.F32, ((Attribute.Float) e.getValue()).value(), Shape.scalar());
            case "value_int" -> scalar(DType.I64, ((Attribute.Int) e.getValue()).value(), Shape.scalar());
            case "value_floats" -> floats(((Attribute.Floats) e.getValue()).values());
            case "value_ints" -> longs(((Attribute.Ints) e.getValue()).values());
            default -> throw new ImportException("UnsupportedDataType", n.describe() + ": Constant attribute '" + e.getKey() + "' is not supported");
        };
        String out = n.outputs().get(0);
        ctx.bind(out, ctx.graph().addConstant(ctx.graph().value(out) == null ? out : ctx.freshName(out), t.type(), t.data()));
    }

    private static Attribute.Tensor scalar(DType dtype, double v, Shape shape) {
        ByteBuffer b = ByteBuffer.allocate(dtype.byteSize()).order(ByteOrder.LITTLE_ENDIAN);
        if (dtype == DType.F32) b.putFloat((float) v);
        else b.putLong((long) v);
        b.flip();
        return new Attribute.Tensor(TensorType.of(dtype, shape), b);
    }

    private static Attribute.Tensor floats(float[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) b.putFloat(f);
        b.flip();
        return new Attribute.Tensor(TensorType.of(DType.F32, v.length), b);
    }

    private static Attribute.Tensor longs(long[] v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long x : v) b.putLong(x);
        b.flip();
        return new Attribute.Tensor(TensorType.of(DType.I64, v.length), b);
    }

    private Map<String, Attribute> attributes(OnnxMl.NodeProto np, String nodeName) {
        Map<String, Attribute> m = new LinkedHashMap<>();
        for (OnnxMl.AttributeProto a : np.getAttributeList()) {
            if (!a.getRefAttrName().isEmpty()) {
                throw ImportException.client("node " + nodeName + " refers to function attribute '" + a.getRefAttrName() + "' outside a function");
            }
            Attribute value = attribute(a);
            if (value != null) m.put(a.getName(), value);
        }
        return m;
    }

    /** The IR form of an attribute, or null for kinds the IR cannot hold. */
    private Attribute attribute(OnnxMl.AttributeProto a) {
        return switch (a.getType()) {
            case FLOAT -> new Attribute.Float(a.getF());
            case INT -> new Attribute.Int(a.getI());
            case STRING -> new Attribute.Str(a.getS().toStringUtf8());
            case TENSOR -> OnnxTensors.decode(a.getT(), modelDir);
            case FLOATS -> {
                float[] f = new float[a.getFloatsCount()];
                for (int i = 0; i < f.length; i++) f[i] = a.getFloats(i);
                yield new Attribute.Floats(f);
            }
            case INTS -> new Attribute.Ints(a.getIntsList().stream().mapToLong(Long::longValue).toArray());
            case STRINGS -> new Attribute.Strs(a.getStringsList().stream().map(com.google.protobuf.ByteString::toStringUtf8).toList());
            default -> null;
        };
    }
}
