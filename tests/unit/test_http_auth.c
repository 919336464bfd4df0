/* Tests for the shared HTTP auth layer: JWT HS256 with a pinned algorithm, expiry, roles, and the
 * per-route check answered over real HTTP (libcurl against the admin HTTP server). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/hmac.h>

#include "http/auth.c"

static const char SECRET[] = "0123456789abcdef0123456789abcdef-test";
#define NOW 1800000000

static http_auth_t *new_auth(void)
{
    http_auth_t *a = http_auth_new(SECRET, strlen(SECRET), 60, 3600, NULL);
    assert_non_null(a);
    return a;
}

static void test_roundtrip_and_claims(void **state)
{
    http_auth_t *a = new_auth();
    char *tok = NULL;
    assert_int_equal(http_auth_issue(a, "alice", HTTP_ROLE_OPERATOR, HTTP_TOKEN_ACCESS, NOW, &tok), 0);
    http_auth_claims_t c;
    assert_int_equal(http_auth_verify(a, tok, NOW + 1, &c, NULL), 0);
    assert_string_equal(c.subject, "alice");
    assert_int_equal(c.role, HTTP_ROLE_OPERATOR);
    assert_int_equal(c.expires_at, NOW + 60);
    free(tok);
    http_auth_free(a);
}

static void test_short_secret_refused(void **state)
{
    sb_err_t err = {0};
    assert_null(http_auth_new("short", 5, 60, 60, &err));
    assert_non_null(strstr(err.msg, "JWT secret"));
}

static void test_tampered_signature_and_payload(void **state)
{
    http_auth_t *a = new_auth();
    char *tok = NULL;
    assert_int_equal(http_auth_issue(a, "bob", HTTP_ROLE_VIEWER, HTTP_TOKEN_ACCESS, NOW, &tok), 0);
    sb_err_t err = {0};
    /* flip one signature character */
    char *t2 = strdup(tok);
    size_t n = strlen(t2);
    t2[n - 2] = t2[n - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(http_auth_verify(a, t2, NOW, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "bad token signature");
    /* swap the payload for one claiming admin, keep the old signature */
    char payload[256];
    const char *admin_claims = "{\"sub\":\"bob\",\"role\":\"admin\",\"use\":\"access\",\"exp\":1900000000}";
    b64url_encode((const uint8_t *)admin_claims, strlen(admin_claims), payload);
    char forged[1024];
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(d1 - tok), tok, payload, d2);
    assert_int_equal(http_auth_verify(a, forged, NOW, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "bad token signature");
    /* another secret */
    http_auth_t *other = http_auth_new("ffffffffffffffffffffffffffffffffffffff", 38, 60, 60, NULL);
    assert_int_equal(http_auth_verify(other, tok, NOW, NULL, &err), SB_EINVAL);
    http_auth_free(other);
    free(t2);
    free(tok);
    http_auth_free(a);
}

static void test_expired(void **state)
{
    http_auth_t *a = new_auth();
    char *tok = NULL;
    assert_int_equal(http_auth_issue(a, "c", HTTP_ROLE_ADMIN, HTTP_TOKEN_ACCESS, NOW, &tok), 0);
    sb_err_t err = {0};
    assert_int_equal(http_auth_verify(a, tok, NOW + 59, NULL, &err), 0);
    assert_int_equal(http_auth_verify(a, tok, NOW + 60, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token expired");
    free(tok);
    http_auth_free(a);
}

/* Builds header.payload.signature with the given header, signed with SECRET by HS256 (so only the
 * alg pinning can refuse it). sig_empty leaves the signature empty, as "alg":"none" tokens do. */
static void forge(const char *header, const char *payload, int sig_empty, char *out)
{
    size_t o = b64url_encode((const uint8_t *)header, strlen(header), out);
    out[o++] = '.';
    o += b64url_encode((const uint8_t *)payload, strlen(payload), out + o);
    uint8_t mac[32];
    unsigned int len = 32;
    HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const uint8_t *)out, o, mac, &len);
    out[o++] = '.';
    out[o] = 0;
    if (!sig_empty) b64url_encode(mac, 32, out + o);
}

static void test_wrong_algorithm(void **state)
{
    http_auth_t *a = new_auth();
    const char *claims = "{\"sub\":\"x\",\"role\":\"admin\",\"use\":\"access\",\"exp\":1900000000}";
    char tok[1024];
    sb_err_t err = {0};
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, 0, tok);
    assert_int_equal(http_auth_verify(a, tok, NOW, NULL, &err), 0); /* the forger is right, then */
    forge("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, 1, tok);
    assert_int_equal(http_auth_verify(a, tok, NOW, NULL, &err), SB_EINVAL);
    assert_string_equal(err.msg, "token algorithm is not HS256");
    forge("{\"alg\":\"HS512\"}", claims, 0, tok);
    assert_int_equal(http_auth_verify(a, tok, NOW, NULL, &err), SB_EINVAL);
    forge("{\"typ\":\"JWT\"}", claims, 0, tok);
    assert_int_equal(http_auth_verify(a, tok, NOW, NULL, &err), SB_EINVAL);
    /* a role that does not exist is not a role */
    forge("{\"alg\":\"HS256\"}", "{\"sub\":\"x\",\"role\":\"root\",\"use\":\"access\",\"exp\":1900000000}", 0, tok);
    assert_int_equal(http_auth_verify(a, tok, NOW, NULL, &err), SB_EINVAL);
    assert_non_null(strstr(err.msg, "claims incomplete"));
    /* malformed shapes */
    assert_int_equal(http_auth_verify(a, "a.b", NOW, NULL, &err), SB_EINVAL);
    assert_int_equal(http_auth_verify(a, "a.b.c.d", NOW, NULL, &err), SB_EINVAL);
    assert_int_equal(http_auth_verify(a, "!!.!!.!!", NOW, NULL, &err), SB_EINVAL);
    assert_int_equal(http_auth_verify(a, "", NOW, NULL, &err), SB_EINVAL);
    http_auth_free(a);
}

static void test_check_roles(void **state)
{
    http_auth_t *a = new_auth();
    char *viewer = NULL, *refresh = NULL, hdr[1200];
    http_auth_issue(a, "v", HTTP_ROLE_VIEWER, HTTP_TOKEN_ACCESS, NOW, &viewer);
    http_auth_issue(a, "v", HTTP_ROLE_ADMIN, HTTP_TOKEN_REFRESH, NOW, &refresh);
    sb_err_t err = {0};
    http_auth_claims_t who;
    assert_int_equal(http_auth_check(a, NULL, HTTP_ROLE_VIEWER, NOW, &who, &err), 401);
    assert_int_equal(http_auth_check(a, NULL, HTTP_ROLE_NONE, NOW, &who, &err), 0);
    snprintf(hdr, sizeof(hdr), "Bearer %s", viewer);
    assert_int_equal(http_auth_check(a, hdr, HTTP_ROLE_VIEWER, NOW, &who, &err), 0);
    assert_int_equal(http_auth_check(a, hdr, HTTP_ROLE_OPERATOR, NOW, &who, &err), 403);
    assert_string_equal(err.msg, "role viewer may not do this; needs operator");
    snprintf(hdr, sizeof(hdr), "Bearer %s", refresh);
    assert_int_equal(http_auth_check(a, hdr, HTTP_ROLE_VIEWER, NOW, &who, &err), 401);
    assert_non_null(strstr(err.msg, "refresh token"));
    /* the reason never carries the token */
    assert_null(strstr(err.msg, refresh));
    free(viewer);
    free(refresh);
    http_auth_free(a);
}

static void test_password_hash(void **state)
{
    char enc[160], enc2[160];
    assert_int_equal(http_auth_password_hash("s3cret", 1000, enc, sizeof(enc)), 0);
    assert_int_equal(http_auth_password_hash("s3cret", 1000, enc2, sizeof(enc2)), 0);
    assert_string_not_equal(enc, enc2); /* salted */
    assert_int_equal(http_auth_password_verify("s3cret", enc), 0);
    assert_int_equal(http_auth_password_verify("s3creT", enc), SB_EINVAL);
    assert_int_equal(http_auth_password_verify("s3cret", "plain"), SB_EINVAL);
    assert_int_equal(http_auth_password_verify("s3cret", "pbkdf2-sha256$0$AAAA$AAAA"), SB_EINVAL);
}

/* ---- over HTTP */

static void handler(void *arg, const admin_http_request_t *req, const http_auth_claims_t *who,
                    admin_http_response_t *resp)
{
    sb_wr_bytes(&resp->body, "{\"hello\":", 9);
    admin_http_write_json_string(&resp->body, who->subject);
    sb_wr_bytes(&resp->body, "}", 1);
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    strncat(arg, p, 1023 - strlen(arg) < size * n ? 1023 - strlen(arg) : size * n);
    return size * n;
}

static long request(int port, const char *token, char *body)
{
    CURL *c = curl_easy_init();
    char url[128], hdr[1200];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/things", port);
    struct curl_slist *h = NULL;
    if (token) {
        snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, hdr);
    }
    body[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static void test_route_over_http(void **state)
{
    http_auth_t *a = new_auth();
    admin_http_hooks_t hooks = {0};
    admin_http_t *http = admin_http_start("127.0.0.1", 0, &hooks, NULL);
    assert_non_null(http);
    assert_int_equal(http_auth_add_route(a, http, "POST", "/api/v1/things", HTTP_ROLE_OPERATOR, handler, NULL), 0);
    int port = admin_http_port(http);
    char body[1024], *viewer = NULL, *op = NULL;
    int64_t now = (int64_t)time(NULL);
    http_auth_issue(a, "vic", HTTP_ROLE_VIEWER, HTTP_TOKEN_ACCESS, now, &viewer);
    http_auth_issue(a, "ola", HTTP_ROLE_OPERATOR, HTTP_TOKEN_ACCESS, now, &op);
    assert_int_equal(request(port, NULL, body), 401);
    assert_non_null(strstr(body, "\"error_code\":401"));
    assert_non_null(strstr(body, "authentication required"));
    assert_int_equal(request(port, viewer, body), 403);
    assert_non_null(strstr(body, "needs operator"));
    assert_int_equal(request(port, op, body), 200);
    assert_string_equal(body, "{\"hello\":\"ola\"}");
    op[strlen(op) - 3] ^= 1;
    assert_int_equal(request(port, op, body), 401);
    assert_non_null(strstr(body, "bad token signature"));
    admin_http_stop(http);
    free(viewer);
    free(op);
    http_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_claims), cmocka_unit_test(test_short_secret_refused),
        cmocka_unit_test(test_tampered_signature_and_payload), cmocka_unit_test(test_expired),
        cmocka_unit_test(test_wrong_algorithm), cmocka_unit_test(test_check_roles),
        cmocka_unit_test(test_password_hash), cmocka_unit_test(test_route_over_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
