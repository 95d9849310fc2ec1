package dev.kiln.server;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.interpreter.Interpreter;
import dev.kiln.testmodels.Fixtures;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The real-model fixtures of testmodels/ through ONNX import and the reference interpreter, compared
 * with torch's golden output and with ONNX Runtime on the same input. Models that are made on demand
 * and absent are skipped. The interpreter's output is written to {@code <build>/fixture-outputs/}.
 */
class FixtureModelsTest {
    /** max|actual - expected| / max|expected|. */
    private static final double MAX_RELATIVE_DIFF = 1e-4;

    @ParameterizedTest(name = "{0}")
    @FieldSource("dev.kiln.testmodels.Fixtures#MODELS")
    void interpreterMatchesTorchAndOnnxRuntime(String model) throws Exception {
        assumeTrue(Fixtures.isPresent(model),
                model + " fixture is not present (made on demand); make it with: " + Fixtures.makeCommand(model));
        Path dir = Fixtures.dir(model);
        Path onnx = dir.resolve("model.onnx");
        Tensor input = Npy.read(dir.resolve("input0.npy"));
        Tensor golden = Npy.read(dir.resolve("output0.npy"));

        Graph graph = OnnxFrontend.load(onnx, (String) null); // shapes from the model
        Interpreter interpreter = new Interpreter(graph);
        long start = System.nanoTime();
        Tensor first = interpreter.run(Map.of("input0", input)).get("output0");
        double firstSeconds = (System.nanoTime() - start) / 1e9;
        start = System.nanoTime();
        Tensor output = interpreter.run(Map.of("input0", input)).get("output0");
        double seconds = (System.nanoTime() - start) / 1e9;
        Npy.write(outputFolder().resolve(model + "-output0.npy"), output);

        assertEquals(DType.F32, output.dtype(), model + " output dtype");
        assertArrayEquals(golden.shape(), output.shape(), model + " output shape");
        float[] kiln = output.toFloatArray();
        float[] torch = golden.toFloatArray();
        float[] ort = runOnnxRuntime(onnx, input);
        double vsTorch = maxRelativeDiff(kiln, torch);
        double vsOrt = maxRelativeDiff(kiln, ort);
        System.out.printf("%s: interpreter vs torch %.2e, vs ONNX Runtime %.2e (ONNX Runtime vs torch %.2e); "
                        + "%.3f s per inference (first run %.3f s); runs identical: %b%n",
                model, vsTorch, vsOrt, maxRelativeDiff(ort, torch), seconds, firstSeconds,
                Arrays.equals(first.toFloatArray(), kiln));
        assertTrue(vsTorch <= MAX_RELATIVE_DIFF, model + ": interpreter differs from torch by " + vsTorch + " (relative to max|golden|)");
        assertTrue(vsOrt <= MAX_RELATIVE_DIFF, model + ": interpreter differs from ONNX Runtime by " + vsOrt + " (relative to max|ort|)");
    }

    /** ONNX Runtime's output0 for the same input, with all graph optimisations on. */
    private static float[] runOnnxRuntime(Path onnx, Tensor input) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            try (OrtSession session = env.createSession(onnx.toString(), options);
                 OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(input.toFloatArray()), input.shape());
                 OrtSession.Result result = session.run(Map.of("input0", in))) {
                OnnxTensor out = (OnnxTensor) result.get("output0").orElseThrow();
                FloatBuffer buffer = out.getFloatBuffer();
                float[] values = new float[buffer.remaining()];
                buffer.get(values);
                return values;
            }
        }
    }

    static double maxRelativeDiff(float[] actual, float[] expected) {
        assertEquals(expected.length, actual.length, "element count");
        double maxDiff = 0;
        double maxExpected = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs((double) actual[i] - expected[i])); // a NaN stays NaN and fails
            maxExpected = Math.max(maxExpected, Math.abs(expected[i]));
        }
        return maxDiff / maxExpected;
    }

    /** {@code <build dir>/fixture-outputs}: the build dir holds test-classes, where this class was loaded from. */
    private static Path outputFolder() throws IOException, URISyntaxException {
        Path testClasses = Path.of(FixtureModelsTest.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        return Files.createDirectories(testClasses.getParent().resolve("fixture-outputs"));
    }
}
