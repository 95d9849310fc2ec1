package dev.kiln.server;

/** One access key: its id, secret and the 12-digit account whose jobs it may see. */
public record AccessKey(String accessKeyId, String secretAccessKey, String account) {
    /** Leaves the secret out, so that a logged key does not give it away. */
    @Override
    public String toString() {
        return "AccessKey[accessKeyId=" + accessKeyId + ", account=" + account + "]";
    }
}
