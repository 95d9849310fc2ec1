package dev.kiln.runtime.interpreter;

/** A node that cannot be evaluated: bad input values, unsupported dtype, or a broken kernel contract. */
public final class InterpreterException extends RuntimeException {
    public InterpreterException(String message) {
        super(message);
    }
}
