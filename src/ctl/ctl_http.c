/* JSON-over-HTTP client of the ctl commands; see ctl_http.h. */
#include "ctl/ctl_http.h"

#include <curl/curl.h>
#include <stdio.h>

#include "http/client_auth.h"

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    sb_wr_bytes(arg, p, size * n);
    return size * n;
}

int ctl_http_call(const char *method, const char *url, const char *bearer, const char *body,
                  long timeout_ms, ctl_http_result_t *res, char *errbuf)
{
    sb_wr_init(&res->body, 1024);
    res->status = 0;
    CURL *h = curl_easy_init();
    if (!h) return -1;
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    char auth[4096];
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    } else {
        /* A secured API: STREAMBUS_TOKEN(_FILE) and STREAMBUS_CA_FILE (docs/security.md#http-apis). A
         * token file that cannot be read was reported; the server's 401 then says the rest. */
        (void)http_client_auth_apply(h, &hdrs);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? 0 : -1;
}

json_t *ctl_http_json(const ctl_http_result_t *res)
{
    return res->body.len ? json_loadb((const char *)res->body.buf, res->body.len, 0, NULL) : NULL;
}
