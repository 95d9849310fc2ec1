package dev.kiln.benchmarks;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.kiln.runtime.Model;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
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
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One batch-1 inference of a fixture model (its input0.npy) per invocation: the Kiln artifact for this host,
 * ONNX Runtime on the same ONNX file, and the reference interpreter on the smallest model.
 * The {@code model} and {@code threads} params are shared by Kiln and ONNX Runtime so their runs pair up.
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class LatencyBenchmark {

    /** The Kiln artifact, compiled once per trial for ml_c5 (AVX-512 hosts) or ml_c4. */
    @State(Scope.Benchmark)
    public static class KilnNative {
        @Param({"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
        public String model;
        /** The library's thread pool size, the same count ONNX Runtime gets. */
        @Param({"1", "2"})
        public int threads;

        Path dir;
        Model loaded;
        Map<String, Tensor> inputs;

        @Setup
        public void setup() throws IOException {
            dir = Files.createTempDirectory("kiln-bench-");
            loaded = Model.load(BenchModels.compile(model, BenchModels.hostDevice(), dir), threads);
            inputs = Map.of(BenchModels.INPUT_NAME, BenchModels.input(model));
        }

        @TearDown
        public void tearDown() throws IOException {
            loaded.close();
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.delete(p);
            }
        }
    }

    /** An ONNX Runtime session with every graph optimisation, {@code threads} intra-op threads, one inter-op thread. */
    @State(Scope.Benchmark)
    public static class OnnxRuntime {
        @Param({"squeezenet1_1", "mobilenet_v2", "resnet18", "transformer_encoder"})
        public String model;
        @Param({"1", "2"})
        public int threads;

        OrtSession session;
        OnnxTensor input;

        @Setup
        public void setup() throws OrtException {
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
                options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                options.setIntraOpNumThreads(threads);
                options.setInterOpNumThreads(1);
                session = env.createSession(BenchModels.onnx(model).toString(), options);
            }
            Tensor t = BenchModels.input(model);
            input = OnnxTensor.createTensor(env, FloatBuffer.wrap(t.toFloatArray()), t.shape());
        }

        @TearDown
        public void tearDown() throws OrtException {
            input.close();
            session.close();
        }
    }

    /** The reference interpreter, on the smallest fixture only (it is 10-100x slower than native code). */
    @State(Scope.Benchmark)
    public static class KilnInterpreter {
        @Param({"transformer_encoder"})
        public String interpreterModel;

        Interpreter interpreter;
        Map<String, Tensor> inputs;

        @Setup
        public void setup() {
            interpreter = new Interpreter(BenchModels.imported(interpreterModel));
            inputs = Map.of(BenchModels.INPUT_NAME, BenchModels.input(interpreterModel));
        }
    }

    @Benchmark
    public Map<String, Tensor> kilnNative(KilnNative s) {
        return s.loaded.run(s.inputs);
    }

    @Benchmark
    public FloatBuffer onnxRuntime(OnnxRuntime s) throws OrtException {
        try (OrtSession.Result result = s.session.run(Map.of(BenchModels.INPUT_NAME, s.input))) {
            return ((OnnxTensor) result.get(0)).getFloatBuffer();
        }
    }

    @Benchmark
    public Map<String, Tensor> kilnInterpreter(KilnInterpreter s) {
        return s.interpreter.run(s.inputs);
    }
}
