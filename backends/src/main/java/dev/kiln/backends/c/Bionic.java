package dev.kiln.backends.c;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * What Android's C library offers a library linked without the NDK: for each function the generated code
 * and its runtime support may call, the bionic library that defines it and the first API level that has it.
 * Android libraries are linked against stubs of exactly the functions they call (what the NDK's stub
 * libraries are), so this table is the whole of what the compiled code may depend on.
 */
final class Bionic {
    private Bionic() {}

    /** The bionic libraries, in link order; each stub gets the real library's soname. */
    static final List<String> LIBRARIES = List.of("libc.so", "libm.so", "libdl.so");

    /** Where a function lives and since when; API levels below 21 (the oldest Kiln targets) read as 21. */
    record Function(String library, int since) {}

    private static final int OLDEST = 21;

    static final Map<String, Function> FUNCTIONS = table();

    private static Map<String, Function> table() {
        Map<String, Function> t = new TreeMap<>();
        add(t, "libc.so", OLDEST, "malloc", "calloc", "realloc", "free", "posix_memalign", "memalign", "memcpy", "memmove",
                "memset", "memcmp", "snprintf", "vsnprintf", "strlen", "strcmp", "strncmp", "abort", "raise", "getenv", "sysconf", "qsort",
                "__errno", "__stack_chk_fail", "sched_yield", "nanosleep", "usleep", "clock_gettime",
                "pthread_create", "pthread_join", "pthread_detach", "pthread_self", "pthread_once",
                "pthread_attr_init", "pthread_attr_destroy", "pthread_attr_setstacksize",
                "pthread_mutex_init", "pthread_mutex_destroy", "pthread_mutex_lock", "pthread_mutex_trylock",
                "pthread_mutex_unlock", "pthread_cond_init", "pthread_cond_destroy", "pthread_cond_wait",
                "pthread_cond_timedwait", "pthread_cond_signal", "pthread_cond_broadcast",
                "pthread_key_create", "pthread_key_delete", "pthread_getspecific", "pthread_setspecific");
        add(t, "libc.so", 24, "pthread_barrier_init", "pthread_barrier_destroy", "pthread_barrier_wait",
                "pthread_spin_init", "pthread_spin_destroy", "pthread_spin_lock", "pthread_spin_trylock", "pthread_spin_unlock");
        add(t, "libc.so", 28, "aligned_alloc", "getrandom");
        add(t, "libc.so", 29, "reallocarray", "timespec_get");
        for (String f : List.of("exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "pow", "sqrt", "cbrt", "hypot",
                "sin", "cos", "tan", "sincos", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
                "atanh", "erf", "erfc", "tgamma", "lgamma", "floor", "ceil", "round", "trunc", "rint", "nearbyint",
                "lrint", "lround", "fabs", "fmod", "remainder", "fmax", "fmin", "fma", "ldexp", "frexp", "modf", "copysign")) {
            add(t, "libm.so", OLDEST, f, f + "f");
        }
        add(t, "libdl.so", OLDEST, "dlopen", "dlclose", "dlsym", "dlerror", "dladdr");
        return t;
    }

    private static void add(Map<String, Function> table, String library, int since, String... names) {
        for (String name : names) {
            if (table.put(name, new Function(library, since)) != null) throw new IllegalStateException("duplicate bionic function " + name);
        }
    }

    /**
     * The functions by bionic library (in {@link #LIBRARIES} order, only libraries with a function), after
     * checking that bionic has every one at {@code apiLevel}.
     *
     * @param undefined the symbols the library leaves for the dynamic linker
     * @throws IllegalStateException naming each missing function and, where bionic has it later, the level it needs
     */
    static Map<String, Set<String>> resolve(Set<String> undefined, int apiLevel, String target) {
        Map<String, Set<String>> byLibrary = new LinkedHashMap<>();
        for (String library : LIBRARIES) byLibrary.put(library, new TreeSet<>());
        List<String> problems = new ArrayList<>();
        for (String symbol : new TreeSet<>(undefined)) {
            Function f = FUNCTIONS.get(symbol);
            if (f == null) {
                problems.add(symbol + " (not in bionic's libc.so, libm.so or libdl.so)");
            } else if (f.since() > apiLevel) {
                problems.add(symbol + " (bionic's " + f.library() + " has it from API level " + f.since() + ")");
            } else {
                byLibrary.get(f.library()).add(symbol);
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalStateException("backend c: the code for " + target + " calls functions Android API level "
                    + apiLevel + " (ANDROID_PLATFORM) does not provide: " + String.join(", ", problems));
        }
        byLibrary.values().removeIf(Set::isEmpty);
        return byLibrary;
    }
}
