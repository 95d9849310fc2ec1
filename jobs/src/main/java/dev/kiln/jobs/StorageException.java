package dev.kiln.jobs;

import java.io.IOException;

/**
 * A model archive that could not be read or an artifact that could not be written, said so a person can act on it.
 * The message starts with {@code ClientError: } when the request is at fault (a missing bucket, object or file,
 * access denied), so that it can stand as the job's FailureReason.
 */
final class StorageException extends IOException {
    StorageException(String message, Throwable cause) { super(message, cause); }

    /** A mistake in the request's InputConfiguration or OutputConfiguration ({@code part}). */
    static StorageException clientError(String part, String detail) {
        return new StorageException("ClientError: " + part + ": " + detail, null);
    }
}
