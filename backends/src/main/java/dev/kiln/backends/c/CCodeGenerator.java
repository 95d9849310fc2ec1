package dev.kiln.backends.c;

import dev.kiln.ir.Attribute;
import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.ir.ops.ElementwiseProgram;
import dev.kiln.ir.ops.ElementwiseProgram.Input;
import dev.kiln.ir.ops.ElementwiseProgram.Literal;
import dev.kiln.ir.ops.ElementwiseProgram.Operand;
import dev.kiln.ir.ops.ElementwiseProgram.Step;
import dev.kiln.passes.MemoryPlan;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Turns an optimised, fully static-shaped f32 graph into one C source file specialised to its shapes and
 * to the target's vector registers, a weights blob and an arena size. Activations are NCHW, or the blocked
 * NCHW{c}c of the layout pass (one block size per graph, the target's vector width) for convolutions,
 * pooling, elementwise ops and Concat, with filters in the pass's OIHW{c}i{c}o and OIHW{c}o layouts.
 *
 * <p>The graph must have been through the pass pipeline up to {@code PlanMemory} (intermediate values
 * live at the planned offsets of one arena). The weights blob holds every constant, each at a
 * 64-byte-aligned offset; the C code never embeds weights. Every C identifier comes from the compiler
 * (value and node indices), never from a model's names.
 *
 * <p>The exported C ABI of the generated file:
 * <pre>
 * long kiln_arena_bytes(void);            // bytes of scratch memory kiln_init must be given (64-byte aligned)
 * int  kiln_init(const void* weights, void* arena);  // weights.bin's bytes (64-byte aligned); packs weights into the arena; 0 on success
 * int  kiln_run(const void* const* inputs, void* const* outputs);  // graph order, dense row-major f32; 0 on success
 * int  kiln_num_inputs(void), kiln_num_outputs(void);
 * int  kiln_input_rank(int i), kiln_output_rank(int i);
 * long kiln_input_dim(int i, int d), kiln_output_dim(int i, int d);
 * int  kiln_set_threads(int n);           // (re)starts the thread pool with n threads in all (1..256, the caller included); 0 on success
 * void kiln_shutdown(void);               // stops the pool's threads and frees their workspaces (back to 1 thread)
 * </pre>
 * kiln_run is not reentrant (one arena); it returns -1 when kiln_init was not called. It runs on one
 * thread until kiln_set_threads starts a pool: n - 1 workers, created once, each with its own GEMM
 * workspace, that the GEMM, convolution and pooling kernels split their output over.
 * Every output element is computed by one thread in the same order whatever n is, so results are
 * bitwise the same for every thread count. Call kiln_shutdown before unloading the library. Static
 * and shared libraries link with -pthread (POSIX threads; Win32 threads under _WIN32).
 */
public final class CCodeGenerator {
    /**
     * The generated program: C source, the weights blob and the arena bytes: the memory plan's
     * intermediates, then the kernels' workspace, then the weights kiln_init packs for the GEMM.
     */
    public record CProgram(String source, ByteBuffer weights, long arenaBytes) {}

    /** The kernel headers, in the order the generated source includes them. */
    static final List<String> KERNEL_FILES = List.of("activations.h", "threads.h", "gemm.h", "conv.h", "blocked.h", "transformer.h");
    private static final Set<String> VIEWS = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity");
    private static final Set<String> BINARY = Set.of("Add", "Sub", "Mul", "Div", "Pow", "PRelu", "Max", "Min");
    private static final Set<String> UNARY = Set.of("Relu", "Sigmoid", "Tanh", "HardSwish", "Softplus", "Softsign",
            "Mish", "Neg", "Abs", "Sqrt", "Reciprocal", "Erf", "Floor", "Ceil", "Round", "Sin", "Cos", "Exp", "Log",
            "LeakyRelu", "Elu", "HardSigmoid", "Clip", "Gelu");
    private static final Set<String> OTHERS = Set.of("Conv", "FusedConv", "Gemm", "FusedGemm", "MatMul", "FusedMatMul",
            "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Softmax", "LayerNormalization", "FusedElementwise",
            "Transpose", "Slice", "Attention", "LayoutTransform");
    /** Ops that take activations in a blocked layout (elementwise ops read it as the plain data it is). */
    private static final Set<String> BLOCKED_OPS = Set.of("Conv", "FusedConv", "MaxPool", "AveragePool", "GlobalAveragePool",
            "Concat", "FusedElementwise", "LayoutTransform");
    /** Activation names in the order of the C enum KILN_ACT_*. */
    private static final List<String> ACTIVATIONS = List.of(ElementwiseProgram.NO_ACTIVATION, "Relu", "LeakyRelu", "Clip",
            "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Swish", "Gelu", "GeluTanh", "Elu", "Softplus", "Softsign", "Mish");
    /** The C side's GEMM workspace: KILN_MC * KILN_KC + KILN_KC * KILN_NC floats for the largest blocking (AVX-512). */
    private static final long GEMM_WORKSPACE_FLOATS = 96L * 256 + 256L * 1024;
    /** Rows of a packed A panel (gemm.h's KILN_PANEL). */
    private static final int PANEL_ROWS = 12;

    private final Graph graph;
    private final MemoryPlan plan;
    private final int vectorRegisters;
    /** Channels per block of the graph's blocked values (blocked.h's KILN_CB); 0 when none is blocked. */
    private final int block;
    /** The tile of each direct blocked convolution; its filter packed for the tile, by constant and tile. */
    private final Map<Node, ConvTiling> tilings = new HashMap<>();
    private final Map<String, Long> tiledFilterOffsets = new HashMap<>();
    /** Tile kernels the convolutions use, defined after the kernel headers. */
    private final Set<String> tileDefinitions = new TreeSet<>();
    /** NCHW convolutions computed by the LayoutTransform that follows them, straight into the blocked layout. */
    private final Map<Node, Node> convOfTransform = new HashMap<>();
    private final Map<String, String> pointers = new HashMap<>();
    private final Map<String, Long> weightOffsets = new LinkedHashMap<>();
    /** Where the weights blob holds a GEMM convolution's weights packed for the micro-kernel (gemm.h's packed A). */
    private final Map<String, Long> packedWeightOffsets = new HashMap<>();
    private final StringBuilder body = new StringBuilder();
    private final StringBuilder init = new StringBuilder();
    private long workspaceFloats;
    private long depthwiseRowFloats;
    private long prepackedFloats;

    private CCodeGenerator(Graph graph, MemoryPlan plan, int vectorRegisters, int block) {
        this.graph = graph;
        this.plan = plan;
        this.vectorRegisters = vectorRegisters;
        this.block = block;
    }

    /**
     * Generates the program of a graph and its memory plan for a target with {@code vectorRegisters} vector
     * registers (the tiles of the convolution kernels are sized to them).
     *
     * @throws UnsupportedOperationException listing every node with no kernel here ("OperatorNotImplemented: ...")
     * @throws IllegalArgumentException      for a graph that is not static-shaped or not planned
     */
    public static CProgram generate(Graph graph, MemoryPlan plan, int vectorRegisters) {
        if (plan == null) throw new IllegalArgumentException("graph " + graph.name() + " has no memory plan; run the pipeline through PlanMemory first");
        checkSupported(graph);
        return new CCodeGenerator(graph, plan, vectorRegisters, blockSize(graph)).emit();
    }

    /** The one channel block size of the graph's blocked values, 0 when there are none. */
    private static int blockSize(Graph graph) {
        Set<Integer> blocks = new TreeSet<>();
        List<Value> values = new ArrayList<>(graph.constants().values());
        values.addAll(graph.inputs());
        for (Node n : graph.nodes()) values.addAll(n.outputs());
        for (Value v : values) {
            Layout l = v.type().layout();
            if (isBlockedActivation(l)) blocks.add(Layouts.blockSize(l, 'C'));
            if (isBlockedFilter(l)) blocks.add(Layouts.blockSize(l, 'O'));
        }
        if (blocks.size() > 1) throw new UnsupportedOperationException("OperatorNotImplemented: backend c takes one channel block size per graph, not " + blocks);
        return blocks.isEmpty() ? 0 : blocks.iterator().next();
    }

    /** Fails naming every node whose op, dtype or layout this backend has no kernel for. */
    static void checkSupported(Graph graph) {
        List<String> missing = new ArrayList<>();
        for (Node n : graph.nodes()) {
            String problem = problem(n);
            if (problem != null) missing.add(n.op() + problem + " at node " + n.name());
        }
        if (!missing.isEmpty()) {
            throw new UnsupportedOperationException("OperatorNotImplemented: backend c has no kernel for " + String.join("; ", missing));
        }
    }

    /** Whether the generator has a kernel for the node as typed (the test {@link #checkSupported} applies). */
    static boolean supports(Node n) { return problem(n) == null; }

    /** Null when the generator takes the node; else what it does not take, in brackets ("" for an unknown op). */
    private static String problem(Node n) {
        boolean known = VIEWS.contains(n.op()) || BINARY.contains(n.op()) || UNARY.contains(n.op()) || OTHERS.contains(n.op());
        if (!known) return "";
        String types = unsupportedTypes(n);
        return types != null ? types : unsupportedForm(n);
    }

    /** Null when the node's values are static f32 in layouts its kernel takes, else what is wrong in brackets. */
    private static String unsupportedTypes(Node n) {
        List<Value> values = new ArrayList<>(n.outputs());
        if (!VIEWS.contains(n.op())) {
            for (Value v : n.inputs()) if (v != null && !isParameterInput(n, v)) values.add(v);
        }
        for (Value v : values) {
            TensorType t = v.type();
            if (t.dtype() != DType.F32) return " (" + t.dtype() + ")";
            if (!t.shape().isStatic()) return " (symbolic shape " + t.shape() + ")";
            if (!layoutTaken(n, v)) return " (layout " + t.layout() + ")";
        }
        return null;
    }

    /** Plain layouts everywhere; blocked activations where the op has a blocked kernel; blocked filters as convolution weights. */
    private static boolean layoutTaken(Node n, Value v) {
        Layout l = v.type().layout();
        if (Layouts.isPlain(l)) return true;
        boolean elementwise = BINARY.contains(n.op()) || UNARY.contains(n.op());
        if (isBlockedActivation(l)) return elementwise || BLOCKED_OPS.contains(n.op());
        return isBlockedFilter(l) && isConvolution(n) && n.inputs().indexOf(v) == 1;
    }

    /** NCW{c}c or NCHW{c}c: channels blocked, nothing else. */
    private static boolean isBlockedActivation(Layout l) {
        if (l.isAny() || Layouts.isPlain(l)) return false;
        String logical = Layouts.logical(l).name();
        return (logical.equals("NCW") || logical.equals("NCHW")) && l.name().equals(logical + Layouts.blockSize(l, 'C') + "c");
    }

    /** OI(H)W{c}o or OI(H)W{c}i{c}o: the layout pass's convolution filters. */
    private static boolean isBlockedFilter(Layout l) {
        if (l.isAny() || Layouts.isPlain(l)) return false;
        String logical = Layouts.logical(l).name();
        int o = Layouts.blockSize(l, 'O');
        return (logical.equals("OIW") || logical.equals("OIHW")) && o > 0
                && (l.name().equals(logical + o + "o") || l.name().equals(logical + o + "i" + o + "o"));
    }

    private static boolean isConvolution(Node n) { return n.op().equals("Conv") || n.op().equals("FusedConv"); }

    private static boolean isBlocked(Value v) { return isBlockedActivation(v.type().layout()); }

    /** Inputs that are compile-time parameters rather than data (Clip's bounds, Slice's starts, ends, axes and steps). */
    private static boolean isParameterInput(Node n, Value v) {
        return (n.op().equals("Clip") || n.op().equals("Slice")) && n.inputs().indexOf(v) > 0;
    }

    /**
     * Null when the emission takes the node's rank, arity and attributes, else what it does not take in brackets
     * (asked once the node's values are known to be static f32).
     */
    private static String unsupportedForm(Node n) {
        if (n.attribute("activation") instanceof Attribute.Str a && !ACTIVATIONS.contains(a.value())) return " (activation " + a.value() + ")";
        switch (n.op()) {
            case "Conv", "FusedConv", "MaxPool", "AveragePool" -> {
                int spatial = logical(n.input(0)).length - 2;
                if (spatial != 1 && spatial != 2) return " (" + spatial + "-D)";
                if (n.outputs().size() > 1) return " (Indices output)";
                if (isBlocked(n.input(0)) != isBlocked(n.output(0))) return " (input and output in different layouts)";
            }
            case "GlobalAveragePool" -> {
                if (isBlocked(n.input(0)) && logical(n.input(0)).length != 4) return " (blocked " + (logical(n.input(0)).length - 2) + "-D)";
            }
            case "LayoutTransform" -> {
                Layout from = n.input(0).type().layout();
                Layout to = n.output(0).type().layout();
                boolean plainToBlocked = Layouts.isPlain(from) && isBlockedActivation(to);
                boolean blockedToPlain = isBlockedActivation(from) && Layouts.isPlain(to);
                boolean zeroing = isBlockedActivation(from) && from.equals(to);
                if (!plainToBlocked && !blockedToPlain && !zeroing) return " (from " + layoutName(from) + " to " + layoutName(to) + ")";
            }
            case "LayerNormalization" -> {
                if (n.outputs().size() > 1) return " (Mean and InvStdDev outputs)";
                long[] xs = dims(n.input(0));
                long rows = 1;
                for (int d = 0; d < normalizeAxis(n, "axis", -1, xs.length); d++) rows *= xs[d];
                long size = count(n.input(0)) / Math.max(rows, 1);
                for (int i = 1; i <= 2; i++) {
                    Value v = n.input(i);
                    if (v != null && count(v) != 1 && count(v) != size) return " (scale or bias of " + count(v) + " values for rows of " + size + ")";
                }
            }
            case "MatMul", "FusedMatMul" -> {
                long[] cs = n.input(2) == null ? new long[0] : dims(n.input(2));
                for (int d = 0; d < cs.length - 2; d++) if (cs[d] != 1) return " (bias differing by batch)";
            }
            case "Attention" -> {
                if (!isPlainAttention(n)) return " (mask, cache, causal or window limits, softcap or extra outputs)";
            }
            case "Clip" -> {
                for (int i = 1; i <= 2; i++) {
                    Value v = n.input(i);
                    if (v != null && !(v instanceof Constant c && count(c) == 1 && c.type().dtype() == DType.F32)) return " (bounds that are not f32 constants)";
                }
            }
            case "Slice" -> {
                for (int i = 1; i < n.inputs().size(); i++) {
                    Value v = n.input(i);
                    if (v != null && !(v instanceof Constant c && (c.type().dtype() == DType.I64 || c.type().dtype() == DType.I32))) {
                        return " (starts, ends, axes or steps that are not integer constants)";
                    }
                }
            }
            default -> { }
        }
        return null;
    }

    private static String layoutName(Layout l) { return l.isAny() ? "plain" : l.name(); }

    /** A value's logical dims (NCHW for NCHW{c}c, whose channels include the padding). */
    private static long[] logical(Value v) {
        Layout l = v.type().layout();
        return Layouts.isPlain(l) ? dims(v) : Layouts.logicalSizes(dims(v), l);
    }

    private CProgram emit() {
        planConvolutions();
        ByteBuffer weights = layoutWeights();
        for (int i = 0; i < graph.inputs().size(); i++) pointers.put(graph.inputs().get(i).name(), "kiln_in" + i);
        for (int i = 0; i < graph.outputs().size(); i++) {
            String name = graph.outputs().get(i).name();
            // A constant output stays in the weights and is copied out at the end like an input.
            if (!pointers.containsKey(name) && !(graph.outputs().get(i) instanceof Constant)) pointers.put(name, "kiln_out" + i);
        }
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) emitNode(i, nodes.get(i));
        for (int i = 0; i < graph.outputs().size(); i++) {
            Value v = graph.outputs().get(i);
            String p = ptr(v);
            if (!p.equals("kiln_out" + i)) {
                body.append("    memcpy(kiln_out").append(i).append(", ").append(p).append(", ").append(bytes(v)).append(");\n");
            }
        }
        long workspaceOffset = align(plan.arenaBytes());
        long prepackedOffset = align(workspaceOffset + workspaceFloats * 4);
        long arena = prepackedOffset + prepackedFloats * 4;
        // each worker thread needs what one GEMM or one depthwise row needs, never more than thread 0's workspace
        long threadWorkspace = Math.min(workspaceFloats, Math.max(GEMM_WORKSPACE_FLOATS, depthwiseRowFloats));
        StringBuilder c = new StringBuilder("/* Generated by Kiln (backend c). */\n");
        if (block > 0) c.append("#define KILN_CB ").append(block).append('\n');
        for (String f : KERNEL_FILES) c.append(kernelSource(f)).append('\n');
        for (String t : tileDefinitions) c.append(t).append('\n');
        c.append("static const char* kiln_w;\nstatic char* kiln_a;\n");
        c.append("#define KILN_W(off) ((float*) (kiln_w + (off)))\n#define KILN_A(off) ((float*) (kiln_a + (off)))\n");
        c.append("#define KILN_WS KILN_A(").append(workspaceOffset).append("L)\n");
        c.append("#define KILN_PACKED KILN_A(").append(prepackedOffset).append("L)\n\n");
        c.append("long kiln_arena_bytes(void) { return ").append(arena).append("L; }\n");
        c.append("int kiln_init(const void* weights, void* arena) {\n    if (!arena && kiln_arena_bytes() > 0) return -2;\n")
                .append("    kiln_w = (const char*) weights;\n    kiln_a = (char*) arena;\n").append(init).append("    return 0;\n}\n");
        c.append("int kiln_set_threads(int n) { return kiln_pool_start(n, ").append(threadWorkspace).append("L); }\n");
        c.append("void kiln_shutdown(void) { kiln_pool_stop(); }\n");
        shapeFunctions(c, "input", graph.inputs());
        shapeFunctions(c, "output", graph.outputs());
        c.append("int kiln_run(const void* const* inputs, void* const* outputs) {\n    if (!kiln_a && kiln_arena_bytes() > 0) return -1;\n");
        for (int i = 0; i < graph.inputs().size(); i++) c.append("    float* kiln_in").append(i).append(" = (float*) inputs[").append(i).append("];\n");
        for (int i = 0; i < graph.outputs().size(); i++) c.append("    float* kiln_out").append(i).append(" = (float*) outputs[").append(i).append("];\n");
        c.append(body).append("    return 0;\n}\n");
        return new CProgram(c.toString(), weights, arena);
    }

    private static void shapeFunctions(StringBuilder c, String kind, List<Value> values) {
        c.append("int kiln_num_").append(kind).append("s(void) { return ").append(values.size()).append("; }\n");
        c.append("int kiln_").append(kind).append("_rank(int i) {\n    switch (i) {\n");
        for (int i = 0; i < values.size(); i++) c.append("        case ").append(i).append(": return ").append(values.get(i).type().rank()).append(";\n");
        c.append("        default: return -1;\n    }\n}\n");
        c.append("long kiln_").append(kind).append("_dim(int i, int d) {\n");
        for (int i = 0; i < values.size(); i++) {
            long[] dims = values.get(i).type().shape().sizes();
            c.append("    if (i == ").append(i).append(") {\n        static const long dims[] = {");
            for (long d : dims) c.append(d).append("L, ");
            c.append("0L};\n        return d >= 0 && d < ").append(dims.length).append(" ? dims[d] : -1;\n    }\n");
        }
        c.append("    return -1;\n}\n");
    }

    /**
     * Chooses the tile of every direct blocked convolution, and finds the NCHW convolutions that the
     * LayoutTransform right after them computes into the blocked layout: those that read few channels
     * (an image), which the layout pass leaves plain rather than pad to a block.
     */
    private void planConvolutions() {
        Map<Value, Integer> readers = new HashMap<>();
        for (Node n : graph.nodes()) for (Value v : n.inputs()) if (v != null) readers.merge(v, 1, Integer::sum);
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            if (n.op().equals("LayoutTransform") && i > 0 && computesConv(n, nodes.get(i - 1), readers)) {
                Node conv = nodes.get(i - 1);
                convOfTransform.put(n, conv);
                tilings.put(conv, tiling(conv, 1));
            } else if (isConvolution(n) && isBlocked(n.input(0)) && n.input(1) instanceof Constant && geometry(n).group() == 1) {
                tilings.put(n, tiling(n, block));
            }
        }
    }

    private ConvTiling tiling(Node conv, int inBlock) {
        Geometry g = geometry(conv);
        long inBlocks = inBlock == 1 ? g.c() : g.c() / block;
        return ConvTiling.choose(vectorRegisters, block, inBlock, inBlocks, g.m() / block, g.pointwise() ? 1 : g.oh(), g.rowPositions(),
                g.kh() * g.kw(), g.pointwise() ? 1 : g.sw());
    }

    /**
     * Whether the LayoutTransform t (NCHW to NCHW{c}c, whole blocks) can compute the convolution before it:
     * t reads only its output, it has constant weights, no group and no residual, and t's output does not
     * overlap the convolution's input (which t reads in its place).
     */
    private boolean computesConv(Node t, Node conv, Map<Value, Integer> readers) {
        if (block == 0 || !isConvolution(conv) || t.input(0) != conv.output(0) || readers.get(conv.output(0)) != 1
                || graph.outputs().contains(conv.output(0)) || !isBlocked(t.output(0)) || isBlocked(conv.input(0))) return false;
        if (!(conv.input(1) instanceof Constant w) || !Layouts.isPlain(w.type().layout())) return false;
        if (conv.inputs().size() > 3 && conv.input(3) != null) return false;
        Geometry g = geometry(conv);
        long channels = t.attribute("channels") instanceof Attribute.Int c ? c.value() : 0;
        if (g.group() != 1 || g.m() % block != 0 || (channels != 0 && channels != g.m())) return false;
        MemoryPlan.Slot in = plan.slot(conv.input(0).name());
        MemoryPlan.Slot out = plan.slot(t.output(0).name());
        return in == null || out == null || in.offset() + in.bytes() <= out.offset() || out.offset() + out.bytes() <= in.offset();
    }

    /** The weights blob's key of a tiled convolution's packed filter: the same filter packed for the same tile is shared. */
    private String filterKey(Node conv) {
        ConvTiling t = tilings.get(conv);
        return conv.input(1).name() + "/" + t.inBlock() + "/" + t.j();
    }

    private ByteBuffer layoutWeights() {
        Map<String, Node> packedWeightUsers = packedWeightUsers();
        Map<String, Node> tiledFilterUsers = new LinkedHashMap<>();
        for (Node n : graph.nodes()) if (tilings.containsKey(n)) tiledFilterUsers.putIfAbsent(filterKey(n), n);
        long size = 0;
        for (Constant k : graph.constants().values()) {
            if (!usedUnpacked(k)) continue;
            weightOffsets.put(k.name(), size);
            size = align(size + k.data().remaining());
        }
        for (Map.Entry<String, Node> p : packedWeightUsers.entrySet()) {
            packedWeightOffsets.put(p.getKey(), size);
            size = align(size + packedConvWeightFloats(p.getValue()) * 4);
        }
        for (Map.Entry<String, Node> p : tiledFilterUsers.entrySet()) {
            tiledFilterOffsets.put(p.getKey(), size);
            size = align(size + tiledFilterFloats(p.getValue()) * 4);
        }
        if (size > Integer.MAX_VALUE) throw new IllegalArgumentException("weights of " + size + " bytes exceed 2 GiB");
        ByteBuffer w = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
        for (Constant k : graph.constants().values()) {
            Long offset = weightOffsets.get(k.name());
            if (offset != null) w.position(offset.intValue()).put(k.data());
        }
        for (Map.Entry<String, Node> p : packedWeightUsers.entrySet()) {
            packConvWeights(p.getValue(), w.position(packedWeightOffsets.get(p.getKey()).intValue()).asFloatBuffer());
        }
        for (Map.Entry<String, Node> p : tiledFilterUsers.entrySet()) {
            packTiledFilter(p.getValue(), w.position(tiledFilterOffsets.get(p.getKey()).intValue()).asFloatBuffer());
        }
        return w.position(0);
    }

    /** Floats of a tiled convolution's packed filter: output blocks x input blocks x taps x in-block x block. */
    private long tiledFilterFloats(Node conv) {
        Geometry g = geometry(conv);
        long inChannels = tilings.get(conv).inBlock() == 1 ? g.c() : g.c() / block * block;
        return g.m() / block * block * inChannels * g.kh() * g.kw();
    }

    /** The filter as plain OIHW (blocked filters moved back, their padding included), packed for the convolution's tile. */
    private void packTiledFilter(Node conv, java.nio.FloatBuffer dst) {
        Constant w = (Constant) conv.input(1);
        Layout l = w.type().layout();
        java.nio.ByteBuffer plain = Layouts.isPlain(l) ? w.data()
                : Layouts.transform(w.data(), 4, dims(w), l, Layouts.logical(l), null).order(ByteOrder.LITTLE_ENDIAN);
        Geometry g = geometry(conv);
        ConvTiling t = tilings.get(conv);
        long inBlocks = t.inBlock() == 1 ? g.c() : g.c() / block;
        t.pack(plain.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer(), g.m(), g.c(), g.kh() * g.kw(), block, g.m() / block, inBlocks, dst);
    }

    /** The constant weights that GEMM convolutions read packed, each with one of its convolutions (they share the shape). */
    private Map<String, Node> packedWeightUsers() {
        Map<String, Node> users = new LinkedHashMap<>();
        for (Node n : graph.nodes()) {
            if (isGemmConv(n) && n.input(1) instanceof Constant w) users.putIfAbsent(w.name(), n);
        }
        return users;
    }

    /** Whether anything reads the constant other than as the packed weights of a GEMM or tiled convolution. */
    private boolean usedUnpacked(Constant k) {
        if (graph.outputs().contains(k)) return true;
        for (Node n : graph.nodes()) {
            for (int i = 0; i < n.inputs().size(); i++) {
                if (n.input(i) == k && !(i == 1 && (isGemmConv(n) || tilings.containsKey(n)))) return true;
            }
        }
        return false;
    }

    /** An NCHW Conv or FusedConv that runs as GEMMs (every one but the depthwise ones and those a layout transform computes). */
    private boolean isGemmConv(Node n) {
        if (!isConvolution(n) || isBlocked(n.input(0)) || tilings.containsKey(n)) return false;
        long group = n.attribute("group") instanceof Attribute.Int g ? g.value() : 1;
        return !(group == dims(n.input(0))[1] && group == dims(n.output(0))[1]);
    }

    /** Floats of a GEMM convolution's packed weights: per group roundup(m / group, 12) * k (gemm.h's packed A). */
    private static long packedConvWeightFloats(Node n) {
        long[] ws = dims(n.input(1));
        long group = n.attribute("group") instanceof Attribute.Int g ? g.value() : 1;
        long mg = ws[0] / group;
        long k = count(n.input(1)) / ws[0];
        return group * ((mg + PANEL_ROWS - 1) / PANEL_ROWS * PANEL_ROWS) * k;
    }

    /**
     * Writes a convolution's weights [m, k] (k = c / group x kernel) as gemm.h's packed A, group after group:
     * panel p of a group holds W(p * 12 + r, k) at [(p * k_total + k) * 12 + r], zero past the group's rows.
     */
    private static void packConvWeights(Node n, java.nio.FloatBuffer dst) {
        long[] ws = dims(n.input(1));
        long group = n.attribute("group") instanceof Attribute.Int g ? g.value() : 1;
        int mg = (int) (ws[0] / group);
        int k = (int) (count(n.input(1)) / ws[0]);
        java.nio.FloatBuffer src = ((Constant) n.input(1)).data().asFloatBuffer();
        int panels = (mg + PANEL_ROWS - 1) / PANEL_ROWS;
        int base = dst.position();
        for (int g = 0; g < group; g++) {
            for (int p = 0; p < panels; p++) {
                for (int kk = 0; kk < k; kk++) {
                    for (int r = 0; r < PANEL_ROWS; r++) {
                        int row = p * PANEL_ROWS + r;
                        float v = row < mg ? src.get((g * mg + row) * k + kk) : 0f;
                        dst.put(base + ((g * panels + p) * k + kk) * PANEL_ROWS + r, v);
                    }
                }
            }
        }
    }

    private static long align(long n) { return (n + MemoryPlan.ALIGNMENT - 1) / MemoryPlan.ALIGNMENT * MemoryPlan.ALIGNMENT; }

    private static String kernelSource(String file) {
        try (InputStream in = CCodeGenerator.class.getResourceAsStream("kernels/" + file)) {
            if (in == null) throw new IllegalStateException("kernel source " + file + " is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The C expression (of type float*) for a value's first element. */
    private String ptr(Value v) {
        String p = pointers.get(v.name());
        if (p != null) return p;
        if (v instanceof Constant) {
            p = "KILN_W(" + weightOffsets.get(v.name()) + "L)";
        } else {
            MemoryPlan.Slot s = plan.slot(v.name());
            if (s != null) {
                p = "KILN_A(" + s.offset() + "L)";
            } else if (v.producer() != null && VIEWS.contains(v.producer().op())) {
                p = ptr(v.producer().input(0));
            } else {
                throw new IllegalArgumentException("value %" + v.name() + " has no place in the memory plan: " + plan.outsideArena().get(v.name()));
            }
        }
        pointers.put(v.name(), p);
        return p;
    }

    private static long[] dims(Value v) { return v.type().shape().sizes(); }

    private static long count(Value v) { return v.type().shape().elementCount(); }

    private static long bytes(Value v) { return count(v) * 4; }

    private void emitNode(int index, Node n) {
        body.append("    /* node ").append(index).append(": ").append(n.op()).append(" */\n    {\n");
        String op = n.op();
        if (convOfTransform.containsValue(n)) line("/* computed by the layout transform that follows */");
        else if (VIEWS.contains(op)) emitView(n);
        else if (op.equals("Conv") || op.equals("FusedConv")) emitConv(n);
        else if (isSmallMatMul(n)) emitSmallMatMul(n);
        else if (op.equals("Gemm") || op.equals("FusedGemm")) emitGemm(n);
        else if (op.equals("MatMul") || op.equals("FusedMatMul")) emitMatMul(n);
        else if (op.equals("MaxPool") || op.equals("AveragePool")) emitPool(n);
        else if (op.equals("GlobalAveragePool")) {
            // Planes of batch x channels (x channel blocks when blocked, each position then a vector of a block).
            long[] x = dims(n.input(0));
            boolean blocked = isBlocked(n.input(0));
            long positions = count(n.input(0)) / (x[0] * x[1] * (blocked ? block : 1));
            line((blocked ? "kiln_global_average_poolb(" : "kiln_global_average_pool(") + (x[0] * x[1]) + "L, " + positions + "L, "
                    + ptr(n.input(0)) + ", " + ptr(n.output(0)) + ");");
        } else if (op.equals("LayoutTransform")) emitLayoutTransform(n);
        else if (op.equals("Concat")) emitConcat(n);
        else if (op.equals("Softmax")) emitSoftmax(n);
        else if (op.equals("LayerNormalization")) emitLayerNorm(n);
        else if (op.equals("Transpose")) emitTranspose(n);
        else if (op.equals("Slice")) emitSlice(n);
        else if (op.equals("Attention")) emitAttention(n);
        else emitElementwise(n, program(n));
        body.append("    }\n");
    }

    private void line(String s) { body.append("        ").append(s).append('\n'); }

    private void emitView(Node n) {
        String in = ptr(n.input(0));
        String out = ptr(n.output(0));
        if (!in.equals(out)) line("memcpy(" + out + ", " + in + ", " + bytes(n.output(0)) + ");");
    }

    // ---- epilogues -------------------------------------------------------------------------------------------------

    /** Declares {@code kiln_epilogue e} with the node's activation (attributes activation/activation_params). */
    private void epilogue(Node n, double alpha, double beta, String bias, long biasRs, long biasCs, String residual, long residualLd) {
        String act = n.attribute("activation") instanceof Attribute.Str s ? s.value() : ElementwiseProgram.NO_ACTIVATION;
        float[] params = n.attribute("activation_params") instanceof Attribute.Floats f ? f.values() : new float[0];
        int code = ACTIVATIONS.indexOf(act);
        if (code < 0) throw new IllegalArgumentException("node " + n.name() + ": backend c has no epilogue for activation " + act);
        line("kiln_epilogue e = {" + lit(alpha) + ", " + lit(beta) + ", " + (bias == null ? "0" : bias) + ", " + biasRs + "L, " + biasCs + "L, "
                + (residual == null ? "0" : residual) + ", " + residualLd + "L, " + code + ", "
                + lit(params.length > 0 ? params[0] : 0) + ", " + lit(params.length > 1 ? params[1] : 0) + "};");
    }

    /** A float literal that C reads back exactly. */
    static String lit(double value) {
        float f = (float) value;
        if (Float.isNaN(f)) return "NAN";
        if (Float.isInfinite(f)) return f > 0 ? "INFINITY" : "(-INFINITY)";
        return "(" + Float.toHexString(f) + "f)";
    }

    private String optionalPtr(Node n, int i) {
        Value v = n.input(i);
        return v == null ? null : ptr(v);
    }

    private void needWorkspace(long floats) { workspaceFloats = Math.max(workspaceFloats, floats); }

    // ---- convolution -----------------------------------------------------------------------------------------------

    /** A 1-D or 2-D convolution's or pooling's geometry from logical dims, 1-D as height 1; pads top, left, bottom, right. */
    private record Geometry(long n, long c, long h, long w, long m, long oh, long ow, long kh, long kw, long sh, long sw,
                            long dh, long dw, long pt, long pl, long pb, long pr, long group) {
        /** A 1x1 convolution with stride 1 and no padding: its planes read as one row of h * w positions. */
        boolean pointwise() { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && pb == 0 && pr == 0; }

        /** The output positions of one row of the tiled convolution. */
        long rowPositions() { return pointwise() ? oh * ow : ow; }
    }

    /** The geometry of a convolution (kernel from its filter) or pooling (kernel_shape). */
    private static Geometry geometry(Node n) {
        long[] xs = logical(n.input(0));
        long[] ys = logical(n.output(0));
        int spatial = xs.length - 2;
        if (spatial != 1 && spatial != 2) throw new IllegalArgumentException("node " + n.name() + ": backend c takes 1-D and 2-D " + n.op() + " only, not " + spatial + "-D");
        long[] kernel = isConvolution(n) ? java.util.Arrays.copyOfRange(logical(n.input(1)), 2, 2 + spatial) : ints(n, "kernel_shape", spatial, 1);
        long h = spatial == 2 ? xs[2] : 1;
        long wd = xs[xs.length - 1];
        long oh = spatial == 2 ? ys[2] : 1;
        long ow = ys[ys.length - 1];
        long kh = spatial == 2 ? kernel[0] : 1;
        long kw = kernel[spatial - 1];
        long[] strides = ints(n, "strides", spatial, 1);
        long[] dil = ints(n, "dilations", spatial, 1);
        long sh = spatial == 2 ? strides[0] : 1;
        long sw = strides[spatial - 1];
        long dh = spatial == 2 ? dil[0] : 1;
        long dw = dil[spatial - 1];
        long[] pads = pads(n, new long[] {h, wd}, new long[] {oh, ow}, new long[] {kh, kw}, new long[] {sh, sw}, new long[] {dh, dw}, spatial);
        long group = n.attribute("group") instanceof Attribute.Int g ? g.value() : 1;
        return new Geometry(xs[0], xs[1], h, wd, ys[1], oh, ow, kh, kw, sh, sw, dh, dw, pads[0], pads[1], pads[2], pads[3], group);
    }

    private static boolean isDepthwise(Geometry g) { return g.group() == g.c() && g.group() == g.m(); }

    private void emitConv(Node n) {
        Geometry g = geometry(n);
        epilogue(n, 1, 1, optionalPtr(n, 2), 1, 0, optionalPtr(n, 3), g.oh() * g.ow());
        if (tilings.containsKey(n)) {
            emitTiledConv(n, g, ptr(n.output(0)));
        } else if (isBlocked(n.input(0))) {
            emitBlockedConv(n, g);
        } else {
            line("static const kiln_conv_shape s = {" + g.n() + ", " + g.c() + ", " + g.h() + ", " + g.w() + ", " + g.m() + ", " + g.oh() + ", "
                    + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", "
                    + g.pl() + ", " + g.group() + "};");
            Value w = n.input(1);
            if (isDepthwise(g)) {
                needWorkspace(g.ow());
                depthwiseRowFloats = Math.max(depthwiseRowFloats, g.ow());
                line("kiln_conv_depthwise(&s, " + ptr(n.input(0)) + ", " + ptr(w) + ", " + ptr(n.output(0)) + ", &e, KILN_WS);");
            } else {
                needWorkspace(GEMM_WORKSPACE_FLOATS);
                // constant weights come packed in the weights blob (layoutWeights), often without their unpacked copy
                Long packed = packedWeightOffsets.get(w.name());
                String unpacked = packed == null ? ptr(w) : "0";
                line("kiln_conv(&s, " + ptr(n.input(0)) + ", " + unpacked + ", " + (packed == null ? "0" : "KILN_W(" + packed + "L)") + ", "
                        + ptr(n.output(0)) + ", &e, KILN_WS);");
            }
        }
    }

    /**
     * The direct convolution of blocked.h with the node's tile (its epilogue e declared), into {@code y}:
     * the node's own output, or the blocked output of the LayoutTransform that computes an NCHW convolution.
     */
    private void emitTiledConv(Node n, Geometry g, String y) {
        ConvTiling tiling = tilings.get(n);
        long inBlocks = tiling.inBlock() == 1 ? g.c() : g.c() / block;
        long outBlocks = g.m() / block;
        boolean flat = g.pointwise();
        line("static const kiln_convb_shape s = {" + g.n() + ", " + inBlocks + ", " + (flat ? 1 : g.h()) + ", " + (flat ? g.h() * g.w() : g.w()) + ", "
                + outBlocks + ", " + (flat ? 1 : g.oh()) + ", " + g.rowPositions() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", "
                + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + "};");
        int[] groupBlocks = {tiling.j(), outBlocks % tiling.j() == 0 ? tiling.j() : (int) (outBlocks % tiling.j())};
        int[] widths = {tiling.t(), g.rowPositions() % tiling.t() == 0 ? tiling.t() : (int) (g.rowPositions() % tiling.t())};
        StringBuilder tiles = new StringBuilder();
        for (int r = 0; r < 2; r++) {
            tiles.append(r == 0 ? "{" : ", {");
            for (int q = 0; q < 2; q++) {
                tileDefinitions.add(tiling.tileDefinition(groupBlocks[r], widths[q]));
                tiles.append(q == 0 ? "" : ", ").append(tiling.tileName(groupBlocks[r], widths[q]));
            }
            tiles.append('}');
        }
        line("kiln_convb_args a = {&s, " + ptr(n.input(0)) + ", KILN_W(" + tiledFilterOffsets.get(filterKey(n)) + "L), " + y + ", &e, "
                + tiling.j() + ", " + tiling.t() + ", " + tiling.chunk() + ", " + tiling.tilesPerItem() + ", {" + tiles + "}};");
        line("kiln_convb(&a);");
    }

    /** A blocked convolution without a tile: depthwise with its OIHW{c}o filter, else the element-at-a-time kernel. */
    private void emitBlockedConv(Node n, Geometry g) {
        Value w = n.input(1);
        Layout wl = w.type().layout();
        line("static const kiln_convb_shape s = {" + g.n() + ", " + g.c() / block + ", " + g.h() + ", " + g.w() + ", " + g.m() / block + ", " + g.oh() + ", "
                + g.ow() + ", " + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + "};");
        boolean inputBlocked = Layouts.blockSize(wl, 'I') > 0;
        if (isDepthwise(g) && isBlockedFilter(wl) && !inputBlocked) {
            line("kiln_dwb_args a = {&s, " + ptr(n.input(0)) + ", " + ptr(w) + ", " + ptr(n.output(0)) + ", &e};");
            line("kiln_dwb(&a);");
        } else {
            int form = Layouts.isPlain(wl) ? 0 : inputBlocked ? 2 : 1;
            line("kiln_convb_any_args a = {&s, " + g.group() + ", " + form + ", " + ptr(n.input(0)) + ", " + ptr(w) + ", " + ptr(n.output(0)) + ", &e};");
            line("kiln_convb_any(&a);");
        }
    }

    /** An ints attribute of {@code length} values, or that many copies of {@code fallback} when absent. */
    private static long[] ints(Node n, String name, int length, long fallback) {
        if (n.attribute(name) instanceof Attribute.Ints a && a.values().length > 0) return a.values();
        long[] v = new long[length];
        java.util.Arrays.fill(v, fallback);
        return v;
    }

    /** The top and left pads (for 1-D: 0 and the begin pad), from auto_pad or pads; index 2, 3: bottom and right. */
    private static long[] pads(Node n, long[] in, long[] out, long[] k, long[] s, long[] d, int spatial) {
        String autoPad = n.attribute("auto_pad") instanceof Attribute.Str a ? a.value() : "NOTSET";
        long[] result = new long[4];
        if (autoPad.equals("SAME_UPPER") || autoPad.equals("SAME_LOWER")) {
            for (int i = 0; i < 2; i++) {
                long total = Math.max(0, (out[i] - 1) * s[i] + (k[i] - 1) * d[i] + 1 - in[i]);
                long begin = autoPad.equals("SAME_UPPER") ? total / 2 : total - total / 2;
                result[i] = begin;
                result[i + 2] = total - begin;
            }
        } else if (!autoPad.equals("VALID")) {
            long[] p = ints(n, "pads", 2 * spatial, 0);
            if (spatial == 2) {
                result = new long[] {p[0], p[1], p[2], p[3]};
            } else {
                result = new long[] {0, p[0], 0, p[1]};
            }
        }
        return result;
    }

    // ---- pooling and layout transforms -------------------------------------------------------------------------------

    private void emitPool(Node n) {
        if (n.outputs().size() > 1) throw new IllegalArgumentException("node " + n.name() + ": backend c has no MaxPool with Indices");
        Geometry g = geometry(n);
        boolean blocked = isBlocked(n.input(0));
        boolean includePad = n.attribute("count_include_pad") instanceof Attribute.Int c && c.value() != 0;
        boolean average = !n.op().equals("MaxPool");
        line("static const kiln_pool_shape s = {" + g.n() * (blocked ? g.c() / block : g.c()) + ", " + g.h() + ", " + g.w() + ", " + g.oh() + ", " + g.ow() + ", "
                + g.kh() + ", " + g.kw() + ", " + g.sh() + ", " + g.sw() + ", " + g.dh() + ", " + g.dw() + ", " + g.pt() + ", " + g.pl() + ", " + g.pb() + ", "
                + g.pr() + ", " + (includePad ? 1 : 0) + "};");
        if (blocked) {
            line("kiln_poolb_args a = {&s, " + ptr(n.input(0)) + ", " + ptr(n.output(0)) + ", " + (average ? 1 : 0) + "};");
            line("kiln_poolb(&a);");
        } else {
            line((average ? "kiln_average_pool" : "kiln_max_pool") + "(&s, " + ptr(n.input(0)) + ", " + ptr(n.output(0)) + ");");
        }
    }

    /** NCHW to NCHW{c}c (padding zero), back (padding dropped), or zeroing a blocked tensor's padding. */
    private void emitLayoutTransform(Node n) {
        Node conv = convOfTransform.get(n);
        if (conv != null) {
            Geometry g = geometry(conv);
            epilogue(conv, 1, 1, optionalPtr(conv, 2), 1, 0, null, 0);
            emitTiledConv(conv, g, ptr(n.output(0)));
            return;
        }
        Value x = n.input(0);
        Value y = n.output(0);
        long channels = n.attribute("channels") instanceof Attribute.Int c ? c.value() : 0;
        String args = ", " + ptr(x) + ", " + ptr(y) + ");";
        if (isBlocked(x) && isBlocked(y)) {
            long[] xs = dims(x);
            line("kiln_zero_blocked_padding(" + xs[0] + "L, " + channels + "L, " + xs[1] + "L, " + count(x) / (xs[0] * xs[1] * block) + "L" + args);
        } else if (isBlocked(y)) {
            long[] xs = dims(x);
            long[] ys = dims(y);
            long valid = channels > 0 ? Math.min(channels, xs[1]) : xs[1];
            line("kiln_to_blocked(" + xs[0] + "L, " + xs[1] + "L, " + valid + "L, " + ys[1] + "L, " + count(x) / (xs[0] * xs[1]) + "L" + args);
        } else {
            long[] xs = dims(x);
            long[] ys = dims(y);
            line("kiln_from_blocked(" + ys[0] + "L, " + ys[1] + "L, " + xs[1] + "L, " + count(y) / (ys[0] * ys[1]) + "L" + args);
        }
    }

    // ---- matrix products -------------------------------------------------------------------------------------------

    /** The most rows (of A, batch dims folded in) that go to kiln_small_matmul rather than the packed GEMM. */
    private static final long SMALL_MATMUL_MAX_ROWS = 64;

    /**
     * Whether a product goes to kiln_small_matmul: a few rows times constant 2-D weights (transformer
     * projections at small batch, classifier heads); a MatMul's batch dims then fold into the rows when
     * its bias is the same for every row.
     */
    private static boolean isSmallMatMul(Node n) {
        String op = n.op();
        boolean gemm = op.equals("Gemm") || op.equals("FusedGemm");
        if (!gemm && !op.equals("MatMul") && !op.equals("FusedMatMul")) return false;
        if (!(n.input(1) instanceof Constant) || dims(n.input(1)).length != 2) return false;
        long[] as = dims(n.input(0));
        if (as.length == 0) return false;
        Value y = n.output(0);
        long cols = dims(y)[dims(y).length - 1];
        long rows = gemm ? dims(y)[0] : count(y) / Math.max(cols, 1);
        if (rows == 0 || cols == 0 || rows > SMALL_MATMUL_MAX_ROWS) return false;
        Value bias = n.inputs().size() > 2 ? n.input(2) : null;
        if (!gemm && bias != null && count(bias) != 1 && (count(bias) != cols || dims(bias)[dims(bias).length - 1] != cols)) return false;
        Value residual = n.inputs().size() > 3 ? n.input(3) : null;
        return residual == null || count(residual) == count(y);
    }

    /** C = epilogue(A B) with B packed at init into column panels (roundup(N, 32) x K floats reserved, the widest panels). */
    private void emitSmallMatMul(Node n) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        boolean gemm = n.op().equals("Gemm") || n.op().equals("FusedGemm");
        boolean ta = gemm && n.attribute("transA") instanceof Attribute.Int t && t.value() != 0;
        boolean tb = gemm && n.attribute("transB") instanceof Attribute.Int t2 && t2.value() != 0;
        long[] as = dims(a);
        long[] bs = dims(b);
        long k = tb ? bs[1] : bs[0];
        long cols = tb ? bs[0] : bs[1];
        long rows = count(y) / cols;
        long aRs = ta ? 1 : k;
        long aCs = ta ? as[1] : 1;
        String bias = n.inputs().size() > 2 ? optionalPtr(n, 2) : null;
        long biasRs = 0;
        long biasCs = 0;
        if (bias != null) {
            long[] cs = dims(n.input(2));
            long biasCols = cs.length >= 1 ? cs[cs.length - 1] : 1;
            long biasRows = cs.length >= 2 ? cs[cs.length - 2] : 1;
            biasRs = biasRows == 1 ? 0 : biasCols;
            biasCs = biasCols == 1 ? 0 : 1;
        }
        double alpha = gemm ? floatAttr(n, "alpha", 1.0) : 1.0;
        double beta = gemm ? floatAttr(n, "beta", 1.0) : 1.0;
        epilogue(n, alpha, beta, bias, biasRs, biasCs, n.inputs().size() > 3 ? optionalPtr(n, 3) : null, cols);
        String packed = "(KILN_PACKED + " + prepackedFloats + "L)";
        init.append("    kiln_smm_pack_b(").append(k).append("L, ").append(cols).append("L, ").append(ptr(b)).append(", ")
                .append(tb ? 1 : cols).append("L, ").append(tb ? k : 1).append("L, ").append(packed).append(");\n");
        prepackedFloats += align((cols + 31) / 32 * 32 * k * 4) / 4;
        line("kiln_small_matmul(" + rows + "L, " + cols + "L, " + k + "L, " + ptr(a) + ", " + aRs + "L, " + aCs + "L, " + packed + ", "
                + ptr(y) + ", " + cols + "L, &e);");
    }

    private void emitGemm(Node n) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        boolean ta = n.attribute("transA") instanceof Attribute.Int t && t.value() != 0;
        boolean tb = n.attribute("transB") instanceof Attribute.Int t2 && t2.value() != 0;
        double alpha = n.attribute("alpha") instanceof Attribute.Float f ? f.value() : 1.0;
        double beta = n.attribute("beta") instanceof Attribute.Float f2 ? f2.value() : 1.0;
        long[] as = dims(a);
        long[] bs = dims(b);
        long m = dims(y)[0];
        long nn = dims(y)[1];
        long k = ta ? as[0] : as[1];
        long aRs = ta ? 1 : as[1];
        long aCs = ta ? as[1] : 1;
        long bRs = tb ? 1 : bs[1];
        long bCs = tb ? bs[1] : 1;
        String bias = optionalPtr(n, 2);
        long biasRs = 0;
        long biasCs = 0;
        if (bias != null) {
            long[] cs = dims(n.input(2));
            long rows = cs.length == 2 ? cs[0] : 1;
            long cols = cs.length >= 1 ? cs[cs.length - 1] : 1;
            biasRs = rows == 1 ? 0 : cols;
            biasCs = cols == 1 ? 0 : 1;
        }
        epilogue(n, alpha, beta, bias, biasRs, biasCs, optionalPtr(n, 3), nn);
        needWorkspace(GEMM_WORKSPACE_FLOATS);
        line("kiln_sgemm(" + m + "L, " + nn + "L, " + k + "L, " + ptr(a) + ", " + aRs + "L, " + aCs + "L, 0, " + ptr(b) + ", " + bRs + "L, " + bCs + "L, "
                + ptr(y) + ", " + nn + "L, &e, KILN_WS);");
    }

    private void emitMatMul(Node n) {
        Value a = n.input(0);
        Value b = n.input(1);
        Value y = n.output(0);
        long[] as = dims(a);
        long[] bs = dims(b);
        long m = as.length == 1 ? 1 : as[as.length - 2];
        long k = as[as.length - 1];
        long nn = bs.length == 1 ? 1 : bs[bs.length - 1];
        long bRs = bs.length == 1 ? 1 : nn;
        long[] ys = dims(y);
        long[] batch = java.util.Arrays.copyOf(ys, ys.length - (as.length == 1 ? 0 : 1) - (bs.length == 1 ? 0 : 1));
        long batches = 1;
        for (long d : batch) batches *= d;
        String bias = optionalPtr(n, 2);
        long biasRs = 0;
        long biasCs = 0;
        if (bias != null) {
            long[] cs = dims(n.input(2));
            for (int d = 0; d < cs.length - 2; d++) {
                if (cs[d] != 1) throw new IllegalArgumentException("node " + n.name() + ": backend c takes a FusedMatMul bias that is the same for every batch, not " + java.util.Arrays.toString(cs));
            }
            long cols = cs.length >= 1 ? cs[cs.length - 1] : 1;
            long rows = cs.length >= 2 ? cs[cs.length - 2] : 1;
            biasRs = rows == 1 ? 0 : cols;
            biasCs = cols == 1 ? 0 : 1;
        }
        String residual = optionalPtr(n, 3);
        epilogue(n, 1, 1, bias, biasRs, biasCs, residual, nn);
        needWorkspace(GEMM_WORKSPACE_FLOATS);
        line("for (long b = 0; b < " + batches + "L; b++) {");
        line("    kiln_epilogue eb = e;");
        if (residual != null) line("    eb.residual += b * " + (m * nn) + "L;");
        String aOff = batchOffset(batch, as, Math.min(as.length, 2), m * k);
        String bOff = batchOffset(batch, bs, Math.min(bs.length, 2), k * nn);
        line("    kiln_sgemm(" + m + "L, " + nn + "L, " + k + "L, " + ptr(a) + " + " + aOff + ", " + k + "L, 1L, 0, " + ptr(b) + " + " + bOff + ", " + bRs + "L, 1L, "
                + ptr(y) + " + b * " + (m * nn) + "L, " + nn + "L, &eb, KILN_WS);");
        line("}");
    }

    /** C expression of an operand's element offset for batch index b, broadcasting its batch dims to {@code batch}. */
    private static String batchOffset(long[] batch, long[] operand, int matrixDims, long matrixSize) {
        int opBatch = operand.length - matrixDims;
        StringBuilder e = new StringBuilder("0L");
        long outStride = 1;
        long inStride = matrixSize;
        for (int d = batch.length - 1; d >= 0; d--) {
            int od = d - (batch.length - opBatch);
            if (od >= 0 && operand[od] != 1) e.append(" + ((b / ").append(outStride).append("L) % ").append(batch[d]).append("L) * ").append(inStride).append('L');
            if (od >= 0) inStride *= operand[od];
            outStride *= batch[d];
        }
        return "(" + e + ")";
    }

    // ---- data movement and normalisation ---------------------------------------------------------------------------

    private void emitConcat(Node n) {
        Value y = n.output(0);
        long[] ys = dims(y);
        int axis = normalizeAxis(n, "axis", 0, ys.length);
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= ys[d];
        long inner = 1;
        for (int d = axis + 1; d < ys.length; d++) inner *= ys[d];
        long offset = 0;
        for (Value in : n.inputs()) {
            long chunk = dims(in)[axis] * inner;
            MemoryPlan.Slot slot = plan.slot(in.name());
            boolean inPlace = slot != null && slot.reuse() == MemoryPlan.Reuse.PART && slot.source().equals(y.name());
            if (chunk > 0 && !inPlace) {
                line("for (long o = 0; o < " + outer + "L; o++) memcpy(" + ptr(y) + " + o * " + (ys[axis] * inner) + "L + " + offset + "L, "
                        + ptr(in) + " + o * " + chunk + "L, " + (chunk * 4) + ");");
            }
            offset += chunk;
        }
    }

    private static int normalizeAxis(Node n, String name, long fallback, int rank) {
        long axis = n.attribute(name) instanceof Attribute.Int a ? a.value() : fallback;
        return (int) (axis < 0 ? axis + rank : axis);
    }

    private void emitSoftmax(Node n) {
        long[] xs = dims(n.input(0));
        int axis = normalizeAxis(n, "axis", -1, xs.length);
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= xs[d];
        long inner = 1;
        for (int d = axis + 1; d < xs.length; d++) inner *= xs[d];
        line("kiln_softmax(" + outer + "L, " + xs[axis] + "L, " + inner + "L, " + ptr(n.input(0)) + ", " + ptr(n.output(0)) + ");");
    }

    private void emitLayerNorm(Node n) {
        if (n.outputs().size() > 1) throw new IllegalArgumentException("node " + n.name() + ": backend c computes LayerNormalization's Y only, not Mean and InvStdDev");
        long[] xs = dims(n.input(0));
        int axis = normalizeAxis(n, "axis", -1, xs.length);
        long rows = 1;
        for (int d = 0; d < axis; d++) rows *= xs[d];
        long size = count(n.input(0)) / Math.max(rows, 1);
        double eps = n.attribute("epsilon") instanceof Attribute.Float f ? f.value() : 1e-5;
        Value scale = n.input(1);
        Value bias = n.input(2);
        for (Value v : new Value[] {scale, bias}) {
            if (v != null && count(v) != 1 && count(v) != size) {
                throw new IllegalArgumentException("node " + n.name() + ": backend c takes LayerNormalization scale and bias of one value or the normalized size " + size);
            }
        }
        line("kiln_layer_norm(" + rows + "L, " + size + "L, " + ptr(n.input(0)) + ", " + ptr(scale) + ", " + (count(scale) == 1 ? 0 : 1) + "L, "
                + (bias == null ? "0, 0L" : ptr(bias) + ", " + (count(bias) == 1 ? 0 : 1) + "L") + ", " + lit(eps) + ", " + ptr(n.output(0)) + ");");
    }

    private void emitTranspose(Node n) {
        long[] xs = dims(n.input(0));
        long[] perm = new long[xs.length];
        for (int d = 0; d < perm.length; d++) perm[d] = perm.length - 1 - d;
        if (n.attribute("perm") instanceof Attribute.Ints p && p.values().length == xs.length) perm = p.values();
        long[] inStrides = strides(xs);
        long[] steps = new long[xs.length];
        for (int d = 0; d < xs.length; d++) steps[d] = inStrides[(int) perm[d]];
        emitGather(n, 0, steps);
    }

    private void emitSlice(Node n) {
        long[] xs = dims(n.input(0));
        long[] starts = constantLongs(n, 1);
        long[] ends = constantLongs(n, 2);
        long[] axes = n.input(3) == null ? null : constantLongs(n, 3);
        long[] stepsIn = n.input(4) == null ? null : constantLongs(n, 4);
        long[] begin = new long[xs.length];
        long[] step = new long[xs.length];
        java.util.Arrays.fill(step, 1);
        for (int i = 0; i < starts.length; i++) {
            int axis = (int) (axes == null ? i : (axes[i] < 0 ? axes[i] + xs.length : axes[i]));
            long st = stepsIn == null ? 1 : stepsIn[i];
            long dim = xs[axis];
            long b = starts[i] < 0 ? starts[i] + dim : starts[i];
            b = st > 0 ? Math.max(0, Math.min(b, dim)) : Math.max(0, Math.min(b, dim - 1));
            begin[axis] = b;
            step[axis] = st;
        }
        long[] inStrides = strides(xs);
        long base = 0;
        long[] steps = new long[xs.length];
        for (int d = 0; d < xs.length; d++) {
            base += begin[d] * inStrides[d];
            steps[d] = step[d] * inStrides[d];
        }
        emitGather(n, base, steps);
    }

    private static long[] strides(long[] dims) {
        long[] s = new long[dims.length];
        long stride = 1;
        for (int d = dims.length - 1; d >= 0; d--) {
            s[d] = stride;
            stride *= dims[d];
        }
        return s;
    }

    private static long[] constantLongs(Node n, int input) {
        if (!(n.input(input) instanceof Constant c) || (c.type().dtype() != DType.I64 && c.type().dtype() != DType.I32)) {
            throw new IllegalArgumentException("node " + n.name() + ": backend c takes " + n.op() + " input " + input + " as an integer constant");
        }
        ByteBuffer b = c.data();
        long[] v = new long[(int) count(c)];
        for (int i = 0; i < v.length; i++) v[i] = c.type().dtype() == DType.I64 ? b.getLong(i * 8) : b.getInt(i * 4);
        return v;
    }

    /** y[i] = x[base + sum_d coordinate_d(i) * steps[d]]: a strided view copied out (Transpose, Slice). */
    private void emitGather(Node n, long base, long[] steps) {
        long[] ys = dims(n.output(0));
        if (count(n.output(0)) == 0) return;
        // loops over the output's dims, size-1 dims dropped and neighbours merged where the input steps over them as one
        List<long[]> loops = new ArrayList<>(); // {size, input step}
        for (int d = 0; d < ys.length; d++) {
            if (ys[d] == 1) continue;
            long[] last = loops.isEmpty() ? null : loops.get(loops.size() - 1);
            if (last != null && last[1] == steps[d] * ys[d]) {
                last[0] *= ys[d];
                last[1] = steps[d];
            } else {
                loops.add(new long[] {ys[d], steps[d]});
            }
        }
        if (loops.isEmpty()) loops.add(new long[] {1, 1});
        line("float* dst = " + ptr(n.output(0)) + ";");
        StringBuilder src = new StringBuilder(ptr(n.input(0)) + " + " + base + "L");
        String indent = "";
        for (int d = 0; d < loops.size() - 1; d++) {
            line(indent + "for (long i" + d + " = 0; i" + d + " < " + loops.get(d)[0] + "L; i" + d + "++)");
            src.append(" + i").append(d).append(" * ").append(loops.get(d)[1]).append('L');
            indent += "    ";
        }
        long[] inner = loops.get(loops.size() - 1);
        if (inner[1] == 1) {
            line(indent + "memcpy(dst, " + src + ", " + inner[0] * 4 + "), dst += " + inner[0] + "L;");
        } else {
            line(indent + "for (long i = 0; i < " + inner[0] + "L; i++) *dst++ = (" + src + ")[i * " + inner[1] + "L];");
        }
    }

    /** Attention as kiln_attention computes it: no mask, cache, causal or window limits, softcap or extra outputs. */
    private static boolean isPlainAttention(Node n) {
        return n.inputs().size() <= 3 && n.outputs().size() == 1
                && !(n.attribute("is_causal") instanceof Attribute.Int c && c.value() != 0)
                && !(n.attribute("softcap") instanceof Attribute.Float f && f.value() != 0)
                && !(n.attribute("left_window_size") instanceof Attribute.Int l && l.value() >= 0)
                && !(n.attribute("right_window_size") instanceof Attribute.Int r && r.value() >= 0);
    }

    private void emitAttention(Node n) {
        if (!isPlainAttention(n)) throw new IllegalArgumentException("node " + n.name() + ": backend c runs Attention without mask, cache, causal or window limits, softcap or extra outputs only");
        long[] q = dims(n.input(0));
        long[] k = dims(n.input(1));
        long[] v = dims(n.input(2));
        boolean threeD = q.length == 3;
        long qHeads = threeD ? ((Attribute.Int) n.attribute("q_num_heads")).value() : q[1];
        long kvHeads = threeD ? ((Attribute.Int) n.attribute("kv_num_heads")).value() : k[1];
        long head = threeD ? q[2] / qHeads : q[3];
        long vHead = threeD ? v[2] / kvHeads : v[3];
        long qSeq = threeD ? q[1] : q[2];
        long kvSeq = threeD ? k[1] : k[2];
        double scale = n.attribute("scale") instanceof Attribute.Float f ? f.value() : 1 / Math.sqrt(head);
        String qs = layoutStrides(threeD, qHeads, qSeq, head);
        String ks = layoutStrides(threeD, kvHeads, kvSeq, head);
        String vs = layoutStrides(threeD, kvHeads, kvSeq, vHead);
        String ysd = layoutStrides(threeD, qHeads, qSeq, vHead);
        line("static const kiln_attention_shape s = {" + q[0] + ", " + qHeads + ", " + kvHeads + ", " + qSeq + ", " + kvSeq + ", " + head + ", " + vHead + ", "
                + qs + ", " + ks + ", " + vs + ", " + ysd + ", " + lit(scale) + "};");
        if (head > 4096) throw new IllegalArgumentException("node " + n.name() + ": backend c runs Attention with heads of at most 4096 values, not " + head);
        needWorkspace(head * 16 + 4 * 16 + 2 * 64); // KILN_ATTENTION_WORKSPACE(head)
        line("kiln_attention(&s, " + ptr(n.input(0)) + ", " + ptr(n.input(1)) + ", " + ptr(n.input(2)) + ", " + ptr(n.output(0)) + ", KILN_WS);");
    }

    /** Batch, head and sequence strides of a [B, S, H*D] (3-D) or [B, H, S, D] tensor. */
    private static String layoutStrides(boolean threeD, long heads, long seq, long size) {
        return threeD ? (seq * heads * size) + "L, " + size + "L, " + (heads * size) + "L"
                : (heads * seq * size) + "L, " + (seq * size) + "L, " + size + "L";
    }

    // ---- elementwise -----------------------------------------------------------------------------------------------

    /** The step program of an elementwise node: a FusedElementwise's own, or the one step a plain op is. */
    private static List<Step> program(Node n) {
        String op = n.op();
        if (op.equals("FusedElementwise")) return ElementwiseProgram.parse(((Attribute.Strs) n.attribute("program")).values(), n.inputs().size());
        if (BINARY.contains(op)) {
            // Max and Min take one or more inputs: a chain of binary steps (one input is a copy).
            List<Step> steps = new ArrayList<>();
            for (int i = 1; i < n.inputs().size(); i++) steps.add(Step.binary(op, ElementwiseProgram.X, new Input(i)));
            return steps;
        }
        return switch (op) {
            case "LeakyRelu" -> List.of(Step.unary(op, floatAttr(n, "alpha", 0.01)));
            case "Elu" -> List.of(Step.unary(op, floatAttr(n, "alpha", 1.0)));
            case "HardSigmoid" -> List.of(Step.unary(op, floatAttr(n, "alpha", 0.2), floatAttr(n, "beta", 0.5)));
            case "Gelu" -> List.of(Step.unary(n.attribute("approximate") instanceof Attribute.Str s && s.value().equals("tanh") ? "GeluTanh" : "Gelu"));
            case "Clip" -> List.of(Step.unary(op, clipBound(n, 1, Double.NEGATIVE_INFINITY), clipBound(n, 2, Double.POSITIVE_INFINITY)));
            default -> List.of(Step.unary(op));
        };
    }

    private static double floatAttr(Node n, String name, double fallback) {
        return n.attribute(name) instanceof Attribute.Float f ? f.value() : fallback;
    }

    private static double clipBound(Node n, int input, double fallback) {
        Value v = n.input(input);
        if (v == null) return fallback;
        if (!(v instanceof Constant c) || count(c) != 1 || c.type().dtype() != DType.F32) {
            throw new IllegalArgumentException("node " + n.name() + ": backend c takes Clip bounds that are f32 constants");
        }
        return c.data().getFloat(0);
    }

    /** One loop over the output; each input read at its broadcast index. */
    private void emitElementwise(Node n, List<Step> steps) {
        Value y = n.output(0);
        long[] ys = dims(y);
        List<String> reads = new ArrayList<>();
        for (Value in : n.inputs()) reads.add(ptr(in) + "[" + broadcastIndex(dims(in), ys) + "]");
        line("for (long i = 0; i < " + count(y) + "L; i++) {");
        line("    float x = " + reads.get(0) + ";");
        for (Step s : steps) {
            StringBuilder call = new StringBuilder("kiln_").append(s.function()).append('(');
            for (int i = 0; i < s.operands().size(); i++) {
                Operand o = s.operands().get(i);
                call.append(i > 0 ? ", " : "");
                if (o instanceof Input in) call.append(reads.get(in.index()));
                else if (o instanceof Literal l) call.append(lit(l.value()));
                else call.append('x');
            }
            line("    x = " + call + ");");
        }
        line("    " + ptr(y) + "[i] = x;");
        line("}");
    }

    /** C expression of the element of an input (right-aligned broadcast) read for output element i. */
    private static String broadcastIndex(long[] in, long[] out) {
        long inCount = Math.max(1, java.util.Arrays.stream(in).reduce(1, (p, q) -> p * q));
        long outCount = java.util.Arrays.stream(out).reduce(1, (p, q) -> p * q);
        if (inCount == outCount) return "i";
        if (inCount == 1) return "0";
        StringBuilder e = new StringBuilder("0L");
        long outStride = 1;
        long inStride = 1;
        for (int d = out.length - 1; d >= 0; d--) {
            int id = d - (out.length - in.length);
            if (id >= 0 && in[id] != 1) e.append(" + ((i / ").append(outStride).append("L) % ").append(out[d]).append("L) * ").append(inStride).append('L');
            if (id >= 0) inStride *= in[id];
            outStride *= out[d];
        }
        return "(" + e + ")";
    }
}
