package dev.kiln.backends;

import static dev.kiln.backends.Target.Accelerator.*;
import static dev.kiln.backends.Target.Arch.*;
import static dev.kiln.backends.Target.Os.*;

import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Arch;
import dev.kiln.backends.Target.Os;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The data behind {@link Targets}: CPUs, TargetDevices, toolchains and the legal TargetPlatform
 * combinations. Everything here is plain rows; {@link Targets} has the one code path that turns a row into
 * a {@link Target}.
 */
final class TargetTable {
    private TargetTable() {}

    /** Instruction-set families that share feature names, CPU names and flag spelling. */
    enum IsaFamily { X86, ARM64, ARM32 }

    static IsaFamily family(Arch arch) {
        return switch (arch) {
            case X86_64, X86 -> IsaFamily.X86;
            case ARM64 -> IsaFamily.ARM64;
            case ARM_EABI, ARM_EABIHF -> IsaFamily.ARM32;
        };
    }

    /** A CPU an mcpu value may name: the architectures it runs, the features it has, the flag selecting it. */
    record Cpu(String name, Set<Arch> arches, List<String> features, String flag) {}

    private static final Set<Arch> ANY_X86 = EnumSet.of(X86_64, X86), ONLY_X86_64 = EnumSet.of(X86_64),
            ONLY_X86 = EnumSet.of(X86), ONLY_ARM64 = EnumSet.of(ARM64), ARMV7 = EnumSet.of(ARM_EABI, ARM_EABIHF);

    private static final List<String> AVX2 = List.of("sse2", "sse4.2", "avx", "avx2", "fma", "f16c");
    private static final List<String> AVX512 = List.of("sse2", "sse4.2", "avx", "avx2", "fma", "f16c",
            "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl");
    private static final List<String> AVX512_VNNI = List.of("sse2", "sse4.2", "avx", "avx2", "fma", "f16c",
            "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512vnni");

    static final List<Cpu> CPUS = List.of(
            new Cpu("x86-64", ONLY_X86_64, List.of("sse2"), "-march=x86-64"),
            new Cpu("pentium4", ONLY_X86, List.of("sse2"), "-march=pentium4"),
            new Cpu("haswell", ANY_X86, AVX2, "-march=haswell"),
            new Cpu("broadwell", ANY_X86, AVX2, "-march=broadwell"),
            new Cpu("skylake", ANY_X86, AVX2, "-march=skylake"),
            new Cpu("znver2", ANY_X86, AVX2, "-march=znver2"),
            new Cpu("znver3", ANY_X86, AVX2, "-march=znver3"),
            new Cpu("skylake-avx512", ANY_X86, AVX512, "-march=skylake-avx512"),
            new Cpu("cascadelake", ANY_X86, AVX512_VNNI, "-march=cascadelake"),
            new Cpu("icelake-server", ANY_X86, AVX512_VNNI, "-march=icelake-server"),
            new Cpu("armv8-a", ONLY_ARM64, List.of("neon"), "-march=armv8-a"),
            new Cpu("armv8.2-a", ONLY_ARM64, List.of("neon", "fp16"), "-march=armv8.2-a+fp16"),
            new Cpu("cortex-a53", ONLY_ARM64, List.of("neon"), "-mcpu=cortex-a53"),
            new Cpu("cortex-a57", ONLY_ARM64, List.of("neon"), "-mcpu=cortex-a57"),
            new Cpu("cortex-a72", ONLY_ARM64, List.of("neon"), "-mcpu=cortex-a72"),
            new Cpu("cortex-a73", ONLY_ARM64, List.of("neon"), "-mcpu=cortex-a73"),
            new Cpu("cortex-a55", ONLY_ARM64, List.of("neon", "fp16", "dotprod"), "-mcpu=cortex-a55"),
            new Cpu("cortex-a76", ONLY_ARM64, List.of("neon", "fp16", "dotprod"), "-mcpu=cortex-a76"),
            new Cpu("neoverse-n1", ONLY_ARM64, List.of("neon", "fp16", "dotprod"), "-mcpu=neoverse-n1"),
            new Cpu("armv7-a", ARMV7, List.of("vfpv3"), "-march=armv7-a"),
            new Cpu("cortex-a7", ARMV7, List.of("neon", "vfpv4"), "-mcpu=cortex-a7"),
            new Cpu("cortex-a9", ARMV7, List.of("neon", "vfpv3"), "-mcpu=cortex-a9"),
            new Cpu("cortex-a15", ARMV7, List.of("neon", "vfpv4"), "-mcpu=cortex-a15"),
            new Cpu("cortex-a17", ARMV7, List.of("neon", "vfpv4"), "-mcpu=cortex-a17"),
            new Cpu("cortex-a53", ARMV7, List.of("neon", "vfpv4"), "-mcpu=cortex-a53"));

    static Optional<Cpu> cpu(Arch arch, String name) {
        return CPUS.stream().filter(c -> c.arches().contains(arch) && c.name().equals(name)).findFirst();
    }

    /** Feature names mattr may add or remove, per family (gcc's names; -m&lt;name&gt; on x86). */
    static final Map<IsaFamily, List<String>> FEATURES = Map.of(
            IsaFamily.X86, List.of("sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "avx", "avx2", "fma", "f16c",
                    "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx512vnni"),
            IsaFamily.ARM64, List.of("neon", "fp16", "dotprod", "crc", "crypto", "i8mm", "bf16", "sve"),
            IsaFamily.ARM32, List.of("neon", "vfpv3", "vfpv4"));

    /**
     * A TargetDevice: where it runs, what it carries besides the CPU, and its CPU as an mcpu name plus
     * mattr changes (null: no native CPU code, e.g. coreml produces an ML Model).
     */
    record Device(String name, Os os, Arch arch, Accelerator accelerator, String mcpu, List<String> mattr) {}

    private static final List<String> NEON_VFPV4 = List.of("+neon", "+vfpv4");

    /** The 37 TargetDevice values of sagemaker-compilation-jobs.json, in its order. */
    static final Map<String, Device> DEVICES = index(List.of(
            new Device("lambda", LINUX, X86_64, NONE, "haswell", List.of()),
            new Device("ml_m4", LINUX, X86_64, NONE, "haswell", List.of()),
            new Device("ml_m5", LINUX, X86_64, NONE, "skylake-avx512", List.of()),
            new Device("ml_m6g", LINUX, ARM64, NONE, "neoverse-n1", List.of()),
            new Device("ml_c4", LINUX, X86_64, NONE, "haswell", List.of()),
            new Device("ml_c5", LINUX, X86_64, NONE, "skylake-avx512", List.of()),
            new Device("ml_c6g", LINUX, ARM64, NONE, "neoverse-n1", List.of()),
            new Device("ml_p2", LINUX, X86_64, NVIDIA, "broadwell", List.of()),
            new Device("ml_p3", LINUX, X86_64, NVIDIA, "broadwell", List.of()),
            new Device("ml_g4dn", LINUX, X86_64, NVIDIA, "cascadelake", List.of()),
            new Device("ml_inf1", LINUX, X86_64, INFERENTIA, "cascadelake", List.of()),
            new Device("ml_inf2", LINUX, X86_64, INFERENTIA, "znver3", List.of()),
            new Device("ml_trn1", LINUX, X86_64, TRAINIUM, "icelake-server", List.of()),
            // Elastic Inference attaches to many instance families; AVX2 is what all of them have.
            new Device("ml_eia2", LINUX, X86_64, ELASTIC_INFERENCE, "haswell", List.of()),
            new Device("jetson_tx1", LINUX, ARM64, NVIDIA, "armv8-a", List.of()),
            new Device("jetson_tx2", LINUX, ARM64, NVIDIA, "armv8-a", List.of()),
            new Device("jetson_nano", LINUX, ARM64, NVIDIA, "armv8-a", List.of()),
            new Device("jetson_xavier", LINUX, ARM64, NVIDIA, "armv8.2-a", List.of()),
            new Device("rasp3b", LINUX, ARM_EABIHF, NONE, "armv7-a", NEON_VFPV4),
            new Device("rasp4b", LINUX, ARM64, NONE, "armv8-a", List.of()),
            new Device("imx8qm", LINUX, ARM64, NONE, "armv8-a", List.of()),
            new Device("deeplens", LINUX, X86_64, INTEL_GRAPHICS, "x86-64", List.of()),
            new Device("rk3399", LINUX, ARM64, MALI, "armv8-a", List.of()),
            new Device("rk3288", LINUX, ARM_EABIHF, MALI, "armv7-a", NEON_VFPV4),
            new Device("aisage", LINUX, ARM64, NONE, "armv8-a", List.of()),
            new Device("sbe_c", LINUX, X86_64, NONE, "x86-64", List.of()),
            new Device("qcs605", LINUX, ARM64, HEXAGON, "armv8-a", List.of()),
            new Device("qcs603", LINUX, ARM64, HEXAGON, "armv8-a", List.of()),
            new Device("sitara_am57x", LINUX, ARM_EABIHF, TIDL, "armv7-a", NEON_VFPV4),
            new Device("amba_cv2", LINUX, ARM64, CVFLOW, "armv8-a", List.of()),
            new Device("amba_cv22", LINUX, ARM64, CVFLOW, "armv8-a", List.of()),
            new Device("amba_cv25", LINUX, ARM64, CVFLOW, "armv8-a", List.of()),
            new Device("x86_win32", WINDOWS, X86, NONE, "pentium4", List.of()),
            new Device("x86_win64", WINDOWS, X86_64, NONE, "x86-64", List.of()),
            new Device("coreml", DARWIN, ARM64, COREML, null, List.of()),
            new Device("jacinto_tda4vm", LINUX, ARM64, TIDL, "armv8-a", List.of()),
            new Device("imx8mplus", LINUX, ARM64, NNA, "armv8-a", List.of())),
            Device::name);

    /** The mcpu a TargetPlatform gets when CompilerOptions names none: the architecture's baseline. */
    static final Map<Arch, String> BASELINE_CPU = Map.of(X86_64, "x86-64", X86, "pentium4", ARM64, "armv8-a",
            ARM_EABI, "armv7-a", ARM_EABIHF, "armv7-a");

    private static Toolchain tc(String compiler, String triple, String pkg, String sysroot, String emulator) {
        return new Toolchain(compiler, triple, pkg, Optional.ofNullable(sysroot).map(Path::of),
                Optional.ofNullable(emulator));
    }

    /**
     * Toolchains by OS and architecture. Android uses the Debian cross compilers with freestanding flags
     * (see {@link Targets}); its triples name the Android ABI. Windows and Android binaries do not run here.
     */
    static final Map<Os, Map<Arch, Toolchain>> TOOLCHAINS = Map.of(
            LINUX, Map.of(
                    X86_64, tc("gcc", "x86_64-linux-gnu", "gcc", null, null),
                    X86, tc("i686-linux-gnu-gcc", "i686-linux-gnu", "gcc-i686-linux-gnu", "/usr/i686-linux-gnu", "qemu-i386"),
                    ARM64, tc("aarch64-linux-gnu-gcc", "aarch64-linux-gnu", "gcc-aarch64-linux-gnu",
                            "/usr/aarch64-linux-gnu", "qemu-aarch64"),
                    ARM_EABIHF, tc("arm-linux-gnueabihf-gcc", "arm-linux-gnueabihf", "gcc-arm-linux-gnueabihf",
                            "/usr/arm-linux-gnueabihf", "qemu-arm")),
            ANDROID, Map.of(
                    X86_64, tc("gcc", "x86_64-linux-android", "gcc", null, null),
                    X86, tc("i686-linux-gnu-gcc", "i686-linux-android", "gcc-i686-linux-gnu", null, null),
                    ARM64, tc("aarch64-linux-gnu-gcc", "aarch64-linux-android", "gcc-aarch64-linux-gnu", null, null),
                    ARM_EABI, tc("arm-linux-gnueabihf-gcc", "armv7a-linux-androideabi", "gcc-arm-linux-gnueabihf",
                            null, null)),
            WINDOWS, Map.of(
                    X86_64, tc("x86_64-w64-mingw32-gcc", "x86_64-w64-mingw32", "gcc-mingw-w64-x86-64", null, null),
                    X86, tc("i686-w64-mingw32-gcc", "i686-w64-mingw32", "gcc-mingw-w64-i686", null, null)));

    /**
     * Legal TargetPlatform architectures per OS: ARM_EABI (soft-float ABI) is Android's 32-bit ARM, and
     * Android has no hard-float ABI.
     */
    static final Map<Os, Set<Arch>> PLATFORM_ARCHES = Map.of(
            LINUX, EnumSet.of(X86_64, X86, ARM64, ARM_EABIHF),
            ANDROID, EnumSet.of(X86_64, X86, ARM64, ARM_EABI));

    /** Legal TargetPlatform accelerators: the OSes and architectures each can sit beside. */
    record AcceleratorRule(Set<Os> oses, Set<Arch> arches) {}

    static final Map<Accelerator, AcceleratorRule> PLATFORM_ACCELERATORS = Map.of(
            NVIDIA, new AcceleratorRule(EnumSet.of(LINUX), EnumSet.of(X86_64, ARM64)),
            MALI, new AcceleratorRule(EnumSet.of(LINUX, ANDROID), EnumSet.of(ARM64, ARM_EABIHF, ARM_EABI)),
            INTEL_GRAPHICS, new AcceleratorRule(EnumSet.of(LINUX), EnumSet.of(X86_64, X86)),
            NNA, new AcceleratorRule(EnumSet.of(LINUX, ANDROID), EnumSet.of(ARM64, ARM_EABIHF, ARM_EABI)));

    /** The API level an Android platform gets without ANDROID_PLATFORM: the lowest, which runs everywhere. */
    static final int DEFAULT_ANDROID_API = 21;

    private static <T> Map<String, T> index(List<T> rows, Function<T, String> key) {
        return rows.stream().collect(Collectors.collectingAndThen(Collectors.toMap(key, r -> r, (a, b) -> {
            throw new IllegalStateException("duplicate row " + key.apply(a));
        }, LinkedHashMap::new), Collections::unmodifiableMap));
    }
}
