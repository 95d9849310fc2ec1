package dev.kiln.frontend;

/**
 * A model that cannot be imported. The failure class ({@code ClientError}, {@code OperatorNotImplemented},
 * {@code OperatorAttributeValueNotValid}, ...) leads the message, as in a compilation job's FailureReason.
 */
public class ImportException extends RuntimeException {
    private final String failureClass;

    public ImportException(String failureClass, String message) {
        super(failureClass + ": " + message);
        this.failureClass = failureClass;
    }

    public ImportException(String failureClass, String message, Throwable cause) {
        super(failureClass + ": " + message, cause);
        this.failureClass = failureClass;
    }

    public String failureClass() { return failureClass; }

    public static ImportException client(String message) {
        return new ImportException("ClientError", message);
    }
}
