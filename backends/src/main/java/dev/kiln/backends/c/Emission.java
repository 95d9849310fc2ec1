package dev.kiln.backends.c;

import dev.kiln.ir.Constant;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.Node;
import dev.kiln.ir.Value;
import dev.kiln.passes.MemoryPlan;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * What an {@link OpEmitter} writes through, for one generation: the code of kiln_run, of kiln_init and at
 * file scope; where each value lives (its typed pointer) and its dims (literals, or variables a node sets at
 * run time); the weights to pack; the scratch memory kernels need. The generator ({@link CCodeGenerator})
 * owns one per graph and assembles the file from it.
 *
 * <p>Values of static shape live where the memory plan puts them (graph inputs and outputs in the caller's
 * buffers, constants in the weights). A value whose shape is known only at run time (a symbolic dim) has
 * dims in {@code static long kiln_d<i>[rank]}, which its producer sets before calling {@link #allocate},
 * and its elements in a buffer of its own, grown as runs need (kiln_reserve).
 */
final class Emission {
    /** Floats of the C side's GEMM workspace: KILN_MC * KILN_KC + KILN_KC * KILN_NC for the largest blocking (AVX-512). */
    static final long GEMM_WORKSPACE_FLOATS = 96L * 256 + 256L * 1024;

    private final Graph graph;
    private final MemoryPlan plan;
    private final int vectorRegisters;
    private final int block;
    private final StringBuilder body = new StringBuilder();
    private final StringBuilder init = new StringBuilder();
    private final Set<String> globals = new LinkedHashSet<>();
    private final Set<String> kernels = new LinkedHashSet<>();
    private final Map<String, String> pointers = new HashMap<>();
    /** Values with run-time dims, by the index of their kiln_d array; and the run-time buffer of each. */
    private final Map<Value, Integer> dynamicIds = new LinkedHashMap<>();
    private final Map<Value, Integer> buffers = new LinkedHashMap<>();
    private final Map<Value, Integer> staticDims = new HashMap<>();
    private final Map<String, Packed> packed = new LinkedHashMap<>();
    private final Set<String> packedReads = new LinkedHashSet<>();
    private final Map<String, Long> weightOffsets = new LinkedHashMap<>();
    private long workspaceFloats;
    private long threadWorkspaceFloats;
    private long prepackedFloats;
    private int runtimeBuffers;
    private String indent = "        ";

    /** Weights a family lays out itself: their bytes, and where the weights blob holds them once laid out. */
    private static final class Packed {
        final long bytes;
        final Consumer<ByteBuffer> writer;
        long offset = -1;

        Packed(long bytes, Consumer<ByteBuffer> writer) {
            this.bytes = bytes;
            this.writer = writer;
        }
    }

    Emission(Graph graph, MemoryPlan plan, int vectorRegisters, int block) {
        this.graph = graph;
        this.plan = plan;
        this.vectorRegisters = vectorRegisters;
        this.block = block;
        for (int i = 0; i < graph.inputs().size(); i++) pointers.put(graph.inputs().get(i).name(), "kiln_in" + i);
        for (int i = 0; i < graph.outputs().size(); i++) {
            Value out = graph.outputs().get(i);
            // A constant or input output stays where it is and is copied out at the end; a run-time sized one has its own buffer.
            if (!pointers.containsKey(out.name()) && !(out instanceof Constant) && isStatic(out)) pointers.put(out.name(), "kiln_out" + i);
        }
    }

    Graph graph() { return graph; }

    MemoryPlan plan() { return plan; }

    /** The target's vector registers (tile sizes follow them). */
    int vectorRegisters() { return vectorRegisters; }

    /** Channels per block of the graph's blocked values (blocked.h's KILN_CB); 0 when none is blocked. */
    int block() { return block; }

    // ---- code -------------------------------------------------------------------------------------------------------

    /** One line of kiln_run, inside the current node's block. */
    void line(String s) { body.append(indent).append(s).append('\n'); }

    /** Lines up to {@link #close()} are indented one level more (the inside of a loop or branch the caller opened). */
    void open(String s) {
        line(s);
        indent += "    ";
    }

    void close(String s) {
        indent = indent.substring(4);
        line(s);
    }

    /** A line of kiln_init, which runs once when the library is loaded (packing weights into the arena). */
    void init(String s) { init.append("    ").append(s).append('\n'); }

    /** A definition at file scope, after the kernels (written once however often it is asked for). */
    void global(String definition) { globals.add(definition); }

    /** Calls a kernel that returns non-zero on failure, kiln_run then failing with its code. */
    void check(String call) { line("KILN_TRY(" + call + ");"); }

    /** Makes kiln_run fail with {@code message} (a C string literal's content) when {@code condition} holds. */
    void failWhen(String condition, String message) { line("if (" + condition + ") return kiln_fail(" + cString(message) + ");"); }

    /** A C string literal of text in UTF-8 (model names may hold anything). */
    static String cString(String text) {
        StringBuilder b = new StringBuilder("\"");
        for (byte c : text.getBytes(StandardCharsets.UTF_8)) {
            if (c == '"' || c == '\\') b.append('\\').append((char) c);
            else if (c >= 0x20 && c < 0x7f && c != '?') b.append((char) c);
            else b.append(String.format("\\%03o", c & 0xff));
        }
        return b.append('"').toString();
    }

    void useKernels(List<String> files) { kernels.addAll(files); }

    // ---- where values live ------------------------------------------------------------------------------------------

    /** A C expression of type {@code char*} for a value's first byte. */
    String address(Value v) {
        String p = pointers.get(v.name());
        if (p != null) return p;
        if (v instanceof Constant) {
            Long offset = weightOffsets.get(v.name());
            if (offset == null) throw new IllegalStateException("constant %" + v.name() + " is read only packed, yet asked for unpacked");
            p = "(kiln_w + " + offset + "L)";
        } else if (!isStatic(v) && !isView(v)) {
            p = "((char*) kiln_dyn[" + buffer(v) + "].data)";
        } else {
            MemoryPlan.Slot s = plan.slot(v.name());
            if (s != null) {
                p = "(kiln_a + " + s.offset() + "L)";
            } else if (isView(v)) {
                p = address(v.producer().input(0));
            } else {
                throw new IllegalArgumentException("value %" + v.name() + " has no place in the memory plan: " + plan.outsideArena().get(v.name()));
            }
        }
        pointers.put(v.name(), p);
        return p;
    }

    /** A C expression for a pointer to a value's first element, of its dtype's storage type. */
    String ptr(Value v) { return "((" + CTypes.storage(v.type().dtype()) + "*) " + address(v) + ")"; }

    /** Whether a value is computed as a view of its producer's first input (the same bytes, another shape). */
    static boolean isView(Value v) { return v.producer() != null && CCodeGenerator.VIEWS.contains(v.producer().op()); }

    private int buffer(Value v) { return buffers.computeIfAbsent(v, k -> runtimeBuffers++); }

    // ---- dims -------------------------------------------------------------------------------------------------------

    /** Whether the value's shape is known at compile time. */
    static boolean isStatic(Value v) { return v.type().shape().isStatic(); }

    /** The static dims of a value. */
    static long[] dims(Value v) { return v.type().shape().sizes(); }

    /** A C expression of dim d: a literal, or the value's run-time dims. */
    String dim(Value v, int d) {
        if (v.type().shape().dim(d).isStatic()) return v.type().shape().dim(d).size() + "L";
        return dimsArray(v) + "[" + d + "]";
    }

    /** A C expression of the element count. */
    String count(Value v) {
        if (isStatic(v)) return v.type().shape().elementCount() + "L";
        return "kiln_count(" + v.type().rank() + ", " + dimsArray(v) + ")";
    }

    /**
     * The name of a {@code long} array of the value's dims: a constant one for a static value, else the one its
     * producer fills at run time before {@link #allocate}.
     */
    String dimsArray(Value v) {
        int rank = v.type().rank();
        if (isStatic(v)) {
            int id = staticDims.computeIfAbsent(v, k -> staticDims.size());
            StringBuilder b = new StringBuilder("static const long kiln_s" + id + "[] = {");
            for (long d : dims(v)) b.append(d).append("L, ");
            global(b.append("0L};").toString());
            return "kiln_s" + id;
        }
        int id = dynamicIds.computeIfAbsent(v, k -> dynamicIds.size());
        global("static long kiln_d" + id + "[" + Math.max(1, rank) + "];");
        return "kiln_d" + id;
    }

    /**
     * Makes room for a run-time sized value once its producer has set its dims (nothing for a static one or a
     * view): kiln_run fails naming the node when the value would exceed the run-time limit.
     */
    void allocate(Value v) {
        if (isStatic(v) || isView(v)) return;
        check("kiln_reserve(&kiln_dyn[" + buffer(v) + "], " + count(v) + ", " + v.type().dtype().byteSize() + ", "
                + cString("output " + v.name() + " of node " + v.producer().name() + " (" + v.producer().op() + ")") + ")");
    }

    /** Run-time scratch memory of {@code bytes} (a C expression) for one node: a C expression of type char*. */
    String scratch(String bytes, String what) {
        int k = runtimeBuffers++;
        check("kiln_reserve(&kiln_dyn[" + k + "], " + bytes + ", 1, " + cString(what) + ")");
        return "((char*) kiln_dyn[" + k + "].data)";
    }

    /** Run-time buffers: one per run-time sized value and scratch request. */
    int runtimeBuffers() { return runtimeBuffers; }

    /** The run-time dims array and buffer of each run-time sized graph output (null where static). */
    String outputDims(Value v) { return isStatic(v) ? null : dimsArray(v); }

    // ---- scratch, weights -------------------------------------------------------------------------------------------

    /** Reserves the arena workspace every thread's kernels share (thread 0's): KILN_WS, at least this many floats. */
    String workspace(long floats) {
        workspaceFloats = Math.max(workspaceFloats, floats);
        return "KILN_WS";
    }

    /** Each worker thread's own workspace, at least this many floats (a GEMM's or one depthwise row's). */
    void threadWorkspace(long floats) { threadWorkspaceFloats = Math.max(threadWorkspaceFloats, floats); }

    long workspaceFloats() { return workspaceFloats; }

    long threadWorkspaceFloats() { return threadWorkspaceFloats; }

    /** Reserves floats in the arena that kiln_init fills once (weights packed at load): a C expression of type float*. */
    String prepacked(long floats) {
        String p = "(KILN_PACKED + " + prepackedFloats + "L)";
        prepackedFloats += (floats * 4 + MemoryPlan.ALIGNMENT - 1) / MemoryPlan.ALIGNMENT * MemoryPlan.ALIGNMENT / 4;
        return p;
    }

    long prepackedFloats() { return prepackedFloats; }

    /**
     * During {@link OpEmitter#prepare}: weights the family lays out itself, {@code bytes} long, written by
     * {@code writer} into a little-endian buffer positioned at their place; the same key asked twice is one blob.
     */
    void pack(String key, long bytes, Consumer<ByteBuffer> writer) { packed.putIfAbsent(key, new Packed(bytes, writer)); }

    /** A C expression (float*) of packed weights once laid out. */
    String packedPtr(String key) {
        Packed p = packed.get(key);
        if (p == null || p.offset < 0) throw new IllegalStateException("no packed weights " + key);
        return "((float*) (kiln_w + " + p.offset + "L))";
    }

    boolean hasPacked(String key) { return packed.containsKey(key); }

    /** During {@link OpEmitter#prepare}: the node reads input i (a constant) only through weights it packs. */
    void readsPacked(Node n, int input) { packedReads.add(n.name() + "#" + input); }

    /** The weights blob: every constant something reads unpacked, then the packed weights, each 64-byte aligned. */
    ByteBuffer layoutWeights() {
        long size = 0;
        for (Constant k : graph.constants().values()) {
            if (!readUnpacked(k)) continue;
            weightOffsets.put(k.name(), size);
            size = align(size + k.data().remaining());
        }
        for (Packed p : packed.values()) {
            p.offset = size;
            size = align(size + p.bytes);
        }
        if (size > Integer.MAX_VALUE) throw new IllegalArgumentException("weights of " + size + " bytes exceed 2 GiB");
        ByteBuffer w = ByteBuffer.allocate((int) size).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        for (Constant k : graph.constants().values()) {
            Long offset = weightOffsets.get(k.name());
            if (offset != null) w.position(offset.intValue()).put(k.data());
        }
        for (Packed p : packed.values()) p.writer.accept(w.position((int) p.offset).slice().order(java.nio.ByteOrder.LITTLE_ENDIAN));
        return w.position(0);
    }

    private boolean readUnpacked(Constant k) {
        if (graph.outputs().contains(k)) return true;
        for (Node n : graph.nodes()) {
            for (int i = 0; i < n.inputs().size(); i++) {
                if (n.input(i) == k && !packedReads.contains(n.name() + "#" + i)) return true;
            }
        }
        return false;
    }

    static long align(long n) { return (n + MemoryPlan.ALIGNMENT - 1) / MemoryPlan.ALIGNMENT * MemoryPlan.ALIGNMENT; }

    String body() { return body.toString(); }

    String initCode() { return init.toString(); }

    List<String> globals() { return new ArrayList<>(globals); }

    Set<String> kernels() { return kernels; }

    /** The dtype of a value (shorthand for emitters). */
    static DType dtype(Value v) { return v.type().dtype(); }
}
