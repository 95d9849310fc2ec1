package dev.kiln.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Command-line options of one subcommand: {@code --name value} pairs (repeatable ones kept in order), flags and positionals. */
final class Args {
    private final Map<String, List<String>> options = new LinkedHashMap<>();
    private final List<String> positionals = new ArrayList<>();
    private final Set<String> flags;

    private Args(Set<String> flags) { this.flags = flags; }

    /**
     * Parses {@code argv}; {@code valued} lists the options that take a value, {@code flags} the
     * ones that do not. Anything else starting with "--" is an error.
     */
    static Args parse(List<String> argv, Set<String> valued, Set<String> flags) {
        Args a = new Args(flags);
        for (int i = 0; i < argv.size(); i++) {
            String s = argv.get(i);
            if (s.startsWith("--")) {
                String name = s.substring(2);
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0 && valued.contains(name.substring(0, eq))) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (flags.contains(name)) {
                    a.options.computeIfAbsent(name, k -> new ArrayList<>()).add("true");
                } else if (valued.contains(name)) {
                    if (value == null) {
                        if (i + 1 >= argv.size()) throw new UsageException("--" + name + " needs a value");
                        value = argv.get(++i);
                    }
                    a.options.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
                } else {
                    throw new UsageException("unknown option --" + name);
                }
            } else {
                a.positionals.add(s);
            }
        }
        return a;
    }

    List<String> positionals() { return positionals; }

    boolean flag(String name) { return flags.contains(name) && options.containsKey(name); }

    /** The option's single value, or null. */
    String value(String name) {
        List<String> v = options.get(name);
        if (v == null) return null;
        if (v.size() > 1) throw new UsageException("--" + name + " is given " + v.size() + " times");
        return v.get(0);
    }

    List<String> values(String name) { return options.getOrDefault(name, List.of()); }

    int intValue(String name, int dflt, int min) {
        String v = value(name);
        if (v == null) return dflt;
        try {
            int n = Integer.parseInt(v.strip());
            if (n < min) throw new NumberFormatException();
            return n;
        } catch (NumberFormatException e) {
            throw new UsageException("--" + name + " must be an integer of at least " + min + ", got '" + v + "'");
        }
    }
}
