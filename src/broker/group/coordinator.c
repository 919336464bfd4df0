/* Group membership: the state machine of Kafka's classic GroupCoordinator and the handlers of
 * FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, DescribeGroups and ListGroups.
 * Committed offsets live in offsets.c. States and timers are described in docs/groups.md. */
#include "broker/authz.h"
#include "broker/group/coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/group/group_codec.h"
#include "broker/group/group_int.h"
#include "broker/handlers/handlers.h"
#include "common/clock.h"
#include "common/log.h"
#include "kafka/protocol.h"

/* A member id is client-id + "-" + UUID; the client id part is capped so the id always fits a
 * Kafka STRING (INT16 length) whatever the client sent. */
enum { MEMBER_ID_CLIENT_PREFIX_MAX = 200 };

void group_config_defaults(group_config_t *cfg)
{
    cfg->initial_rebalance_delay_ms = 3000;
    cfg->session_timeout_min_ms = 6000;
    cfg->session_timeout_max_ms = 1800000;
    cfg->offsets_retention_ms = 7LL * 24 * 3600 * 1000;
}

char *group_strndup(const void *p, int32_t len)
{
    if (len < 0) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) return NULL;
    if (len) memcpy(s, p, (size_t)len);
    s[len] = '\0';
    return s;
}

static bool slice_eq(const char *s, const void *p, int32_t len)
{
    return s && len >= 0 && strlen(s) == (size_t)len && memcmp(s, p, (size_t)len) == 0;
}

const char *group_state_name(group_state_t state)
{
    switch (state) {
    case GROUP_EMPTY: return "Empty";
    case GROUP_PREPARING_REBALANCE: return "PreparingRebalance";
    case GROUP_COMPLETING_REBALANCE: return "CompletingRebalance";
    case GROUP_STABLE: return "Stable";
    case GROUP_DEAD: return "Dead";
    }
    return "Dead";
}

/* ----- deferred responses ----- */

sb_wr_t *group_slot_begin(group_coordinator_t *gc, kslot_t *slot)
{
    if (slot == gc->current_slot) return gc->current_resp;
    if (kslot_orphaned(slot)) return NULL;
    return kslot_writer(slot);
}

void group_slot_end(group_coordinator_t *gc, kslot_t *slot)
{
    if (slot == gc->current_slot) {
        gc->current_answered = true;
        return;
    }
    kslot_complete(gc->broker, slot);
}

void group_request_enter(group_coordinator_t *gc, kreq_t *req, sb_wr_t *resp)
{
    gc->current_slot = req->slot;
    gc->current_resp = resp;
    gc->current_answered = false;
}

int group_request_leave(group_coordinator_t *gc, int rc)
{
    if (rc == KAFKA_HANDLER_DEFERRED && gc->current_answered) rc = KAFKA_HANDLER_DONE;
    gc->current_slot = NULL;
    gc->current_resp = NULL;
    gc->current_answered = false;
    return rc;
}

/* ----- groups and members ----- */

group_t *group_find(group_coordinator_t *gc, const void *name, int32_t len)
{
    for (int32_t i = 0; i < gc->group_count; i++) {
        if (slice_eq(gc->groups[i]->group_id, name, len)) return gc->groups[i];
    }
    return NULL;
}

group_t *group_get_or_create(group_coordinator_t *gc, const void *name, int32_t len)
{
    group_t *g = group_find(gc, name, len);
    if (g) return g;
    if (gc->group_count == gc->group_cap) {
        int32_t cap = gc->group_cap ? gc->group_cap * 2 : 16;
        group_t **ng = realloc(gc->groups, (size_t)cap * sizeof(*ng));
        if (!ng) return NULL;
        gc->groups = ng;
        gc->group_cap = cap;
    }
    g = calloc(1, sizeof(*g));
    if (!g) return NULL;
    g->group_id = group_strndup(name, len);
    if (!g->group_id) {
        free(g);
        return NULL;
    }
    g->state = GROUP_EMPTY;
    gc->groups[gc->group_count++] = g;
    return g;
}

group_member_t *group_member_find(group_t *g, const void *member_id, int32_t len)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        if (slice_eq(g->members[i]->member_id, member_id, len)) return g->members[i];
    }
    return NULL;
}

static group_member_t *static_member_find(group_t *g, const void *instance_id, int32_t len)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        if (slice_eq(g->members[i]->group_instance_id, instance_id, len)) return g->members[i];
    }
    return NULL;
}

bool group_static_member_fenced(group_t *g, sb_slice_t group_instance_id, sb_slice_t member_id)
{
    if (group_instance_id.len < 0) return false;
    const group_member_t *m = static_member_find(g, group_instance_id.p, group_instance_id.len);
    return m && !slice_eq(m->member_id, member_id.p, member_id.len);
}

void group_member_touch(group_member_t *m, int64_t now_ms)
{
    m->heartbeat_deadline_ms = now_ms + m->session_timeout_ms;
}

static void protocols_free(group_protocol_t *p, int32_t n)
{
    for (int32_t i = 0; i < n; i++) {
        free(p[i].name);
        free(p[i].metadata);
    }
    free(p);
}

static void member_free(group_member_t *m)
{
    if (!m) return;
    free(m->member_id);
    free(m->group_instance_id);
    free(m->client_id);
    free(m->client_host);
    protocols_free(m->protocols, m->protocol_count);
    free(m->assignment);
    free(m);
}

static void answer_join_error(group_coordinator_t *gc, kslot_t *slot, int16_t error_code, const char *member_id)
{
    sb_wr_t *w = group_slot_begin(gc, slot);
    if (w) join_group_response_encode(w, kslot_api_version(slot), error_code, -1, "", "", member_id, NULL, 0);
    group_slot_end(gc, slot);
}

static void answer_sync(group_coordinator_t *gc, kslot_t *slot, int16_t error_code, const uint8_t *assignment,
                        int32_t assignment_len)
{
    sb_wr_t *w = group_slot_begin(gc, slot);
    if (w) sync_group_response_encode(w, kslot_api_version(slot), error_code, assignment, assignment_len);
    group_slot_end(gc, slot);
}

/* Completes whatever the member still waits for with error_code. */
static void member_fail_waiting(group_coordinator_t *gc, group_member_t *m, int16_t error_code)
{
    if (m->join_slot) {
        kslot_t *s = m->join_slot;
        m->join_slot = NULL;
        answer_join_error(gc, s, error_code, m->member_id);
    }
    if (m->sync_slot) {
        kslot_t *s = m->sync_slot;
        m->sync_slot = NULL;
        answer_sync(gc, s, error_code, NULL, 0);
    }
}

static void pending_remove_at(group_t *g, int32_t i)
{
    free(g->pending[i].member_id);
    g->pending[i] = g->pending[--g->pending_count];
}

static int32_t pending_find(group_t *g, const void *member_id, int32_t len)
{
    for (int32_t i = 0; i < g->pending_count; i++) {
        if (slice_eq(g->pending[i].member_id, member_id, len)) return i;
    }
    return -1;
}

static void member_remove(group_coordinator_t *gc, group_t *g, group_member_t *m, int16_t error_code)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        if (g->members[i] != m) continue;
        memmove(&g->members[i], &g->members[i + 1], (size_t)(g->member_count - i - 1) * sizeof(*g->members));
        g->member_count--;
        break;
    }
    member_fail_waiting(gc, m, error_code);
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0) {
        free(g->leader_id);
        g->leader_id = g->member_count ? strdup(g->members[0]->member_id) : NULL;
    }
    member_free(m);
}

void group_delete(group_coordinator_t *gc, group_t *g, int16_t error_code)
{
    for (int32_t i = 0; i < gc->group_count; i++) {
        if (gc->groups[i] != g) continue;
        gc->groups[i] = gc->groups[--gc->group_count];
        break;
    }
    for (int32_t i = 0; i < g->member_count; i++) {
        member_fail_waiting(gc, g->members[i], error_code);
        member_free(g->members[i]);
    }
    free(g->members);
    while (g->pending_count) pending_remove_at(g, 0);
    free(g->pending);
    group_offsets_clear(g);
    free(g->offsets);
    free(g->group_id);
    free(g->protocol_type);
    free(g->protocol_name);
    free(g->leader_id);
    free(g);
}

static const group_protocol_t *member_protocol(const group_member_t *m, const char *name)
{
    for (int32_t i = 0; i < m->protocol_count; i++) {
        if (name && strcmp(m->protocols[i].name, name) == 0) return &m->protocols[i];
    }
    return NULL;
}

static bool all_members_support(const group_t *g, const char *name, const group_member_t *except)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        if (g->members[i] == except) continue;
        if (!member_protocol(g->members[i], name)) return false;
    }
    return true;
}

/* The protocol of a generation: the first protocol in the leader's order of preference that
 * every member supports. (Kafka lets members vote; preferring the leader's order gives the same
 * answer whenever members list protocols in the same order, which clients of one kind do.) */
static const char *select_protocol(const group_t *g, const group_member_t *leader)
{
    for (int32_t i = 0; i < leader->protocol_count; i++) {
        if (all_members_support(g, leader->protocols[i].name, NULL)) return leader->protocols[i].name;
    }
    return NULL;
}

static int64_t max_rebalance_timeout(const group_t *g)
{
    int64_t t = 0;
    for (int32_t i = 0; i < g->member_count; i++) {
        if (g->members[i]->rebalance_timeout_ms > t) t = g->members[i]->rebalance_timeout_ms;
    }
    return t;
}

static void send_join_response(group_coordinator_t *gc, group_t *g, group_member_t *m, kslot_t *slot)
{
    sb_wr_t *w = group_slot_begin(gc, slot);
    if (w) {
        int16_t version = kslot_api_version(slot);
        bool is_leader = g->leader_id && strcmp(g->leader_id, m->member_id) == 0;
        join_group_response_member_t *list = NULL;
        int32_t n = 0;
        if (is_leader && g->member_count > 0) {
            list = calloc((size_t)g->member_count, sizeof(*list));
            if (list) {
                for (int32_t i = 0; i < g->member_count; i++) {
                    const group_member_t *x = g->members[i];
                    const group_protocol_t *p = member_protocol(x, g->protocol_name);
                    list[n].member_id = x->member_id;
                    list[n].group_instance_id = x->group_instance_id;
                    list[n].metadata = p ? p->metadata : NULL;
                    list[n].metadata_len = p ? p->metadata_len : 0;
                    n++;
                }
            }
        }
        if (is_leader && g->member_count > 0 && !list) {
            join_group_response_encode(w, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, -1, "", "", m->member_id, NULL, 0);
        } else {
            join_group_response_encode(w, version, KAFKA_ERR_NONE, g->generation_id, g->protocol_name, g->leader_id,
                                       m->member_id, list, n);
        }
        free(list);
    }
    group_slot_end(gc, slot);
}

/* The end of a join phase: members that did not rejoin are dropped, the generation advances,
 * a leader and a protocol are chosen and every waiting JoinGroup is answered. */
static void complete_join(group_coordinator_t *gc, group_t *g, int64_t now_ms)
{
    /* Dynamic members that did not rejoin are dropped. A static member (KIP-345) stays: only its
     * session timeout removes it, and the leader assigns it partitions it picks up when it
     * comes back. */
    int32_t joined = 0;
    for (int32_t i = 0; i < g->member_count;) {
        group_member_t *m = g->members[i];
        if (m->join_slot || m->group_instance_id) {
            joined += m->join_slot != NULL;
            i++;
            continue;
        }
        sb_info("group", "group %s: member %s did not rejoin in time; removed", g->group_id, m->member_id);
        member_remove(gc, g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    }
    if (g->member_count > 0 && joined == 0) {
        /* Only absent static members: nobody to lead. Wait for one of them to come back or for
         * their sessions to end (which empties the group). */
        g->join_deadline_ms = now_ms + max_rebalance_timeout(g);
        return;
    }
    g->initial_delay = false;
    g->generation_id++;
    free(g->protocol_name);
    g->protocol_name = NULL;
    if (g->member_count == 0) {
        free(g->leader_id);
        g->leader_id = NULL;
        g->state = GROUP_EMPTY;
        sb_info("group", "group %s is empty at generation %d", g->group_id, (int)g->generation_id);
        return;
    }
    group_member_t *leader = g->leader_id ? group_member_find(g, g->leader_id, (int32_t)strlen(g->leader_id)) : NULL;
    if (!leader || !leader->join_slot) {
        /* The leader must be a member that is here to receive the member list. */
        leader = NULL;
        for (int32_t i = 0; i < g->member_count && !leader; i++)
            if (g->members[i]->join_slot) leader = g->members[i];
        free(g->leader_id);
        g->leader_id = strdup(leader->member_id);
    }
    const char *protocol = select_protocol(g, leader);
    g->protocol_name = protocol ? strdup(protocol) : NULL;
    g->state = GROUP_COMPLETING_REBALANCE;
    sb_info("group", "group %s: generation %d with %d members, leader %s, protocol %s", g->group_id,
            (int)g->generation_id, (int)g->member_count, g->leader_id, g->protocol_name ? g->protocol_name : "-");
    for (int32_t i = 0; i < g->member_count; i++) {
        group_member_t *m = g->members[i];
        kslot_t *slot = m->join_slot;
        if (!slot) continue;
        m->join_slot = NULL;
        group_member_touch(m, now_ms);
        send_join_response(gc, g, m, slot);
    }
}

static bool all_members_joined(const group_t *g)
{
    if (g->pending_count) return false;
    for (int32_t i = 0; i < g->member_count; i++) {
        if (!g->members[i]->join_slot) return false;
    }
    return true;
}

static void try_complete_join(group_coordinator_t *gc, group_t *g, int64_t now_ms)
{
    if (g->state == GROUP_PREPARING_REBALANCE && !g->initial_delay && all_members_joined(g))
        complete_join(gc, g, now_ms);
}

static void prepare_rebalance(group_coordinator_t *gc, group_t *g, int64_t now_ms)
{
    if (g->state == GROUP_COMPLETING_REBALANCE) {
        for (int32_t i = 0; i < g->member_count; i++) {
            group_member_t *m = g->members[i];
            free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            if (m->sync_slot) {
                kslot_t *s = m->sync_slot;
                m->sync_slot = NULL;
                answer_sync(gc, s, KAFKA_ERR_REBALANCE_IN_PROGRESS, NULL, 0);
            }
        }
    }
    if (g->state == GROUP_EMPTY && gc->cfg.initial_rebalance_delay_ms > 0) {
        g->initial_delay = true;
        g->join_deadline_ms = now_ms + gc->cfg.initial_rebalance_delay_ms;
        g->initial_delay_cap_ms = now_ms + max_rebalance_timeout(g);
        if (g->initial_delay_cap_ms < g->join_deadline_ms) g->initial_delay_cap_ms = g->join_deadline_ms;
    } else {
        g->initial_delay = false;
        g->join_deadline_ms = now_ms + max_rebalance_timeout(g);
    }
    g->state = GROUP_PREPARING_REBALANCE;
}

/* What every change of membership leads to. */
static void rebalance(group_coordinator_t *gc, group_t *g, int64_t now_ms)
{
    if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE) prepare_rebalance(gc, g, now_ms);
    else if (g->state == GROUP_EMPTY && g->member_count > 0) prepare_rebalance(gc, g, now_ms);
    try_complete_join(gc, g, now_ms);
}

static int copy_protocols(const join_group_request_t *rq, group_protocol_t **out)
{
    group_protocol_t *p = calloc((size_t)rq->protocol_count, sizeof(*p));
    if (!p) return SB_ENOMEM;
    for (int32_t i = 0; i < rq->protocol_count; i++) {
        p[i].name = group_strndup(rq->protocols[i].name.p, rq->protocols[i].name.len);
        p[i].metadata_len = rq->protocols[i].metadata.len;
        p[i].metadata = malloc((size_t)p[i].metadata_len + 1);
        if (!p[i].name || !p[i].metadata) {
            protocols_free(p, i + 1);
            return SB_ENOMEM;
        }
        if (p[i].metadata_len) memcpy(p[i].metadata, rq->protocols[i].metadata.p, (size_t)p[i].metadata_len);
    }
    *out = p;
    return 0;
}

static bool protocols_equal(const group_member_t *m, const join_group_request_t *rq)
{
    if (m->protocol_count != rq->protocol_count) return false;
    for (int32_t i = 0; i < rq->protocol_count; i++) {
        const join_group_protocol_t *p = &rq->protocols[i];
        if (!slice_eq(m->protocols[i].name, p->name.p, p->name.len)) return false;
        if (m->protocols[i].metadata_len != p->metadata.len) return false;
        if (p->metadata.len && memcmp(m->protocols[i].metadata, p->metadata.p, (size_t)p->metadata.len) != 0)
            return false;
    }
    return true;
}

/* Kafka's supportsProtocols: an empty group takes anything; otherwise the protocol type must
 * match and one of the offered protocols must be supported by every other member. */
static bool group_accepts_protocols(const group_t *g, const join_group_request_t *rq, const group_member_t *self)
{
    if (g->member_count == 0 || (g->member_count == 1 && self)) return true;
    if (!slice_eq(g->protocol_type, rq->protocol_type.p, rq->protocol_type.len)) return false;
    for (int32_t i = 0; i < rq->protocol_count; i++) {
        char *name = group_strndup(rq->protocols[i].name.p, rq->protocols[i].name.len);
        bool ok = name && all_members_support(g, name, self);
        free(name);
        if (ok) return true;
    }
    return false;
}

/* prefix: the group instance id of a static member, else the client id (as Kafka names them). */
static void make_member_id(sb_slice_t prefix_src, char *out, size_t out_size)
{
    uint8_t u[16];
    if (getrandom(u, sizeof(u), 0) != (ssize_t)sizeof(u)) {
        /* getrandom on Linux does not fail for 16 bytes once the pool is ready; the monotonic
         * clock is a fallback that still keeps ids unique within this process. */
        int64_t t = sb_mono_us();
        memcpy(u, &t, sizeof(t));
        memcpy(u + 8, &out, sizeof(out));
    }
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    int prefix = prefix_src.len > 0 ? prefix_src.len : 0;
    if (prefix > MEMBER_ID_CLIENT_PREFIX_MAX) prefix = MEMBER_ID_CLIENT_PREFIX_MAX;
    snprintf(out, out_size,
             "%.*s-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", prefix,
             prefix ? (const char *)prefix_src.p : "", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9],
             u[10], u[11], u[12], u[13], u[14], u[15]);
}

static group_member_t *member_new(group_t *g, const char *member_id, const kreq_t *req, const join_group_request_t *rq)
{
    if (g->member_count == g->member_cap) {
        int32_t cap = g->member_cap ? g->member_cap * 2 : 8;
        group_member_t **nm = realloc(g->members, (size_t)cap * sizeof(*nm));
        if (!nm) return NULL;
        g->members = nm;
        g->member_cap = cap;
    }
    group_member_t *m = calloc(1, sizeof(*m));
    if (!m) return NULL;
    const char *host = req->conn ? conn_peer_host(req->conn) : NULL;
    m->member_id = strdup(member_id);
    m->group_instance_id = group_strndup(rq->group_instance_id.p, rq->group_instance_id.len);
    m->client_id = req->client_id.len >= 0 ? group_strndup(req->client_id.p, req->client_id.len) : strdup("");
    m->client_host = strdup(host ? host : "");
    m->session_timeout_ms = rq->session_timeout_ms;
    m->rebalance_timeout_ms = rq->rebalance_timeout_ms;
    if (!m->member_id || !m->client_id || !m->client_host || copy_protocols(rq, &m->protocols) != 0) {
        member_free(m);
        return NULL;
    }
    m->protocol_count = rq->protocol_count;
    g->members[g->member_count++] = m;
    return m;
}

static int member_update_protocols(group_member_t *m, const join_group_request_t *rq)
{
    group_protocol_t *p;
    if (copy_protocols(rq, &p) != 0) return SB_ENOMEM;
    protocols_free(m->protocols, m->protocol_count);
    m->protocols = p;
    m->protocol_count = rq->protocol_count;
    m->session_timeout_ms = rq->session_timeout_ms;
    m->rebalance_timeout_ms = rq->rebalance_timeout_ms;
    return 0;
}

/* Parks req's slot on the member until the join phase completes. */
static void member_await_join(group_coordinator_t *gc, group_member_t *m, kreq_t *req)
{
    if (m->join_slot) {
        /* The client sent a second JoinGroup without waiting for the first; only the newest one
         * can be answered with the result, the older one is told to rejoin. */
        kslot_t *old = m->join_slot;
        m->join_slot = NULL;
        answer_join_error(gc, old, KAFKA_ERR_REBALANCE_IN_PROGRESS, m->member_id);
    }
    m->join_slot = req->slot;
}

static int join_immediate_error(sb_wr_t *resp, int16_t version, int16_t error_code, const char *member_id)
{
    join_group_response_encode(resp, version, error_code, -1, "", "", member_id, NULL, 0);
    return KAFKA_HANDLER_DONE;
}

/* KIP-345: a static member comes back (restart) under its group.instance.id with no member id.
 * It takes over its old membership under a new member id; whatever the old incarnation still
 * waits for is answered FENCED_INSTANCE_ID, and later requests with the old id are fenced. In a
 * Stable group whose protocol does not change this is not a rebalance: the member is answered
 * at once with the current generation and picks up its old assignment with SyncGroup. */
static int static_member_rejoin(group_coordinator_t *gc, group_t *g, group_member_t *m, kreq_t *req,
                                const join_group_request_t *rq, sb_wr_t *resp, int64_t now_ms)
{
    int16_t version = req->api_version;
    char new_id[320];
    make_member_id(rq->group_instance_id, new_id, sizeof(new_id));
    char *id = strdup(new_id);
    char *old_leader = g->leader_id ? strdup(g->leader_id) : NULL;
    if (!id || (g->leader_id && !old_leader) || member_update_protocols(m, rq) != 0) {
        free(id);
        free(old_leader);
        return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, "");
    }
    member_fail_waiting(gc, m, KAFKA_ERR_FENCED_INSTANCE_ID);
    sb_info("group", "group %s: static member %s rejoined; member id %s replaces %s", g->group_id, m->group_instance_id,
            id, m->member_id);
    if (g->leader_id && strcmp(g->leader_id, m->member_id) == 0) {
        free(g->leader_id);
        g->leader_id = strdup(id);
    }
    free(m->member_id);
    m->member_id = id;
    group_member_touch(m, now_ms);
    if (g->state == GROUP_STABLE) {
        group_member_t *leader = g->leader_id ? group_member_find(g, g->leader_id, (int32_t)strlen(g->leader_id)) : NULL;
        const char *next = select_protocol(g, leader ? leader : g->members[0]);
        if (next && g->protocol_name && strcmp(next, g->protocol_name) == 0) {
            /* The leader id from before the replacement: a rejoining leader then sees itself as
             * a follower and does not compute an assignment a Stable group would not hand out. */
            join_group_response_encode(resp, version, KAFKA_ERR_NONE, g->generation_id, g->protocol_name,
                                       old_leader ? old_leader : "", id, NULL, 0);
            free(old_leader);
            return KAFKA_HANDLER_DONE;
        }
    }
    free(old_leader);
    /* The protocol changes (Stable), or the leader may already have been given the old id
     * (CompletingRebalance): a new generation is needed. While PreparingRebalance, this is
     * simply the member's rejoin. */
    member_await_join(gc, m, req);
    rebalance(gc, g, now_ms);
    return KAFKA_HANDLER_DEFERRED;
}

static int join_group(group_coordinator_t *gc, kreq_t *req, const join_group_request_t *rq, sb_wr_t *resp,
                      int64_t now_ms)
{
    int16_t version = req->api_version;
    char member_id_buf[320];
    snprintf(member_id_buf, sizeof(member_id_buf), "%.*s", rq->member_id.len > 256 ? 256 : rq->member_id.len,
             (const char *)rq->member_id.p);

    if (rq->group_id.len <= 0) return join_immediate_error(resp, version, KAFKA_ERR_INVALID_GROUP_ID, member_id_buf);
    if (rq->session_timeout_ms < gc->cfg.session_timeout_min_ms || rq->session_timeout_ms > gc->cfg.session_timeout_max_ms)
        return join_immediate_error(resp, version, KAFKA_ERR_INVALID_SESSION_TIMEOUT, member_id_buf);
    if (rq->protocol_type.len <= 0 || rq->protocol_count <= 0)
        return join_immediate_error(resp, version, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL, member_id_buf);

    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    if (!g) {
        if (rq->member_id.len > 0) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_MEMBER_ID, member_id_buf);
        g = group_get_or_create(gc, rq->group_id.p, rq->group_id.len);
        if (!g) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, member_id_buf);
    }
    if (g->state == GROUP_DEAD)
        return join_immediate_error(resp, version, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, member_id_buf);

    group_member_t *known = rq->member_id.len > 0 ? group_member_find(g, rq->member_id.p, rq->member_id.len) : NULL;
    bool is_static = rq->group_instance_id.len >= 0;
    group_member_t *static_self =
        is_static ? static_member_find(g, rq->group_instance_id.p, rq->group_instance_id.len) : NULL;
    if (!group_accepts_protocols(g, rq, known ? known : static_self))
        return join_immediate_error(resp, version, KAFKA_ERR_INCONSISTENT_GROUP_PROTOCOL, member_id_buf);
    if (rq->member_id.len == 0 && static_self) return static_member_rejoin(gc, g, static_self, req, rq, resp, now_ms);
    if (rq->member_id.len > 0 && is_static) {
        if (group_static_member_fenced(g, rq->group_instance_id, rq->member_id))
            return join_immediate_error(resp, version, KAFKA_ERR_FENCED_INSTANCE_ID, member_id_buf);
        if (!static_self) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_MEMBER_ID, member_id_buf);
    }

    if (rq->member_id.len == 0 || (!known && pending_find(g, rq->member_id.p, rq->member_id.len) >= 0)) {
        char new_id[320];
        if (rq->member_id.len == 0) {
            make_member_id(is_static ? rq->group_instance_id : req->client_id, new_id, sizeof(new_id));
            /* A static member is known by its instance id, so it needs no KIP-394 round trip. */
            if (version >= 4 && !is_static) {
                /* KIP-394: hand out the id first, so a client that times out and retries does
                 * not leave a ghost member behind; the member only counts once it rejoins. */
                if (g->pending_count == g->pending_cap) {
                    int32_t cap = g->pending_cap ? g->pending_cap * 2 : 8;
                    group_pending_member_t *np = realloc(g->pending, (size_t)cap * sizeof(*np));
                    if (!np) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, "");
                    g->pending = np;
                    g->pending_cap = cap;
                }
                char *id = strdup(new_id);
                if (!id) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, "");
                g->pending[g->pending_count].member_id = id;
                g->pending[g->pending_count].deadline_ms = now_ms + rq->session_timeout_ms;
                g->pending_count++;
                return join_immediate_error(resp, version, KAFKA_ERR_MEMBER_ID_REQUIRED, new_id);
            }
        } else {
            snprintf(new_id, sizeof(new_id), "%s", member_id_buf);
            pending_remove_at(g, pending_find(g, rq->member_id.p, rq->member_id.len));
        }
        bool was_empty = g->member_count == 0;
        group_member_t *m = member_new(g, new_id, req, rq);
        if (!m) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, new_id);
        if (was_empty && !slice_eq(g->protocol_type, rq->protocol_type.p, rq->protocol_type.len)) {
            free(g->protocol_type);
            g->protocol_type = group_strndup(rq->protocol_type.p, rq->protocol_type.len);
            group_offsets_write_metadata(gc, g);
        }
        group_member_touch(m, now_ms);
        member_await_join(gc, m, req);
        if (g->state == GROUP_PREPARING_REBALANCE && g->initial_delay) {
            int64_t d = now_ms + gc->cfg.initial_rebalance_delay_ms;
            if (m->rebalance_timeout_ms > 0 && now_ms + m->rebalance_timeout_ms > g->initial_delay_cap_ms)
                g->initial_delay_cap_ms = now_ms + m->rebalance_timeout_ms;
            g->join_deadline_ms = d < g->initial_delay_cap_ms ? d : g->initial_delay_cap_ms;
        }
        rebalance(gc, g, now_ms);
        return KAFKA_HANDLER_DEFERRED;
    }

    if (!known) return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_MEMBER_ID, member_id_buf);
    group_member_touch(known, now_ms);
    bool is_leader = g->leader_id && strcmp(g->leader_id, known->member_id) == 0;
    bool same = protocols_equal(known, rq);
    switch (g->state) {
    case GROUP_COMPLETING_REBALANCE:
        if (same) {
            /* A retried JoinGroup of this generation: answer it again. */
            send_join_response(gc, g, known, req->slot);
            return KAFKA_HANDLER_DEFERRED;
        }
        break;
    case GROUP_STABLE:
        if (same && !is_leader) {
            send_join_response(gc, g, known, req->slot);
            return KAFKA_HANDLER_DEFERRED;
        }
        break;
    case GROUP_PREPARING_REBALANCE: break;
    case GROUP_EMPTY:
    case GROUP_DEAD: return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_MEMBER_ID, member_id_buf);
    }
    if (!same && member_update_protocols(known, rq) != 0)
        return join_immediate_error(resp, version, KAFKA_ERR_UNKNOWN_SERVER_ERROR, member_id_buf);
    member_await_join(gc, known, req);
    rebalance(gc, g, now_ms);
    return KAFKA_HANDLER_DEFERRED;
}

static int sync_group(group_coordinator_t *gc, kreq_t *req, const sync_group_request_t *rq, sb_wr_t *resp,
                      int64_t now_ms)
{
    int16_t version = req->api_version;
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    group_member_t *m = g ? group_member_find(g, rq->member_id.p, rq->member_id.len) : NULL;
    int16_t error = KAFKA_ERR_NONE;
    if (!g || g->state == GROUP_EMPTY) error = KAFKA_ERR_UNKNOWN_MEMBER_ID;
    else if (g->state == GROUP_DEAD) error = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    else if (group_static_member_fenced(g, rq->group_instance_id, rq->member_id)) error = KAFKA_ERR_FENCED_INSTANCE_ID;
    else if (!m) error = KAFKA_ERR_UNKNOWN_MEMBER_ID;
    else if (rq->generation_id != g->generation_id) error = KAFKA_ERR_ILLEGAL_GENERATION;
    else if (g->state == GROUP_PREPARING_REBALANCE) error = KAFKA_ERR_REBALANCE_IN_PROGRESS;
    if (error) {
        sync_group_response_encode(resp, version, error, NULL, 0);
        return KAFKA_HANDLER_DONE;
    }
    group_member_touch(m, now_ms);
    if (g->state == GROUP_STABLE) {
        sync_group_response_encode(resp, version, KAFKA_ERR_NONE, m->assignment, m->assignment_len);
        return KAFKA_HANDLER_DONE;
    }

    /* CompletingRebalance: park the answer until the leader's assignment arrives. */
    if (m->sync_slot) {
        kslot_t *old = m->sync_slot;
        m->sync_slot = NULL;
        answer_sync(gc, old, KAFKA_ERR_REBALANCE_IN_PROGRESS, NULL, 0);
    }
    m->sync_slot = req->slot;
    if (strcmp(g->leader_id, m->member_id) != 0) return KAFKA_HANDLER_DEFERRED;

    for (int32_t i = 0; i < g->member_count; i++) {
        group_member_t *x = g->members[i];
        free(x->assignment);
        x->assignment = NULL;
        x->assignment_len = 0;
        for (int32_t a = 0; a < rq->assignment_count; a++) {
            const sync_group_assignment_t *as = &rq->assignments[a];
            if (!slice_eq(x->member_id, as->member_id.p, as->member_id.len)) continue;
            x->assignment = malloc((size_t)as->assignment.len + 1);
            if (x->assignment) {
                if (as->assignment.len) memcpy(x->assignment, as->assignment.p, (size_t)as->assignment.len);
                x->assignment_len = as->assignment.len;
            }
            break;
        }
    }
    g->state = GROUP_STABLE;
    sb_info("group", "group %s: generation %d is stable", g->group_id, (int)g->generation_id);
    for (int32_t i = 0; i < g->member_count; i++) {
        group_member_t *x = g->members[i];
        if (!x->sync_slot) continue;
        kslot_t *s = x->sync_slot;
        x->sync_slot = NULL;
        answer_sync(gc, s, KAFKA_ERR_NONE, x->assignment, x->assignment_len);
    }
    return KAFKA_HANDLER_DEFERRED;
}

static int16_t heartbeat(group_coordinator_t *gc, const heartbeat_request_t *rq, int64_t now_ms)
{
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    if (!g) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == GROUP_DEAD) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (g->state == GROUP_EMPTY) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (group_static_member_fenced(g, rq->group_instance_id, rq->member_id)) return KAFKA_ERR_FENCED_INSTANCE_ID;
    group_member_t *m = group_member_find(g, rq->member_id.p, rq->member_id.len);
    if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (rq->generation_id != g->generation_id) return KAFKA_ERR_ILLEGAL_GENERATION;
    group_member_touch(m, now_ms);
    /* During CompletingRebalance the member is between JoinGroup and SyncGroup of the current
     * generation; like Kafka >= 2.3 it is simply kept alive. */
    if (g->state == GROUP_PREPARING_REBALANCE) return KAFKA_ERR_REBALANCE_IN_PROGRESS;
    (void)gc;
    return KAFKA_ERR_NONE;
}

static int16_t leave_group(group_coordinator_t *gc, const leave_group_request_t *rq, int64_t now_ms)
{
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    if (!g) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (g->state == GROUP_DEAD) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    int32_t p = pending_find(g, rq->member_id.p, rq->member_id.len);
    if (p >= 0) {
        pending_remove_at(g, p);
        try_complete_join(gc, g, now_ms);
        return KAFKA_ERR_NONE;
    }
    group_member_t *m = group_member_find(g, rq->member_id.p, rq->member_id.len);
    if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    sb_info("group", "group %s: member %s left", g->group_id, m->member_id);
    member_remove(gc, g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
    if (g->state == GROUP_EMPTY) return KAFKA_ERR_NONE;
    if (g->state != GROUP_PREPARING_REBALANCE) prepare_rebalance(gc, g, now_ms);
    try_complete_join(gc, g, now_ms);
    return KAFKA_ERR_NONE;
}

/* ----- life cycle and timers ----- */

int group_coordinator_new(broker_t *b, plog_t *offsets_log, const group_config_t *cfg, group_coordinator_t **out,
                          sb_err_t *err)
{
    *out = NULL;
    group_coordinator_t *gc = calloc(1, sizeof(*gc));
    if (!gc) return sb_err_set(err, SB_ENOMEM, "out of memory");
    gc->broker = b;
    gc->offsets_log = offsets_log;
    if (cfg) gc->cfg = *cfg;
    else group_config_defaults(&gc->cfg);
    int rc = offsets_log ? group_offsets_replay(gc, err) : 0;
    if (rc != 0) {
        group_coordinator_free(gc);
        return rc;
    }
    *out = gc;
    return 0;
}

void group_coordinator_free(group_coordinator_t *gc)
{
    if (!gc) return;
    group_offsets_detach_writes(gc);
    while (gc->group_count) group_delete(gc, gc->groups[gc->group_count - 1], KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
    free(gc->groups);
    free(gc);
}

static void tick_group(group_coordinator_t *gc, group_t *g, int64_t now_ms)
{
    for (int32_t i = 0; i < g->pending_count;) {
        if (g->pending[i].deadline_ms <= now_ms) pending_remove_at(g, i);
        else i++;
    }
    if (g->state == GROUP_PREPARING_REBALANCE && now_ms >= g->join_deadline_ms) {
        if (g->initial_delay) {
            g->initial_delay = false;
            if (all_members_joined(g)) complete_join(gc, g, now_ms);
            else g->join_deadline_ms = g->initial_delay_cap_ms > now_ms ? g->initial_delay_cap_ms : now_ms;
        } else {
            complete_join(gc, g, now_ms);
        }
    }
    bool removed = false;
    for (int32_t i = 0; i < g->member_count;) {
        group_member_t *m = g->members[i];
        /* A member parked on JoinGroup or SyncGroup is waiting on us, not silent; the join
         * deadline and the leader's own session bound those waits. */
        if (!m->join_slot && !m->sync_slot && m->heartbeat_deadline_ms <= now_ms) {
            sb_info("group", "group %s: member %s session timed out", g->group_id, m->member_id);
            member_remove(gc, g, m, KAFKA_ERR_UNKNOWN_MEMBER_ID);
            removed = true;
        } else {
            i++;
        }
    }
    if (removed) {
        if (g->state == GROUP_STABLE || g->state == GROUP_COMPLETING_REBALANCE) prepare_rebalance(gc, g, now_ms);
    }
    try_complete_join(gc, g, now_ms);
}

void group_coordinator_tick(group_coordinator_t *gc, int64_t now_ms)
{
    for (int32_t i = 0; i < gc->group_count;) {
        group_t *g = gc->groups[i];
        tick_group(gc, g, now_ms);
        /* Kafka turns an empty group without offsets into Dead and forgets it. */
        if (g->state == GROUP_EMPTY && g->member_count == 0 && g->pending_count == 0 && g->offset_count == 0) {
            group_delete(gc, g, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
            continue; /* group_delete moved the last group into slot i */
        }
        i++;
    }
}

int group_coordinator_member_count(group_coordinator_t *gc)
{
    int n = 0;
    for (int32_t i = 0; gc && i < gc->group_count; i++) n += gc->groups[i]->member_count;
    return n;
}

int group_coordinator_group_count(group_coordinator_t *gc)
{
    int n = 0;
    for (int32_t i = 0; gc && i < gc->group_count; i++) n += gc->groups[i]->state != GROUP_DEAD;
    return n;
}

/* ----- handlers ----- */

int handle_FindCoordinator(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    find_coordinator_request_t rq;
    if (find_coordinator_request_decode(&req->body, req->api_version, &rq) != 0) return SB_EINVAL;
    if (rq.key_type != 0 && rq.key_type != 1) {
        find_coordinator_response_encode(resp, req->api_version, KAFKA_ERR_INVALID_REQUEST, "unknown key type", -1, "",
                                         -1);
        return KAFKA_HANDLER_DONE;
    }
    if (!broker_authorize(b, req, ACL_OP_DESCRIBE, rq.key_type == 0 ? ACL_RESOURCE_GROUP : ACL_RESOURCE_TRANSACTIONAL_ID,
                          (const char *)rq.key.p, rq.key.len)) {
        find_coordinator_response_encode(resp, req->api_version,
                                         rq.key_type == 0 ? KAFKA_ERR_GROUP_AUTHORIZATION_FAILED
                                                          : KAFKA_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                         "Authorization failed: DESCRIBE is needed.", -1, "", -1);
        return KAFKA_HANDLER_DONE;
    }
    /* A single broker coordinates every group (and every transactional id). */
    find_coordinator_response_encode(resp, req->api_version, KAFKA_ERR_NONE, NULL, broker_node_id(b),
                                     broker_advertised_host_for(b, req->conn),
                                     broker_advertised_port_for(b, req->conn));
    return KAFKA_HANDLER_DONE;
}

int handle_JoinGroup(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    join_group_request_t rq;
    int rc = join_group_request_decode(&req->body, req->api_version, &rq);
    if (rc != 0) {
        join_group_request_deinit(&rq);
        return rc;
    }
    group_coordinator_t *gc = broker_groups(b);
    if (!broker_authorize_group(b, req, ACL_OP_READ, rq.group_id)) {
        rc = join_immediate_error(resp, req->api_version, KAFKA_ERR_GROUP_AUTHORIZATION_FAILED, "");
    } else if (!gc) {
        rc = join_immediate_error(resp, req->api_version, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, "");
    } else {
        group_request_enter(gc, req, resp);
        rc = group_request_leave(gc, join_group(gc, req, &rq, resp, sb_mono_ms()));
    }
    join_group_request_deinit(&rq);
    return rc;
}

int handle_SyncGroup(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sync_group_request_t rq;
    int rc = sync_group_request_decode(&req->body, req->api_version, &rq);
    if (rc != 0) {
        sync_group_request_deinit(&rq);
        return rc;
    }
    group_coordinator_t *gc = broker_groups(b);
    if (!broker_authorize_group(b, req, ACL_OP_READ, rq.group_id)) {
        sync_group_response_encode(resp, req->api_version, KAFKA_ERR_GROUP_AUTHORIZATION_FAILED, NULL, 0);
        rc = KAFKA_HANDLER_DONE;
    } else if (!gc) {
        sync_group_response_encode(resp, req->api_version, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, NULL, 0);
        rc = KAFKA_HANDLER_DONE;
    } else {
        group_request_enter(gc, req, resp);
        rc = group_request_leave(gc, sync_group(gc, req, &rq, resp, sb_mono_ms()));
    }
    sync_group_request_deinit(&rq);
    return rc;
}

int handle_Heartbeat(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    heartbeat_request_t rq;
    if (heartbeat_request_decode(&req->body, req->api_version, &rq) != 0) return SB_EINVAL;
    group_coordinator_t *gc = broker_groups(b);
    int16_t error = !broker_authorize_group(b, req, ACL_OP_READ, rq.group_id) ? KAFKA_ERR_GROUP_AUTHORIZATION_FAILED
                    : gc ? heartbeat(gc, &rq, sb_mono_ms())
                         : KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    heartbeat_response_encode(resp, req->api_version, error);
    return KAFKA_HANDLER_DONE;
}

int handle_LeaveGroup(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    leave_group_request_t rq;
    if (leave_group_request_decode(&req->body, req->api_version, &rq) != 0) return SB_EINVAL;
    group_coordinator_t *gc = broker_groups(b);
    int16_t error = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (!broker_authorize_group(b, req, ACL_OP_READ, rq.group_id)) {
        error = KAFKA_ERR_GROUP_AUTHORIZATION_FAILED;
    } else if (gc) {
        group_request_enter(gc, req, resp);
        error = leave_group(gc, &rq, sb_mono_ms());
        group_request_leave(gc, KAFKA_HANDLER_DONE);
    }
    leave_group_response_encode(resp, req->api_version, error);
    return KAFKA_HANDLER_DONE;
}

int handle_DescribeGroups(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    describe_groups_request_t rq;
    int rc = describe_groups_request_decode(&req->body, req->api_version, &rq);
    if (rc != 0) {
        describe_groups_request_deinit(&rq);
        return rc;
    }
    int16_t version = req->api_version;
    group_coordinator_t *gc = broker_groups(b);
    /* Report the state as of now, not as of the last tick (up to 100 ms old). */
    if (gc) group_coordinator_tick(gc, sb_mono_ms());
    describe_groups_response_begin(resp, version, rq.group_count);
    for (int32_t i = 0; i < rq.group_count; i++) {
        sb_slice_t id = rq.groups[i];
        group_t *g = gc ? group_find(gc, id.p, id.len) : NULL;
        if (!broker_authorize_group(b, req, ACL_OP_DESCRIBE, id)) {
            describe_groups_response_group(resp, KAFKA_ERR_GROUP_AUTHORIZATION_FAILED, id.p, id.len, "", "", "", 0);
        } else if (!gc) {
            describe_groups_response_group(resp, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, id.p, id.len, "", "", "", 0);
        } else if (!g) {
            /* Kafka describes an unknown group as a Dead one without error. */
            describe_groups_response_group(resp, KAFKA_ERR_NONE, id.p, id.len, "Dead", "", "", 0);
        } else {
            /* Member metadata, assignments and the protocol name are only meaningful once the
             * generation is settled, so like Kafka they are shown in Stable only. */
            bool stable = g->state == GROUP_STABLE;
            describe_groups_response_group(resp, KAFKA_ERR_NONE, id.p, id.len, group_state_name(g->state),
                                           g->protocol_type ? g->protocol_type : "",
                                           stable && g->protocol_name ? g->protocol_name : "", g->member_count);
            for (int32_t k = 0; k < g->member_count; k++) {
                const group_member_t *m = g->members[k];
                const group_protocol_t *p = stable ? member_protocol(m, g->protocol_name) : NULL;
                describe_groups_response_member(resp, version, m->member_id, m->group_instance_id, m->client_id,
                                                m->client_host, p ? p->metadata : NULL, p ? p->metadata_len : 0,
                                                stable ? m->assignment : NULL, stable ? m->assignment_len : 0);
            }
        }
        describe_groups_response_group_end(resp, version);
    }
    describe_groups_request_deinit(&rq);
    return KAFKA_HANDLER_DONE;
}

/* ListGroups shows a group to a principal with DESCRIBE on the cluster or on the group, as
 * Kafka does; hiding a group is filtering, not a denial. */
static bool list_groups_may_see(broker_t *b, const kreq_t *req, const group_t *g)
{
    return broker_authorize_quiet(b, req, ACL_OP_DESCRIBE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME,
                                  (int32_t)sizeof(ACL_CLUSTER_NAME) - 1) ||
           broker_authorize_quiet(b, req, ACL_OP_DESCRIBE, ACL_RESOURCE_GROUP, g->group_id,
                                  (int32_t)strlen(g->group_id));
}

int handle_ListGroups(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    int16_t v = req->api_version;
    list_groups_request_t rq;
    if (list_groups_request_decode(&req->body, v, &rq) != 0) return SB_EINVAL;
    group_coordinator_t *gc = broker_groups(b);
    if (!gc) {
        list_groups_response_begin(resp, v, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, 0);
        list_groups_response_end(resp, v);
        return KAFKA_HANDLER_DONE;
    }
    group_coordinator_tick(gc, sb_mono_ms()); /* as DescribeGroups */
    int32_t count = 0;
    for (int32_t i = 0; i < gc->group_count; i++) {
        const group_t *g = gc->groups[i];
        if (g->state != GROUP_DEAD && list_groups_state_wanted(&rq, group_state_name(g->state)) &&
            list_groups_may_see(b, req, g))
            count++;
    }
    list_groups_response_begin(resp, v, KAFKA_ERR_NONE, count);
    for (int32_t i = 0; i < gc->group_count; i++) {
        const group_t *g = gc->groups[i];
        if (g->state == GROUP_DEAD || !list_groups_state_wanted(&rq, group_state_name(g->state)) ||
            !list_groups_may_see(b, req, g))
            continue;
        list_groups_response_group(resp, v, g->group_id, g->protocol_type ? g->protocol_type : "",
                                   group_state_name(g->state));
    }
    list_groups_response_end(resp, v);
    return KAFKA_HANDLER_DONE;
}
