package dev.kiln.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kiln.jobs.JobsConfig;
import dev.kiln.server.AccessKey;
import dev.kiln.server.AccessKeys;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class KeysCommandTest {
    @TempDir
    Path dir;

    /** Runs the command and returns the one line it printed, parsed. */
    JsonNode add(String... options) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<String> argv = new ArrayList<>(List.of("add", "--data-dir", dir.toString()));
        argv.addAll(List.of(options));
        assertEquals(0, KeysCommand.run(argv, new PrintStream(out, true, StandardCharsets.UTF_8)));
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertEquals(1, lines.size(), lines.toString());
        return new ObjectMapper().readTree(lines.get(0));
    }

    @Test
    void addPrintsTheNewKeyAsOneJsonLine() throws Exception {
        JsonNode key = add("--account", "123456789012");
        assertEquals(List.of("AccessKeyId", "SecretAccessKey", "Account"), fieldNames(key));
        assertEquals("123456789012", key.get("Account").asText());
        try (AccessKeys keys = AccessKeys.open(dir)) {
            assertEquals(Optional.of(new AccessKey(key.get("AccessKeyId").asText(), key.get("SecretAccessKey").asText(), "123456789012")),
                    keys.find(key.get("AccessKeyId").asText()));
        }
    }

    @Test
    void withoutAnAccountAddMakesUpOne() throws Exception {
        JsonNode key = add();
        assertTrue(JobsConfig.isAccountId(key.get("Account").asText()), key.toString());
        assertTrue(key.get("AccessKeyId").asText().matches("AKIA[A-Z2-7]{16}"), key.toString());
    }

    @Test
    void aBadAccountIsAUsageErrorAndStoresNothing() {
        UsageException e = assertThrows(UsageException.class, () -> add("--account", "12345"));
        assertEquals("--account must be a 12-digit AWS account id, got '12345'", e.getMessage());
        assertFalse(Files.exists(dir.resolve("keys.db")));
    }

    @Test
    void onlyTheAddActionExists() {
        PrintStream out = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        assertEquals("kiln keys needs the action add", assertThrows(UsageException.class, () -> KeysCommand.run(List.of(), out)).getMessage());
        assertEquals("unknown keys action 'list'; actions: add",
                assertThrows(UsageException.class, () -> KeysCommand.run(List.of("list"), out)).getMessage());
        assertThrows(UsageException.class, () -> KeysCommand.run(List.of("add", "extra", "--data-dir", dir.toString()), out));
    }

    private static List<String> fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
