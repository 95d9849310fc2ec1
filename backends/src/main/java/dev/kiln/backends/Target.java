package dev.kiln.backends;

import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * Everything the compiler needs to know about where a model will run, resolved from a TargetDevice or a
 * TargetPlatform plus CompilerOptions by {@link Targets}. Accelerators are recorded even where only CPU
 * code is generated today, so a later backend can claim those targets.
 *
 * @param name the TargetDevice value, or a platform description such as {@code linux_arm64_mali}
 * @param features CPU features the generated code may use (sorted), e.g. avx2, fma, neon, vfpv4
 * @param toolchain the C toolchain for the host CPU; empty where no native code is produced (coreml)
 * @param compilerFlags the ISA and ABI flags every compilation for this target passes
 * @param vectorIsa the micro-kernel family the CPU code uses
 * @param androidApiLevel the Android API level (ANDROID_PLATFORM) for Android targets
 * @param options the CompilerOptions the target was resolved with, already validated for it
 */
public record Target(String name, Os os, Arch arch, Accelerator accelerator, List<String> features,
                     Optional<Toolchain> toolchain, List<String> compilerFlags, VectorIsa vectorIsa,
                     OptionalInt androidApiLevel, CompilerOptions options) {

    public Target {
        features = List.copyOf(features);
        compilerFlags = List.copyOf(compilerFlags);
    }

    /** Channel block size of the NCHW{c}c activation layout: one vector register of floats. */
    public int activationBlockSize() { return vectorIsa.blockSize; }

    public boolean hasFeature(String feature) { return features.contains(feature); }

    /**
     * The vector registers the micro-kernels may keep values in: 32 with AVX-512 and on AArch64, 8 in
     * 32-bit x86, else 16.
     */
    public int vectorRegisters() {
        if (arch == Arch.X86) return 8;
        return vectorIsa == VectorIsa.AVX512 || arch == Arch.ARM64 ? 32 : 16;
    }

    /** DARWIN is only reached through the coreml TargetDevice; TargetPlatform offers LINUX and ANDROID. */
    public enum Os { LINUX, ANDROID, WINDOWS, DARWIN }

    public enum Arch { X86_64, X86, ARM64, ARM_EABI, ARM_EABIHF }

    /**
     * What besides the CPU the target offers. The first four are the TargetPlatform values; the others
     * are only reached through TargetDevice values.
     */
    public enum Accelerator {
        NONE, NVIDIA, MALI, INTEL_GRAPHICS, NNA,
        INFERENTIA, TRAINIUM, ELASTIC_INFERENCE, COREML, HEXAGON, CVFLOW, TIDL
    }

    /** The CPU micro-kernel families, with the float lanes of one vector register. */
    public enum VectorIsa {
        AVX512(16), AVX2(8), NEON(4), SCALAR(4);

        final int blockSize;

        VectorIsa(int blockSize) { this.blockSize = blockSize; }
    }
}
