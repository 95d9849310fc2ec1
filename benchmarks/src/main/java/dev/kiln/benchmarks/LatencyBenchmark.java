package dev.kiln.benchmarks;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.kiln.ir.DType;
import dev.kiln.ir.Value;
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
import org.openjdk.jmh.infra.Blackhole;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * One batch-1 inference of a fixture or zoo model (its golden inputs) per invocation: the Kiln artifact for this
 * host, ONNX Runtime on the same ONNX file, and the reference interpreter on the smallest model. Both engines hand
 * back every output as a Java-readable buffer. The {@code model} and {@code threads} params are shared by Kiln and
 * ONNX Runtime so their runs pair up; {@link BenchmarkMain} sets {@code model} to every model present.
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
            loaded = Model.load(BenchModels.artifact(model, BenchModels.hostDevice(), dir), threads);
            inputs = named(model);
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
        Map<String, OnnxTensor> inputs;

        @Setup
        public void setup() throws OrtException {
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
                options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                options.setIntraOpNumThreads(threads);
                options.setInterOpNumThreads(1);
                session = env.createSession(BenchModels.onnx(model).toString(), options);
            }
            inputs = new LinkedHashMap<>();
            for (Map.Entry<String, Tensor> e : named(model).entrySet()) {
                Tensor t = e.getValue();
                // A direct buffer: ONNX Runtime's Java API reads it in place (it mishandles heap byte buffers).
                ByteBuffer direct = ByteBuffer.allocateDirect(t.data().remaining()).order(ByteOrder.nativeOrder()).put(t.data()).flip();
                inputs.put(e.getKey(), OnnxTensor.createTensor(env, direct, t.shape(), onnxType(t.dtype())));
            }
        }

        @TearDown
        public void tearDown() throws OrtException {
            for (OnnxTensor t : inputs.values()) t.close();
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
            inputs = named(interpreterModel);
        }
    }

    @Benchmark
    public Map<String, Tensor> kilnNative(KilnNative s) {
        return s.loaded.run(s.inputs);
    }

    /** Every output copied out of ONNX Runtime's native memory, as Kiln's run copies them into Java tensors. */
    @Benchmark
    public void onnxRuntime(OnnxRuntime s, Blackhole hole) throws OrtException {
        try (OrtSession.Result result = s.session.run(s.inputs)) {
            for (Map.Entry<String, OnnxValue> output : result) hole.consume(((OnnxTensor) output.getValue()).getByteBuffer());
        }
    }

    /** The model's golden inputs under the graph's input names. */
    static Map<String, Tensor> named(String model) {
        List<Value> names = BenchModels.imported(model).inputs();
        List<Tensor> tensors = BenchModels.inputs(model);
        Map<String, Tensor> inputs = new LinkedHashMap<>();
        for (int i = 0; i < names.size(); i++) inputs.put(names.get(i).name(), tensors.get(i));
        return inputs;
    }

    static OnnxJavaType onnxType(DType dtype) {
        return switch (dtype) {
            case F32 -> OnnxJavaType.FLOAT;
            case F64 -> OnnxJavaType.DOUBLE;
            case F16 -> OnnxJavaType.FLOAT16;
            case BF16 -> OnnxJavaType.BFLOAT16;
            case I8 -> OnnxJavaType.INT8;
            case U8 -> OnnxJavaType.UINT8;
            case I16 -> OnnxJavaType.INT16;
            case I32 -> OnnxJavaType.INT32;
            case I64 -> OnnxJavaType.INT64;
            case BOOL -> OnnxJavaType.BOOL;
            default -> throw new IllegalArgumentException("no ONNX Runtime Java type for " + dtype);
        };
    }

    @Benchmark
    public Map<String, Tensor> kilnInterpreter(KilnInterpreter s) {
        return s.interpreter.run(s.inputs);
    }
}
