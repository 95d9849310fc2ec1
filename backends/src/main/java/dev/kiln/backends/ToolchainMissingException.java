package dev.kiln.backends;

/** A target's C compiler is not installed; the message names the Debian package that provides it. */
public final class ToolchainMissingException extends RuntimeException {
    ToolchainMissingException(String target, Toolchain toolchain) {
        super("ToolchainMissing: " + target + " needs " + toolchain.compiler()
                + " (Debian package " + toolchain.debianPackage() + ")");
    }
}
