package dev.kiln.jobs;

/** The states of a compilation job; COMPLETED, FAILED and STOPPED are terminal. */
public enum CompilationJobStatus {
    INPROGRESS, COMPLETED, FAILED, STARTING, STOPPING, STOPPED;

    public boolean isTerminal() { return this == COMPLETED || this == FAILED || this == STOPPED; }
}
