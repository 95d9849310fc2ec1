package dev.kiln.runtime.nativelib;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import dev.kiln.ir.DType;
import dev.kiln.ir.ops.OnnxDataTypes;
import dev.kiln.runtime.Profile;
import dev.kiln.runtime.Tensor;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A compiled model (a shared library with Kiln's C ABI, see the C backend's CCodeGenerator) loaded with
 * JNA: its weights file memory-mapped and handed over as a pointer, its arena in direct memory.
 *
 * <p>The library's state (weights and arena pointers, its thread pool) is global to the loaded file, so
 * load one NativeModel per library file at a time. Both {@code run} methods are synchronized: one inference
 * at a time, spread over the library's own pool of the thread count chosen at load (kiln_set_threads); closing
 * stops the pool (kiln_shutdown) before unloading the library.
 *
 * <p>Per inference the cost outside kiln_run is one direct-mapped JNA call ({@link KilnRun}) and, for each input
 * and output, either nothing or one copy: a tensor in direct memory aligned to its element size (as
 * {@link Tensor#allocateDirect} makes) is read or written where it is; any other is copied into or out of the
 * library-side buffer made for it at load. The addresses handed to kiln_run are worked out when a tensor is first
 * seen and kept while the caller passes the same tensor again, so a loop over the same tensors allocates nothing.
 */
public final class NativeModel implements Closeable {
    private static final int ALIGNMENT = 64;
    /** The most threads the library's pool takes (KILN_MAX_THREADS). */
    public static final int MAX_THREADS = 256;
    /** What kiln_run returns when it found something wrong with the data (kiln_last_error says what). */
    private static final int RUN_FAILED = -3;

    private final NativeLibrary library;
    private final ByteBuffer weights;
    private final ByteBuffer arena;
    /** This library's copy of {@link KilnRun}, registered with it, and its kiln_run. */
    private final Class<?> entry;
    private final MethodHandle run;
    private final List<long[]> inputShapes;
    private final List<long[]> outputShapes;
    private final List<DType> inputDtypes;
    private final List<DType> outputDtypes;
    /** Outputs whose shape each run reports (the library keeps their elements); their outputShapes entry is unused. */
    private final boolean[] dynamicOutputs;
    private final Slot[] inputs;
    private final Slot[] outputs;
    /** The native arrays of addresses kiln_run is given: where it reads each input and writes each output. */
    private final Memory inputPointers;
    private final Memory outputPointers;
    /** Node i's name at 2i and op at 2i + 1, read from the library when a profile is first asked for. */
    private String[] nodeNames;
    private boolean closed;

    /**
     * One input or output of kiln_run: the library-side buffer made at load, and the caller's tensor of the last
     * run that gave one (already checked against the shape and dtype) with where kiln_run reads or writes it.
     */
    private static final class Slot {
        final DType dtype;
        final long[] shape;
        /** Null for an output of run-time shape (the library keeps its elements). */
        final ByteBuffer own;
        final long ownAddress;
        Tensor tensor;
        ByteBuffer view;
        /** The tensor's own bytes when kiln_run reads or writes them in place, else {@code own}'s. */
        long address;
        boolean inPlace;
        /** The address in the native array of addresses. */
        long written = -1;

        Slot(DType dtype, long[] shape, boolean dynamic) {
            this.dtype = dtype;
            this.shape = shape;
            this.own = dynamic ? null : alignedBuffer(NativeModel.bytes(shape, dtype));
            this.ownAddress = dynamic ? 0 : Pointer.nativeValue(Native.getDirectBufferPointer(own));
        }

        int bytes() { return own.capacity(); }
    }

    private NativeModel(NativeLibrary library, ByteBuffer weights, int threads) {
        this.library = library;
        this.weights = weights;
        long arenaBytes = library.getFunction("kiln_arena_bytes").invokeLong(new Object[0]);
        if (arenaBytes < 0 || arenaBytes > Integer.MAX_VALUE - ALIGNMENT) throw new IllegalStateException("arena of " + arenaBytes + " bytes is not supported");
        this.arena = ByteBuffer.allocateDirect((int) arenaBytes + ALIGNMENT);
        this.inputShapes = shapes("input");
        this.outputShapes = shapes("output");
        this.inputDtypes = dtypes("input");
        this.outputDtypes = dtypes("output");
        this.dynamicOutputs = new boolean[outputShapes.size()];
        Function dynamic = library.getFunction("kiln_output_dynamic");
        for (int i = 0; i < dynamicOutputs.length; i++) dynamicOutputs[i] = dynamic.invokeInt(new Object[] {i}) != 0;
        int rc = library.getFunction("kiln_init").invokeInt(new Object[] {pointer(weights), aligned(arena)});
        if (rc != 0) throw new IllegalStateException("kiln_init of " + library.getFile() + " failed with " + rc);
        this.inputs = new Slot[inputShapes.size()];
        this.inputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, inputs.length));
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = new Slot(inputDtypes.get(i), inputShapes.get(i), false);
            point(inputPointers, i, inputs[i], inputs[i].ownAddress);
        }
        this.outputs = new Slot[outputShapes.size()];
        this.outputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, outputs.length));
        for (int i = 0; i < outputs.length; i++) {
            outputs[i] = new Slot(outputDtypes.get(i), outputShapes.get(i), dynamicOutputs[i]);
            point(outputPointers, i, outputs[i], outputs[i].ownAddress);
        }
        this.entry = registeredEntry(library);
        try {
            this.run = MethodHandles.privateLookupIn(entry, MethodHandles.lookup())
                    .findStatic(entry, "kiln_run", MethodType.methodType(int.class, Pointer.class, Pointer.class));
            // last: a failure before leaves no thread running in a library about to be unloaded
            rc = library.getFunction("kiln_set_threads").invokeInt(new Object[] {threads});
            if (rc != 0) throw new IllegalStateException("kiln_set_threads(" + threads + ") of " + library.getFile() + " failed with " + rc);
        } catch (ReflectiveOperationException | RuntimeException e) {
            Native.unregister(entry);
            if (e instanceof RuntimeException r) throw r;
            throw new IllegalStateException("cannot bind kiln_run of " + library.getFile(), e);
        }
    }

    /** A copy of {@link KilnRun} of this library's own, its native method registered with the library. */
    private static Class<?> registeredEntry(NativeLibrary library) {
        Class<?> copy;
        try {
            copy = Class.forName(KilnRun.class.getName(), true, new EntryLoader());
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("cannot define the kiln_run binding of " + library.getFile(), e);
        }
        Native.register(copy, library);
        return copy;
    }

    /** Defines {@link KilnRun} anew from its class file, everything else coming from NativeModel's loader. */
    private static final class EntryLoader extends ClassLoader {
        EntryLoader() { super(NativeModel.class.getClassLoader()); }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.equals(KilnRun.class.getName())) return super.loadClass(name, resolve);
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c != null) return c;
                try (InputStream in = NativeModel.class.getResourceAsStream(KilnRun.class.getSimpleName() + ".class")) {
                    if (in == null) throw new ClassNotFoundException(name + " has no class file on the class path");
                    byte[] code = in.readAllBytes();
                    return defineClass(name, code, 0, code.length);
                } catch (IOException e) {
                    throw new ClassNotFoundException(name, e);
                }
            }
        }
    }

    private static int bytes(long[] shape, DType dtype) {
        return Math.toIntExact(Math.multiplyExact(Arrays.stream(shape).reduce(1, Math::multiplyExact), (long) dtype.byteSize()));
    }

    /** A little-endian direct buffer of {@code bytes} starting at a 64-byte aligned address (vector loads of the first rows). */
    private static ByteBuffer alignedBuffer(int bytes) {
        ByteBuffer raw = ByteBuffer.allocateDirect(bytes + ALIGNMENT);
        int skip = (ALIGNMENT - raw.alignmentOffset(0, ALIGNMENT)) % ALIGNMENT;
        return raw.position(skip).limit(skip + bytes).slice().order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Loads {@code library} (a model.so) with the weights file it was compiled with, running on all cores. */
    public static NativeModel load(Path library, Path weightsFile) {
        return load(library, weightsFile, defaultThreads());
    }

    /** The thread count when none is chosen: every core the JVM sees. */
    public static int defaultThreads() { return Runtime.getRuntime().availableProcessors(); }

    /**
     * Loads {@code library} with its weights file; its inferences run on {@code threads} threads (1 to
     * {@value #MAX_THREADS}, the calling thread included), whose pool is created once here.
     */
    public static NativeModel load(Path library, Path weightsFile, int threads) {
        if (threads < 1 || threads > MAX_THREADS) throw new IllegalArgumentException("thread count must be 1 to " + MAX_THREADS + ", got " + threads);
        ByteBuffer weights;
        try (FileChannel ch = FileChannel.open(weightsFile, StandardOpenOption.READ)) {
            weights = ch.size() == 0 ? ByteBuffer.allocateDirect(ALIGNMENT) : ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot map weights " + weightsFile, e);
        }
        NativeLibrary lib = NativeLibrary.getInstance(library.toAbsolutePath().toString());
        try {
            return new NativeModel(lib, weights, threads);
        } catch (RuntimeException e) {
            lib.close();
            throw e;
        }
    }

    private List<long[]> shapes(String kind) {
        int n = library.getFunction("kiln_num_" + kind + "s").invokeInt(new Object[0]);
        List<long[]> shapes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int rank = library.getFunction("kiln_" + kind + "_rank").invokeInt(new Object[] {i});
            long[] shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = library.getFunction("kiln_" + kind + "_dim").invokeLong(new Object[] {i, d});
            shapes.add(shape);
        }
        return shapes;
    }

    private List<DType> dtypes(String kind) {
        int n = library.getFunction("kiln_num_" + kind + "s").invokeInt(new Object[0]);
        Function f = library.getFunction("kiln_" + kind + "_dtype");
        List<DType> dtypes = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int code = f.invokeInt(new Object[] {i});
            DType t = OnnxDataTypes.dtype(code);
            if (t == null) throw new IllegalStateException(library.getFile() + ": " + kind + " " + i + " has data type code " + code + ", which Kiln does not know");
            dtypes.add(t);
        }
        return dtypes;
    }

    /** The shapes of the inputs, in the graph's order. */
    public List<long[]> inputShapes() { return inputShapes.stream().map(long[]::clone).toList(); }

    /** The shapes of the outputs, in the graph's order; an output whose shape each run reports has its dims of the last run. */
    public List<long[]> outputShapes() { return outputShapes.stream().map(long[]::clone).toList(); }

    public List<DType> inputDtypes() { return inputDtypes; }

    public List<DType> outputDtypes() { return outputDtypes; }

    /** Whether output {@code i}'s shape is known only once a run computed it (NonZero, a Reshape to a shape read from an input ...). */
    public boolean isDynamicOutput(int i) { return dynamicOutputs[i]; }

    /** Runs one inference on inputs in the graph's order; returns the outputs in the graph's order (tensors of their own). */
    public synchronized List<Tensor> run(List<Tensor> inputs) {
        requireOpen();
        requireCount("inputs", inputs.size(), this.inputs.length);
        for (int i = 0; i < this.inputs.length; i++) bind(this.inputs[i], inputPointers, i, inputs.get(i), "input", false);
        for (int i = 0; i < outputs.length; i++) unbind(outputs[i], i);
        invoke();
        List<Tensor> results = new ArrayList<>(outputs.length);
        for (int i = 0; i < outputs.length; i++) {
            if (dynamicOutputs[i]) {
                results.add(dynamicOutput(i));
                continue;
            }
            ByteBuffer data = ByteBuffer.allocate(outputs[i].bytes());
            data.put(0, outputs[i].own, 0, outputs[i].bytes());
            results.add(Tensor.wrap(outputDtypes.get(i), outputShapes.get(i), data));
        }
        return results;
    }

    /**
     * Runs one inference on inputs in the graph's order, writing each output into the caller's tensor of exactly
     * its dtype and shape (graph order). A model with an output whose shape a run computes ({@link #isDynamicOutput})
     * is refused: such an output has no tensor to give beforehand. Outputs must not share memory with each other;
     * an output sharing memory with an input is written once the run has read the input.
     */
    public synchronized void run(Tensor[] inputs, Tensor[] outputs) {
        requireOpen();
        requireCount("inputs", inputs.length, this.inputs.length);
        requireCount("outputs", outputs.length, this.outputs.length);
        boolean rebound = false;
        for (int i = 0; i < inputs.length; i++) rebound |= bind(this.inputs[i], inputPointers, i, inputs[i], "input", false);
        for (int i = 0; i < outputs.length; i++) {
            if (dynamicOutputs[i]) {
                throw new IllegalArgumentException("output " + i + " of " + library.getFile() + " has a shape each run computes; "
                        + "run(inputs) returns it in a tensor of that shape");
            }
            rebound |= bind(this.outputs[i], outputPointers, i, outputs[i], "output", true);
        }
        if (rebound) separateOverlaps();
        invoke();
        for (Slot s : this.outputs) {
            if (!s.inPlace) s.view.put(0, s.own, 0, s.bytes());
        }
    }

    /**
     * Makes {@code t} the slot's tensor, checked and with the address kiln_run takes; true when it was not already.
     * In place: direct memory aligned to its element size (what the generated code assumes), writable for an output.
     */
    private boolean bind(Slot s, Memory pointers, int i, Tensor t, String kind, boolean output) {
        if (t == s.tensor) {
            if (!s.inPlace && !output) s.own.put(0, s.view, 0, s.bytes());
            return false;
        }
        if (t == null) throw new IllegalArgumentException(kind + " " + i + " is null");
        if (t.dtype() != s.dtype || !Arrays.equals(t.shape(), s.shape)) {
            throw new IllegalArgumentException(kind + " " + i + " must be " + s.dtype + Arrays.toString(s.shape) + ", got " + t);
        }
        if (output && t.data().isReadOnly()) throw new IllegalArgumentException(kind + " " + i + " is read-only: " + t);
        s.tensor = null;
        ByteBuffer view = t.data();
        boolean inPlace = view.isDirect() && (view.capacity() == 0 || view.alignmentOffset(0, s.dtype.byteSize()) == 0);
        s.view = view;
        s.inPlace = inPlace;
        point(pointers, i, s, inPlace ? Pointer.nativeValue(Native.getDirectBufferPointer(view)) : s.ownAddress);
        s.tensor = t;
        if (!inPlace && !output) s.own.put(0, view, 0, s.bytes());
        return true;
    }

    /** The slot goes back to its own buffer (the outputs of {@link #run(List)}, copied into new tensors). */
    private void unbind(Slot s, int i) {
        if (s.tensor == null) return;
        s.tensor = null;
        s.view = null;
        s.inPlace = false;
        point(outputPointers, i, s, dynamicOutputs[i] ? 0 : s.ownAddress);
    }

    /**
     * Outputs written in place must not overlap anything kiln_run reads or writes: one overlapping an input is
     * written to its own buffer and copied once the run is done; two outputs sharing memory are refused.
     */
    private void separateOverlaps() {
        for (int o = 0; o < outputs.length; o++) {
            Slot out = outputs[o];
            if (!out.inPlace) continue;
            for (int p = o + 1; p < outputs.length; p++) {
                if (outputs[p].inPlace && overlap(out, outputs[p])) {
                    throw new IllegalArgumentException("outputs " + o + " and " + p + " share memory");
                }
            }
            for (Slot in : inputs) {
                if (in.inPlace && overlap(out, in)) {
                    out.inPlace = false;
                    point(outputPointers, o, out, out.ownAddress);
                    break;
                }
            }
        }
    }

    private static boolean overlap(Slot a, Slot b) {
        return a.bytes() > 0 && b.bytes() > 0 && a.address < b.address + b.bytes() && b.address < a.address + a.bytes();
    }

    /** Sets the slot's address and, when it changed, entry {@code i} of the native array of addresses. */
    private static void point(Memory pointers, int i, Slot s, long address) {
        s.address = address;
        if (address == s.written) return;
        if (Native.POINTER_SIZE == 8) pointers.setLong(8L * i, address);
        else pointers.setInt(4L * i, (int) address);
        s.written = address;
    }

    private void invoke() {
        int rc;
        try {
            rc = (int) run.invokeExact((Pointer) inputPointers, (Pointer) outputPointers);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("kiln_run of " + library.getFile() + " failed", e);
        }
        if (rc == RUN_FAILED) {
            String why = utf8(library.getFunction("kiln_last_error"));
            throw new IllegalStateException("kiln_run of " + library.getFile() + " failed: " + why);
        }
        if (rc != 0) throw new IllegalStateException("kiln_run of " + library.getFile() + " failed with " + rc);
    }

    private void requireOpen() {
        if (closed) throw new IllegalStateException("native model " + library.getFile() + " is closed");
    }

    private void requireCount(String what, int given, int expected) {
        if (given != expected) throw new IllegalArgumentException("model takes " + expected + " " + what + ", got " + given);
    }

    /** A run-time shaped output of the last run: its dims as the library reports them, its elements copied from the library's buffer. */
    private Tensor dynamicOutput(int i) {
        long[] shape = outputShapes.get(i);
        Function dim = library.getFunction("kiln_output_dim");
        for (int d = 0; d < shape.length; d++) shape[d] = dim.invokeLong(new Object[] {i, d});
        Tensor t = Tensor.allocate(outputDtypes.get(i), shape);
        long bytes = t.data().remaining();
        if (bytes > 0) {
            Pointer data = (Pointer) library.getFunction("kiln_output_data").invoke(Pointer.class, new Object[] {i});
            if (data == null) throw new IllegalStateException(library.getFile() + ": output " + i + " has no elements after kiln_run");
            t.data().put(data.getByteBuffer(0, bytes));
        }
        return t;
    }

    /**
     * Switches the per-node profile on (counters from zero: each later run adds every node's time, counted by the
     * native code) or off. Fails for a library compiled before the profile existed.
     */
    public synchronized void setProfiling(boolean on) {
        requireOpen();
        profileFunction("kiln_set_profiling").invokeVoid(new Object[] {on ? 1 : 0});
    }

    /** The per-node times counted since profiling was switched on, with each node's name, op and FLOPs. */
    public synchronized Profile profile() {
        requireOpen();
        int n = profileFunction("kiln_num_nodes").invokeInt(new Object[0]);
        if (nodeNames == null) {
            String[] names = new String[2 * n];
            for (int i = 0; i < n; i++) {
                names[2 * i] = utf8(profileFunction("kiln_node_name"), i);
                names[2 * i + 1] = utf8(profileFunction("kiln_node_op"), i);
            }
            nodeNames = names;
        }
        long[] nanos = new long[Math.max(1, n)];
        long runs = profileFunction("kiln_profile").invokeLong(new Object[] {nanos});
        Function flops = profileFunction("kiln_node_flops");
        List<Profile.Node> nodes = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            nodes.add(new Profile.Node(nodeNames[2 * i], nodeNames[2 * i + 1], flops.invokeLong(new Object[] {i}), nanos[i]));
        }
        return new Profile(runs, nodes);
    }

    private Function profileFunction(String name) {
        try {
            return library.getFunction(name);
        } catch (UnsatisfiedLinkError e) {
            throw new IllegalStateException(library.getFile() + " has no per-node profile (no " + name + "): it was compiled before Kiln "
                    + "had one; compile the model again", e);
        }
    }

    /** The C string (UTF-8) a function returns. */
    private static String utf8(Function f, Object... args) {
        Pointer p = (Pointer) f.invoke(Pointer.class, args);
        return p == null ? "" : p.getString(0, StandardCharsets.UTF_8.name());
    }

    /** The address of a direct buffer's current position. */
    private static Pointer pointer(ByteBuffer direct) {
        return Native.getDirectBufferPointer(direct).share(direct.position());
    }

    private static Pointer aligned(ByteBuffer direct) {
        Pointer p = Native.getDirectBufferPointer(direct);
        long address = Pointer.nativeValue(p);
        return p.share((ALIGNMENT - address % ALIGNMENT) % ALIGNMENT);
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Slot s : inputs) s.tensor = null;
        for (Slot s : outputs) s.tensor = null;
        library.getFunction("kiln_shutdown").invokeVoid(new Object[0]);
        Native.unregister(entry);
        library.close();
    }
}
