package dev.kiln.cli;

import dev.kiln.jobs.JobsConfig;
import dev.kiln.jobs.JobsJson;
import dev.kiln.server.AccessKey;
import dev.kiln.server.AccessKeys;

import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** {@code kiln keys add [--account ID]}: a new access key for {@code kiln serve} on a data directory. */
final class KeysCommand {
    private KeysCommand() {}

    static int run(List<String> argv, PrintStream out) {
        if (argv.isEmpty() || !argv.get(0).equals("add")) {
            throw new UsageException(argv.isEmpty() ? "kiln keys needs the action add" : "unknown keys action '" + argv.get(0) + "'; actions: add");
        }
        Args a = Args.parse(argv.subList(1, argv.size()), Set.of("data-dir", "account"), Set.of("verbose"));
        if (!a.positionals().isEmpty()) throw new UsageException("kiln keys add takes no arguments besides its options");
        String account = a.value("account");
        if (account != null && !JobsConfig.isAccountId(account)) {
            throw new UsageException("--account must be a 12-digit AWS account id, got '" + account + "'");
        }
        try (AccessKeys keys = AccessKeys.open(JobsCommand.dataDir(a))) {
            AccessKey key = keys.add(account);
            // Named as IAM's CreateAccessKey names them, in the order aws configure asks for them.
            Map<String, String> json = new LinkedHashMap<>();
            json.put("AccessKeyId", key.accessKeyId());
            json.put("SecretAccessKey", key.secretAccessKey());
            json.put("Account", key.account());
            out.println(JobsJson.write(json));
        }
        return 0;
    }
}
