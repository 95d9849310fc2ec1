package dev.kiln.jobs;

import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

/** The checks of a ListCompilationJobs request, and its sort and page size with the API's defaults. */
final class ListValidation {
    static final int DEFAULT_MAX_RESULTS = 10;
    static final List<String> SORT_BY = List.of("Name", "CreationTime", "Status");
    static final List<String> SORT_ORDER = List.of("Ascending", "Descending");
    private static final Pattern NAME_CONTAINS = Pattern.compile("[a-zA-Z0-9\\-]+");
    private static final int MAX_NEXT_TOKEN = 8192;

    private ListValidation() {}

    /** The listing a request asks for: sort key, direction and page size. */
    record Listing(String sortBy, boolean ascending, int maxResults) {}

    static Listing check(ListCompilationJobsRequest q) {
        if (q.maxResults() != null && (q.maxResults() < 1 || q.maxResults() > 100)) {
            throw CompilationJobException.validation("MaxResults must be from 1 to 100, got " + q.maxResults());
        }
        if (q.nameContains() != null && (q.nameContains().length() > 63 || !NAME_CONTAINS.matcher(q.nameContains()).matches())) {
            throw CompilationJobException.validation("NameContains must be 1 to 63 letters, digits and hyphens, got '"
                    + q.nameContains() + "'");
        }
        if (q.nextToken() != null && q.nextToken().length() > MAX_NEXT_TOKEN) {
            throw CompilationJobException.validation("NextToken is longer than " + MAX_NEXT_TOKEN + " characters");
        }
        oneOf("SortBy", q.sortBy(), SORT_BY);
        oneOf("SortOrder", q.sortOrder(), SORT_ORDER);
        oneOf("StatusEquals", q.statusEquals(), Arrays.stream(CompilationJobStatus.values()).map(Enum::name).toList());
        // SageMaker lists newest first unless told otherwise.
        return new Listing(q.sortBy() == null ? "CreationTime" : q.sortBy(), "Ascending".equals(q.sortOrder()),
                q.maxResults() == null ? DEFAULT_MAX_RESULTS : q.maxResults());
    }

    private static void oneOf(String member, String value, List<String> legal) {
        if (value != null && !legal.contains(value)) {
            throw CompilationJobException.validation(member + " must be one of " + String.join(", ", legal)
                    + ", got '" + value + "'");
        }
    }
}
