package dev.kiln.runtime.nativelib;

import com.sun.jna.Function;
import com.sun.jna.Memory;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import com.sun.jna.Pointer;
import dev.kiln.ir.DType;
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

    private final NativeLibrary library;
    private final ByteBuffer weights;
    private final ByteBuffer arena;
    private final Function run;
    private final List<long[]> inputShapes;
    private final List<long[]> outputShapes;
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
        int rc = library.getFunction("kiln_init").invokeInt(new Object[] {pointer(weights), aligned(arena)});
        if (rc != 0) throw new IllegalStateException("kiln_init of " + library.getFile() + " failed with " + rc);
        rc = library.getFunction("kiln_set_threads").invokeInt(new Object[] {threads});
        if (rc != 0) throw new IllegalStateException("kiln_set_threads(" + threads + ") of " + library.getFile() + " failed with " + rc);
        this.run = library.getFunction("kiln_run");
        this.inputBuffers = new ByteBuffer[inputShapes.size()];
        this.inputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, inputShapes.size()));
        for (int i = 0; i < inputBuffers.length; i++) {
            inputBuffers[i] = alignedBuffer(f32Bytes(inputShapes.get(i)));
            inputPointers.setPointer((long) i * Native.POINTER_SIZE, Native.getDirectBufferPointer(inputBuffers[i]));
        }
        this.outputBuffers = new ByteBuffer[outputShapes.size()];
        this.outputPointers = new Memory((long) Native.POINTER_SIZE * Math.max(1, outputShapes.size()));
        for (int i = 0; i < outputBuffers.length; i++) {
            outputBuffers[i] = alignedBuffer(f32Bytes(outputShapes.get(i)));
            outputPointers.setPointer((long) i * Native.POINTER_SIZE, Native.getDirectBufferPointer(outputBuffers[i]));
        }
    }

    private static int f32Bytes(long[] shape) {
        return Math.toIntExact(Arrays.stream(shape).reduce(1, (a, b) -> a * b) * 4);
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

    /** The shapes of the inputs, in the graph's order (all f32). */
    public List<long[]> inputShapes() { return inputShapes.stream().map(long[]::clone).toList(); }

    /** The shapes of the outputs, in the graph's order (all f32). */
    public List<long[]> outputShapes() { return outputShapes.stream().map(long[]::clone).toList(); }

    /** Runs one inference on inputs in the graph's order; returns the outputs in the graph's order (tensors of their own). */
    public synchronized List<Tensor> run(List<Tensor> inputs) {
        if (closed) throw new IllegalStateException("native model " + library.getFile() + " is closed");
        if (inputs.size() != inputShapes.size()) throw new IllegalArgumentException("model takes " + inputShapes.size() + " inputs, got " + inputs.size());
        for (int i = 0; i < inputs.size(); i++) {
            Tensor t = inputs.get(i);
            if (t.dtype() != DType.F32 || !Arrays.equals(t.shape(), inputShapes.get(i))) {
                throw new IllegalArgumentException("input " + i + " must be F32" + Arrays.toString(inputShapes.get(i)) + ", got " + t);
            }
        }
        for (int i = 0; i < inputs.size(); i++) inputBuffers[i].clear().put(inputs.get(i).data());
        int rc = run.invokeInt(new Object[] {inputPointers, outputPointers});
        if (rc != 0) throw new IllegalStateException("kiln_run of " + library.getFile() + " failed with " + rc);
        List<Tensor> outputs = new ArrayList<>(outputBuffers.length);
        for (int i = 0; i < outputBuffers.length; i++) {
            Tensor t = Tensor.allocate(DType.F32, outputShapes.get(i));
            t.data().put(outputBuffers[i].clear());
            outputs.add(t);
        }
        return outputs;
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
