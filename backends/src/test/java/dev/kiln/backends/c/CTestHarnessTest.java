package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.backends.Toolchain;
import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.File;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The harness against a hand-written library implementing the generated code's ABI, so that what it checks does
 * not wait on kernels: inputs of several dtypes, outputs of several dtypes, an output whose shape the run computes,
 * and a failing run's kiln_last_error; on this machine and, under qemu-user, on ARM64 and 32-bit ARMv7.
 */
class CTestHarnessTest {
    /**
     * Inputs i64[3] and f32[5]; outputs i64[3] (twice the first input), bool[5] (the second input's elements above 0)
     * and f32[n,1] of run-time shape (those elements). A negative first element fails the run with -3.
     */
    private static final String LIBRARY = """
            #include <stdint.h>
            #include <string.h>
            static char error[64];
            static float positive[5];
            static long positive_count;
            long kiln_arena_bytes(void) { return 0; }
            int kiln_init(const void* weights, void* arena) { (void) weights; (void) arena; return 0; }
            int kiln_set_threads(int n) { return n >= 1 ? 0 : -1; }
            void kiln_shutdown(void) { positive_count = 0; }
            const char* kiln_last_error(void) { return error; }
            int kiln_num_inputs(void) { return 2; }
            int kiln_num_outputs(void) { return 3; }
            int kiln_input_rank(int i) { return i >= 0 && i < 2 ? 1 : -1; }
            int kiln_output_rank(int i) { return i == 2 ? 2 : i >= 0 && i < 2 ? 1 : -1; }
            int kiln_input_dtype(int i) { return i == 0 ? 7 : i == 1 ? 1 : -1; }
            int kiln_output_dtype(int i) { return i == 0 ? 7 : i == 1 ? 9 : i == 2 ? 1 : -1; }
            long kiln_input_dim(int i, int d) { return d != 0 ? -1 : i == 0 ? 3 : i == 1 ? 5 : -1; }
            long kiln_output_dim(int i, int d) {
                if (i == 2) return d == 0 ? positive_count : d == 1 ? 1 : -1;
                return d != 0 ? -1 : i == 0 ? 3 : i == 1 ? 5 : -1;
            }
            int kiln_output_dynamic(int i) { return i == 2; }
            const void* kiln_output_data(int i) { return i == 2 ? positive : 0; }
            int kiln_run(const void* const* inputs, void* const* outputs) {
                const int64_t* a = inputs[0];
                const float* x = inputs[1];
                int64_t* twice = outputs[0];
                uint8_t* above = outputs[1];
                error[0] = 0;
                if (a[0] < 0) {
                    strcpy(error, "index -1 is out of range");
                    return -3;
                }
                for (int i = 0; i < 3; i++) twice[i] = 2 * a[i];
                positive_count = 0;
                for (int i = 0; i < 5; i++) {
                    above[i] = x[i] > 0;
                    if (x[i] > 0) positive[positive_count++] = x[i];
                }
                return 0;
            }
            """;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"host", "jetson_nano", "rasp3b"})
    void runsEveryDtypeAndRunTimeShapes(String device) {
        CTestHarness.Executable exe = build(device);
        List<Tensor> out = exe.run(List.of(Tensor.ofLongs(new long[] {4, -2, 7}, 3),
                Tensor.ofFloats(new float[] {1.5f, -1f, 0f, 2.5f, -3f}, 5))).outputs();
        assertEquals(3, out.size());
        assertEquals(DType.I64, out.get(0).dtype());
        assertArrayEquals(new long[] {8, -4, 14}, out.get(0).toLongArray());
        assertEquals(DType.BOOL, out.get(1).dtype());
        assertArrayEquals(new long[] {1, 0, 0, 1, 0}, out.get(1).toLongArray());
        assertEquals(DType.F32, out.get(2).dtype());
        assertArrayEquals(new long[] {2, 1}, out.get(2).shape());
        assertArrayEquals(new float[] {1.5f, 2.5f}, out.get(2).toFloatArray());

        List<Tensor> none = exe.run(List.of(Tensor.ofLongs(new long[] {0, 0, 0}, 3), Tensor.ofFloats(new float[5], 5))).outputs();
        assertArrayEquals(new long[] {0, 1}, none.get(2).shape(), "no element above 0");
    }

    @ParameterizedTest
    @ValueSource(strings = {"host", "rasp3b"})
    void failingRunSaysWhatTheLibraryFound(String device) {
        CTestHarness.Executable exe = build(device);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> exe.run(List.of(Tensor.ofLongs(new long[] {-1, 0, 0}, 3), Tensor.ofFloats(new float[5], 5))));
        assertTrue(e.getMessage().contains("kiln_run returned -3: index -1 is out of range"), e.getMessage());
    }

    private CTestHarness.Executable build(String device) {
        Target target = device.equals("host") ? NativeTesting.HOST : Targets.device(device);
        Toolchain toolchain = target.toolchain().orElseThrow();
        Assumptions.assumeTrue(onPath(toolchain.compiler()), device + " needs " + toolchain.compiler());
        toolchain.emulator().ifPresent(qemu -> Assumptions.assumeTrue(onPath(qemu), device + " runs under " + qemu));
        return CTestHarness.build(new CCodeGenerator.CProgram(LIBRARY, ByteBuffer.allocate(0), 0), target, dir.resolve(device));
    }

    private static boolean onPath(String command) {
        String path = System.getenv("PATH");
        if (path == null) return false;
        for (String d : path.split(File.pathSeparator)) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, command))) return true;
        }
        return false;
    }
}
