/* Fuzz driver for the ACL request decoders and the ACL file parser. The first input byte
 * picks the target: 0-11 are CreateAcls, DescribeAcls and DeleteAcls at versions 0-3 (the
 * rest of the input is the request body, dispatched through the real broker with the
 * authorizer on and User:ANONYMOUS a super user, so creations and deletions run through the
 * store, its persistence and the audit log); 12-255 feed the rest to acl_store_parse, the
 * loader of data_dir/.acls. A malformed request must only close its own connection, and the
 * store must stay consistent: whatever it holds serializes and parses back to the same text. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/server.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "net/conn.h"
#include "security/acl.h"
#include "security/authorizer.h"

static broker_t *fuzz_b;
static char data_dir[64];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    broker_free(fuzz_b);
    fuzz_b = NULL;
    nftw(data_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static broker_t *fuzz_broker(void)
{
    if (fuzz_b) return fuzz_b;
    sb_log_setup(SB_LOG_ERROR, SB_LOG_FORMAT_TEXT);
    snprintf(data_dir, sizeof(data_dir), "/tmp/streambus-fuzz-acl-XXXXXX");
    if (!mkdtemp(data_dir)) abort();
    atexit(cleanup);
    broker_options_t o;
    broker_options_defaults(&o);
    o.listen_port = 0;
    snprintf(o.data_dir, sizeof(o.data_dir), "%s", data_dir);
    o.authorizer_enabled = true;
    snprintf(o.super_users, sizeof(o.super_users), "User:ANONYMOUS");
    snprintf(o.audit_log, sizeof(o.audit_log), "/dev/null");
    sb_err_t err = {0};
    if (broker_new(&o, NULL, &fuzz_b, &err) < 0) abort();
    return fuzz_b;
}

static void check_roundtrip(const acl_store_t *s)
{
    char *a, *b2;
    size_t la, lb;
    if (acl_store_serialize(s, &a, &la) < 0) return;
    acl_store_t *t;
    if (acl_store_new(&t) < 0) abort();
    if (acl_store_parse(t, "roundtrip", a, la, NULL) < 0) abort();
    if (acl_store_serialize(t, &b2, &lb) < 0) abort();
    if (la != lb || memcmp(a, b2, la) != 0) abort();
    free(a);
    free(b2);
    acl_store_free(t);
}

static void fuzz_parse(const uint8_t *data, size_t size)
{
    acl_store_t *s;
    if (acl_store_new(&s) < 0) return;
    acl_store_parse(s, "fuzz", data, size, NULL);
    check_roundtrip(s);
    /* Checks on whatever loaded must not crash either. */
    acl_store_check(s, "User:a", "1.2.3.4", ACL_OP_READ, ACL_RESOURCE_TOPIC, "topic-x", 7);
    acl_store_allows_any(s, "User:a", "1.2.3.4", ACL_OP_WRITE, ACL_RESOURCE_TOPIC);
    acl_store_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] >= 12) {
        fuzz_parse(data + 1, size - 1);
        return 0;
    }
    static const int16_t keys[3] = {KAFKA_API_CreateAcls, KAFKA_API_DescribeAcls, KAFKA_API_DeleteAcls};
    int16_t key = keys[data[0] / 4], version = (int16_t)(data[0] % 4);
    broker_t *b = fuzz_broker();
    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0) return 0;
    conn_t *c = conn_adopt(b, fds[0], "127.0.0.1", "fuzz");
    if (!c) {
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    /* Header: key, version, correlation id, client id "f", and the tag section of header v2. */
    size_t hdr = 2 + 2 + 4 + 2 + 1 + (version >= 2 ? 1 : 0);
    uint8_t *frame = malloc(hdr + size - 1);
    uint8_t *p = frame;
    *p++ = (uint8_t)(key >> 8), *p++ = (uint8_t)key;
    *p++ = 0, *p++ = (uint8_t)version;
    *p++ = 0, *p++ = 0, *p++ = 0, *p++ = 1;
    *p++ = 0, *p++ = 1, *p++ = 'f';
    if (version >= 2) *p++ = 0;
    memcpy(p, data + 1, size - 1);
    broker_dispatch(b, c, frame, hdr + size - 1);
    if (!net_conn_closed(c)) net_conn_close(c, NULL);
    broker_reap(b);
    free(frame);
    close(fds[1]);
    /* Keep the store small across a long run, and check it stays consistent. */
    check_roundtrip(authorizer_acls(b->authz));
    if (acl_store_count(authorizer_acls(b->authz)) > 256) {
        acl_store_t *empty;
        if (acl_store_new(&empty) == 0 && authorizer_replace_acls(b->authz, empty, NULL) < 0) acl_store_free(empty);
    }
    return 0;
}
