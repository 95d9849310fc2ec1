package dev.kiln.backends;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A C toolchain for one target OS and architecture, and how binaries it makes are run on this machine.
 *
 * @param compiler the command, looked up on PATH (gcc, aarch64-linux-gnu-gcc, x86_64-w64-mingw32-gcc ...)
 * @param triple the target triple the code is built for
 * @param debianPackage the package that installs {@code compiler}
 * @param sysroot the target's libraries, given to qemu-user with -L
 * @param emulator the qemu-user command that runs the target's binaries here; empty when they run
 *     natively or cannot run here (Windows, Android)
 */
public record Toolchain(String compiler, String triple, String debianPackage, Optional<Path> sysroot,
                        Optional<String> emulator) {

    /** The compiler on this process's PATH; {@link ToolchainMissingException} when it is not there. */
    public Path locate(String target) {
        return locate(target, System.getenv("PATH"));
    }

    /** The compiler on the given PATH string; {@link ToolchainMissingException} when it is not there. */
    public Path locate(String target, String searchPath) {
        if (searchPath != null) {
            for (String dir : searchPath.split(File.pathSeparator)) {
                if (dir.isEmpty()) continue;
                Path candidate = Path.of(dir, compiler);
                if (Files.isRegularFile(candidate) && Files.isExecutable(candidate)) return candidate;
            }
        }
        throw new ToolchainMissingException(target, this);
    }

    /** Whether binaries of this toolchain can run on this machine, natively or under qemu-user. */
    public boolean runsHere() {
        return emulator.isPresent() || triple.equals(hostTriple());
    }

    /** The command line that runs {@code binary} here: the binary itself, or qemu-user with the sysroot. */
    public List<String> runCommand(Path binary) {
        if (!runsHere()) throw new IllegalStateException(triple + " binaries cannot run on this machine");
        List<String> command = new ArrayList<>();
        emulator.ifPresent(qemu -> {
            command.add(qemu);
            sysroot.ifPresent(root -> { command.add("-L"); command.add(root.toString()); });
        });
        command.add(binary.toString());
        return command;
    }

    private static String hostTriple() {
        if (!System.getProperty("os.name").startsWith("Linux")) return "unknown";
        return switch (System.getProperty("os.arch")) {
            case "amd64", "x86_64" -> "x86_64-linux-gnu";
            case "aarch64" -> "aarch64-linux-gnu";
            default -> "unknown";
        };
    }
}
