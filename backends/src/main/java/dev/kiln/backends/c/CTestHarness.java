package dev.kiln.backends.c;

import dev.kiln.backends.Target;
import dev.kiln.backends.Toolchain;
import dev.kiln.ir.DType;
import dev.kiln.runtime.Tensor;

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
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Builds a generated program into a stand-alone Linux executable for a target, linked statically with a
 * small C main (resource {@code harness/harness.c}) that reads the inputs from a file, runs kiln_init,
 * kiln_set_threads and kiln_run, and writes the outputs; and runs it here, natively or under the target toolchain's qemu-user.
 * This is how code for CPUs other than this machine's (ARM64, ARMv7) is checked against the interpreter.
 */
public final class CTestHarness {
    private static final Pattern RUN_TIME = Pattern.compile("kiln_run_ns (\\d+)");
    private static final long TIMEOUT_MINUTES = 10;

    private CTestHarness() {}

    /** One run: the outputs in graph order, the time kiln_run took inside the program, and the whole process's time. */
    public record Run(List<Tensor> outputs, long kilnRunNanos, long processNanos) {}

    /** A built harness: the executable, the weights it loads and the command prefix that runs it here. */
    public record Executable(Path binary, Path weights, List<String> runCommand) {
        /** Runs the program on one thread; see {@link #run(List, int)}. */
        public Run run(List<Tensor> inputs) { return run(inputs, 1); }

        /** Runs the program on f32 inputs in graph order on {@code threads} threads; fails with the program's output when it fails. */
        public Run run(List<Tensor> inputs, int threads) {
            Path dir = binary.getParent();
            Path in = dir.resolve("inputs.bin");
            Path out = dir.resolve("outputs.bin");
            try {
                writeInputs(inputs, in);
                List<String> cmd = new ArrayList<>(runCommand);
                cmd.addAll(List.of(weights.toString(), in.toString(), out.toString(), Integer.toString(threads)));
                long start = System.nanoTime();
                String output = execute(cmd, "running " + binary);
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
     * the target's compiler: {@code compiler -O3 <target flags> -static -pthread -o model model.c harness.c -lm}.
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
            List<String> cmd = new ArrayList<>(List.of(compiler.toString(), "-O3"));
            cmd.addAll(target.compilerFlags());
            cmd.addAll(List.of("-static", "-pthread", "-o", binary.toString(), source.toString(), harness.toString(), "-lm"));
            execute(cmd, "compiling " + source + " for " + target.name());
            return new Executable(binary, weights, toolchain.runCommand(binary));
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
            for (int i = 0; i < inputs.size(); i++) {
                Tensor t = inputs.get(i);
                if (t.dtype() != DType.F32) throw new IllegalArgumentException("input " + i + " is " + t.dtype() + "; the harness takes f32");
                ByteBuffer buf = t.data();
                while (buf.hasRemaining()) ch.write(buf);
            }
        }
    }

    /** Per output: int32 rank, int64 dims, f32 values (little-endian, as the harness writes them). */
    private static List<Tensor> readOutputs(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Tensor> outputs = new ArrayList<>();
        while (b.hasRemaining()) {
            long[] shape = new long[b.getInt()];
            long size = 1;
            for (int d = 0; d < shape.length; d++) size *= shape[d] = b.getLong();
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(size * 4)).order(ByteOrder.LITTLE_ENDIAN);
            data.put(b.slice().limit(data.capacity()));
            b.position(b.position() + data.capacity());
            outputs.add(Tensor.wrap(DType.F32, shape, data.flip()));
        }
        return outputs;
    }

    /** Runs a command to completion; its combined output, or an exception with it when it fails. */
    private static String execute(List<String> cmd, String what) throws IOException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
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
