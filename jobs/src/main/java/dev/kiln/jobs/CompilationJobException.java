package dev.kiln.jobs;

/** A request the API refuses, with the SageMaker error it maps to. */
public final class CompilationJobException extends RuntimeException {
    /** The API's errors, by the names clients see; SERIALIZATION is a request that is not a JSON object at all. */
    public enum Error {
        SERIALIZATION("SerializationException"), VALIDATION("ValidationException"), RESOURCE_NOT_FOUND("ResourceNotFound"),
        RESOURCE_IN_USE("ResourceInUse"), RESOURCE_LIMIT_EXCEEDED("ResourceLimitExceeded");

        private final String awsName;

        Error(String awsName) { this.awsName = awsName; }

        public String awsName() { return awsName; }
    }

    private final Error error;

    public CompilationJobException(Error error, String message) {
        super(message);
        this.error = error;
    }

    public Error error() { return error; }

    static CompilationJobException validation(String message) { return new CompilationJobException(Error.VALIDATION, message); }
}
