package dev.kiln.benchmarks;

import dev.kiln.backends.Compiler;
import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Targets;
import dev.kiln.ir.Attribute;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.ir.TensorType;
import dev.kiln.ir.Value;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Tensor;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What the thread pool costs per node: a model of {@link #NODES} small convolutions in a chain (32 channels,
 * 1x1 filter with bias and Relu, on {@code positions} positions), each about {@code positions} x 1024
 * multiply-adds, run on 1 and 2 threads. Nodes of 16 and 256 positions are below the pool's threshold and run
 * on the caller alone, so two threads should cost what one does; those of 1024 are split, and two threads' time
 * per node less half of one thread's is what handing a node over costs. Not part of {@link BenchmarkMain}'s
 * table; run it with JMH's own main:
 * <pre>
 * java -cp benchmarks/target/kiln-benchmarks-0.1.0-SNAPSHOT.jar:benchmarks/target/lib/'*' org.openjdk.jmh.Main ThreadPoolBenchmark \
 *     -f 1 -wi 3 -i 5 -w 1s -r 1s
 * </pre>
 * Scores are microseconds per run of the whole chain.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class ThreadPoolBenchmark {
    static final int NODES = 64;
    private static final long CHANNELS = 32;

    /** Output positions of each convolution: 4x4, 16x16, 32x32. */
    @Param({"16", "256", "1024"})
    public int positions;
    @Param({"1", "2"})
    public int threads;

    private Path dir;
    private Model model;
    private Map<String, Tensor> inputs;

    @Setup
    public void setup() throws IOException {
        dir = Files.createTempDirectory("kiln-bench-pool-");
        long side = (long) Math.sqrt(positions);
        Graph chain = chain(side);
        Path artifact = Compiler.compile(chain, Targets.device(BenchModels.hostDevice()), CompilerOptions.NONE, dir, "chain").artifact();
        model = Model.load(artifact, threads);
        Tensor x = Tensor.allocate(DType.F32, 1, CHANNELS, side, side);
        Random r = new Random(1);
        for (int i = 0; i < x.size(); i++) x.setDouble(i, r.nextDouble() - 0.5);
        inputs = Map.of("x", x);
    }

    @TearDown
    public void tearDown() throws IOException {
        model.close();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
        }
    }

    /** The chain on a side x side image; weights small enough that values stay in range over all the nodes. */
    private static Graph chain(long side) {
        Graph g = new Graph("chain");
        Random r = new Random(2);
        Value y = g.addInput("x", TensorType.of(DType.F32, 1, CHANNELS, side, side));
        for (int i = 0; i < NODES; i++) {
            Value w = constant(g, "w" + i, r, 0.3 / Math.sqrt(CHANNELS), CHANNELS, CHANNELS, 1, 1);
            Value b = constant(g, "b" + i, r, 0.1, CHANNELS);
            Value conv = g.addNode("conv" + i, "Conv", List.of(y, w, b), Map.of(), List.of("conv" + i + "_y")).output(0);
            y = g.addNode("relu" + i, "Relu", List.of(conv), Map.<String, Attribute>of(), List.of("relu" + i + "_y")).output(0);
        }
        g.addOutput(y);
        return g;
    }

    private static Value constant(Graph g, String name, Random r, double scale, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        ByteBuffer b = ByteBuffer.allocate((int) n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) b.putFloat((float) ((r.nextDouble() * 2 - 1) * scale));
        return g.addConstant(name, TensorType.of(DType.F32, shape), b.flip());
    }

    @Benchmark
    public Map<String, Tensor> chainOfSmallNodes() {
        return model.run(inputs);
    }
}
