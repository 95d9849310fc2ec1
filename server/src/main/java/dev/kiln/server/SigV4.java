package dev.kiln.server;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.time.format.ResolverStyle;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * AWS Signature Version 4 verification of the Authorization header, as the AWS CLI, boto3 and the SDKs sign
 * requests to a JSON-protocol service. Errors carry the codes and messages AWS itself returns, so that clients
 * show their usual explanations.
 */
public final class SigV4 {
    /** The allowed clock difference between a request's X-Amz-Date and now. */
    public static final Duration MAX_SKEW = Duration.ofMinutes(15);

    static final String ALGORITHM = "AWS4-HMAC-SHA256";
    static final String SERVICE = "sagemaker";
    private static final String TERMINATOR = "aws4_request";
    private static final DateTimeFormatter AMZ_DATE = DateTimeFormatter.ofPattern("uuuuMMdd'T'HHmmss'Z'")
            .withResolverStyle(ResolverStyle.STRICT).withZone(ZoneOffset.UTC);
    private static final Pattern AMZ_DATE_SHAPE = Pattern.compile("[0-9]{8}T[0-9]{6}Z");
    private static final HexFormat HEX = HexFormat.of();
    private static final HexFormat UPPER_HEX = HexFormat.of().withUpperCase();

    private SigV4() {}

    /** Checks the request's Authorization header (AWS4-HMAC-SHA256) for service "sagemaker"; returns the key that signed it. */
    public static AccessKey verify(SignedRequest request, AccessKeys keys, Instant now) throws AuthenticationException {
        List<String> authorizations = request.header("Authorization");
        if (authorizations.isEmpty()) {
            if (hasQueryAuthentication(request.rawQuery())) {
                throw incomplete("Query-string (presigned) authentication is not supported; sign the request with an Authorization header.");
            }
            throw new AuthenticationException("MissingAuthenticationTokenException", "Missing Authentication Token");
        }
        if (authorizations.size() > 1) throw incomplete("The request has more than one Authorization header.");
        Authorization auth = Authorization.parse(authorizations.get(0), request);

        if (auth.signedAt().isBefore(now.minus(MAX_SKEW))) {
            throw invalidSignature("Signature expired: " + auth.amzDate() + " is now earlier than " + AMZ_DATE.format(now.minus(MAX_SKEW))
                    + " (" + AMZ_DATE.format(now) + " - " + MAX_SKEW.toMinutes() + " min.)");
        }
        if (auth.signedAt().isAfter(now.plus(MAX_SKEW))) {
            throw invalidSignature("Signature not yet current: " + auth.amzDate() + " is still later than " + AMZ_DATE.format(now.plus(MAX_SKEW))
                    + " (" + AMZ_DATE.format(now) + " + " + MAX_SKEW.toMinutes() + " min.)");
        }

        AccessKey key = keys.find(auth.accessKeyId()).orElseThrow(() ->
                new AuthenticationException("UnrecognizedClientException", "The security token included in the request is invalid."));

        String payloadHash = HEX.formatHex(sha256(request.body()));
        List<String> claimedHash = request.header("x-amz-content-sha256");
        if (!claimedHash.isEmpty() && !claimedHash.equals(List.of(payloadHash))) {
            throw invalidSignature("The provided 'x-amz-content-sha256' header does not match what was computed.");
        }

        String canonical = canonicalRequest(request, auth.signedHeaders(), payloadHash);
        String expected = signature(signingKey(key.secretAccessKey(), auth.scopeDate(), auth.region(), SERVICE),
                stringToSign(auth.amzDate(), auth.scope(), canonical));
        if (!MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII), auth.signature().getBytes(StandardCharsets.US_ASCII))) {
            throw invalidSignature("The request signature we calculated does not match the signature you provided. "
                    + "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.");
        }
        return key;
    }

    /** The parts of an Authorization header and the request date it is checked with. */
    private record Authorization(String accessKeyId, String scopeDate, String region, List<String> signedHeaders, String signature,
                                 String amzDate, Instant signedAt) {
        String scope() { return scopeDate + "/" + region + "/" + SERVICE + "/" + TERMINATOR; }

        static Authorization parse(String header, SignedRequest request) {
            int space = header.indexOf(' ');
            String algorithm = space < 0 ? header : header.substring(0, space);
            if (!algorithm.equals(ALGORITHM)) {
                throw incomplete("Unsupported Authorization type '" + algorithm + "'; requests must be signed with " + ALGORITHM + ".");
            }
            Map<String, String> params = new HashMap<>();
            for (String part : header.substring(space + 1).split(",")) {
                String p = part.strip();
                if (p.isEmpty()) continue;
                int eq = p.indexOf('=');
                if (eq <= 0) throw incomplete("Invalid key=value pair (missing equal-sign) in Authorization header: '" + p + "'.");
                params.put(p.substring(0, eq), p.substring(eq + 1));
            }
            // Like AWS, name every missing part at once.
            List<String> missing = new ArrayList<>();
            for (String name : List.of("Credential", "SignedHeaders", "Signature")) {
                if (params.getOrDefault(name, "").isEmpty()) missing.add("Authorization header requires '" + name + "' parameter.");
            }
            List<String> amzDates = request.header("X-Amz-Date");
            List<String> dates = request.header("Date");
            if (amzDates.isEmpty() && dates.isEmpty()) {
                missing.add("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
            }
            if (!missing.isEmpty()) throw incomplete(String.join(" ", missing));

            String credential = params.get("Credential");
            String[] scope = credential.split("/", -1);
            if (scope.length != 5 || scope[0].isEmpty()) {
                throw incomplete("Credential should have the form <access key id>/<YYYYMMDD>/<region>/" + SERVICE + "/" + TERMINATOR
                        + ", not '" + credential + "'.");
            }
            if (!scope[4].equals(TERMINATOR)) {
                throw incomplete("Credential should be scoped with a valid terminator: '" + TERMINATOR + "', not '" + scope[4] + "'.");
            }
            if (!scope[3].equals(SERVICE)) throw incomplete("Credential should be scoped to correct service: '" + SERVICE + "'.");
            if (scope[2].isEmpty()) throw incomplete("Credential should be scoped to a valid region.");

            List<String> signedHeaders = Arrays.asList(params.get("SignedHeaders").split(";", -1));
            if (!signedHeaders.contains("host")) throw incomplete("'Host' must be a 'SignedHeader' in the AWS Authorization.");

            Instant signedAt;
            String amzDate;
            if (!amzDates.isEmpty()) {
                amzDate = amzDates.get(0).strip();
                String wrongFormat = "Date must be in ISO-8601 'basic format'. Got '" + amzDate + "'. See http://en.wikipedia.org/wiki/ISO_8601";
                if (!AMZ_DATE_SHAPE.matcher(amzDate).matches()) throw incomplete(wrongFormat);
                try {
                    signedAt = AMZ_DATE.parse(amzDate, Instant::from);
                } catch (DateTimeParseException e) {
                    throw incomplete(wrongFormat);
                }
            } else {
                try {
                    signedAt = DateTimeFormatter.RFC_1123_DATE_TIME.parse(dates.get(0).strip(), Instant::from);
                } catch (DateTimeParseException e) {
                    throw incomplete("Date must be in RFC 1123 format. Got '" + dates.get(0) + "'.");
                }
                amzDate = AMZ_DATE.format(signedAt);
            }
            if (!scope[1].equals(amzDate.substring(0, 8))) {
                throw incomplete("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"
                        + scope[1] + "' != '" + amzDate.substring(0, 8) + "', from '" + amzDate + "'.");
            }
            return new Authorization(scope[0], scope[1], scope[2], signedHeaders, params.get("Signature"), amzDate, signedAt);
        }
    }

    private static boolean hasQueryAuthentication(String rawQuery) {
        return Arrays.stream(rawQuery.split("&")).map(p -> p.split("=", 2)[0])
                .anyMatch(k -> k.equals("X-Amz-Signature") || k.equals("X-Amz-Credential") || k.equals("X-Amz-Algorithm"));
    }

    /** The canonical request of the SigV4 spec, over the headers named in {@code signedHeaders} in that order. */
    static String canonicalRequest(SignedRequest request, List<String> signedHeaders, String payloadHash) {
        StringBuilder headers = new StringBuilder();
        for (String name : signedHeaders) {
            String value = request.header(name).stream()
                    .map(v -> v.strip().replaceAll("\\s+", " "))
                    .collect(Collectors.joining(","));
            headers.append(name.toLowerCase(Locale.ROOT)).append(':').append(value).append('\n');
        }
        return request.method() + "\n"
                + canonicalUri(request.rawPath()) + "\n"
                + canonicalQuery(request.rawQuery()) + "\n"
                + headers + "\n"
                + signedHeaders.stream().map(h -> h.toLowerCase(Locale.ROOT)).collect(Collectors.joining(";")) + "\n"
                + payloadHash;
    }

    /**
     * The path with empty and dot segments removed, then URI-encoded once more: services other than S3 sign
     * the already-encoded path encoded again, so {@code %20} on the wire is {@code %2520} here.
     */
    static String canonicalUri(String rawPath) {
        List<String> segments = new ArrayList<>();
        for (String segment : rawPath.split("/")) {
            if (segment.isEmpty() || segment.equals(".")) continue;
            if (segment.equals("..")) {
                if (!segments.isEmpty()) segments.remove(segments.size() - 1);
            } else {
                segments.add(segment);
            }
        }
        String trailing = rawPath.endsWith("/") && !segments.isEmpty() ? "/" : "";
        return "/" + segments.stream().map(s -> uriEncode(s, false)).collect(Collectors.joining("/")) + trailing;
    }

    /** Each parameter decoded and encoded again strictly, sorted by name then value; a name without "=" has an empty value. */
    static String canonicalQuery(String rawQuery) {
        record Parameter(String name, String value) {}
        List<Parameter> parameters = new ArrayList<>();
        for (String pair : rawQuery.split("&")) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String name = eq < 0 ? pair : pair.substring(0, eq);
            String value = eq < 0 ? "" : pair.substring(eq + 1);
            parameters.add(new Parameter(uriEncode(percentDecode(name), false), uriEncode(percentDecode(value), false)));
        }
        return parameters.stream()
                .sorted(Comparator.comparing(Parameter::name).thenComparing(Parameter::value))
                .map(p -> p.name() + "=" + p.value())
                .collect(Collectors.joining("&"));
    }

    static String stringToSign(String amzDate, String scope, String canonicalRequest) {
        return ALGORITHM + "\n" + amzDate + "\n" + scope + "\n" + HEX.formatHex(sha256(canonicalRequest.getBytes(StandardCharsets.UTF_8)));
    }

    /** The HMAC chain "AWS4"+secret → date → region → service → "aws4_request". */
    static byte[] signingKey(String secretAccessKey, String date, String region, String service) {
        byte[] key = ("AWS4" + secretAccessKey).getBytes(StandardCharsets.UTF_8);
        for (String step : List.of(date, region, service, TERMINATOR)) key = hmac(key, step);
        return key;
    }

    /** The hex HMAC-SHA256 of the string to sign. */
    static String signature(byte[] signingKey, String stringToSign) {
        return HEX.formatHex(hmac(signingKey, stringToSign));
    }

    /** RFC 3986 encoding of every byte but the unreserved characters (and '/', when kept). */
    private static String uriEncode(String s, boolean keepSlash) {
        StringBuilder out = new StringBuilder();
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xff);
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')) {
                out.append(c);
            } else {
                out.append('%').append(UPPER_HEX.toHexDigits(b));
            }
        }
        return out.toString();
    }

    /** Percent-escapes decoded as UTF-8; '+' stays a plus sign, and a '%' that starts no escape stays as it is. */
    private static String percentDecode(String s) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        byte[] in = s.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < in.length; i++) {
            if (in[i] == '%' && i + 2 < in.length && HexFormat.isHexDigit(in[i + 1]) && HexFormat.isHexDigit(in[i + 2])) {
                bytes.write(HexFormat.fromHexDigit(in[i + 1]) << 4 | HexFormat.fromHexDigit(in[i + 2]));
                i += 2;
            } else {
                bytes.write(in[i]);
            }
        }
        return bytes.toString(StandardCharsets.UTF_8);
    }

    private static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }

    private static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM has no HmacSHA256", e);
        }
    }

    private static AuthenticationException incomplete(String message) {
        return new AuthenticationException("IncompleteSignatureException", message);
    }

    private static AuthenticationException invalidSignature(String message) {
        return new AuthenticationException("InvalidSignatureException", message);
    }
}
