package dev.kiln.backends.c;

import dev.kiln.backends.CompilerOptions;
import dev.kiln.backends.Target;
import dev.kiln.backends.Targets;
import dev.kiln.backends.Toolchain;
import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds a generated program into an executable for a target with a small C main (resource
 * {@code harness/harness.c}) that reads the inputs from a file, runs kiln_init, kiln_set_threads and
 * kiln_run, and writes the outputs (of every dtype, run-time shaped ones included); and runs it here, natively, under qemu-user or under Wine. This is how
 * code for CPUs and systems other than this machine's is checked against the interpreter: Linux code is
 * linked statically into the program ({@link #build}); Windows and Android libraries are compiled as the
 * backend compiles them for an artifact and the program links against them ({@link #buildAgainstLibrary}).
 */
public final class CTestHarness {
    private static final Pattern RUN_TIME = Pattern.compile("kiln_run_ns (\\d+)");
    private static final long TIMEOUT_MINUTES = 10;

    private CTestHarness() {}

    /** One run: the outputs in graph order, the time kiln_run took inside the program, and the whole process's time. */
    public record Run(List<Tensor> outputs, long kilnRunNanos, long processNanos) {}

    /**
     * Debian's wine64 (package wine64), which runs Win64 programs; it is not on the PATH unless package
     * wine is installed too. Win32 programs would need wine32, an i386 multiarch installation.
     */
    public static final Path WINE64 = Path.of("/usr/lib/wine/wine64");

    /**
     * A built harness: the executable, the weights it loads, the command prefix that runs it here and the
     * environment variables it runs with.
     */
    public record Executable(Path binary, Path weights, List<String> runCommand, Map<String, String> environment) {
        /** Runs the program on one thread; see {@link #run(List, int)}. */
        public Run run(List<Tensor> inputs) { return run(inputs, 1); }

        /**
         * Runs the program on inputs in graph order (each of its graph input's dtype and shape) on {@code threads}
         * threads; the outputs come back with the dtypes and shapes the library reports. Fails with the program's
         * output when it fails.
         */
        public Run run(List<Tensor> inputs, int threads) {
            Path dir = binary.getParent();
            Path in = dir.resolve("inputs.bin");
            Path out = dir.resolve("outputs.bin");
            try {
                writeInputs(inputs, in);
                List<String> cmd = new ArrayList<>(runCommand);
                cmd.addAll(List.of(weights.toString(), in.toString(), out.toString(), Integer.toString(threads)));
                long start = System.nanoTime();
                String output = execute(cmd, environment, "running " + binary);
                long processNanos = System.nanoTime() - start;
                Matcher m = RUN_TIME.matcher(output);
                if (!m.find()) throw new IllegalStateException(binary + " printed no kiln_run time:\n" + output);
                return new Run(readOutputs(out), Long.parseLong(m.group(1)), processNanos);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /**
     * Writes model.c, weights.bin and harness.c into {@code dir} (created if missing) and compiles them with
     * the target's compiler: {@code compiler -O3 -fno-strict-aliasing <target flags> -static -pthread -o model model.c harness.c -lm}.
     *
     * @throws dev.kiln.backends.ToolchainMissingException when the target's compiler is not on the PATH
     * @throws IllegalArgumentException when the target has no Linux toolchain whose binaries run here
     * @throws IllegalStateException when the compiler fails (with its output)
     */
    public static Executable build(CCodeGenerator.CProgram program, Target target, Path dir) {
        Toolchain toolchain = target.toolchain().filter(t -> target.os() == Target.Os.LINUX && t.runsHere())
                .orElseThrow(() -> new IllegalArgumentException("target " + target.name()
                        + " has no Linux toolchain whose programs run on this machine (natively or under qemu-user)"));
        Path compiler = toolchain.locate(target.name());
        try {
            Files.createDirectories(dir);
            Path source = dir.resolve("model.c");
            Path harness = dir.resolve("harness.c");
            Path weights = dir.resolve("weights.bin");
            Path binary = dir.resolve("model");
            Files.writeString(source, program.source(), StandardCharsets.UTF_8);
            Files.writeString(harness, harnessSource(), StandardCharsets.UTF_8);
            try (FileChannel ch = FileChannel.open(weights, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = program.weights().duplicate();
                while (buf.hasRemaining()) ch.write(buf);
            }
            List<String> cmd = new ArrayList<>(List.of(compiler.toString()));
            cmd.addAll(CBackend.OPTIMISE);
            cmd.addAll(target.compilerFlags());
            cmd.addAll(List.of("-static", "-pthread", "-o", binary.toString(), source.toString(), harness.toString(), "-lm"));
            execute(cmd, Map.of(), "compiling " + source + " for " + target.name());
            return new Executable(binary, weights, toolchain.runCommand(binary), Map.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Compiles the program for a Windows or Android target into {@code dir} exactly as the backend does for
     * an artifact, and links harness.c against the library it made:
     * <ul>
     * <li>x86_win64 (Windows X86_64): harness.exe with the same mingw-w64 compiler, importing model.dll's
     *     exports, run under {@link #WINE64};
     * <li>Android X86_64, X86, ARM64: the Linux toolchain of the same architecture builds a glibc program
     *     that needs model.so, run natively or under qemu-user with LD_LIBRARY_PATH holding the library
     *     and libc.so, libm.so, libdl.so links to glibc's libraries, which stand in for bionic's.
     * </ul>
     *
     * @throws dev.kiln.backends.ToolchainMissingException when a compiler is not on the PATH
     * @throws IllegalArgumentException for targets whose libraries cannot run here (Win32, Android ARM_EABI, Linux)
     */
    public static Executable buildAgainstLibrary(CCodeGenerator.CProgram program, Target target, Path dir) {
        if (target.os() == Target.Os.WINDOWS && target.arch() == Target.Arch.X86_64) {
            GccCompiler.Compiled library = CBackend.compile(program, target, dir);
            Path compiler = target.toolchain().orElseThrow().locate(target.name());
            Path binary = linkHarness(compiler, target.compilerFlags(), dir, "harness.exe", library.library(), List.of());
            return new Executable(binary, library.weights(), List.of(WINE64.toString(), binary.toString()),
                    Map.of("WINEDEBUG", "-all"));
        }
        if (target.os() == Target.Os.ANDROID && target.arch() != Target.Arch.ARM_EABI) {
            Toolchain linux = Targets.platform(Target.Os.LINUX, target.arch(), Target.Accelerator.NONE, CompilerOptions.NONE)
                    .toolchain().orElseThrow();
            Path compiler = linux.locate(target.name());
            GccCompiler.Compiled library = CBackend.compile(program, target, dir);
            Path glibc = glibcAsBionic(compiler, dir.resolve("bionic-glibc"));
            Path binary = linkHarness(compiler, List.of(), dir, "harness", library.library(),
                    List.of("-Wl,-rpath-link," + glibc));
            return new Executable(binary, library.weights(), linux.runCommand(binary),
                    Map.of("LD_LIBRARY_PATH", dir + File.pathSeparator + glibc));
        }
        throw new IllegalArgumentException("target " + target.name() + " (" + target.os() + " " + target.arch()
                + ") has no library that runs here under a harness");
    }

    /** harness.c linked against a shared library: {@code compiler -O2 flags -o name harness.c library extra}. */
    private static Path linkHarness(Path compiler, List<String> flags, Path dir, String name, Path library, List<String> extra) {
        try {
            Path harness = Files.writeString(dir.resolve("harness.c"), harnessSource(), StandardCharsets.UTF_8);
            Path binary = dir.resolve(name);
            List<String> cmd = new ArrayList<>(List.of(compiler.toString(), "-O2"));
            cmd.addAll(flags);
            cmd.addAll(List.of("-o", binary.toString(), harness.toString(), library.toString()));
            cmd.addAll(extra);
            execute(cmd, Map.of(), "linking " + harness + " against " + library);
            return binary;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A folder where bionic's library names (libc.so, libm.so, libdl.so) link to the toolchain's glibc libraries. */
    private static Path glibcAsBionic(Path compiler, Path dir) {
        try {
            Files.createDirectories(dir);
            Map<String, String> glibcNames = Map.of("libc.so", "libc.so.6", "libm.so", "libm.so.6", "libdl.so", "libdl.so.2");
            for (var e : glibcNames.entrySet()) {
                String found = execute(List.of(compiler.toString(), "-print-file-name=" + e.getValue()), Map.of(),
                        "finding " + e.getValue()).strip();
                Path glibc = Path.of(found);
                if (!glibc.isAbsolute() || !Files.exists(glibc)) {
                    throw new IllegalStateException(compiler + " has no " + e.getValue() + " (found '" + found + "')");
                }
                Path link = dir.resolve(e.getKey());
                Files.deleteIfExists(link);
                Files.createSymbolicLink(link, glibc.toRealPath());
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The C main the executable is linked with. */
    static String harnessSource() {
        try (InputStream in = CTestHarness.class.getResourceAsStream("harness/harness.c")) {
            if (in == null) throw new IllegalStateException("resource dev/kiln/backends/c/harness/harness.c is missing from the classpath");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeInputs(List<Tensor> inputs, Path file) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            for (Tensor t : inputs) {
                ByteBuffer buf = t.data();
                while (buf.hasRemaining()) ch.write(buf);
            }
        }
    }

    /** Per output: int32 dtype (ONNX code), int32 rank, int64 dims, the elements (little-endian, as the harness writes them). */
    private static List<Tensor> readOutputs(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Tensor> outputs = new ArrayList<>();
        while (b.hasRemaining()) {
            DType dtype = dtypeOf(b.getInt(), file);
            long[] shape = new long[b.getInt()];
            long size = 1;
            for (int d = 0; d < shape.length; d++) size *= shape[d] = b.getLong();
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(size * dtype.byteSize())).order(ByteOrder.LITTLE_ENDIAN);
            data.put(b.slice().limit(data.capacity()));
            b.position(b.position() + data.capacity());
            outputs.add(Tensor.wrap(dtype, shape, data.flip()));
        }
        return outputs;
    }

    private static DType dtypeOf(int onnxCode, Path file) {
        for (DType t : DType.values()) {
            if (CTypes.onnxCode(t) == onnxCode) return t;
        }
        throw new IllegalStateException(file + " names ONNX data type " + onnxCode + ", which no dtype has");
    }

    /** Runs a command to completion; its combined output, or an exception with it when it fails. */
    private static String execute(List<String> cmd, Map<String, String> environment, String what) throws IOException {
        Process p;
        try {
            ProcessBuilder builder = new ProcessBuilder(cmd).redirectErrorStream(true);
            builder.environment().putAll(environment);
            p = builder.start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + cmd.get(0) + " " + what + ": " + e.getMessage(), e);
        }
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            if (!p.waitFor(TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException(cmd.get(0) + " did not finish " + what + " in " + TIMEOUT_MINUTES + " minutes");
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted " + what, e);
        }
        if (p.exitValue() != 0) throw new IllegalStateException(String.join(" ", cmd) + " failed (exit " + p.exitValue() + ") " + what + ":\n" + output);
        return output;
    }
}
