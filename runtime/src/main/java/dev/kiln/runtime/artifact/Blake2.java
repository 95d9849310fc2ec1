package dev.kiln.runtime.artifact;

import org.bouncycastle.crypto.digests.Blake2bDigest;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/** BLAKE2b-512 as lowercase hex: exactly the digest `b2sum FILE` prints. */
public final class Blake2 {
    private static final int BUFFER = 1 << 16;

    private final Blake2bDigest digest = new Blake2bDigest(512);

    private Blake2() {}

    public static String hex(byte[] bytes) {
        Blake2 b = new Blake2();
        b.update(bytes, 0, bytes.length);
        return b.finish();
    }

    /** Streams the file: it is never loaded whole. */
    public static String hex(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return hex(in);
        }
    }

    public static String hex(InputStream in) throws IOException {
        Blake2 b = new Blake2();
        byte[] buffer = new byte[BUFFER];
        for (int n; (n = in.read(buffer)) >= 0; ) {
            b.update(buffer, 0, n);
        }
        return b.finish();
    }

    /** A digest fed incrementally, for hashing bytes while they are copied. */
    static Blake2 incremental() {
        return new Blake2();
    }

    void update(byte[] bytes, int offset, int length) {
        digest.update(bytes, offset, length);
    }

    String finish() {
        byte[] out = new byte[digest.getDigestSize()];
        digest.doFinal(out, 0);
        return HexFormat.of().formatHex(out);
    }

    /** An output stream that hashes everything written through it. */
    static final class DigestingOutputStream extends OutputStream {
        private final OutputStream out;
        private final Blake2 digest = new Blake2();
        private long count;

        DigestingOutputStream(OutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            out.write(b, off, len);
            digest.update(b, off, len);
            count += len;
        }

        @Override
        public void flush() throws IOException {
            out.flush();
        }

        @Override
        public void close() throws IOException {
            out.close();
        }

        long count() {
            return count;
        }

        /** The digest of everything written; call once, after the last write. */
        String hex() {
            return digest.finish();
        }
    }
}
