package dev.kiln.server;

import dev.kiln.jobs.JobsConfig;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Instant;
import java.util.Optional;

/**
 * The access keys of a data directory, kept in {@code <dataDir>/keys.db}. The secrets are stored as they are,
 * since checking a signature needs them; the file is readable by its owner only.
 */
public final class AccessKeys implements AutoCloseable {
    static final String FILE = "keys.db";
    private static final String ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    private static final String SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private final Connection db;
    private final SecureRandom random = new SecureRandom();

    private AccessKeys(Connection db) { this.db = db; }

    public static AccessKeys open(Path dataDir) {
        Path file = dataDir.resolve(FILE).toAbsolutePath();
        try {
            Files.createDirectories(dataDir);
            createOwnerOnly(file);
            Connection db = DriverManager.getConnection("jdbc:sqlite:" + file);
            try (Statement s = db.createStatement()) {
                // WAL lets the server read while `kiln keys add` writes; the busy timeout waits out the other's write lock.
                s.execute("PRAGMA busy_timeout = 10000");
                s.execute("PRAGMA journal_mode = WAL");
                s.execute("PRAGMA synchronous = FULL");
                s.execute("""
                        CREATE TABLE IF NOT EXISTS access_keys (
                          access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, account TEXT NOT NULL,
                          creation_time INTEGER NOT NULL)""");
            }
            return new AccessKeys(db);
        } catch (SQLException | IOException e) {
            throw new IllegalStateException("cannot open the access keys in " + dataDir + ": " + e.getMessage(), e);
        }
    }

    /** Creates the database file readable and writable by its owner alone (SQLite gives its WAL files the same mode). */
    private static void createOwnerOnly(Path file) throws IOException {
        if (!file.getFileSystem().supportedFileAttributeViews().contains("posix")) return;
        try {
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (FileAlreadyExistsException e) {
            // An existing file keeps the mode it has.
        }
    }

    /**
     * Creates a key for the account (12 digits; when null a new random 12-digit account id). Ids look like AWS's:
     * "AKIA" + 16 chars [A-Z2-7]; secrets 40 chars [A-Za-z0-9+/], all from SecureRandom.
     */
    public synchronized AccessKey add(String account) {
        if (account == null) {
            account = randomString("0123456789", 12);
        } else if (!JobsConfig.isAccountId(account)) {
            throw new IllegalArgumentException("an account id is 12 digits, not '" + account + "'");
        }
        try (PreparedStatement s = db.prepareStatement("""
                INSERT INTO access_keys (access_key_id, secret_access_key, account, creation_time)
                VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING""")) {
            // 80 random bits make a repeated id all but impossible; should one come up, draw again.
            while (true) {
                AccessKey key = new AccessKey("AKIA" + randomString(ID_ALPHABET, 16), randomString(SECRET_ALPHABET, 40), account);
                s.setString(1, key.accessKeyId());
                s.setString(2, key.secretAccessKey());
                s.setString(3, key.account());
                s.setLong(4, Instant.now().toEpochMilli());
                if (s.executeUpdate() == 1) return key;
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot add an access key: " + e.getMessage(), e);
        }
    }

    public synchronized Optional<AccessKey> find(String accessKeyId) {
        try (PreparedStatement s = db.prepareStatement(
                "SELECT access_key_id, secret_access_key, account FROM access_keys WHERE access_key_id = ?")) {
            s.setString(1, accessKeyId);
            try (ResultSet r = s.executeQuery()) {
                return r.next() ? Optional.of(new AccessKey(r.getString(1), r.getString(2), r.getString(3))) : Optional.empty();
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot read access key " + accessKeyId + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void close() {
        try {
            db.close();
        } catch (SQLException e) {
            throw new IllegalStateException("cannot close the access keys: " + e.getMessage(), e);
        }
    }

    private String randomString(String alphabet, int length) {
        StringBuilder s = new StringBuilder(length);
        for (int i = 0; i < length; i++) s.append(alphabet.charAt(random.nextInt(alphabet.length())));
        return s.toString();
    }
}
