/* Durability by group commit. The network thread appends to logs and marks them dirty; the
 * flusher thread fdatasyncs dirty logs — at once when an acks=all producer (or an offset
 * commit) is waiting, otherwise every flush_interval_ms — and then pokes an eventfd. The
 * network thread answers every waiter whose offset is now durable. While one fsync runs, new
 * appends pile up and the next fsync covers them all: that is what lets many producers share
 * one fsync.
 *
 * Locking: flusher.lock guards the dirty list and the dirty/urgent/flushing flags of every
 * partition. It is never held during fdatasync. Waiters live on the network thread only. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "broker/metrics_broker.h"
#include "common/log.h"

static partition_t *take_dirty(flusher_t *f, bool urgent_only)
{
    partition_t **pp = &f->dirty_head;
    while (*pp) {
        partition_t *p = *pp;
        if (!urgent_only || p->urgent) {
            *pp = p->next_dirty;
            p->next_dirty = NULL;
            p->dirty = false;
            p->urgent = false;
            p->flushing = true;
            return p;
        }
        pp = &p->next_dirty;
    }
    return NULL;
}

static void waiter_unlink(broker_t *b, durable_waiter_t *prev, durable_waiter_t *w)
{
    if (prev) prev->next = w->next;
    else b->waiters = w->next;
    if (b->waiters_tail == w) b->waiters_tail = prev;
    w->p->durable_waiting--;
}

static void *flusher_main(void *arg)
{
    broker_t *b = arg;
    flusher_t *f = &b->flusher;
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    int64_t last_full_ms = (int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
    pthread_mutex_lock(&f->lock);
    while (!f->stop) {
        if (!f->urgent) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t ns = ts.tv_nsec + (f->interval_ms % 1000) * 1000000;
            ts.tv_sec += f->interval_ms / 1000 + ns / 1000000000;
            ts.tv_nsec = ns % 1000000000;
            pthread_cond_timedwait(&f->cond, &f->lock, &ts);
            if (f->stop) break;
        }
        /* On an urgent wake-up only the logs somebody waits on are synced; once per
         * interval a full round syncs everything dirty, however busy the urgent path is. */
        clock_gettime(CLOCK_MONOTONIC, &mono);
        int64_t now_ms = (int64_t)mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
        bool urgent_only = f->urgent && now_ms - last_full_ms < f->interval_ms;
        if (!urgent_only) last_full_ms = now_ms;
        f->urgent = false;
        bool any = false;
        partition_t *p;
        while ((p = take_dirty(f, urgent_only)) != NULL) {
            pthread_mutex_unlock(&f->lock);
            int64_t us = 0;
            sb_err_t err = {0};
            if (plog_flush(p->log, &us, &err) < 0)
                sb_error("flush", "fdatasync of %s-%d failed: %s", p->topic->name, p->index, err.msg);
            broker_metrics_fsync(b->m, us);
            any = true;
            pthread_mutex_lock(&f->lock);
            p->flushing = false;
            pthread_cond_broadcast(&f->idle_cond);
        }
        if (any) {
            uint64_t one = 1;
            ssize_t w = write(f->eventfd, &one, sizeof(one));
            (void)w;
        }
    }
    pthread_mutex_unlock(&f->lock);
    return NULL;
}

int flusher_start(broker_t *b, sb_err_t *err)
{
    flusher_t *f = &b->flusher;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
    pthread_cond_init(&f->idle_cond, NULL);
    f->interval_ms = b->opt.flush_interval_ms > 0 ? b->opt.flush_interval_ms : 1000;
    f->eventfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (f->eventfd < 0) return sb_err_set(err, SB_EIO, "eventfd: %s", strerror(errno));
    if (pthread_create(&f->thread, NULL, flusher_main, b) != 0)
        return sb_err_set(err, SB_EIO, "cannot start flusher thread");
    f->started = true;
    return 0;
}

void flusher_stop(broker_t *b)
{
    flusher_t *f = &b->flusher;
    if (f->started) {
        pthread_mutex_lock(&f->lock);
        f->stop = true;
        pthread_cond_signal(&f->cond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
        f->started = false;
    }
    if (f->eventfd >= 0) close(f->eventfd);
    f->eventfd = -1;
    /* In registration order, like flusher_on_event. */
    while (b->waiters) {
        durable_waiter_t *w = b->waiters;
        waiter_unlink(b, NULL, w);
        w->cb(b, w->arg, SB_EIO);
        free(w);
    }
}

/* Puts p on the dirty list; with `urgent`, also wakes the flusher at once. */
static void mark(broker_t *b, partition_t *p, bool urgent)
{
    flusher_t *f = &b->flusher;
    pthread_mutex_lock(&f->lock);
    if (!p->dirty) {
        p->dirty = true;
        p->next_dirty = f->dirty_head;
        f->dirty_head = p;
    }
    if (urgent) {
        p->urgent = true;
        f->urgent = true;
        pthread_cond_signal(&f->cond);
    }
    pthread_mutex_unlock(&f->lock);
}

void flusher_mark_dirty(broker_t *b, partition_t *p)
{
    mark(b, p, false);
}

void flusher_forget(broker_t *b, partition_t *p)
{
    flusher_t *f = &b->flusher;
    pthread_mutex_lock(&f->lock);
    for (partition_t **pp = &f->dirty_head; *pp; pp = &(*pp)->next_dirty)
        if (*pp == p) {
            *pp = p->next_dirty;
            break;
        }
    p->dirty = p->urgent = false;
    while (p->flushing) pthread_cond_wait(&f->idle_cond, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

/* ---- durability waiters ----
 *
 * Callbacks of one log must run in offset order: the group coordinator applies an offset commit
 * to memory in its callback, so when one fsync makes fifty commits durable the newest has to be
 * applied last or an older commit wins. Waiters therefore form one FIFO in registration order;
 * a log's offsets only grow, so registration order is offset order within each log. A pass runs
 * waiters front to back and, once a waiter of a log has to keep waiting, skips every later waiter
 * of that log in the same pass — the durable offset may advance while the pass runs, and a later
 * waiter must not overtake an earlier one that was judged a moment before. */

void broker_after_durable(broker_t *b, plog_t *log, int64_t offset, broker_durable_cb cb, void *arg)
{
    bool durable = plog_durable_offset(log) >= offset;
    partition_t *p = broker_partition_of_log(b, log);
    /* Already durable runs at once unless an earlier waiter of this log has not run yet. */
    if (durable && (!p || p->durable_waiting == 0)) {
        cb(b, arg, 0);
        return;
    }
    if (!p) {
        /* Only partitions are flushed; a waiter on anything else would wait forever. */
        cb(b, arg, SB_ENOENT);
        return;
    }
    durable_waiter_t *w = malloc(sizeof(*w));
    if (!w) {
        cb(b, arg, SB_ENOMEM);
        return;
    }
    *w = (durable_waiter_t){.log = log, .p = p, .offset = offset, .cb = cb, .arg = arg};
    if (b->waiters_tail) b->waiters_tail->next = w;
    else b->waiters = w;
    b->waiters_tail = w;
    p->durable_waiting++;
    mark(b, p, true);
}

void flusher_on_event(broker_t *b)
{
    uint64_t pass = ++b->waiters_pass;
    durable_waiter_t *prev = NULL, *w = b->waiters;
    while (w) {
        partition_t *p = w->p;
        if (p->durable_blocked_pass == pass || plog_durable_offset(w->log) < w->offset) {
            if (p->durable_blocked_pass != pass) {
                p->durable_blocked_pass = pass;
                /* The flush that woke us may have ended before this append; ask for another. */
                mark(b, p, true);
            }
            prev = w;
            w = w->next;
            continue;
        }
        waiter_unlink(b, prev, w);
        uint64_t drops = b->waiters_drops;
        w->cb(b, w->arg, 0);
        free(w);
        /* A callback may append waiters (they land at the tail, after prev) or drop a deleted
         * topic's waiters (prev may be gone: start over; blocked logs stay blocked). */
        if (b->waiters_drops != drops) prev = NULL;
        w = prev ? prev->next : b->waiters;
    }
}

void durable_waiters_drop_log(broker_t *b, plog_t *log)
{
    b->waiters_drops++;
    durable_waiter_t *prev = NULL, *w = b->waiters;
    while (w) {
        durable_waiter_t *next = w->next;
        if (w->log == log) {
            waiter_unlink(b, prev, w);
            w->cb(b, w->arg, SB_ENOENT);
            free(w);
            /* The callback may have changed the list; rescan from the start. */
            prev = NULL;
            next = b->waiters;
        } else {
            prev = w;
        }
        w = next;
    }
}
