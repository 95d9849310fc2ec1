package dev.kiln.runtime.artifact;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class Blake2Test {
    @TempDir Path dir;

    @Test
    void knownAnswers() throws Exception {
        // RFC 7693 appendix A ("abc") and the empty input, as b2sum prints them.
        assertEquals("786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
                + "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce", Blake2.hex(new byte[0]));
        assertEquals("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923", Blake2.hex("abc".getBytes(StandardCharsets.US_ASCII)));
        Path empty = Files.write(dir.resolve("empty"), new byte[0]);
        assertEquals(Blake2.hex(new byte[0]), Blake2.hex(empty));
    }

    @Test
    void streamedFilesEqualWholeBytes() throws Exception {
        // Sizes around the 64 KiB read buffer and BLAKE2b's 128-byte block.
        for (int size : new int[] {1, 127, 128, 129, 65_535, 65_536, 65_537, 300_001}) {
            byte[] bytes = pattern(size);
            Path f = Files.write(dir.resolve("f" + size), bytes);
            assertEquals(Blake2.hex(bytes), Blake2.hex(f), "size " + size);
            assertEquals(Blake2.hex(bytes), Blake2.hex(new ByteArrayInputStream(bytes)), "size " + size);
        }
    }

    @Test
    void equalsTheB2sumCommand() throws Exception {
        Path probe = Files.write(dir.resolve("probe"), new byte[0]);
        assumeTrue(ArtifactFixtures.b2sum(probe).isPresent(), "b2sum is not installed");
        for (int size : new int[] {0, 3, 128, 65_537, 1_000_003}) {
            Path f = Files.write(dir.resolve("b" + size), pattern(size));
            Optional<String> expected = ArtifactFixtures.b2sum(f);
            assertEquals(expected.orElseThrow(), Blake2.hex(f), "size " + size);
        }
    }

    private static byte[] pattern(int size) {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) b[i] = (byte) (i * 31 + (i >> 9));
        return b;
    }
}
