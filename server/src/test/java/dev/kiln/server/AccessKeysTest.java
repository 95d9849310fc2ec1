package dev.kiln.server;

import dev.kiln.jobs.JobsConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class AccessKeysTest {
    @TempDir
    Path dir;

    @Test
    void anAddedKeyIsFoundByItsId() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            AccessKey key = keys.add("123456789012");
            assertEquals("123456789012", key.account());
            assertEquals(Optional.of(key), keys.find(key.accessKeyId()));
        }
    }

    @Test
    void keysOutliveTheStoreThatMadeThem() {
        AccessKey key;
        try (AccessKeys keys = AccessKeys.open(dir)) {
            key = keys.add("123456789012");
        }
        try (AccessKeys keys = AccessKeys.open(dir)) {
            assertEquals(Optional.of(key), keys.find(key.accessKeyId()));
        }
    }

    @Test
    void aKeyAddedElsewhereIsSeenByAStoreAlreadyOpen() {
        try (AccessKeys server = AccessKeys.open(dir); AccessKeys cli = AccessKeys.open(dir)) {
            AccessKey key = cli.add(null);
            assertEquals(Optional.of(key), server.find(key.accessKeyId()));
        }
    }

    @Test
    void idsAndSecretsLookLikeAwsOnesAndDiffer() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            Set<String> ids = new HashSet<>();
            Set<String> secrets = new HashSet<>();
            for (int i = 0; i < 50; i++) {
                AccessKey key = keys.add("123456789012");
                assertTrue(key.accessKeyId().matches("AKIA[A-Z2-7]{16}"), key.accessKeyId());
                assertTrue(key.secretAccessKey().matches("[A-Za-z0-9+/]{40}"), key.secretAccessKey());
                ids.add(key.accessKeyId());
                secrets.add(key.secretAccessKey());
            }
            assertEquals(50, ids.size());
            assertEquals(50, secrets.size());
        }
    }

    @Test
    void withoutAnAccountEachKeyGetsANewRandomOne() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            AccessKey a = keys.add(null);
            AccessKey b = keys.add(null);
            assertTrue(JobsConfig.isAccountId(a.account()), a.account());
            assertTrue(JobsConfig.isAccountId(b.account()), b.account());
            assertNotEquals(a.account(), b.account());
        }
    }

    @Test
    void oneAccountMayHaveTwoKeys() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            AccessKey a = keys.add("000000000042");
            AccessKey b = keys.add("000000000042");
            assertNotEquals(a.accessKeyId(), b.accessKeyId());
            assertEquals("000000000042", keys.find(a.accessKeyId()).orElseThrow().account());
            assertEquals("000000000042", keys.find(b.accessKeyId()).orElseThrow().account());
        }
    }

    @Test
    void anUnknownIdIsNotFound() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            keys.add("123456789012");
            assertEquals(Optional.empty(), keys.find("AKIAIOSFODNN7EXAMPLE"));
        }
    }

    @Test
    void anAccountIdIsTwelveDigits() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            for (String bad : new String[] {"12345678901", "1234567890123", "12345678901a", " 123456789012", "１２３４５６７８９０１２"}) {
                assertThrows(IllegalArgumentException.class, () -> keys.add(bad), bad);
            }
        }
    }

    @Test
    void theKeyFileIsTheOwnersAlone() throws Exception {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            keys.add(null);
        }
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve(AccessKeys.FILE))));
    }

    @Test
    void aKeyPrintsWithoutItsSecret() {
        try (AccessKeys keys = AccessKeys.open(dir)) {
            AccessKey key = keys.add("123456789012");
            assertFalse(key.toString().contains(key.secretAccessKey()), key.toString());
            assertTrue(key.toString().contains(key.accessKeyId()), key.toString());
        }
    }
}
