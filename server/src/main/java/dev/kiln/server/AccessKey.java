package dev.kiln.server;

import java.util.regex.Pattern;

/** One access key: its id, secret and the 12-digit account whose jobs it may see. */
public record AccessKey(String accessKeyId, String secretAccessKey, String account) {
    private static final Pattern ACCOUNT_ID = Pattern.compile("[0-9]{12}");

    /** Whether {@code s} is an AWS account id: exactly 12 digits. */
    public static boolean isAccountId(String s) {
        return s != null && ACCOUNT_ID.matcher(s).matches();
    }

    /** Leaves the secret out, so that a logged key does not give it away. */
    @Override
    public String toString() {
        return "AccessKey[accessKeyId=" + accessKeyId + ", account=" + account + "]";
    }
}
