package dev.kiln.backends;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ToolchainTest {
    @Test
    void missingCompilerNamesItsPackage(@TempDir Path emptyDir) {
        Toolchain jetson = Targets.device("jetson_nano").toolchain().orElseThrow();
        var e = assertThrows(ToolchainMissingException.class, () -> jetson.locate("jetson_nano", emptyDir.toString()));
        assertEquals("ToolchainMissing: jetson_nano needs aarch64-linux-gnu-gcc (Debian package gcc-aarch64-linux-gnu)",
                e.getMessage());
        Toolchain win32 = Targets.device("x86_win32").toolchain().orElseThrow();
        assertEquals("ToolchainMissing: x86_win32 needs i686-w64-mingw32-gcc (Debian package gcc-mingw-w64-i686)",
                assertThrows(ToolchainMissingException.class, () -> win32.locate("x86_win32", "")).getMessage());
    }

    @Test
    void missingEverywhereOnTheRealPath() {
        Toolchain fake = new Toolchain("kiln-no-such-compiler-9f3e", "x86_64-linux-gnu", "gcc-kiln-none",
                Optional.empty(), Optional.empty());
        assertEquals("ToolchainMissing: ml_c5 needs kiln-no-such-compiler-9f3e (Debian package gcc-kiln-none)",
                assertThrows(ToolchainMissingException.class, () -> fake.locate("ml_c5")).getMessage());
    }

    @Test
    void findsAnExecutableOnTheGivenPath(@TempDir Path dir) throws IOException {
        Path bin = Files.createDirectory(dir.resolve("bin"));
        Path notExecutable = Files.createDirectory(dir.resolve("plain"));
        Files.writeString(notExecutable.resolve("aarch64-linux-gnu-gcc"), "");
        Path compiler = Files.writeString(bin.resolve("aarch64-linux-gnu-gcc"), "#!/bin/sh\n");
        Files.setPosixFilePermissions(compiler, PosixFilePermissions.fromString("rwxr-xr-x"));
        Toolchain t = Targets.device("rk3399").toolchain().orElseThrow();
        assertEquals(compiler, t.locate("rk3399", notExecutable + ":" + bin));
    }

    /** Every target whose compiler is installed here compiles C with its flags (today: the gcc targets). */
    @Test
    void installedCompilersAcceptTheTargetFlags(@TempDir Path dir) throws Exception {
        Path source = Files.writeString(dir.resolve("probe.c"), "float probe(float x) { return x * 2.0f + 1.0f; }\n");
        List<Target> targets = new ArrayList<>();
        Targets.deviceNames().forEach(name -> targets.add(Targets.device(name)));
        targets.add(Targets.platform("ANDROID", "X86_64", null, "{'ANDROID_PLATFORM': 24, 'mattr': ['+avx2', '+fma']}"));
        targets.add(Targets.platform("ANDROID", "ARM64", null, "{'ANDROID_PLATFORM': 29}"));
        targets.add(Targets.platform("ANDROID", "ARM_EABI", null, "{'mattr': ['+neon']}"));
        for (TargetTable.Cpu cpu : TargetTable.CPUS) {
            for (Target.Arch arch : cpu.arches()) {
                if (arch != Target.Arch.ARM_EABI) {
                    targets.add(Targets.platform("LINUX", arch.name(), null, "{'mcpu': '" + cpu.name() + "'}"));
                }
            }
        }
        int compiled = 0;
        for (Target target : targets) {
            if (target.toolchain().isEmpty()) continue;
            Path compiler;
            try {
                compiler = target.toolchain().get().locate(target.name());
            } catch (ToolchainMissingException absent) {
                continue;
            }
            List<String> command = new ArrayList<>(List.of(compiler.toString(), "-O2", "-c"));
            command.addAll(target.compilerFlags());
            command.addAll(List.of(source.toString(), "-o", dir.resolve(target.name() + ".o").toString()));
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            String output = new String(p.getInputStream().readAllBytes());
            assertEquals(0, p.waitFor(), target.name() + ": " + String.join(" ", command) + "\n" + output);
            compiled++;
        }
        assertTrue(compiled > 0, "gcc is on PATH, so at least the x86_64 Linux targets compile");
    }

    @Test
    void crossBinariesRunUnderQemuWithTheSysroot() {
        Path binary = Path.of("/tmp/model-test");
        assertEquals(List.of("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "/tmp/model-test"),
                Targets.device("jetson_nano").toolchain().orElseThrow().runCommand(binary));
        assertEquals(List.of("qemu-arm", "-L", "/usr/arm-linux-gnueabihf", "/tmp/model-test"),
                Targets.device("rasp3b").toolchain().orElseThrow().runCommand(binary));
        assertEquals("x86_64-w64-mingw32 binaries cannot run on this machine", assertThrows(IllegalStateException.class,
                () -> Targets.device("x86_win64").toolchain().orElseThrow().runCommand(binary)).getMessage());
    }
}
