package dev.kiln.backends;

import dev.kiln.backends.Target.Accelerator;
import dev.kiln.backends.Target.Arch;
import dev.kiln.backends.Target.Os;
import dev.kiln.backends.Target.VectorIsa;
import dev.kiln.backends.TargetTable.AcceleratorRule;
import dev.kiln.backends.TargetTable.Cpu;
import dev.kiln.backends.TargetTable.Device;
import dev.kiln.backends.TargetTable.IsaFamily;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The targets catalog: resolves a TargetDevice, or a TargetPlatform with CompilerOptions, into a
 * {@link Target}. Devices and platforms go through the same resolution; the rows live in {@link TargetTable}.
 */
public final class Targets {
    private Targets() {}

    /** Every TargetDevice value, in the order of the CreateCompilationJob API. */
    public static List<String> deviceNames() { return List.copyOf(TargetTable.DEVICES.keySet()); }

    public static Target device(String name) { return device(name, CompilerOptions.NONE); }

    /** A TargetDevice with the job's CompilerOptions, which must apply to it. */
    public static Target device(String name, CompilerOptions options) {
        Device d = TargetTable.DEVICES.get(name);
        if (d == null) {
            throw new IllegalArgumentException("ClientError: TargetDevice '" + name + "' is not valid; valid values: "
                    + String.join(", ", TargetTable.DEVICES.keySet()));
        }
        return resolve(d.name(), d.os(), d.arch(), d.accelerator(), d.mcpu(), d.mattr(), options, false);
    }

    /** A TargetPlatform given as the API's strings; a null or blank accelerator means none. */
    public static Target platform(String os, String arch, String accelerator, String compilerOptions) {
        return platform(platformValue("Os", os, List.of(Os.ANDROID, Os.LINUX)),
                platformValue("Arch", arch, List.of(Arch.values())),
                accelerator == null || accelerator.isBlank() ? Accelerator.NONE
                        : platformValue("Accelerator", accelerator,
                                TargetTable.PLATFORM_ACCELERATORS.keySet().stream().sorted().toList()),
                CompilerOptions.parse(compilerOptions));
    }

    /** A TargetPlatform: the OS/Arch/Accelerator combination must be legal and the options must apply. */
    public static Target platform(Os os, Arch arch, Accelerator accelerator, CompilerOptions options) {
        Accelerator acc = accelerator == null ? Accelerator.NONE : accelerator;
        var arches = TargetTable.PLATFORM_ARCHES.get(os);
        if (arches == null) {
            throw platformError("Os must be ANDROID or LINUX, got " + os);
        }
        if (!arches.contains(arch)) {
            throw platformError("Arch " + arch + " is not available with Os " + os + "; " + os + " takes "
                    + join(arches));
        }
        if (acc != Accelerator.NONE) {
            AcceleratorRule rule = TargetTable.PLATFORM_ACCELERATORS.get(acc);
            if (rule == null) {
                throw platformError("Accelerator must be one of "
                        + join(new TreeSet<>(TargetTable.PLATFORM_ACCELERATORS.keySet())) + ", got " + acc);
            }
            if (!rule.oses().contains(os) || !rule.arches().contains(arch)) {
                throw platformError("Accelerator " + acc + " is not available with Os " + os + " and Arch " + arch
                        + "; " + acc + " needs Os " + join(rule.oses()) + " and Arch " + join(rule.arches()));
            }
        }
        String name = (os + "_" + arch + (acc == Accelerator.NONE ? "" : "_" + acc)).toLowerCase(Locale.ROOT);
        return resolve(name, os, arch, acc, TargetTable.BASELINE_CPU.get(arch), List.of(), options, true);
    }

    private static Target resolve(String name, Os os, Arch arch, Accelerator accelerator, String defaultCpu,
                                  List<String> defaultMattr, CompilerOptions options, boolean fromPlatform) {
        options.checkApplies(name, os, accelerator, fromPlatform);
        if (defaultCpu == null) {
            return new Target(name, os, arch, accelerator, List.of(), Optional.empty(), List.of(), VectorIsa.SCALAR,
                    OptionalInt.empty(), options);
        }
        IsaFamily family = TargetTable.family(arch);
        String cpuName = options.mcpu().orElse(defaultCpu);
        Cpu cpu = TargetTable.cpu(arch, cpuName).orElseThrow(() -> CompilerOptions.fail("'mcpu' '" + cpuName
                + "' is not a known " + arch + " CPU; known: " + TargetTable.CPUS.stream()
                .filter(c -> c.arches().contains(arch)).map(Cpu::name).collect(Collectors.joining(", "))));

        List<String> changes = new ArrayList<>(defaultMattr);
        changes.addAll(options.mattr());
        TreeSet<String> features = new TreeSet<>(cpu.features());
        List<String> legal = TargetTable.FEATURES.get(family);
        for (String change : changes) {
            String feature = change.substring(1);
            if (!legal.contains(feature)) {
                throw CompilerOptions.fail("'mattr' feature '" + feature + "' is not a " + arch + " feature; known: "
                        + String.join(", ", legal));
            }
            if (change.startsWith("+")) features.add(feature);
            else features.remove(feature);
        }

        List<String> flags = new ArrayList<>(switch (family) {
            case X86 -> x86Flags(cpu, changes);
            case ARM64 -> List.of(arm64Flag(cpu, changes));
            case ARM32 -> arm32Flags(name, cpu, arch, features);
        });
        // 32-bit x86 otherwise computes floats on the x87 stack at a wider precision than the kernels round to
        if (arch == Arch.X86 && features.contains("sse2")) flags.add("-mfpmath=sse");
        OptionalInt api = OptionalInt.empty();
        if (os == Os.ANDROID) {
            // A shared library that may call only what bionic guarantees at this API level: glibc's startup
            // files and libraries are kept out of the link (the C backend links against bionic stubs).
            api = OptionalInt.of(options.androidPlatform().orElse(TargetTable.DEFAULT_ANDROID_API));
            flags.addAll(List.of("-nostdlib", "-D__ANDROID_API__=" + api.getAsInt()));
        }
        return new Target(name, os, arch, accelerator, List.copyOf(features),
                Optional.of(TargetTable.TOOLCHAINS.get(os).get(arch)), flags, vectorIsa(family, features), api, options);
    }

    private static List<String> x86Flags(Cpu cpu, List<String> changes) {
        List<String> flags = new ArrayList<>(List.of(cpu.flag()));
        for (String change : changes) {
            flags.add((change.startsWith("+") ? "-m" : "-mno-") + change.substring(1));
        }
        return flags;
    }

    /** gcc spells AArch64 feature changes as +name / +noname after -march or -mcpu; NEON is "simd". */
    private static String arm64Flag(Cpu cpu, List<String> changes) {
        StringBuilder flag = new StringBuilder(cpu.flag());
        for (String change : changes) {
            String feature = change.substring(1).equals("neon") ? "simd" : change.substring(1);
            flag.append(change.startsWith("+") ? "+" : "+no").append(feature);
        }
        return flag.toString();
    }

    /** ARMv7: the FPU follows the features; ARM_EABIHF passes floats in VFP registers, ARM_EABI does not. */
    private static List<String> arm32Flags(String target, Cpu cpu, Arch arch, TreeSet<String> features) {
        boolean neon = features.contains("neon"), vfpv4 = features.contains("vfpv4");
        String fpu = neon && vfpv4 ? "neon-vfpv4" : neon ? "neon" : vfpv4 ? "vfpv4-d16"
                : features.contains("vfpv3") ? "vfpv3-d16" : null;
        if (fpu == null) {
            if (arch == Arch.ARM_EABIHF) {
                throw CompilerOptions.fail("'mattr' leaves " + target + " without a floating-point unit, "
                        + "which the ARM_EABIHF hard-float ABI needs");
            }
            return List.of(cpu.flag(), "-mfloat-abi=soft");
        }
        return List.of(cpu.flag(), "-mfpu=" + fpu, "-mfloat-abi=" + (arch == Arch.ARM_EABIHF ? "hard" : "softfp"));
    }

    private static VectorIsa vectorIsa(IsaFamily family, TreeSet<String> features) {
        if (family != IsaFamily.X86) return features.contains("neon") ? VectorIsa.NEON : VectorIsa.SCALAR;
        boolean avx2 = features.contains("avx2") && features.contains("fma");
        if (avx2 && features.contains("avx512f")) return VectorIsa.AVX512;
        return avx2 ? VectorIsa.AVX2 : VectorIsa.SCALAR;
    }

    private static <E extends Enum<E>> E platformValue(String field, String value, List<E> legal) {
        return legal.stream().filter(e -> e.name().equals(value)).findFirst().orElseThrow(() ->
                platformError(field + " must be one of " + join(legal) + ", got '" + value + "'"));
    }

    private static String join(Collection<? extends Enum<?>> values) {
        return values.stream().map(Enum::name).collect(Collectors.joining(", "));
    }

    private static IllegalArgumentException platformError(String what) {
        return new IllegalArgumentException("ClientError: TargetPlatform " + what);
    }
}
