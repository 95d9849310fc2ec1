package dev.kiln.jobs;

/** What CreateCompilationJob returns: the new job's ARN. */
public record CreateCompilationJobResponse(String compilationJobArn) {}
