package dev.kiln.backends;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Arch;
import dev.kiln.backends.Target.Os;
import dev.kiln.backends.Target.VectorIsa;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class TargetsTest {
    /** The TargetDevice enum of sagemaker-compilation-jobs.json, in its order. */
    private static final List<String> SEED_DEVICES = List.of("lambda", "ml_m4", "ml_m5", "ml_m6g", "ml_c4",
            "ml_c5", "ml_c6g", "ml_p2", "ml_p3", "ml_g4dn", "ml_inf1", "ml_inf2", "ml_trn1", "ml_eia2",
            "jetson_tx1", "jetson_tx2", "jetson_nano", "jetson_xavier", "rasp3b", "rasp4b", "imx8qm", "deeplens",
            "rk3399", "rk3288", "aisage", "sbe_c", "qcs605", "qcs603", "sitara_am57x", "amba_cv2", "amba_cv22",
            "amba_cv25", "x86_win32", "x86_win64", "coreml", "jacinto_tda4vm", "imx8mplus");

    @Test
    void everyTargetDeviceResolves() {
        assertEquals(SEED_DEVICES, Targets.deviceNames());
        for (String name : SEED_DEVICES) {
            Target t = Targets.device(name);
            assertEquals(name, t.name());
            if (name.equals("coreml")) {
                assertTrue(t.toolchain().isEmpty());
                continue;
            }
            assertTrue(t.toolchain().isPresent(), name);
            assertTrue(!t.compilerFlags().isEmpty(), name);
        }
    }

    @Test
    void cpuFamiliesOfTheIssue() {
        for (String n : List.of("lambda", "ml_m4", "ml_c4")) assertEquals(VectorIsa.AVX2, Targets.device(n).vectorIsa(), n);
        for (String n : List.of("ml_m5", "ml_c5")) assertEquals(VectorIsa.AVX512, Targets.device(n).vectorIsa(), n);
        for (String n : List.of("sbe_c", "deeplens")) {
            assertEquals(Arch.X86_64, Targets.device(n).arch());
            assertEquals("gcc", Targets.device(n).toolchain().orElseThrow().compiler());
        }
        assertEquals("i686-w64-mingw32-gcc", Targets.device("x86_win32").toolchain().orElseThrow().compiler());
        for (String n : List.of("jetson_tx1", "jetson_tx2", "jetson_nano", "jetson_xavier", "imx8qm", "imx8mplus",
                "rk3399", "aisage", "amba_cv2", "amba_cv22", "amba_cv25", "qcs603", "qcs605", "jacinto_tda4vm")) {
            Target t = Targets.device(n);
            assertEquals(Arch.ARM64, t.arch(), n);
            assertEquals(VectorIsa.NEON, t.vectorIsa(), n);
            assertEquals("aarch64-linux-gnu-gcc", t.toolchain().orElseThrow().compiler(), n);
        }
        for (String n : List.of("rasp3b", "rk3288", "sitara_am57x")) {
            Target t = Targets.device(n);
            assertEquals(Arch.ARM_EABIHF, t.arch(), n);
            assertEquals(List.of("-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"), t.compilerFlags(), n);
            assertEquals("arm-linux-gnueabihf-gcc", t.toolchain().orElseThrow().compiler(), n);
        }
        assertEquals(Accelerator.NVIDIA, Targets.device("ml_p2").accelerator());
        assertEquals(Accelerator.NVIDIA, Targets.device("ml_p3").accelerator());
        assertEquals(Accelerator.NVIDIA, Targets.device("ml_g4dn").accelerator());
        assertEquals(Accelerator.INFERENTIA, Targets.device("ml_inf1").accelerator());
        assertEquals(Accelerator.ELASTIC_INFERENCE, Targets.device("ml_eia2").accelerator());
        assertEquals(Accelerator.COREML, Targets.device("coreml").accelerator());
        assertEquals(List.of("-march=haswell"), Targets.device("ml_c4").compilerFlags());
        assertEquals(List.of("-march=haswell"), Targets.device("ml_m4").compilerFlags());
        assertEquals(List.of("-march=skylake-avx512"), Targets.device("ml_m5").compilerFlags());
        assertEquals(List.of("-march=armv8-a"), Targets.device("rk3399").compilerFlags());
    }

    @Test
    void mlC5() {
        Target t = Targets.device("ml_c5");
        assertEquals(new Target("ml_c5", Os.LINUX, Arch.X86_64, Accelerator.NONE,
                List.of("avx", "avx2", "avx512bw", "avx512cd", "avx512dq", "avx512f", "avx512vl", "f16c", "fma",
                        "sse2", "sse4.2"),
                Optional.of(new Toolchain("gcc", "x86_64-linux-gnu", "gcc", Optional.empty(), Optional.empty())),
                List.of("-march=skylake-avx512"), VectorIsa.AVX512, OptionalInt.empty(), CompilerOptions.NONE), t);
        assertEquals(16, t.activationBlockSize());
    }

    @Test
    void rasp3b() {
        Target t = Targets.device("rasp3b");
        assertEquals(new Target("rasp3b", Os.LINUX, Arch.ARM_EABIHF, Accelerator.NONE,
                List.of("neon", "vfpv3", "vfpv4"),
                Optional.of(new Toolchain("arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf", "gcc-arm-linux-gnueabihf",
                        Optional.of(Path.of("/usr/arm-linux-gnueabihf")), Optional.of("qemu-arm"))),
                List.of("-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"), VectorIsa.NEON,
                OptionalInt.empty(), CompilerOptions.NONE), t);
        assertEquals(4, t.activationBlockSize());
    }

    @Test
    void jetsonNano() {
        assertEquals(new Target("jetson_nano", Os.LINUX, Arch.ARM64, Accelerator.NVIDIA, List.of("neon"),
                Optional.of(new Toolchain("aarch64-linux-gnu-gcc", "aarch64-linux-gnu", "gcc-aarch64-linux-gnu",
                        Optional.of(Path.of("/usr/aarch64-linux-gnu")), Optional.of("qemu-aarch64"))),
                List.of("-march=armv8-a"), VectorIsa.NEON, OptionalInt.empty(), CompilerOptions.NONE),
                Targets.device("jetson_nano"));
    }

    @Test
    void x86Win64() {
        Target t = Targets.device("x86_win64");
        assertEquals(new Target("x86_win64", Os.WINDOWS, Arch.X86_64, Accelerator.NONE, List.of("sse2"),
                Optional.of(new Toolchain("x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32", "gcc-mingw-w64-x86-64",
                        Optional.empty(), Optional.empty())),
                List.of("-march=x86-64"), VectorIsa.SCALAR, OptionalInt.empty(), CompilerOptions.NONE), t);
        assertTrue(!t.toolchain().orElseThrow().runsHere());
    }

    @Test
    void unknownDeviceListsTheValidOnes() {
        var e = assertThrows(IllegalArgumentException.class, () -> Targets.device("ml_c7"));
        assertTrue(e.getMessage().startsWith("ClientError: TargetDevice 'ml_c7' is not valid; valid values: lambda, ml_m4,"),
                e.getMessage());
        assertTrue(e.getMessage().endsWith("coreml, jacinto_tda4vm, imx8mplus"), e.getMessage());
    }

    @Test
    void deviceOptionsAreCheckedAgainstTheDevice() {
        Target t = Targets.device("ml_c5", CompilerOptions.parse("{\"mcpu\": \"haswell\"}"));
        assertEquals(VectorIsa.AVX2, t.vectorIsa());
        assertEquals(List.of("-march=haswell"), t.compilerFlags());
        assertEquals("ClientError: CompilerOptions 'gpu-code' does not apply to ml_c5; its options are mcpu, mattr, dtype",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.device("ml_c5", CompilerOptions.parse("{'gpu-code': 'sm_70'}"))).getMessage());
        // Jetson devices know their GPU; gpu-code may be given but is not required.
        Targets.device("jetson_xavier", CompilerOptions.NONE);
        Targets.device("jetson_xavier", CompilerOptions.parse("{'gpu-code': 'sm_72', 'trt-ver': '6.0.1', 'cuda-ver': '10.1'}"));
        assertEquals(List.of("--verbose", "1", "--num-neuroncores", "2", "-O2"), Targets.device("ml_inf1",
                CompilerOptions.parse("\"--verbose 1 --num-neuroncores 2 -O2\"")).options().neuronFlags());
        assertEquals("ClientError: CompilerOptions 'mcpu' does not apply to ml_inf1; it takes Neuron compiler flags "
                        + "as a quoted string, e.g. \"--verbose 1 --num-neuroncores 2 -O2\"",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.device("ml_inf1", CompilerOptions.parse("{'mcpu': 'haswell'}"))).getMessage());
        assertEquals("ClientError: CompilerOptions a string of compiler flags applies to Inferentia/Trainium targets "
                        + "only; ml_c5 takes a JSON object of options",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.device("ml_c5", CompilerOptions.parse("\"--verbose 1\""))).getMessage());
        assertEquals("imagenet_labels_1000.txt", Targets.device("coreml",
                CompilerOptions.parse("{\"class_labels\": \"imagenet_labels_1000.txt\"}")).options().classLabels().orElseThrow());
        assertThrows(IllegalArgumentException.class,
                () -> Targets.device("ml_c5", CompilerOptions.parse("{\"class_labels\": \"labels.txt\"}")));
        assertEquals("FP16", Targets.device("ml_eia2", CompilerOptions.parse("{\"precision_mode\": \"FP16\"}"))
                .options().precisionMode().orElseThrow());
        assertEquals("ClientError: CompilerOptions 'precision_mode' does not apply to ml_p3; its options are mcpu, "
                        + "mattr, dtype, gpu-code, trt-ver, cuda-ver",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.device("ml_p3", CompilerOptions.parse("{\"precision_mode\": \"FP16\"}"))).getMessage());
        assertEquals("ClientError: CompilerOptions 'ANDROID_PLATFORM' does not apply to rasp3b; its options are mcpu, "
                        + "mattr, dtype",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.device("rasp3b", CompilerOptions.parse("{'ANDROID_PLATFORM': 25}"))).getMessage());
    }

    @Test
    void legalPlatforms() {
        Target armhf = Targets.platform("LINUX", "ARM_EABIHF", null, "{'mattr': ['+neon']}");
        assertEquals("linux_arm_eabihf", armhf.name());
        assertEquals(List.of("-march=armv7-a", "-mfpu=neon", "-mfloat-abi=hard"), armhf.compilerFlags());
        assertEquals(VectorIsa.NEON, armhf.vectorIsa());

        Target nvidia = Targets.platform("LINUX", "ARM64", "NVIDIA",
                "{'gpu-code': 'sm_62', 'trt-ver': '6.0.1', 'cuda-ver': '10.0'}");
        assertEquals("linux_arm64_nvidia", nvidia.name());
        assertEquals("sm_62", nvidia.options().gpuCode().orElseThrow());

        Target mali = Targets.platform(Os.LINUX, Arch.ARM64, Accelerator.MALI, CompilerOptions.NONE);
        assertEquals("linux_arm64_mali", mali.name());
        assertEquals("aarch64-linux-gnu-gcc", mali.toolchain().orElseThrow().compiler());

        Target android32 = Targets.platform("ANDROID", "ARM_EABI", "", "{'ANDROID_PLATFORM': 25, 'mattr': ['+neon']}");
        assertEquals(OptionalInt.of(25), android32.androidApiLevel());
        assertEquals(List.of("-march=armv7-a", "-mfpu=neon", "-mfloat-abi=softfp", "-nostdlib",
                "-D__ANDROID_API__=25"), android32.compilerFlags());
        assertEquals("arm-linux-gnueabihf-gcc", android32.toolchain().orElseThrow().compiler());
        assertTrue(!android32.toolchain().orElseThrow().runsHere());

        Target android64 = Targets.platform("ANDROID", "ARM64", null, "{'ANDROID_PLATFORM': 29}");
        assertEquals(OptionalInt.of(29), android64.androidApiLevel());
        assertEquals("aarch64-linux-android", android64.toolchain().orElseThrow().triple());
        assertEquals(List.of("-march=armv8-a", "-nostdlib", "-D__ANDROID_API__=29"),
                android64.compilerFlags());
        assertEquals(OptionalInt.of(21), Targets.platform("ANDROID", "ARM64", null, null).androidApiLevel());

        Target x86 = Targets.platform("LINUX", "X86_64", "INTEL_GRAPHICS", null);
        assertEquals(VectorIsa.SCALAR, x86.vectorIsa());
        assertEquals(List.of("-march=x86-64"), x86.compilerFlags());
        assertEquals(Arch.X86, Targets.platform("LINUX", "X86", null, null).arch());
    }

    @Test
    void illegalPlatforms() {
        assertEquals("ClientError: TargetPlatform Arch ARM_EABIHF is not available with Os ANDROID; ANDROID takes "
                        + "X86_64, X86, ARM64, ARM_EABI",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("ANDROID", "ARM_EABIHF", null, null)).getMessage());
        assertEquals("ClientError: TargetPlatform Arch ARM_EABI is not available with Os LINUX; LINUX takes "
                        + "X86_64, X86, ARM64, ARM_EABIHF",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "ARM_EABI", null, null)).getMessage());
        assertEquals("ClientError: TargetPlatform Accelerator NVIDIA is not available with Os LINUX and Arch "
                        + "ARM_EABIHF; NVIDIA needs Os LINUX and Arch X86_64, ARM64",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "ARM_EABIHF", "NVIDIA",
                        "{'gpu-code': 'sm_62', 'trt-ver': '6.0.1', 'cuda-ver': '10.0'}")).getMessage());
        assertEquals("ClientError: TargetPlatform Accelerator INTEL_GRAPHICS is not available with Os LINUX and Arch "
                        + "ARM64; INTEL_GRAPHICS needs Os LINUX and Arch X86_64, X86",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "ARM64", "INTEL_GRAPHICS", null)).getMessage());
        assertEquals("ClientError: TargetPlatform Accelerator MALI is not available with Os LINUX and Arch X86_64; "
                        + "MALI needs Os LINUX, ANDROID and Arch ARM64, ARM_EABI, ARM_EABIHF",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "X86_64", "MALI", null)).getMessage());
        assertEquals("ClientError: TargetPlatform Os must be one of ANDROID, LINUX, got 'WINDOWS'",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("WINDOWS", "X86_64", null, null)).getMessage());
        assertEquals("ClientError: TargetPlatform Arch must be one of X86_64, X86, ARM64, ARM_EABI, ARM_EABIHF, got 'RISCV'",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "RISCV", null, null)).getMessage());
        assertEquals("ClientError: TargetPlatform Accelerator must be one of NVIDIA, MALI, INTEL_GRAPHICS, NNA, got 'INFERENTIA'",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "X86_64", "INFERENTIA", null)).getMessage());
        assertEquals("ClientError: TargetPlatform Accelerator must be one of NVIDIA, MALI, INTEL_GRAPHICS, NNA, got INFERENTIA",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform(Os.LINUX, Arch.X86_64,
                        Accelerator.INFERENTIA, CompilerOptions.NONE)).getMessage());
    }

    @Test
    void nvidiaPlatformNeedsItsThreeOptions() {
        // The seed's own example {'mcpu': 'skylake-avx512'} for LINUX/X86_64/NVIDIA lacks them, against its rule.
        assertEquals("ClientError: CompilerOptions TargetPlatform accelerator NVIDIA requires 'gpu-code', 'trt-ver' "
                        + "and 'cuda-ver'; missing 'gpu-code', 'trt-ver', 'cuda-ver'",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.platform("LINUX", "X86_64", "NVIDIA", "{'mcpu': 'skylake-avx512'}")).getMessage());
        assertEquals("ClientError: CompilerOptions TargetPlatform accelerator NVIDIA requires 'gpu-code', 'trt-ver' "
                        + "and 'cuda-ver'; missing 'cuda-ver'",
                assertThrows(IllegalArgumentException.class, () -> Targets.platform("LINUX", "X86_64", "NVIDIA",
                        "{'mcpu': 'skylake-avx512', 'gpu-code': 'sm_75', 'trt-ver': '7.1.3'}")).getMessage());
        Target t = Targets.platform("LINUX", "X86_64", "NVIDIA",
                "{'mcpu': 'skylake-avx512', 'gpu-code': 'sm_75', 'trt-ver': '7.1.3', 'cuda-ver': '10.2'}");
        assertEquals(VectorIsa.AVX512, t.vectorIsa());
    }

    @Test
    void mcpuAndMattr() {
        Target skx = Targets.platform("LINUX", "X86_64", null, "{'mcpu': 'skylake-avx512'}");
        assertEquals(List.of("-march=skylake-avx512"), skx.compilerFlags());
        assertEquals(VectorIsa.AVX512, skx.vectorIsa());

        Target avx2 = Targets.platform("LINUX", "X86_64", null, "{\"mattr\": \"+avx2,+fma\"}");
        assertEquals(List.of("-march=x86-64", "-mavx2", "-mfma"), avx2.compilerFlags());
        assertEquals(VectorIsa.AVX2, avx2.vectorIsa());
        assertEquals(8, avx2.activationBlockSize());

        Target noAvx512 = Targets.device("ml_c5", CompilerOptions.parse("{'mattr': ['-avx512f']}"));
        assertEquals(List.of("-march=skylake-avx512", "-mno-avx512f"), noAvx512.compilerFlags());
        assertEquals(VectorIsa.AVX2, noAvx512.vectorIsa());

        Target a72 = Targets.platform("LINUX", "ARM64", null, "{'mcpu': 'cortex-a72', 'mattr': ['+crc']}");
        assertEquals(List.of("-mcpu=cortex-a72+crc"), a72.compilerFlags());
        assertEquals(List.of("crc", "neon"), a72.features());

        Target a15 = Targets.platform("LINUX", "ARM_EABIHF", null, "{'mcpu': 'cortex-a15'}");
        assertEquals(List.of("-mcpu=cortex-a15", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"), a15.compilerFlags());

        Target vfp = Targets.platform("LINUX", "ARM_EABIHF", null, "{'mattr': ['+neon', '+vfpv4']}");
        assertEquals(List.of("-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"), vfp.compilerFlags());
        assertEquals(VectorIsa.SCALAR, Targets.platform("LINUX", "ARM_EABIHF", null, null).vectorIsa());

        assertEquals("ClientError: CompilerOptions 'mcpu' 'cortex-a72' is not a known X86_64 CPU; known: x86-64, "
                        + "haswell, broadwell, skylake, znver2, znver3, skylake-avx512, cascadelake, icelake-server",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.platform("LINUX", "X86_64", null, "{'mcpu': 'cortex-a72'}")).getMessage());
        assertEquals("ClientError: CompilerOptions 'mcpu' 'pentium4' is not a known X86_64 CPU; known: x86-64, "
                        + "haswell, broadwell, skylake, znver2, znver3, skylake-avx512, cascadelake, icelake-server",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.platform("LINUX", "X86_64", null, "{'mcpu': 'pentium4'}")).getMessage());
        assertEquals("ClientError: CompilerOptions 'mattr' feature 'neon' is not a X86_64 feature; known: sse2, sse3, "
                        + "ssse3, sse4.1, sse4.2, avx, avx2, fma, f16c, avx512f, avx512cd, avx512bw, avx512dq, avx512vl, avx512vnni",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.platform("LINUX", "X86_64", null, "{'mattr': ['+neon']}")).getMessage());
        assertEquals("ClientError: CompilerOptions 'mattr' leaves linux_arm_eabihf without a floating-point unit, "
                        + "which the ARM_EABIHF hard-float ABI needs",
                assertThrows(IllegalArgumentException.class,
                        () -> Targets.platform("LINUX", "ARM_EABIHF", null, "{'mattr': ['-vfpv3']}")).getMessage());
    }
}
