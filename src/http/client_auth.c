/* Bearer token and CA file for libcurl callers; see client_auth.h. */
#include "http/client_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secrets.h"

int http_client_auth_apply(CURL *h, struct curl_slist **headers)
{
    const char *ca = getenv("STREAMBUS_CA_FILE");
    if (ca && ca[0]) curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    char *token = NULL;
    size_t len = 0;
    sb_err_t err = {0};
    int rc = sb_secret_from_env("STREAMBUS_TOKEN", &token, &len, &err);
    if (rc == SB_ENOENT) return 0;
    if (rc < 0) {
        fprintf(stderr, "streambus: %s\n", err.msg);
        return rc;
    }
    size_t cap = len + 32;
    char *hdr = malloc(cap);
    if (hdr) {
        snprintf(hdr, cap, "Authorization: Bearer %s", token);
        *headers = curl_slist_append(*headers, hdr); /* copies */
        sb_secret_free(hdr, cap);
    }
    sb_secret_free(token, len);
    return hdr ? 0 : SB_ENOMEM;
}
