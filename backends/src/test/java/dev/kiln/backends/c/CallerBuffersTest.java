package dev.kiln.backends.c;

import dev.kiln.frontend.onnx.OnnxFrontend;
import dev.kiln.ir.DType;
import dev.kiln.ir.Graph;
import dev.kiln.runtime.Npy;
import dev.kiln.runtime.Tensor;
import dev.kiln.runtime.nativelib.NativeModel;
import dev.kiln.testmodels.Fixtures;
import dev.kiln.testmodels.Zoo;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Generated code reads inputs and writes outputs in the caller's memory as NativeModel hands it over: aligned
 * only to the element size (the ABI's contract), not to the 64 bytes of the library-side buffers. Each model's
 * results in such buffers are bitwise those of {@link NativeModel#run(List)}.
 */
class CallerBuffersTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"tabular_mlp", "resnet_mini", "wide_and_deep", "transformer_encoder"})
    void elementAlignedCallerBuffersGiveTheSameResults(String model) throws Exception {
        Path folder = Fixtures.MODELS.contains(model) ? Fixtures.dir(model) : Zoo.dir(model);
        Assumptions.assumeTrue(Files.isRegularFile(folder.resolve("model.onnx")), model + " is not present");
        Graph g = OnnxFrontend.load(folder.resolve("model.onnx"), (String) null);
        List<Tensor> inputs = new ArrayList<>();
        for (int i = 0; Files.isRegularFile(folder.resolve("input" + i + ".npy")); i++) inputs.add(Npy.read(folder.resolve("input" + i + ".npy")));
        try (NativeModel m = NativeTesting.optimiseAndCompile(g, dir).load(2)) {
            List<Tensor> want = m.run(inputs);
            for (int skew : new int[] {0, 1}) {
                Tensor[] in = inputs.stream().map(t -> copy(t, skew)).toArray(Tensor[]::new);
                Tensor[] out = new Tensor[want.size()];
                for (int k = 0; k < out.length; k++) out[k] = skewed(want.get(k).dtype(), want.get(k).shape(), skew);
                m.run(in, out);
                for (int k = 0; k < out.length; k++) {
                    assertTrue(want.get(k).contentEquals(out[k]), model + ": output " + k + " in buffers " + skew + " element(s) past a 64-byte boundary");
                }
            }
        }
    }

    /** A zero tensor in direct memory starting {@code skew} elements past a 64-byte boundary. */
    private static Tensor skewed(DType dtype, long[] shape, int skew) {
        Tensor aligned = Tensor.allocateDirect(dtype, shape);
        int bytes = aligned.data().capacity();
        ByteBuffer raw = ByteBuffer.allocateDirect(bytes + 128);
        int at = (64 - raw.alignmentOffset(0, 64)) % 64 + skew * dtype.byteSize();
        return Tensor.wrap(dtype, shape, raw.position(at).limit(at + bytes).slice());
    }

    private static Tensor copy(Tensor t, int skew) {
        Tensor c = skewed(t.dtype(), t.shape(), skew);
        c.data().put(t.data());
        return c;
    }
}
