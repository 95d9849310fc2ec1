package dev.kiln.jobs;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The durable store: an SQLite database under the data directory holding every job and its log lines.
 * Status changes are compare-and-set on the row, so that concurrent callers (a stop racing a completion, two
 * processes on one data directory) agree on one outcome.
 */
final class JobStore implements AutoCloseable {
    static final String FILE = "jobs.db";
    private final Connection db;

    private JobStore(Connection db) { this.db = db; }

    static JobStore open(Path dataDir) {
        try {
            Files.createDirectories(dataDir);
            Connection db = DriverManager.getConnection("jdbc:sqlite:" + dataDir.resolve(FILE).toAbsolutePath());
            try (Statement s = db.createStatement()) {
                // WAL lets a CLI read while a server writes; the busy timeout waits out the other's write lock.
                s.execute("PRAGMA busy_timeout = 10000");
                s.execute("PRAGMA journal_mode = WAL");
                s.execute("PRAGMA synchronous = NORMAL");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS jobs (
                          account TEXT NOT NULL, name TEXT NOT NULL, arn TEXT NOT NULL, status TEXT NOT NULL,
                          request TEXT NOT NULL, creation_time INTEGER NOT NULL, start_time INTEGER,
                          end_time INTEGER, last_modified_time INTEGER NOT NULL, failure_reason TEXT,
                          artifact_uri TEXT, artifact_digest TEXT, derived_data_input_config TEXT,
                          PRIMARY KEY (account, name))""");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS job_logs (
                          account TEXT NOT NULL, name TEXT NOT NULL, time INTEGER NOT NULL, line TEXT NOT NULL)""");
                s.execute("CREATE INDEX IF NOT EXISTS job_logs_by_job ON job_logs (account, name)");
                s.execute("CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, creation_time)");
            }
            return new JobStore(db);
        } catch (SQLException | java.io.IOException e) {
            throw new IllegalStateException("cannot open the job store in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    /** Adds a new job; false when the account already has a job of that name. */
    synchronized boolean insert(JobRecord job) {
        try (PreparedStatement s = db.prepareStatement("""
                INSERT INTO jobs (account, name, arn, status, request, creation_time, last_modified_time)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""")) {
            s.setString(1, job.account());
            s.setString(2, job.name());
            s.setString(3, job.arn());
            s.setString(4, job.status().name());
            s.setString(5, JobsJson.write(job.request()));
            s.setLong(6, job.creationTime().toEpochMilli());
            s.setLong(7, job.lastModifiedTime().toEpochMilli());
            return s.executeUpdate() == 1;
        } catch (SQLException e) {
            throw failure("add job " + job.name(), e);
        }
    }

    synchronized Optional<JobRecord> get(String account, String name) {
        try (PreparedStatement s = db.prepareStatement("SELECT * FROM jobs WHERE account = ? AND name = ?")) {
            s.setString(1, account);
            s.setString(2, name);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Optional.of(record(r)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw failure("read job " + name, e);
        }
    }

    /** Jobs in a status across accounts, oldest first. */
    synchronized List<JobRecord> inStatus(Set<CompilationJobStatus> statuses) {
        String marks = statuses.stream().map(s -> "?").collect(Collectors.joining(", "));
        try (PreparedStatement s = db.prepareStatement(
                "SELECT * FROM jobs WHERE status IN (" + marks + ") ORDER BY creation_time, account, name")) {
            int i = 1;
            for (CompilationJobStatus status : statuses) s.setString(i++, status.name());
            return records(s);
        } catch (SQLException e) {
            throw failure("list jobs by status", e);
        }
    }

    synchronized int count(CompilationJobStatus status) {
        try (PreparedStatement s = db.prepareStatement("SELECT COUNT(*) FROM jobs WHERE status = ?")) {
            s.setString(1, status.name());
            try (ResultSet r = s.executeQuery()) {
                r.next();
                return r.getInt(1);
            }
        } catch (SQLException e) {
            throw failure("count jobs", e);
        }
    }

    /** The changes one status transition makes; null members are left as they are. */
    record Change(CompilationJobStatus status, Instant at, Instant startTime, Instant endTime, String failureReason,
                  String artifactUri, String artifactDigest) {
        static Change to(CompilationJobStatus status, Instant at) {
            return new Change(status, at, null, null, null, null, null);
        }

        Change started() { return new Change(status, at, at, endTime, failureReason, artifactUri, artifactDigest); }

        Change ended() { return new Change(status, at, startTime, at, failureReason, artifactUri, artifactDigest); }

        Change failure(String reason) { return new Change(status, at, startTime, endTime, reason, artifactUri, artifactDigest); }

        Change artifact(String uri, String digest) { return new Change(status, at, startTime, endTime, failureReason, uri, digest); }
    }

    /** Applies the change if the job is in one of {@code from}; false when it is not (someone else moved it). */
    synchronized boolean transition(String account, String name, Set<CompilationJobStatus> from, Change change) {
        String marks = from.stream().map(s -> "?").collect(Collectors.joining(", "));
        try (PreparedStatement s = db.prepareStatement("""
                UPDATE jobs SET status = ?, last_modified_time = ?, start_time = COALESCE(?, start_time),
                  end_time = COALESCE(?, end_time), failure_reason = COALESCE(?, failure_reason),
                  artifact_uri = COALESCE(?, artifact_uri), artifact_digest = COALESCE(?, artifact_digest)
                WHERE account = ? AND name = ? AND status IN (""" + marks + ")")) {
            s.setString(1, change.status().name());
            s.setLong(2, change.at().toEpochMilli());
            setTime(s, 3, change.startTime());
            setTime(s, 4, change.endTime());
            s.setString(5, change.failureReason());
            s.setString(6, change.artifactUri());
            s.setString(7, change.artifactDigest());
            s.setString(8, account);
            s.setString(9, name);
            int i = 10;
            for (CompilationJobStatus status : from) s.setString(i++, status.name());
            return s.executeUpdate() == 1;
        } catch (SQLException e) {
            throw failure("update job " + name, e);
        }
    }

    synchronized void setDerivedDataInputConfig(String account, String name, String json) {
        try (PreparedStatement s = db.prepareStatement(
                "UPDATE jobs SET derived_data_input_config = ? WHERE account = ? AND name = ?")) {
            s.setString(1, json);
            s.setString(2, account);
            s.setString(3, name);
            s.executeUpdate();
        } catch (SQLException e) {
            throw failure("update job " + name, e);
        }
    }

    /** Removes a job in a terminal state and its log; false when it is not in one (or not there). */
    synchronized boolean deleteTerminal(String account, String name) {
        try {
            db.setAutoCommit(false);
            try (PreparedStatement s = db.prepareStatement(
                    "DELETE FROM jobs WHERE account = ? AND name = ? AND status IN ('COMPLETED', 'FAILED', 'STOPPED')");
                 PreparedStatement logs = db.prepareStatement("DELETE FROM job_logs WHERE account = ? AND name = ?")) {
                s.setString(1, account);
                s.setString(2, name);
                boolean deleted = s.executeUpdate() == 1;
                if (deleted) {
                    logs.setString(1, account);
                    logs.setString(2, name);
                    logs.executeUpdate();
                }
                db.commit();
                return deleted;
            } catch (SQLException e) {
                db.rollback();
                throw e;
            } finally {
                db.setAutoCommit(true);
            }
        } catch (SQLException e) {
            throw failure("delete job " + name, e);
        }
    }

    synchronized void log(String account, String name, Instant at, String line) {
        try (PreparedStatement s = db.prepareStatement("INSERT INTO job_logs (account, name, time, line) VALUES (?, ?, ?, ?)")) {
            s.setString(1, account);
            s.setString(2, name);
            s.setLong(3, at.toEpochMilli());
            s.setString(4, line);
            s.executeUpdate();
        } catch (SQLException e) {
            throw failure("log for job " + name, e);
        }
    }

    /** A job's log lines in order, each as "&lt;ISO time&gt; &lt;line&gt;". */
    synchronized List<String> logs(String account, String name) {
        try (PreparedStatement s = db.prepareStatement(
                "SELECT time, line FROM job_logs WHERE account = ? AND name = ? ORDER BY rowid")) {
            s.setString(1, account);
            s.setString(2, name);
            List<String> lines = new ArrayList<>();
            try (ResultSet r = s.executeQuery()) {
                while (r.next()) lines.add(Instant.ofEpochMilli(r.getLong(1)) + " " + r.getString(2));
            }
            return lines;
        } catch (SQLException e) {
            throw failure("read the log of job " + name, e);
        }
    }

    /** One page of a listing: filters as the request gives them, sorted, after the page token's last row. */
    synchronized ListCompilationJobsResponse list(String account, ListCompilationJobsRequest q, String sortBy,
                                                  boolean ascending, int limit) {
        List<String> where = new ArrayList<>(List.of("account = ?"));
        List<Object> args = new ArrayList<>(List.of(account));
        if (q.nameContains() != null) {
            // NameContains is letters, digits and hyphens only, so LIKE needs no escaping; LIKE is case-blind in ASCII.
            where.add("name LIKE ?");
            args.add("%" + q.nameContains() + "%");
        }
        filterTime(where, args, "creation_time >", q.creationTimeAfter());
        filterTime(where, args, "creation_time <", q.creationTimeBefore());
        filterTime(where, args, "last_modified_time >", q.lastModifiedTimeAfter());
        filterTime(where, args, "last_modified_time <", q.lastModifiedTimeBefore());
        if (q.statusEquals() != null) {
            where.add("status = ?");
            args.add(q.statusEquals());
        }
        String key = switch (sortBy) {
            case "Name" -> "name";
            case "Status" -> "status";
            default -> "creation_time";
        };
        String fingerprint = fingerprint(account, q, sortBy, ascending);
        if (q.nextToken() != null && !q.nextToken().isEmpty()) {
            PageToken after = PageToken.decode(q.nextToken(), fingerprint);
            String cmp = ascending ? ">" : "<";
            if (key.equals("name")) {
                where.add("name " + cmp + " ?");
                args.add(after.name());
            } else {
                where.add("(" + key + " " + cmp + " ? OR (" + key + " = ? AND name " + cmp + " ?))");
                Object v = key.equals("creation_time") ? (Object) Long.parseLong(after.sortValue()) : after.sortValue();
                args.add(v);
                args.add(v);
                args.add(after.name());
            }
        }
        String order = ascending ? "ASC" : "DESC";
        String sql = "SELECT * FROM jobs WHERE " + String.join(" AND ", where) + " ORDER BY "
                + (key.equals("name") ? "name " + order : key + " " + order + ", name " + order) + " LIMIT ?";
        try (PreparedStatement s = db.prepareStatement(sql)) {
            int i = 1;
            for (Object a : args) s.setObject(i++, a);
            s.setInt(i, limit + 1);
            List<JobRecord> rows = records(s);
            String next = null;
            if (rows.size() > limit) {
                rows = rows.subList(0, limit);
                JobRecord last = rows.get(limit - 1);
                String sortValue = switch (key) {
                    case "name" -> last.name();
                    case "status" -> last.status().name();
                    default -> Long.toString(last.creationTime().toEpochMilli());
                };
                next = new PageToken(fingerprint, sortValue, last.name()).encode();
            }
            return new ListCompilationJobsResponse(rows.stream().map(JobStore::summary).toList(), next);
        } catch (SQLException e) {
            throw failure("list jobs", e);
        }
    }

    private static ListCompilationJobsResponse.CompilationJobSummary summary(JobRecord j) {
        var out = j.request().outputConfig();
        var platform = out == null ? null : out.targetPlatform();
        return new ListCompilationJobsResponse.CompilationJobSummary(j.name(), j.arn(), j.creationTime(), j.startTime(),
                j.endTime(), out == null ? null : out.targetDevice(), platform == null ? null : platform.os(),
                platform == null ? null : platform.arch(), platform == null ? null : platform.accelerator(),
                j.lastModifiedTime(), j.status());
    }

    /** Where the last page ended, bound to the request it came from so that it cannot page another listing. */
    private record PageToken(String fingerprint, String sortValue, String name) {
        String encode() {
            String text = fingerprint + "\n" + sortValue + "\n" + name;
            return Base64.getUrlEncoder().withoutPadding().encodeToString(text.getBytes(StandardCharsets.UTF_8));
        }

        static PageToken decode(String token, String fingerprint) {
            String[] parts;
            try {
                parts = new String(Base64.getUrlDecoder().decode(token), StandardCharsets.UTF_8).split("\n", -1);
            } catch (IllegalArgumentException e) {
                parts = new String[0];
            }
            if (parts.length != 3) throw CompilationJobException.validation("NextToken is not a token this API returned");
            if (!parts[0].equals(fingerprint)) {
                throw CompilationJobException.validation("NextToken belongs to a listing with other filters or sort "
                        + "order; pass the same filters, SortBy and SortOrder as the request that returned it");
            }
            return new PageToken(parts[0], parts[1], parts[2]);
        }
    }

    private static String fingerprint(String account, ListCompilationJobsRequest q, String sortBy, boolean ascending) {
        String text = String.join("|", account, String.valueOf(q.nameContains()), String.valueOf(q.statusEquals()),
                String.valueOf(q.creationTimeAfter()), String.valueOf(q.creationTimeBefore()),
                String.valueOf(q.lastModifiedTimeAfter()), String.valueOf(q.lastModifiedTimeBefore()), sortBy,
                String.valueOf(ascending));
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void filterTime(List<String> where, List<Object> args, String condition, Instant t) {
        if (t == null) return;
        where.add(condition + " ?");
        args.add(t.toEpochMilli());
    }

    private List<JobRecord> records(PreparedStatement s) throws SQLException {
        List<JobRecord> rows = new ArrayList<>();
        try (ResultSet r = s.executeQuery()) {
            while (r.next()) rows.add(record(r));
        }
        return rows;
    }

    private static JobRecord record(ResultSet r) throws SQLException {
        return new JobRecord(r.getString("account"), r.getString("name"), r.getString("arn"),
                CompilationJobStatus.valueOf(r.getString("status")),
                JobsJson.read(r.getString("request"), CreateCompilationJobRequest.class),
                time(r, "creation_time"), time(r, "start_time"), time(r, "end_time"), time(r, "last_modified_time"),
                r.getString("failure_reason"), r.getString("artifact_uri"), r.getString("artifact_digest"),
                r.getString("derived_data_input_config"));
    }

    private static Instant time(ResultSet r, String column) throws SQLException {
        long millis = r.getLong(column);
        return r.wasNull() ? null : Instant.ofEpochMilli(millis);
    }

    private static void setTime(PreparedStatement s, int index, Instant t) throws SQLException {
        if (t == null) s.setNull(index, Types.INTEGER);
        else s.setLong(index, t.toEpochMilli());
    }

    private static IllegalStateException failure(String what, SQLException e) {
        return new IllegalStateException("the job store cannot " + what + ": " + e.getMessage(), e);
    }

    @Override
    public synchronized void close() {
        try {
            db.close();
        } catch (SQLException e) {
            throw failure("close", e);
        }
    }
}
