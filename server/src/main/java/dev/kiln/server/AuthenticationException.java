package dev.kiln.server;

/** A refused request: the AWS error code (__type) and message the endpoint returns with HTTP 403. */
public final class AuthenticationException extends RuntimeException {
    private final String code;

    AuthenticationException(String code, String message) {
        super(message);
        this.code = code;
    }

    /** The AWS error code, such as {@code InvalidSignatureException}. */
    public String code() { return code; }
}
