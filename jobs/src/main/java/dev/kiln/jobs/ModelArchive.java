package dev.kiln.jobs;

import java.io.BufferedInputStream;
import java.io.EOFException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.archivers.tar.TarConstants;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * A user's model archive (a {@code .tar.gz}), extracted into a directory of its own, and the model files in it
 * located the way SageMaker Neo expects them for each framework.
 *
 * <p>Extraction streams the archive and refuses it at the first entry that could write outside the destination
 * (absolute names, {@code ..}), is not a plain file or directory (links, devices, FIFOs), or takes the expansion past
 * its {@link ArchiveLimits}; a refused archive leaves nothing behind.
 */
final class ModelArchive {
    /**
     * What the tar reader may inflate on its own between two file contents (headers, GNU long names, PAX records,
     * padding). It buffers long names and PAX records in memory, so this bounds the heap an archive can claim.
     */
    static final int MAX_HEADER_BYTES = 1 << 20;

    private static final Pattern DRIVE = Pattern.compile("^[A-Za-z]:");
    private static final Pattern MXNET_SYMBOL = Pattern.compile("(.+)-symbol\\.json", Pattern.CASE_INSENSITIVE);
    private static final Pattern MXNET_PARAMS = Pattern.compile("(.+)-\\d{4}\\.params", Pattern.CASE_INSENSITIVE);
    private static final int LISTED_NAMES = 20;

    private final Path root;
    private final List<String> files;

    private ModelArchive(Path root, List<String> files) {
        this.root = root;
        this.files = files;
    }

    /**
     * Extracts {@code tarGz} into {@code destDir}, which must be empty or absent. Directory entries are created; file
     * modes and timestamps are not kept. Backslashes in entry names count as separators, so that a name means the
     * same on every platform.
     *
     * @throws ArchiveException when the archive is refused; destDir is then left empty (or absent, if it was)
     * @throws java.nio.file.DirectoryNotEmptyException when destDir has something in it
     */
    static ModelArchive extract(Path tarGz, Path destDir, ArchiveLimits limits) throws IOException {
        boolean createdDest = prepare(destDir);
        Path root = destDir.toRealPath();
        try {
            return new ModelArchive(root, new Extraction(root, limits).run(tarGz));
        } catch (Throwable failure) {
            try {
                discard(root, createdDest);
            } catch (IOException cleanup) {
                failure.addSuppressed(cleanup);
            }
            throw failure;
        }
    }

    /** The directory the archive was extracted into. */
    Path root() {
        return root;
    }

    /** The relative paths, '/'-separated, of the archive's regular files, sorted. */
    List<String> files() {
        return files;
    }

    /**
     * Whether the archive holds a file by this relative path, or by this name (or trailing part of a path) in any
     * directory; e.g. {@code labels.txt} matches {@code labels.txt} and {@code meta/labels.txt}.
     */
    boolean contains(String relativeFileName) {
        String wanted = String.join("/", components(relativeFileName));
        return !wanted.isEmpty() && files.stream().anyMatch(f -> f.equals(wanted) || f.endsWith("/" + wanted));
    }

    /**
     * The files the framework's frontend reads, located as Neo expects them. Hidden files ({@code ._x},
     * {@code .DS_Store}, anything under a directory whose name starts with a dot) and {@code __MACOSX/} are ignored.
     * <ul>
     * <li>ONNX, Keras, PyTorch, TFLite, scikit-learn: exactly one {@code .onnx}, {@code .h5}, {@code .pt}/{@code .pth},
     *     {@code .tflite}, or {@code .pkl}/{@code .pickle}/{@code .joblib} file, at any depth.
     * <li>TensorFlow: one SavedModel directory (holding {@code saved_model.pb} or {@code saved_model.pbtxt}, with
     *     {@code variables/} as a part when present), or else one frozen graph {@code .pb} at the top level.
     * <li>MXNet: one {@code PREFIX-symbol.json} and one {@code PREFIX-NNNN.params} beside it, as a part.
     * <li>Darknet: one {@code .cfg} and one {@code .weights} file, as a part.
     * <li>XGBoost: exactly one {@code .model}, {@code .json}, {@code .ubj} or {@code .bin} file (the names XGBoost saves
     *     under); failing any, a lone file of any name, such as SageMaker's own {@code xgboost-model}.
     * </ul>
     *
     * @throws ArchiveException naming what was found and what was expected, when the files are not there as expected
     */
    ModelFiles modelFiles(Framework framework) {
        List<String> candidates = files.stream().filter(f -> !isHidden(f)).toList();
        return switch (framework) {
            case ONNX -> single(candidates, "ONNX", ".onnx");
            case KERAS -> single(candidates, "Keras", ".h5");
            case PYTORCH -> single(candidates, "PyTorch", ".pt", ".pth");
            case TFLITE -> single(candidates, "TFLite", ".tflite");
            case SKLEARN -> single(candidates, "scikit-learn", ".pkl", ".pickle", ".joblib");
            case XGBOOST -> xgboost(candidates);
            case TENSORFLOW -> tensorflow(candidates);
            case MXNET -> mxnet(candidates);
            case DARKNET -> darknet(candidates);
        };
    }

    /**
     * The model files of an archive: the one its frontend opens first, and the others it reads besides.
     *
     * @param primary the model file proper: the .onnx, .h5, ... file, the frozen graph or {@code saved_model.pb(txt)},
     *                the MXNet symbol file or the Darknet .cfg
     * @param parts   the other files and directories the model needs, by role
     */
    record ModelFiles(Path primary, Map<Part, Path> parts) {
        ModelFiles {
            parts = Map.copyOf(parts);
        }
    }

    /** What a model file other than the primary one is for. */
    enum Part {
        /** A TensorFlow SavedModel's {@code variables/} directory. */
        VARIABLES,
        /** MXNet's parameter file. */
        PARAMS,
        /** Darknet's weights file. */
        WEIGHTS
    }

    /** A model archive refused, with a FailureReason in Neo's words. */
    static final class ArchiveException extends RuntimeException {
        static final String PREFIX = "ClientError: InputConfiguration: ";

        ArchiveException(String problem) {
            super(PREFIX + problem);
        }

        ArchiveException(String problem, Throwable cause) {
            super(PREFIX + problem, cause);
        }
    }

    /** Returns whether destDir was created here, so that a refused archive can leave things as they were. */
    private static boolean prepare(Path destDir) throws IOException {
        if (Files.isDirectory(destDir)) {
            try (Stream<Path> entries = Files.list(destDir)) {
                if (entries.findAny().isPresent()) {
                    throw new DirectoryNotEmptyException(destDir.toString());
                }
            }
            return false;
        }
        Files.createDirectories(destDir);
        return true;
    }

    /** Deletes all that was extracted, deepest first; extraction creates no links, so the walk stays inside. */
    private static void discard(Path root, boolean removeRoot) throws IOException {
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : (Iterable<Path>) paths.sorted(Comparator.reverseOrder())::iterator) {
                if (removeRoot || !path.equals(root)) {
                    Files.delete(path);
                }
            }
        }
    }

    /** The non-empty, non-"." components of a name, split at both slashes and backslashes. */
    private static List<String> components(String name) {
        List<String> parts = new ArrayList<>();
        for (String part : name.split("[/\\\\]")) {
            if (!part.isEmpty() && !part.equals(".")) {
                parts.add(part);
            }
        }
        return parts;
    }

    /** One extraction's state: what has been written so far, and where in the archive the reader is. */
    private static final class Extraction {
        private final Path root;
        private final ArchiveLimits limits;
        private final Set<String> files = new TreeSet<>();
        private final Set<String> directories = new HashSet<>();
        private final byte[] buffer = new byte[64 * 1024];
        private int entries;
        private String lastEntry;
        private boolean inContent;

        Extraction(Path root, ArchiveLimits limits) {
            this.root = root;
            this.limits = limits;
        }

        List<String> run(Path tarGz) throws IOException {
            try (InputStream file = new BufferedInputStream(Files.newInputStream(tarGz))) {
                requireGzip(file);
                try (InflationGuard inflated = new InflationGuard(openGzip(file));
                     TarArchiveInputStream tar = new TarArchiveInputStream(inflated)) {
                    for (TarArchiveEntry entry = next(tar, inflated); entry != null; entry = next(tar, inflated)) {
                        extract(tar, entry);
                    }
                    // Reading to the end of the gzip stream checks its CRC and length, so that a cut-off archive is
                    // noticed even where the tar reader stopped early.
                    inflated.headerBytesLeft = Long.MAX_VALUE;
                    while (read(inflated) != -1) {
                        // trailing tar padding: counted against the limit, not kept
                    }
                }
            }
            if (files.isEmpty()) {
                throw new ArchiveException("The model archive holds no files");
            }
            return List.copyOf(files);
        }

        private static void requireGzip(InputStream file) throws IOException {
            file.mark(2);
            byte[] magic = file.readNBytes(2);
            file.reset();
            if (!GzipCompressorInputStream.matches(magic, magic.length)) {
                throw new ArchiveException("The model archive must be a gzip-compressed tar (.tar.gz)");
            }
        }

        private GzipCompressorInputStream openGzip(InputStream file) {
            try {
                // Concatenated members are one stream to gzip(1) too.
                return GzipCompressorInputStream.builder().setInputStream(file).setDecompressConcatenated(true).get();
            } catch (IOException e) {
                throw unreadable(e);
            }
        }

        private TarArchiveEntry next(TarArchiveInputStream tar, InflationGuard inflated) {
            inContent = false;
            inflated.headerBytesLeft = MAX_HEADER_BYTES;
            try {
                return tar.getNextEntry();
            } catch (IOException e) {
                throw unreadable(e);
            }
        }

        private int read(InputStream in) {
            try {
                return in.read(buffer);
            } catch (IOException e) {
                throw unreadable(e);
            }
        }

        private void extract(TarArchiveInputStream tar, TarArchiveEntry entry) throws IOException {
            String name = entry.getName();
            lastEntry = name;
            if (++entries > limits.maxEntries()) {
                throw new ArchiveException("The model archive has more than " + limits.maxEntries()
                        + " entries, the limit; refused at entry " + name);
            }
            boolean directory = isDirectory(entry);
            String relative = relativePath(name);
            if (directory) {
                createDirectory(relative);
            } else {
                writeFile(tar, name, relative);
            }
        }

        /** Whether the entry is a directory rather than a regular file; any other type is refused. */
        private static boolean isDirectory(TarArchiveEntry entry) {
            byte type = entry.getLinkFlag();
            if (type == TarConstants.LF_DIR) {
                return true;
            }
            if (type == TarConstants.LF_NORMAL || type == TarConstants.LF_OLDNORM || type == TarConstants.LF_CONTIG) {
                return entry.getName().endsWith("/"); // pre-POSIX tars marked directories by the name alone
            }
            String kind = switch (type) {
                case TarConstants.LF_SYMLINK -> "a symbolic link (to " + entry.getLinkName() + ")";
                case TarConstants.LF_LINK -> "a hard link (to " + entry.getLinkName() + ")";
                case TarConstants.LF_CHR -> "a character device";
                case TarConstants.LF_BLK -> "a block device";
                case TarConstants.LF_FIFO -> "a FIFO";
                default -> "of tar type " + (type >= 0x21 && type <= 0x7e ? "'" + (char) type + "'" : "0x"
                        + Integer.toHexString(type & 0xff));
            };
            throw new ArchiveException("Entry " + entry.getName() + " is " + kind
                    + "; a model archive may hold only regular files and directories");
        }

        /** The entry's path relative to the root, '/'-separated; empty for the root itself ("./"). */
        private String relativePath(String name) {
            if (name.startsWith("/") || name.startsWith("\\") || DRIVE.matcher(name).lookingAt()) {
                throw new ArchiveException("Entry " + name + " has an absolute path; entry names must be relative");
            }
            List<String> parts = components(name);
            if (parts.contains("..")) {
                throw new ArchiveException("Entry " + name + " climbs out of the archive with '..'");
            }
            String relative = String.join("/", parts);
            Path target;
            try {
                target = root.resolve(relative).normalize();
            } catch (InvalidPathException e) {
                throw new ArchiveException("Entry " + name + " is not a valid file name: " + e.getReason(), e);
            }
            if (!target.startsWith(root)) {
                throw new ArchiveException("Entry " + name + " resolves outside the archive's directory");
            }
            return relative;
        }

        private void createDirectory(String relative) throws IOException {
            if (relative.isEmpty()) {
                return;
            }
            if (files.contains(relative)) {
                throw new ArchiveException("Entry " + relative + "/ is a directory, but the archive also holds "
                        + relative + " as a file");
            }
            requireDirectories(relative, relative + "/");
            Files.createDirectories(root.resolve(relative));
        }

        private void writeFile(TarArchiveInputStream tar, String name, String relative) throws IOException {
            if (relative.isEmpty()) {
                throw new ArchiveException("Entry " + name + " is a file without a name");
            }
            if (files.contains(relative)) {
                throw new ArchiveException("The model archive holds " + relative
                        + " more than once; duplicate entries are not allowed");
            }
            if (directories.contains(relative)) {
                throw new ArchiveException("Entry " + relative + " is a file, but the archive also holds "
                        + relative + "/ as a directory");
            }
            int slash = relative.lastIndexOf('/');
            if (slash > 0) {
                requireDirectories(relative.substring(0, slash), relative);
            }
            files.add(relative);
            Path target = root.resolve(relative);
            Files.createDirectories(target.getParent());
            inContent = true;
            long written = 0;
            // CREATE_NEW never opens what is already there, a link least of all.
            try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE_NEW,
                    StandardOpenOption.WRITE)) {
                for (int n = read(tar); n != -1; n = read(tar)) {
                    written += n;
                    if (written > limits.maxFileBytes()) {
                        throw new ArchiveException("Entry " + name + " expands past the per-file limit of "
                                + limits.maxFileBytes() + " bytes");
                    }
                    out.write(buffer, 0, n);
                }
            }
        }

        /** Records a directory and its parents, refusing any the archive already holds as a file. */
        private void requireDirectories(String directory, String entry) {
            for (String dir = directory; ; dir = dir.substring(0, dir.lastIndexOf('/'))) {
                if (files.contains(dir)) {
                    throw new ArchiveException("Entry " + entry + " lies under " + dir
                            + ", which the archive holds as a file");
                }
                directories.add(dir);
                if (dir.indexOf('/') < 0) {
                    return;
                }
            }
        }

        private ArchiveException unreadable(IOException e) {
            if (e instanceof EOFException) {
                return new ArchiveException("The model archive is truncated: it ends " + position(), e);
            }
            if (entries == 0 && !inContent) {
                return new ArchiveException("The model archive must be a gzip-compressed tar (.tar.gz); "
                        + "it could not be read as one: " + e.getMessage(), e);
            }
            return new ArchiveException("The model archive is damaged " + position() + ": " + e.getMessage(), e);
        }

        private String position() {
            if (lastEntry == null) {
                return "before its first entry";
            }
            return (inContent ? "in entry " : "after entry ") + lastEntry;
        }

        /**
         * Counts what the inflater hands the tar reader, so that neither file contents nor tar headers can expand
         * past the limits, whatever the headers claim.
         */
        private final class InflationGuard extends FilterInputStream {
            private long inflated;
            private long headerBytesLeft = MAX_HEADER_BYTES;

            InflationGuard(InputStream gzip) {
                super(gzip);
            }

            @Override
            public int read() throws IOException {
                int b = super.read();
                if (b != -1) {
                    count(1);
                }
                return b;
            }

            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                if (n > 0) {
                    count(n);
                }
                return n;
            }

            /** Skips by reading, so that skipped bytes are counted too. */
            @Override
            public long skip(long n) throws IOException {
                byte[] discarded = new byte[8192];
                long skipped = 0;
                while (skipped < n) {
                    int r = read(discarded, 0, (int) Math.min(discarded.length, n - skipped));
                    if (r == -1) {
                        break;
                    }
                    skipped += r;
                }
                return skipped;
            }

            private void count(int n) {
                inflated += n;
                if (inflated > limits.maxTotalBytes()) {
                    throw new ArchiveException("The model archive expands past its limit of "
                            + limits.maxTotalBytes() + " bytes " + position());
                }
                if (!inContent) {
                    headerBytesLeft -= n;
                    if (headerBytesLeft < 0) {
                        throw new ArchiveException("The model archive has more than " + MAX_HEADER_BYTES
                                + " bytes of tar headers " + position());
                    }
                }
            }
        }
    }

    private static boolean isHidden(String path) {
        return components(path).stream().anyMatch(c -> c.startsWith(".") || c.equals("__MACOSX"));
    }

    private static String fileName(String path) {
        return path.substring(path.lastIndexOf('/') + 1);
    }

    private static String directoryOf(String path) {
        int slash = path.lastIndexOf('/');
        return slash < 0 ? "" : path.substring(0, slash);
    }

    private static List<String> withSuffix(List<String> candidates, String... suffixes) {
        return candidates.stream()
                .filter(f -> Stream.of(suffixes).anyMatch(s -> fileName(f).toLowerCase(Locale.ROOT).endsWith(s)))
                .toList();
    }

    private ModelFiles single(List<String> candidates, String framework, String... suffixes) {
        return new ModelFiles(path(exactlyOne(candidates, withSuffix(candidates, suffixes),
                either(suffixes) + " file", framework)), Map.of());
    }

    private ModelFiles xgboost(List<String> candidates) {
        String[] suffixes = {".model", ".json", ".ubj", ".bin"};
        List<String> found = withSuffix(candidates, suffixes);
        if (found.isEmpty() && candidates.size() == 1) {
            return new ModelFiles(path(candidates.get(0)), Map.of());
        }
        if (found.isEmpty()) {
            throw new ArchiveException("No XGBoost model file (" + either(suffixes) + ", or a lone file of any name)"
                    + " found in the model archive; it holds: " + holds(candidates));
        }
        return new ModelFiles(path(exactlyOne(candidates, found, either(suffixes) + " file", "XGBoost")), Map.of());
    }

    private ModelFiles tensorflow(List<String> candidates) {
        List<String> savedModels = candidates.stream()
                .filter(f -> fileName(f).equals("saved_model.pb") || fileName(f).equals("saved_model.pbtxt"))
                .map(ModelArchive::directoryOf).distinct().sorted().toList();
        List<String> frozenGraphs = candidates.stream()
                .filter(f -> f.indexOf('/') < 0 && f.toLowerCase(Locale.ROOT).endsWith(".pb"))
                .filter(f -> !savedModels.contains("")) // at the top level, every file is part of a SavedModel there
                .toList();
        if (savedModels.size() > 1) {
            throw new ArchiveException("Exactly one SavedModel directory is allowed for TensorFlow models; found "
                    + savedModels.size() + ": " + listed(savedModels.stream().map(ModelArchive::shown).toList()));
        }
        if (savedModels.size() == 1 && !frozenGraphs.isEmpty()) {
            throw new ArchiveException("The model archive holds both a SavedModel (" + shown(savedModels.get(0))
                    + ") and a frozen graph (" + listed(frozenGraphs) + "); a TensorFlow model is one or the other");
        }
        if (savedModels.size() == 1) {
            String dir = savedModels.get(0);
            String prefix = dir.isEmpty() ? "" : dir + "/";
            // TensorFlow's loader reads saved_model.pb when there are both.
            String graph = files.contains(prefix + "saved_model.pb") ? prefix + "saved_model.pb"
                    : prefix + "saved_model.pbtxt";
            Path variables = root.resolve(prefix + "variables");
            return new ModelFiles(path(graph),
                    Files.isDirectory(variables) ? Map.of(Part.VARIABLES, variables) : Map.of());
        }
        if (frozenGraphs.isEmpty()) {
            throw new ArchiveException("No TensorFlow model found in the model archive: expected a SavedModel "
                    + "directory (holding saved_model.pb or saved_model.pbtxt) or one frozen graph .pb file at the top "
                    + "level; it holds: " + holds(candidates));
        }
        return new ModelFiles(path(exactlyOne(candidates, frozenGraphs, "frozen graph .pb file at the top level",
                "TensorFlow")), Map.of());
    }

    private ModelFiles mxnet(List<String> candidates) {
        List<String> symbols = candidates.stream().filter(f -> prefix(MXNET_SYMBOL, f).isPresent()).toList();
        String symbol = exactlyOne(candidates, symbols, "symbol file (PREFIX-symbol.json)", "MXNet");
        Optional<String> prefix = prefix(MXNET_SYMBOL, symbol);
        List<String> allParams = candidates.stream().filter(f -> prefix(MXNET_PARAMS, f).isPresent()).toList();
        List<String> params = allParams.stream().filter(f -> prefix(MXNET_PARAMS, f).equals(prefix)).toList();
        if (params.isEmpty()) {
            throw new ArchiveException("The MXNet symbol file " + symbol + " has no matching parameter file "
                    + prefix.orElseThrow() + "-NNNN.params" + (allParams.isEmpty() ? "; it holds: " + holds(candidates)
                    : "; the parameter files found do not pair with it: " + listed(allParams)));
        }
        String paramsFile = exactlyOne(candidates, params, "parameter file " + prefix.orElseThrow() + "-NNNN.params",
                "MXNet");
        return new ModelFiles(path(symbol), Map.of(Part.PARAMS, path(paramsFile)));
    }

    /** The part of an MXNet file's path before -symbol.json or -NNNN.params, which pairs the two. */
    private static Optional<String> prefix(Pattern mxnetFile, String path) {
        Matcher m = mxnetFile.matcher(path);
        return m.matches() ? Optional.of(m.group(1)) : Optional.empty();
    }

    private ModelFiles darknet(List<String> candidates) {
        String cfg = exactlyOne(candidates, withSuffix(candidates, ".cfg"), ".cfg file", "Darknet");
        String weights = exactlyOne(candidates, withSuffix(candidates, ".weights"), ".weights file", "Darknet");
        return new ModelFiles(path(cfg), Map.of(Part.WEIGHTS, path(weights)));
    }

    private static String exactlyOne(List<String> candidates, List<String> found, String what, String framework) {
        if (found.isEmpty()) {
            throw new ArchiveException("No " + what + " found in the model archive; it holds: " + holds(candidates));
        }
        if (found.size() > 1) {
            throw new ArchiveException("Exactly one " + what + " is allowed for " + framework + " models; found "
                    + found.size() + ": " + listed(found));
        }
        return found.get(0);
    }

    /** What the archive holds besides hidden files, for a message saying the model was not found. */
    private static String holds(List<String> candidates) {
        return candidates.isEmpty() ? "nothing but hidden files" : listed(candidates);
    }

    /** Names for a message: the first few, and how many more, so that a message stays a line. */
    private static String listed(List<String> names) {
        String shown = names.stream().limit(LISTED_NAMES).collect(Collectors.joining(", "));
        return names.size() > LISTED_NAMES ? shown + " and " + (names.size() - LISTED_NAMES) + " more" : shown;
    }

    private static String shown(String directory) {
        return directory.isEmpty() ? "the top level" : directory + "/";
    }

    /** ".a", ".a or .b", ".a, .b or .c". */
    private static String either(String... suffixes) {
        int last = suffixes.length - 1;
        return last == 0 ? suffixes[0]
                : String.join(", ", List.of(suffixes).subList(0, last)) + " or " + suffixes[last];
    }

    private Path path(String relative) {
        return root.resolve(relative);
    }
}
