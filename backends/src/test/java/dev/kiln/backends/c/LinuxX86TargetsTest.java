package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.ir.Graph;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

/**
 * The 32-bit x86 Linux TargetPlatform (i686-linux-gnu-gcc): the baseline pentium4 (SSE2, scalar kernels)
 * and haswell (AVX2 kernels) builds run under qemu-i386 with the cross compiler's sysroot and match the
 * interpreter.
 */
class LinuxX86TargetsTest {
    @TempDir
    Path dir;

    private static Target x86(String cpu) {
        Target target = Targets.platform("LINUX", "X86", null, "{'mcpu': '" + cpu + "'}");
        PlatformTesting.requireCommand(target.toolchain().orElseThrow().compiler(), "gcc-i686-linux-gnu libc6-dev-i386-cross");
        PlatformTesting.requireCommand(target.toolchain().orElseThrow().emulator().orElseThrow(), "qemu-user");
        return target;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pentium4", "haswell"})
    void smallGraphMatchesInterpreter(String cpu) {
        Target target = x86(cpu);
        Graph g = PlatformTesting.smallGraph();
        CTestHarness.Executable exe = CTestHarness.build(NativeTesting.program(g, target), target, dir);
        PlatformTesting.assertRunMatches("platform graph (" + cpu + ")", target, exe, g, NativeTesting.randomInputs(g, 6));
    }

    @ParameterizedTest
    @ValueSource(strings = {"pentium4"})
    void squeezenetMatchesInterpreter(String cpu) throws Exception {
        Target target = x86(cpu);
        Graph g = PlatformTesting.squeezenet();
        CTestHarness.Executable exe = CTestHarness.build(NativeTesting.program(g, target), target, dir);
        PlatformTesting.assertRunMatches("squeezenet1_1 (" + cpu + ")", target, exe, g, PlatformTesting.squeezenetInputs());
    }
}
