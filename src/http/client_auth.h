#ifndef STREAMBUS_HTTP_CLIENT_AUTH_H
#define STREAMBUS_HTTP_CLIENT_AUTH_H

/* The client side of the HTTP security layer, for `streambus ctl` and other libcurl callers of
 * StreamBus's own APIs: a bearer token from STREAMBUS_TOKEN (or STREAMBUS_TOKEN_FILE) and a CA
 * file for HTTPS from STREAMBUS_CA_FILE. Neither is ever printed. */

#include <curl/curl.h>

/* Appends "Authorization: Bearer <token>" to *headers when a token is set, and sets
 * CURLOPT_CAINFO on h when STREAMBUS_CA_FILE is set. Returns 0, or a negative SB_E* code when
 * STREAMBUS_TOKEN_FILE cannot be read (the request should not be sent). */
int http_client_auth_apply(CURL *h, struct curl_slist **headers);

#endif
