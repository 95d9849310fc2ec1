package dev.kiln.runtime.artifact;

import java.io.IOException;

/** An artifact that is refused: unsafe, tampered with, or not in the artifact format. */
public final class ArtifactException extends IOException {
    public ArtifactException(String message) {
        super(message);
    }

    public ArtifactException(String message, Throwable cause) {
        super(message, cause);
    }
}
