package dev.kiln.runtime.nativelib;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import dev.kiln.ir.DType;
import dev.kiln.ir.ops.OnnxDataTypes;
import dev.kiln.runtime.Tensor;

import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
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
 * load one NativeModel per library file at a time. {@link #run} is synchronized: one inference at a time,
 * spread over the library's own pool of the thread count chosen at load (kiln_set_threads); closing stops
 * the pool (kiln_shutdown) before unloading the library.
 *
 * <p>Per inference the cost outside kiln_run is one JNA call and a copy of each input and output: the
 * direct buffers kiln_run reads and writes, and the native arrays of their addresses, are made once
 * at load (small models run in tens of microseconds, where allocating direct memory per call shows).
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
    private final Function run;
    private final List<long[]> inputShapes;
    private final List<long[]> outputShapes;
    private final List<DType> inputDtypes;
    private final List<DType> outputDtypes;
    /** Outputs whose shape each run reports (the library keeps their elements); their outputShapes entry is unused. */
    private final boolean[] dynamicOutputs;
    /** Where kiln_run reads each input and writes each output, and the native arrays of their addresses it is given. */
    private final ByteBuffer[] inputBuffers;
    private final ByteBuffer[] outputBuffers;
    private final Memory inputPointers;
    private final Memory outputPointers;
    private boolean closed;

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
        rc = library.getFunction("kiln_set_threads").invokeInt(new Object[] {threads});
        if (rc != 0) throw new IllegalStateException("kiln_set_threads(" + threads + ") of " + library.getFile() + " failed with " + rc);
        this.run = library.getFunction("kiln_run");
        this.inputBuffers = new ByteBuffer[inputShapes.size()];
        this.inputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, inputShapes.size()));
        for (int i = 0; i < inputBuffers.length; i++) {
            inputBuffers[i] = alignedBuffer(bytes(inputShapes.get(i), inputDtypes.get(i)));
            inputPointers.setPointer((long) i * Native.POINTER_SIZE, Native.getDirectBufferPointer(inputBuffers[i]));
        }
        this.outputBuffers = new ByteBuffer[outputShapes.size()];
        this.outputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, outputShapes.size()));
        for (int i = 0; i < outputBuffers.length; i++) {
            if (dynamicOutputs[i]) {
                outputPointers.setPointer((long) i * Native.POINTER_SIZE, Pointer.NULL);
                continue;
            }
            outputBuffers[i] = alignedBuffer(bytes(outputShapes.get(i), outputDtypes.get(i)));
            outputPointers.setPointer((long) i * Native.POINTER_SIZE, Native.getDirectBufferPointer(outputBuffers[i]));
        }
    }

    private static int bytes(long[] shape, DType dtype) {
        return Math.toIntExact(Math.multiplyExact(Arrays.stream(shape).reduce(1, Math::multiplyExact), (long) dtype.byteSize()));
    }

    /** A little-endian direct buffer of {@code bytes} starting at a 64-byte aligned address (vector loads of the first rows). */
    private static ByteBuffer alignedBuffer(int bytes) {
        ByteBuffer raw = ByteBuffer.allocateDirect(bytes + ALIGNMENT);
        long address = Pointer.nativeValue(Native.getDirectBufferPointer(raw));
        int skip = (int) ((ALIGNMENT - address % ALIGNMENT) % ALIGNMENT);
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

    /** Runs one inference on inputs in the graph's order; returns the outputs in the graph's order (tensors of their own). */
    public synchronized List<Tensor> run(List<Tensor> inputs) {
        if (closed) throw new IllegalStateException("native model " + library.getFile() + " is closed");
        if (inputs.size() != inputShapes.size()) throw new IllegalArgumentException("model takes " + inputShapes.size() + " inputs, got " + inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            Tensor t = inputs.get(i);
            if (t.dtype() != inputDtypes.get(i) || !Arrays.equals(t.shape(), inputShapes.get(i))) {
                throw new IllegalArgumentException("input " + i + " must be " + inputDtypes.get(i) + Arrays.toString(inputShapes.get(i)) + ", got " + t);
            }
        }
        for (int i = 0; i < inputs.size(); i++) inputBuffers[i].clear().put(inputs.get(i).data());
        int rc = run.invokeInt(new Object[] {inputPointers, outputPointers});
        if (rc == RUN_FAILED) {
            String why = library.getFunction("kiln_last_error").invokeString(new Object[0], false);
            throw new IllegalStateException("kiln_run of " + library.getFile() + " failed: " + why);
        }
        if (rc != 0) throw new IllegalStateException("kiln_run of " + library.getFile() + " failed with " + rc);
        List<Tensor> outputs = new ArrayList<>(outputBuffers.length);
        for (int i = 0; i < outputBuffers.length; i++) {
            if (dynamicOutputs[i]) {
                outputs.add(dynamicOutput(i));
                continue;
            }
            Tensor t = Tensor.allocate(outputDtypes.get(i), outputShapes.get(i));
            t.data().put(outputBuffers[i].clear());
            outputs.add(t);
        }
        return outputs;
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
        library.getFunction("kiln_shutdown").invokeVoid(new Object[0]);
        library.close();
    }
}
