package dev.kiln.jobs;

/**
 * Limits on what a model archive may expand to.
 *
 * @param maxTotalBytes the most bytes the gzip stream may inflate to: file contents plus tar headers and padding,
 *                      which is what both the disk and the inflater pay for
 * @param maxEntries    the most tar entries (files and directories) the archive may hold
 * @param maxFileBytes  the most bytes any one file may hold
 */
record ArchiveLimits(long maxTotalBytes, int maxEntries, long maxFileBytes) {
    ArchiveLimits {
        if (maxTotalBytes <= 0 || maxEntries <= 0 || maxFileBytes <= 0) {
            throw new IllegalArgumentException("archive limits must be positive: " + maxTotalBytes + " bytes, "
                    + maxEntries + " entries, " + maxFileBytes + " bytes per file");
        }
    }

    /** 4 GiB in all, 10,000 entries, 2 GiB per file: room for large models, none for a bomb. */
    static ArchiveLimits defaults() {
        return new ArchiveLimits(4L << 30, 10_000, 2L << 30);
    }
}
