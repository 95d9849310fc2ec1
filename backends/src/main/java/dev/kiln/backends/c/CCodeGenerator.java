package dev.kiln.backends.c;

import dev.kiln.ir.Graph;
import dev.kiln.ir.Layout;
import dev.kiln.ir.Layouts;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;
import dev.kiln.passes.PassContext;
import dev.kiln.passes.PassOptions;
import dev.kiln.passes.PlanMemory;
import dev.kiln.runtime.interpreter.InterpreterEvaluator;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Turns an optimised graph into one C source file specialised to its shapes and to the target's vector
 * registers, a weights blob and an arena size. Each node is written by the family of its op ({@link Emitters},
 * one {@link OpEmitter} per family, each with its C kernels); the generator keeps the rest: the weights blob,
 * the arena, the order of the nodes and the exported ABI.
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
 * int  kiln_run(const void* const* inputs, void* const* outputs);  // graph order, dense row-major; 0 on success
 * const char* kiln_last_error(void);      // what the last kiln_run that returned -3 found (an index out of range, a value too large)
 * int  kiln_num_inputs(void), kiln_num_outputs(void);
 * int  kiln_input_rank(int i), kiln_output_rank(int i);
 * int  kiln_input_dtype(int i), kiln_output_dtype(int i);  // ONNX TensorProto data type codes (1 float, 7 int64, 9 bool ...)
 * long kiln_input_dim(int i, int d), kiln_output_dim(int i, int d);
 * int  kiln_output_dynamic(int i);        // 1 when the output's shape is known only once a run computed it
 * const void* kiln_output_data(int i);    // a run-time shaped output: its elements after a run (the library's memory)
 * int  kiln_set_threads(int n);           // (re)starts the thread pool with n threads in all (1..256, the caller included); 0 on success
 * void kiln_shutdown(void);               // stops the pool's threads, frees their workspaces and the run-time buffers
 * int  kiln_num_nodes(void);              // the nodes kiln_run runs, in order (the optimised graph's, as generated)
 * const char* kiln_node_name(int i), * kiln_node_op(int i);  // node i's name in the graph (UTF-8) and its op
 * int64_t kiln_node_flops(int i);         // floating-point operations of one run of node i (see NodeFlops; 0 where not counted)
 * void kiln_set_profiling(int on);        // 1: each later kiln_run adds each node's nanoseconds to its counter, counters from 0; 0: off
 * int64_t kiln_profile(int64_t* node_ns); // writes the kiln_num_nodes() counters; returns the runs they sum (those that returned 0)
 * </pre>
 * An output whose shape depends on the data (NonZero, a Reshape to a shape read from an input ...) is
 * written into a buffer of the library's own, grown as runs need up to a limit (past it kiln_run fails):
 * kiln_run ignores its slot in {@code outputs}, and after the run kiln_output_dim gives its shape and
 * kiln_output_data its elements, valid until the next run. kiln_run is not reentrant (one arena); it returns
 * -1 when kiln_init was not called. It runs on one thread until kiln_set_threads starts a pool: n - 1 workers,
 * created once, each with its own workspace, that the GEMM, convolution and pooling kernels split their
 * output over. Every output element is computed by one thread in the same order whatever n is, so results are
 * bitwise the same for every thread count. Call kiln_shutdown before unloading the library. Static and shared
 * libraries link with -pthread (POSIX threads; Win32 threads under _WIN32).
 */
public final class CCodeGenerator {
    /**
     * The generated program: C source, the weights blob and the arena bytes: the memory plan's
     * intermediates, then the kernels' workspace, then the weights kiln_init packs for the GEMM.
     */
    public record CProgram(String source, ByteBuffer weights, long arenaBytes) {}

    /** Ops whose output is the bytes of input 0 under another shape (the memory plan's views). */
    static final Set<String> VIEWS = Set.of("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity");

    private final Graph graph;
    private final MemoryPlan plan;
    private final Emission emission;

    private CCodeGenerator(Graph graph, MemoryPlan plan, int vectorRegisters, int block) {
        this.graph = graph;
        this.plan = plan;
        this.emission = new Emission(graph, plan, vectorRegisters, block);
    }

    /**
     * Generates the program of a graph and its memory plan for a target with {@code vectorRegisters} vector
     * registers (the tiles of the convolution kernels are sized to them).
     *
     * @throws UnsupportedOperationException listing every node with no kernel here ("OperatorNotImplemented: ...")
     * @throws IllegalArgumentException      for a graph that is not planned
     */
    public static CProgram generate(Graph graph, MemoryPlan plan, int vectorRegisters) {
        if (plan == null) throw new IllegalArgumentException("graph " + graph.name() + " has no memory plan; run the pipeline through PlanMemory first");
        Graph legal = PlainFallback.apply(graph, n -> problem(n) != null);
        if (legal != graph) {
            // the transforms around nodes moved to plain values need places in the arena
            PassContext ctx = PassContext.builder().options(PassOptions.defaults()).evaluator(new InterpreterEvaluator()).build();
            new PlanMemory().apply(legal, ctx);
            plan = ctx.result(MemoryPlan.class);
        }
        checkSupported(legal);
        return new CCodeGenerator(legal, plan, vectorRegisters, blockSize(legal)).emit();
    }

    /** The one channel block size of the graph's blocked values, 0 when there are none. */
    private static int blockSize(Graph graph) {
        Set<Integer> blocks = new TreeSet<>();
        List<Value> values = new ArrayList<>(graph.constants().values());
        values.addAll(graph.inputs());
        for (Node n : graph.nodes()) values.addAll(n.outputs());
        for (Value v : values) {
            Layout l = v.type().layout();
            if (Layouts.blockSize(l, 'C') > 0) blocks.add(Layouts.blockSize(l, 'C'));
            if (Nodes.isBlockedFilter(l)) blocks.add(Layouts.blockSize(l, 'O'));
        }
        if (blocks.size() > 1) throw new UnsupportedOperationException("OperatorNotImplemented: backend c takes one channel block size per graph, not " + blocks);
        return blocks.isEmpty() ? 0 : blocks.iterator().next();
    }

    /** Fails naming every node whose op, dtype, shape or layout this backend has no kernel for, and every input it cannot take. */
    static void checkSupported(Graph graph) {
        List<String> missing = new ArrayList<>();
        for (Value in : graph.inputs()) {
            if (!in.type().shape().isStatic()) missing.add("graph input %" + in.name() + " (symbolic shape " + in.type().shape() + ")");
        }
        for (Node n : graph.nodes()) {
            String problem = problem(n);
            if (problem != null) missing.add(n.op() + problem + " at node " + n.name());
        }
        if (!missing.isEmpty()) {
            throw new UnsupportedOperationException("OperatorNotImplemented: backend c has no kernel for " + String.join("; ", missing));
        }
    }

    /**
     * Whether the generator has a kernel for the node as typed, or for its blocked activations made plain
     * ({@link PlainFallback}).
     */
    static boolean supports(Node n) {
        if (problem(n) == null) return true;
        if (!PlainFallback.hasBlocked(n)) return false;
        Node twin = PlainFallback.plainTwin(n);
        return twin != null && problem(twin) == null;
    }

    /** What the generator does not take about a node it does not support, in brackets ("" for an unknown op); null when it supports it. */
    static String refusal(Node n) { return supports(n) ? null : problem(n); }

    /** Null when the generator takes the node; else what it does not take, in brackets ("" for an unknown op). */
    private static String problem(Node n) {
        OpEmitter family = Emitters.forOp(n.op());
        return family == null ? "" : family.problem(n);
    }

    private CProgram emit() {
        List<OpEmitter> families = Emitters.fresh();
        Map<String, OpEmitter> byOp = Emitters.byOp(families);
        Set<OpEmitter> used = new LinkedHashSet<>();
        for (Node n : graph.nodes()) used.add(byOp.get(n.op()));
        for (OpEmitter f : families) {
            if (!used.contains(f)) continue;
            f.prepare(graph, emission);
            emission.useKernels(f.kernels());
        }
        ByteBuffer weights = emission.layoutWeights();
        List<Node> nodes = graph.nodes();
        for (int i = 0; i < nodes.size(); i++) {
            Node n = nodes.get(i);
            emission.line("/* node " + i + ": " + n.op() + " */");
            emission.open("{");
            byOp.get(n.op()).emit(n, emission);
            emission.close("}");
            emission.line("if (kiln_timed) kiln_clock = kiln_profile_node(&kiln_node_ns[" + i + "], kiln_clock);");
        }
        for (int i = 0; i < graph.outputs().size(); i++) {
            Value v = graph.outputs().get(i);
            if (!Emission.isStatic(v)) {
                emission.line("kiln_out_data[" + i + "] = " + emission.address(v) + ";");
            } else if (!emission.address(v).equals("kiln_out" + i)) {
                emission.line("memcpy(kiln_out" + i + ", " + emission.address(v) + ", " + v.type().shape().elementCount() * v.type().dtype().byteSize() + ");");
            }
        }
        return assemble(weights);
    }

    private CProgram assemble(ByteBuffer weights) {
        long workspaceOffset = Emission.align(plan.arenaBytes());
        long prepackedOffset = Emission.align(workspaceOffset + emission.workspaceFloats() * 4);
        long arena = prepackedOffset + emission.prepackedFloats() * 4;
        // each worker thread needs what one GEMM or one depthwise row needs, never more than thread 0's workspace
        long threadWorkspace = Math.min(emission.workspaceFloats(), Math.max(Emission.GEMM_WORKSPACE_FLOATS, emission.threadWorkspaceFloats()));
        StringBuilder c = new StringBuilder("/* Generated by Kiln (backend c). */\n");
        if (emission.block() > 0) c.append("#define KILN_CB ").append(emission.block()).append('\n');
        for (String f : KernelSources.closure(emission.kernels())) c.append(KernelSources.text(f)).append('\n');
        c.append("static const char* kiln_w;\nstatic char* kiln_a;\n");
        c.append("#define KILN_WS ((float*) (kiln_a + ").append(workspaceOffset).append("L))\n");
        c.append("#define KILN_PACKED ((float*) (kiln_a + ").append(prepackedOffset).append("L))\n");
        int buffers = emission.runtimeBuffers();
        c.append("static kiln_buffer kiln_dyn[").append(Math.max(1, buffers)).append("];\n");
        int outputs = graph.outputs().size();
        c.append("static const void* kiln_out_data[").append(Math.max(1, outputs)).append("];\n\n");
        // the shape functions first: they name the dims arrays of run-time shaped outputs, which are globals
        StringBuilder shapes = new StringBuilder();
        shapeFunctions(shapes, "input", graph.inputs());
        shapeFunctions(shapes, "output", graph.outputs());
        for (String g : emission.globals()) c.append(g).append('\n');
        c.append("long kiln_arena_bytes(void) { return ").append(arena).append("L; }\n");
        c.append("int kiln_init(const void* weights, void* arena) {\n    if (!arena && kiln_arena_bytes() > 0) return -2;\n")
                .append("    kiln_w = (const char*) weights;\n    kiln_a = (char*) arena;\n").append(emission.initCode()).append("    return 0;\n}\n");
        c.append("int kiln_set_threads(int n) { return kiln_pool_start(n, ").append(threadWorkspace).append("L); }\n");
        c.append("void kiln_shutdown(void) {\n    kiln_pool_stop();\n    for (int i = 0; i < ").append(buffers)
                .append("; i++) kiln_release(&kiln_dyn[i]);\n}\n");
        c.append("const char* kiln_last_error(void) { return kiln_error_text; }\n");
        c.append(shapes);
        profileFunctions(c);
        c.append("int kiln_output_dynamic(int i) {\n");
        for (int i = 0; i < outputs; i++) {
            if (!Emission.isStatic(graph.outputs().get(i))) c.append("    if (i == ").append(i).append(") return 1;\n");
        }
        c.append("    return 0;\n}\n");
        c.append("const void* kiln_output_data(int i) { return i >= 0 && i < ").append(outputs).append(" ? kiln_out_data[i] : 0; }\n");
        c.append("int kiln_run(const void* const* inputs, void* const* outputs) {\n    if (!kiln_a && kiln_arena_bytes() > 0) return -1;\n");
        c.append("    (void) inputs;\n    (void) outputs;\n    kiln_error_text[0] = 0;\n");
        c.append("    const int kiln_timed = kiln_profiling;\n    int64_t kiln_clock = kiln_timed ? kiln_now_ns() : 0;\n    (void) kiln_clock;\n");
        for (int i = 0; i < graph.inputs().size(); i++) c.append("    char* kiln_in").append(i).append(" = (char*) inputs[").append(i).append("];\n");
        for (int i = 0; i < outputs; i++) {
            if (Emission.isStatic(graph.outputs().get(i))) c.append("    char* kiln_out").append(i).append(" = (char*) outputs[").append(i).append("];\n");
        }
        c.append(emission.body()).append("    if (kiln_timed) kiln_profiled_runs++;\n    return 0;\n}\n");
        return new CProgram(c.toString(), weights, arena);
    }

    /** The per-node profile: each node's name, op and FLOPs, its time counter, and the calls that switch timing and read it. */
    private void profileFunctions(StringBuilder c) {
        List<Node> nodes = graph.nodes();
        int count = nodes.size();
        // a graph of no nodes (its outputs are inputs or constants) still gets arrays of one element: C has no empty ones
        int size = Math.max(1, count);
        c.append("static int kiln_profiling;\nstatic int64_t kiln_profiled_runs;\nstatic int64_t kiln_node_ns[").append(size).append("];\n");
        c.append("static const char* const kiln_node_names[").append(size).append("] = {")
                .append(initializers(nodes, n -> Emission.cString(n.name()), "0")).append("};\n");
        c.append("static const char* const kiln_node_ops[").append(size).append("] = {")
                .append(initializers(nodes, n -> Emission.cString(n.op()), "0")).append("};\n");
        c.append("static const int64_t kiln_node_flops_of[").append(size).append("] = {")
                .append(initializers(nodes, n -> NodeFlops.of(n) + "LL", "0")).append("};\n");
        c.append("int kiln_num_nodes(void) { return ").append(count).append("; }\n");
        c.append("const char* kiln_node_name(int i) { return i >= 0 && i < ").append(count).append(" ? kiln_node_names[i] : 0; }\n");
        c.append("const char* kiln_node_op(int i) { return i >= 0 && i < ").append(count).append(" ? kiln_node_ops[i] : 0; }\n");
        c.append("int64_t kiln_node_flops(int i) { return i >= 0 && i < ").append(count).append(" ? kiln_node_flops_of[i] : -1; }\n");
        c.append("void kiln_set_profiling(int on) {\n    memset(kiln_node_ns, 0, sizeof kiln_node_ns);\n")
                .append("    kiln_profiled_runs = 0;\n    kiln_profiling = on != 0;\n}\n");
        c.append("int64_t kiln_profile(int64_t* node_ns) {\n    if (node_ns) memcpy(node_ns, kiln_node_ns, ").append(count)
                .append(" * sizeof(int64_t));\n    return kiln_profiled_runs;\n}\n");
    }

    /** One initializer per node, one per line; {@code none} when there are no nodes. */
    private static String initializers(List<Node> nodes, Function<Node, String> value, String none) {
        if (nodes.isEmpty()) return none;
        return nodes.stream().map(n -> "\n    " + value.apply(n) + ",").collect(Collectors.joining()) + "\n";
    }

    /** kiln_num_X, kiln_X_rank, kiln_X_dtype and kiln_X_dim; a run-time shaped output's dims are those of the last run. */
    private void shapeFunctions(StringBuilder c, String kind, List<Value> values) {
        c.append("int kiln_num_").append(kind).append("s(void) { return ").append(values.size()).append("; }\n");
        c.append("int kiln_").append(kind).append("_rank(int i) {\n    switch (i) {\n");
        for (int i = 0; i < values.size(); i++) c.append("        case ").append(i).append(": return ").append(values.get(i).type().rank()).append(";\n");
        c.append("        default: return -1;\n    }\n}\n");
        c.append("int kiln_").append(kind).append("_dtype(int i) {\n    switch (i) {\n");
        for (int i = 0; i < values.size(); i++) {
            c.append("        case ").append(i).append(": return ").append(CTypes.onnxCode(values.get(i).type().dtype())).append(";\n");
        }
        c.append("        default: return -1;\n    }\n}\n");
        c.append("long kiln_").append(kind).append("_dim(int i, int d) {\n");
        for (int i = 0; i < values.size(); i++) {
            Value v = values.get(i);
            int rank = v.type().rank();
            if (Emission.isStatic(v)) {
                c.append("    if (i == ").append(i).append(") {\n        static const long dims[] = {");
                for (long d : v.type().shape().sizes()) c.append(d).append("L, ");
                c.append("0L};\n        return d >= 0 && d < ").append(rank).append(" ? dims[d] : -1;\n    }\n");
            } else {
                c.append("    if (i == ").append(i).append(") return d >= 0 && d < ").append(rank).append(" ? ")
                        .append(emission.outputDims(v)).append("[d] : -1;\n");
            }
        }
        c.append("    return -1;\n}\n");
    }
}
