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
    for (durable_waiter_t *w = b->waiters, *n; w; w = n) {
        n = w->next;
        w->cb(b, w->arg, SB_EIO);
        free(w);
    }
    b->waiters = NULL;
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

void broker_after_durable(broker_t *b, plog_t *log, int64_t offset, broker_durable_cb cb, void *arg)
{
    if (plog_durable_offset(log) >= offset) {
        cb(b, arg, 0);
        return;
    }
    durable_waiter_t *w = malloc(sizeof(*w));
    if (!w) {
        cb(b, arg, SB_ENOMEM);
        return;
    }
    *w = (durable_waiter_t){.log = log, .offset = offset, .cb = cb, .arg = arg, .next = b->waiters};
    b->waiters = w;
    partition_t *p = broker_partition_of_log(b, log);
    if (p) mark(b, p, true);
}

void flusher_on_event(broker_t *b)
{
    /* Waiters are few (one per in-flight acks=all request); a linear pass is cheap. The list
     * is detached first because callbacks may add new waiters. */
    durable_waiter_t *list = b->waiters, *keep = NULL;
    b->waiters = NULL;
    while (list) {
        durable_waiter_t *w = list;
        list = w->next;
        if (plog_durable_offset(w->log) >= w->offset) {
            w->cb(b, w->arg, 0);
            free(w);
        } else {
            w->next = keep;
            keep = w;
        }
    }
    /* Re-attach the still-waiting ones in front of any added by callbacks. */
    while (keep) {
        durable_waiter_t *w = keep;
        keep = w->next;
        w->next = b->waiters;
        b->waiters = w;
        partition_t *p = broker_partition_of_log(b, w->log);
        if (p) mark(b, p, true);
    }
}

void durable_waiters_drop_log(broker_t *b, plog_t *log)
{
    durable_waiter_t **pp = &b->waiters;
    while (*pp) {
        durable_waiter_t *w = *pp;
        if (w->log == log) {
            *pp = w->next;
            w->cb(b, w->arg, SB_ENOENT);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}
