package dev.kiln.server;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import software.amazon.awssdk.http.SdkHttpFullRequest;
import software.amazon.awssdk.http.SdkHttpMethod;
import software.amazon.awssdk.http.SdkHttpRequest;
import software.amazon.awssdk.http.auth.aws.signer.AwsV4HttpSigner;
import software.amazon.awssdk.identity.spi.AwsCredentialsIdentity;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Requests signed by the AWS SDK's own SigV4 signer (an implementation independent of {@link SigV4}) must verify,
 * and every way of getting them wrong must be refused with the error AWS gives.
 */
class SigV4Test {
    /** The signing time of most requests here; their X-Amz-Date is 20260101T001000Z. */
    static final Instant T = Instant.parse("2026-01-01T00:10:00Z");
    static final byte[] BODY = "{\"MaxResults\":10}".getBytes(StandardCharsets.UTF_8);
    static final String MISMATCH = "The request signature we calculated does not match the signature you provided. "
            + "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

    @TempDir
    Path dir;
    AccessKeys keys;
    AccessKey key;

    @BeforeEach
    void addKey() {
        keys = AccessKeys.open(dir);
        key = keys.add("123456789012");
    }

    @AfterEach
    void closeKeys() {
        keys.close();
    }

    /** A SageMaker JSON 1.1 call as the SDK sends it, before signing. */
    static SdkHttpFullRequest.Builder call(String uri) {
        return SdkHttpFullRequest.builder().method(SdkHttpMethod.POST).uri(URI.create(uri))
                .putHeader("Content-Type", "application/x-amz-json-1.1")
                .putHeader("X-Amz-Target", "SageMaker.ListCompilationJobs");
    }

    static SignedRequest sign(SdkHttpFullRequest request, byte[] body, String id, String secret, String service, String region, Instant at) {
        SdkHttpRequest signed = AwsV4HttpSigner.create().sign(r -> r.request(request)
                .payload(() -> new ByteArrayInputStream(body))
                .identity(AwsCredentialsIdentity.create(id, secret))
                .putProperty(AwsV4HttpSigner.SERVICE_SIGNING_NAME, service)
                .putProperty(AwsV4HttpSigner.REGION_NAME, region)
                .putProperty(AwsV4HttpSigner.SIGNING_CLOCK, Clock.fixed(at, ZoneOffset.UTC))).request();
        return new SignedRequest(signed.method().name(), signed.encodedPath(), signed.encodedQueryParameters().orElse(null),
                signed.headers(), body);
    }

    SignedRequest signed() {
        return sign(call("http://localhost:8080/").build(), BODY, key.accessKeyId(), key.secretAccessKey(), "sagemaker", "us-west-2", T);
    }

    /** The request with one header set to {@code value}, or removed when it is null. */
    static SignedRequest withHeader(SignedRequest r, String name, String value) {
        Map<String, List<String>> headers = new LinkedHashMap<>();
        r.headers().forEach((n, v) -> { if (!n.equalsIgnoreCase(name)) headers.put(n, v); });
        if (value != null) headers.put(name, List.of(value));
        return new SignedRequest(r.method(), r.rawPath(), r.rawQuery(), headers, r.body());
    }

    static String authorization(SignedRequest r) {
        return r.header("Authorization").get(0);
    }

    AuthenticationException refused(SignedRequest r, Instant now) {
        return assertThrows(AuthenticationException.class, () -> SigV4.verify(r, keys, now));
    }

    static void assertError(String code, String message, AuthenticationException e) {
        assertEquals(code, e.code(), e.getMessage());
        assertEquals(message, e.getMessage());
    }

    @Test
    void aRequestSignedByTheSdkVerifiesAsItsKey() {
        SignedRequest r = signed();
        assertTrue(authorization(r).startsWith("AWS4-HMAC-SHA256 Credential=" + key.accessKeyId() + "/20260101/us-west-2/sagemaker/aws4_request"));
        assertEquals(key, SigV4.verify(r, keys, T));
    }

    @Test
    void anyRegionVerifiesWithTheRegionOfItsScope() {
        SignedRequest r = sign(call("http://localhost:8080/").build(), BODY, key.accessKeyId(), key.secretAccessKey(), "sagemaker", "eu-central-1", T);
        assertEquals(key, SigV4.verify(r, keys, T));
        SignedRequest otherRegion = withHeader(r, "Authorization", authorization(r).replace("/eu-central-1/", "/us-west-2/"));
        assertError("InvalidSignatureException", MISMATCH, refused(otherRegion, T));
    }

    @Test
    void aQueryStringAndAPathThatNeedEncodingVerify() {
        SdkHttpFullRequest request = call("http://localhost:8080/models/a%20b/c~d/%E1%88%B4/x%2By/./e/../f")
                .appendRawQueryParameter("b", "2").appendRawQueryParameter("b", "1")
                .appendRawQueryParameter("a b", "x/y=z").appendRawQueryParameter("empty", "")
                .appendRawQueryParameter("ሴ", "é+*").build();
        SignedRequest r = sign(request, BODY, key.accessKeyId(), key.secretAccessKey(), "sagemaker", "us-west-2", T);
        assertEquals(key, SigV4.verify(r, keys, T));

        SignedRequest otherPath = new SignedRequest(r.method(), r.rawPath().replace("a%20b", "a%20c"), r.rawQuery(), r.headers(), r.body());
        assertError("InvalidSignatureException", MISMATCH, refused(otherPath, T));
        SignedRequest otherQuery = new SignedRequest(r.method(), r.rawPath(), r.rawQuery().replace("b=1", "b=3"), r.headers(), r.body());
        assertError("InvalidSignatureException", MISMATCH, refused(otherQuery, T));
    }

    @Test
    void headersLeftUnsignedMayChange() {
        SignedRequest r = withHeader(signed(), "User-Agent", "aws-cli/2.17.0");
        assertEquals(key, SigV4.verify(r, keys, T));
    }

    @Test
    void noAuthorizationIsAMissingToken() {
        SignedRequest r = withHeader(signed(), "Authorization", null);
        assertError("MissingAuthenticationTokenException", "Missing Authentication Token", refused(r, T));
    }

    @Test
    void presignedQueryAuthenticationIsRefused() {
        SignedRequest r = withHeader(signed(), "Authorization", null);
        SignedRequest presigned = new SignedRequest(r.method(), r.rawPath(),
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Signature=y", r.headers(), r.body());
        assertEquals("IncompleteSignatureException", refused(presigned, T).code());
    }

    @Test
    void anUnknownAccessKeyIsUnrecognized() {
        SignedRequest r = sign(call("http://localhost:8080/").build(), BODY, "AKIAIOSFODNN7EXAMPLE", key.secretAccessKey(), "sagemaker", "us-west-2", T);
        assertError("UnrecognizedClientException", "The security token included in the request is invalid.", refused(r, T));
    }

    @Test
    void aWrongSecretDoesNotMatch() {
        SignedRequest r = sign(call("http://localhost:8080/").build(), BODY, key.accessKeyId(), "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "sagemaker", "us-west-2", T);
        assertError("InvalidSignatureException", MISMATCH, refused(r, T));
    }

    @Test
    void aTamperedBodyDoesNotMatch() {
        SignedRequest r = signed();
        SignedRequest tampered = new SignedRequest(r.method(), r.rawPath(), r.rawQuery(), r.headers(),
                "{\"MaxResults\":99}".getBytes(StandardCharsets.UTF_8));
        // The SDK sends the body's hash in x-amz-content-sha256, which gives the change away first.
        assertError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.",
                refused(tampered, T));
        SignedRequest tamperedWithItsHash = withHeader(tampered, "x-amz-content-sha256", HexFormat.of().formatHex(sha256(tampered.body())));
        assertError("InvalidSignatureException", MISMATCH, refused(tamperedWithItsHash, T));
    }

    @Test
    void aTamperedSignedHeaderDoesNotMatch() {
        SignedRequest r = withHeader(signed(), "X-Amz-Target", "SageMaker.DeleteCompilationJob");
        assertError("InvalidSignatureException", MISMATCH, refused(r, T));
    }

    @Test
    void aContentHashHeaderMustBeTheBodysHash() {
        SignedRequest r = signed();
        assertEquals(List.of(HexFormat.of().formatHex(sha256(BODY))), r.header("x-amz-content-sha256"));
        assertEquals(key, SigV4.verify(r, keys, T));

        SignedRequest unsigned = withHeader(signed(), "X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD");
        assertError("InvalidSignatureException", "The provided 'x-amz-content-sha256' header does not match what was computed.",
                refused(unsigned, T));
    }

    @Test
    void hostMustBeSigned() {
        SignedRequest r = signed();
        SignedRequest unsignedHost = withHeader(r, "Authorization", authorization(r).replace("SignedHeaders=content-type;host;", "SignedHeaders=content-type;"));
        assertError("IncompleteSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.", refused(unsignedHost, T));
    }

    @Test
    void aSignatureOlderThanFifteenMinutesHasExpired() {
        Instant now = T.plus(SigV4.MAX_SKEW).plusSeconds(1);
        assertError("InvalidSignatureException",
                "Signature expired: 20260101T001000Z is now earlier than 20260101T001001Z (20260101T002501Z - 15 min.)", refused(signed(), now));
    }

    @Test
    void aSignatureMoreThanFifteenMinutesAheadIsNotYetCurrent() {
        Instant now = T.minus(SigV4.MAX_SKEW).minusSeconds(1);
        assertError("InvalidSignatureException",
                "Signature not yet current: 20260101T001000Z is still later than 20260101T000959Z (20251231T235459Z + 15 min.)", refused(signed(), now));
    }

    @Test
    void aSkewOfUpToFifteenMinutesEitherWayVerifies() {
        SignedRequest r = signed();
        for (Duration skew : List.of(SigV4.MAX_SKEW, SigV4.MAX_SKEW.minusSeconds(1), SigV4.MAX_SKEW.negated(), Duration.ofMinutes(-14))) {
            assertEquals(key, SigV4.verify(r, keys, T.plus(skew)), skew.toString());
        }
    }

    @Test
    void theScopeDateMustBeTheRequestDate() {
        SignedRequest r = withHeader(signed(), "X-Amz-Date", "20260102T001000Z");
        assertError("IncompleteSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                + "'20260101' != '20260102', from '20260102T001000Z'.", refused(r, T.plus(Duration.ofDays(1))));
    }

    @Test
    void theServiceMustBeSageMaker() {
        SignedRequest r = sign(call("http://localhost:8080/").build(), BODY, key.accessKeyId(), key.secretAccessKey(), "iam", "us-west-2", T);
        assertError("IncompleteSignatureException", "Credential should be scoped to correct service: 'sagemaker'.", refused(r, T));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "Basic dXNlcjpwYXNz | Unsupported Authorization type 'Basic'; requests must be signed with AWS4-HMAC-SHA256.",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-west-2/sagemaker/aws4_request"
                    + " | Authorization header requires 'SignedHeaders' parameter. Authorization header requires 'Signature' parameter.",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-west-2/sagemaker/aws4_request, SignedHeaders=host, Signature"
                    + " | Invalid key=value pair (missing equal-sign) in Authorization header: 'Signature'.",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/sagemaker/aws4_request, SignedHeaders=host, Signature=00"
                    + " | Credential should have the form <access key id>/<YYYYMMDD>/<region>/sagemaker/aws4_request,"
                    + " not 'AKIAIOSFODNN7EXAMPLE/20260101/sagemaker/aws4_request'.",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-west-2/sagemaker/aws5_request, SignedHeaders=host, Signature=00"
                    + " | Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101//sagemaker/aws4_request, SignedHeaders=host, Signature=00"
                    + " | Credential should be scoped to a valid region.",
    })
    void aMalformedAuthorizationIsIncomplete(String authorization, String message) {
        SignedRequest r = withHeader(signed(), "Authorization", authorization);
        assertError("IncompleteSignatureException", message, refused(r, T));
    }

    @Test
    void aRequestWithoutADateIsIncomplete() {
        SignedRequest r = withHeader(signed(), "X-Amz-Date", null);
        assertError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", refused(r, T));
        SignedRequest badDate = withHeader(signed(), "X-Amz-Date", "2026-01-01T00:10:00Z");
        assertError("IncompleteSignatureException",
                "Date must be in ISO-8601 'basic format'. Got '2026-01-01T00:10:00Z'. See http://en.wikipedia.org/wiki/ISO_8601", refused(badDate, T));
    }

    /**
     * The SDK always sends X-Amz-Date and x-amz-content-sha256, so a request with neither is signed here by
     * hand, straight from the spec's steps.
     */
    @Test
    void theDateHeaderServesWhenThereIsNoXAmzDateAndTheBodyIsSignedWithoutAHashHeader() throws Exception {
        String canonical = "POST\n/\n\ndate:Thu, 01 Jan 2026 00:10:00 GMT\nhost:localhost:8080\n\ndate;host\n" + HexFormat.of().formatHex(sha256(BODY));
        String scope = "20260101/us-east-1/sagemaker/aws4_request";
        String toSign = "AWS4-HMAC-SHA256\n20260101T001000Z\n" + scope + "\n" + HexFormat.of().formatHex(sha256(canonical.getBytes(StandardCharsets.UTF_8)));
        byte[] k = ("AWS4" + key.secretAccessKey()).getBytes(StandardCharsets.UTF_8);
        for (String step : List.of("20260101", "us-east-1", "sagemaker", "aws4_request", toSign)) k = hmac(k, step);
        SignedRequest r = new SignedRequest("POST", "/", "", Map.of(
                "Host", List.of("localhost:8080"),
                "Date", List.of("Thu, 01 Jan 2026 00:10:00 GMT"),
                "Authorization", List.of("AWS4-HMAC-SHA256 Credential=" + key.accessKeyId() + "/" + scope
                        + ", SignedHeaders=date;host, Signature=" + HexFormat.of().formatHex(k))), BODY);
        assertEquals(key, SigV4.verify(r, keys, T));
        SignedRequest tampered = new SignedRequest(r.method(), r.rawPath(), r.rawQuery(), r.headers(), "{}".getBytes(StandardCharsets.UTF_8));
        assertError("InvalidSignatureException", MISMATCH, refused(tampered, T));
    }

    /** The worked example of AWS's "derive a signing key" documentation. */
    @Test
    void theSigningKeyIsDocumentedExample() {
        assertEquals("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d",
                HexFormat.of().formatHex(SigV4.signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")));
    }

    /** The "get-vanilla" case of AWS's SigV4 test suite. */
    @Test
    void theTestSuitesVanillaRequestSignsAsPublished() {
        SignedRequest r = new SignedRequest("GET", "/", "",
                Map.of("Host", List.of("example.amazonaws.com"), "X-Amz-Date", List.of("20150830T123600Z")), new byte[0]);
        String canonical = SigV4.canonicalRequest(r, List.of("host", "x-amz-date"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assertEquals("GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
                + "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", canonical);
        String toSign = SigV4.stringToSign("20150830T123600Z", "20150830/us-east-1/service/aws4_request", canonical);
        assertEquals("AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
                + "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63", toSign);
        assertEquals("5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
                SigV4.signature(SigV4.signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830", "us-east-1", "service"), toSign));
    }

    @Test
    void headerValuesAreTrimmedAndJoined() {
        SignedRequest r = new SignedRequest("GET", "/", "",
                Map.of("host", List.of("example.amazonaws.com"), "My-Header1", List.of("  a   b \t c  "), "my-header2", List.of("x", " y ")), new byte[0]);
        assertEquals("GET\n/\n\nhost:example.amazonaws.com\nmy-header1:a b c\nmy-header2:x,y\n\nhost;my-header1;my-header2\nHASH",
                SigV4.canonicalRequest(r, List.of("host", "my-header1", "my-header2"), "HASH"));
    }

    @ParameterizedTest
    @CsvSource({
            "'', /",
            "/, /",
            "//example//, /example/",
            "/./example, /example",
            "/example/.., /",
            "/example1/example2/../.., /",
            "/a/./b/../c/, /a/c/",
            "/example%20space/, /example%2520space/",
            "/-._~az09/%E1%88%B4, /-._~az09/%25E1%2588%25B4",
    })
    void theCanonicalUriIsNormalisedAndEncodedAgain(String rawPath, String canonical) {
        assertEquals(canonical, SigV4.canonicalUri(rawPath));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "'' | ''",
            "Param2=value2&Param1=value1 | Param1=value1&Param2=value2",
            "Param1=value2&Param1=Value1 | Param1=Value1&Param1=value2",
            "-._~09AZaz=-._~09AZaz | -._~09AZaz=-._~09AZaz",
            "%e1%88%b4=bar | %E1%88%B4=bar",
            "a=b%2fc&flag&&+=%20 | %2B=%20&a=b%2Fc&flag=",
    })
    void theCanonicalQueryIsSortedAndEncodedStrictly(String rawQuery, String canonical) {
        assertEquals(canonical, SigV4.canonicalQuery(rawQuery));
    }

    static byte[] sha256(byte[] data) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(data);
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static byte[] hmac(byte[] key, String data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    }
}
