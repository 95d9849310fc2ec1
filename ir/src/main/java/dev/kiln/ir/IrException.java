package dev.kiln.ir;

/** A graph or node that breaks the rules of the IR: bad arity, attribute, type or structure. */
public class IrException extends RuntimeException {
    public IrException(String message) {
        super(message);
    }

    public IrException(String message, Throwable cause) {
        super(message, cause);
    }
}
