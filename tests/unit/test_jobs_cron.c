/* Tests for cron expressions, TZif zones and the next tick (src/jobs/cron.c), including the
 * daylight-saving edges. Expected instants were computed independently with Python's zoneinfo
 * from the same TZ database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "jobs/cron.h"

static int64_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {
        .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
    return (int64_t)timegm(&tm);
}

static int64_t next_of(const char *spec, const cron_tz_t *tz, int64_t after)
{
    cron_expr_t e;
    sb_err_t err = {0};
    assert_int_equal(cron_parse(spec, &e, &err), 0);
    int64_t n = 0;
    assert_int_equal(cron_next(&e, tz, after, &n), 0);
    return n;
}

static cron_tz_t *zone(const char *name)
{
    cron_tz_t *tz = NULL;
    sb_err_t err = {0};
    assert_int_equal(cron_tz_load(name, NULL, &tz, &err), 0);
    return tz;
}

static void test_parse_errors_name_the_field(void **state)
{
    cron_expr_t e;
    struct {
        const char *spec, *msg;
    } bad[] = {
        {"* * * *", "expected 5 fields"},
        {"* * * * * *", "more than 5 fields"},
        {"60 * * * *", "minute: 60 is out of range 0-59"},
        {"* 24 * * *", "hour: 24 is out of range 0-23"},
        {"* * 0 * *", "day-of-month: 0 is out of range 1-31"},
        {"* * * 13 *", "month: 13 is out of range 1-12"},
        {"* * * * 8", "day-of-week: 8 is out of range 0-7"},
        {"5-1 * * * *", "minute: range 5-1 runs backwards"},
        {"*/0 * * * *", "minute: step must be"},
        {"* * * FOO *", "month: expected a number or a name"},
        {"1,,2 * * * *", "minute: expected a number"},
        {"1;2 * * * *", "minute: unexpected \";\""},
        {"", "expected 5 fields"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sb_err_t err = {0};
        assert_int_equal(cron_parse(bad[i].spec, &e, &err), SB_EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("\"%s\": got \"%s\", want \"%s\"", bad[i].spec, err.msg, bad[i].msg);
    }
}

static void test_parse_fields(void **state)
{
    cron_expr_t e;
    sb_err_t err = {0};
    assert_int_equal(cron_parse("*/15 9-17/4 1,15 jan-MAR,dec mon-fri", &e, &err), 0);
    assert_true(e.minute == ((1ull << 0) | (1ull << 15) | (1ull << 30) | (1ull << 45)));
    assert_int_equal(e.hour, (1u << 9) | (1u << 13) | (1u << 17));
    assert_int_equal(e.dom, (1u << 1) | (1u << 15));
    assert_int_equal(e.month, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 12));
    assert_int_equal(e.dow, 0x3e);
    assert_false(e.dom_any || e.dow_any);
    /* 7 is Sunday too; "a/n" runs to the end of the range */
    assert_int_equal(cron_parse("0 0 * * 7", &e, &err), 0);
    assert_int_equal(e.dow, 1);
    assert_int_equal(cron_parse("50/5 0 * * *", &e, &err), 0);
    assert_true(e.minute == ((1ull << 50) | (1ull << 55)));
}

static void test_next_in_utc(void **state)
{
    int64_t t = utc(2026, 12, 4, 21, 7);
    assert_int_equal(next_of("* * * * *", NULL, t), utc(2026, 12, 4, 21, 8));
    assert_int_equal(next_of("*/15 * * * *", NULL, t), utc(2026, 12, 4, 21, 15));
    assert_int_equal(next_of("0 0 * * *", NULL, t), utc(2026, 12, 5, 0, 0));
    /* strictly after: a tick exactly at `after` is not returned again */
    assert_int_equal(next_of("15 21 * * *", NULL, utc(2026, 12, 4, 21, 15)),
                     utc(2026, 12, 5, 21, 15));
    /* 2026-12-04 is a Friday: the next Monday 09:30 */
    assert_int_equal(next_of("30 9 * * mon", NULL, t), utc(2026, 12, 7, 9, 30));
    /* both day fields restricted: either matches (the 1st, or a Monday) */
    assert_int_equal(next_of("0 0 1 * 1", NULL, t), utc(2026, 12, 7, 0, 0));
    assert_int_equal(next_of("0 0 1 * 1", NULL, utc(2026, 12, 29, 0, 0)), utc(2027, 1, 1, 0, 0));
    /* Feb 29 only in leap years; the year rolls over */
    assert_int_equal(next_of("0 0 29 2 *", NULL, t), utc(2028, 2, 29, 0, 0));
    assert_int_equal(next_of("0 12 31 12 *", NULL, utc(2026, 12, 31, 12, 0)),
                     utc(2027, 12, 31, 12, 0));
    /* never */
    cron_expr_t e;
    int64_t n;
    assert_int_equal(cron_parse("0 0 30 2 *", &e, NULL), 0);
    assert_int_equal(cron_next(&e, NULL, t, &n), SB_ENOENT);
}

static void test_spring_forward_gap_fires_once_after_the_change(void **state)
{
    cron_tz_t *berlin = zone("Europe/Berlin");
    /* 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00Z). 02:30 does not exist: fires at 03:00. */
    int64_t before = 1774745940; /* 01:59 CET */
    assert_int_equal(next_of("30 2 * * *", berlin, before), 1774746000);
    /* and not a second time that night: the next is 02:30 CEST the day after */
    assert_int_equal(next_of("30 2 * * *", berlin, 1774746000), 1774830600);
    /* an hourly-ish job skips the hour that does not exist, once */
    assert_int_equal(next_of("*/15 * * * *", berlin, before), 1774746000);
    assert_int_equal(next_of("*/15 * * * *", berlin, 1774746000), 1774746000 + 15 * 60);
    cron_tz_free(berlin);
    /* America/New_York 2026-03-08: 03:00 exists (the gap is 02:00-03:00) */
    cron_tz_t *ny = zone("America/New_York");
    assert_int_equal(next_of("0 3 * * *", ny, utc(2026, 3, 8, 0, 0)), 1772953200);
    assert_int_equal(next_of("0 3 * * *", ny, 1772953200), 1773039600);
    cron_tz_free(ny);
}

static void test_fall_back_repeated_hour_fires_once(void **state)
{
    cron_tz_t *berlin = zone("Europe/Berlin");
    /* 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens at 00:30Z and 01:30Z. */
    int64_t first = 1792888200, second = 1792891800;
    assert_int_equal(next_of("30 2 * * *", berlin, utc(2026, 10, 24, 22, 0)), first);
    assert_int_equal(next_of("30 2 * * *", berlin, first), 1792978200); /* not `second` */
    /* a scheduler that comes back inside the repeated hour does not fire it again */
    assert_int_equal(next_of("30 2 * * *", berlin, second - 60), 1792978200);
    cron_tz_free(berlin);
    /* the southern hemisphere: Sydney leaves DST on 2026-04-05 at 03:00 AEDT */
    cron_tz_t *syd = zone("Australia/Sydney");
    assert_int_equal(next_of("30 2 * * *", syd, utc(2026, 4, 4, 12, 0)), 1775316600);
    cron_tz_free(syd);
}

static void test_offsets_past_the_transition_table_use_the_footer_rule(void **state)
{
    cron_tz_t *berlin = zone("Europe/Berlin");
    assert_int_equal(cron_tz_offset(berlin, 2224749600), 7200); /* July 2040 */
    assert_int_equal(cron_tz_offset(berlin, 2209028400), 3600); /* January 2040 */
    assert_int_equal(next_of("0 12 1 7 *", berlin, utc(2040, 1, 1, 0, 0)), 2224749600);
    cron_tz_free(berlin);
    /* A TZif v2 file with no transitions at all, only the footer (as "slim" zone files are for
     * recent years): the rule alone must give CET/CEST. */
    uint8_t f[256];
    size_t n = 0;
    for (int block = 0; block < 2; block++) {
        memcpy(f + n, "TZif2", 5);
        memset(f + n + 5, 0, 15);
        n += 20;
        uint32_t counts[6] = {0, 0, 0, 0, 1, 4}; /* isut isstd leap time type char */
        for (int i = 0; i < 6; i++, n += 4) {
            f[n] = 0, f[n + 1] = 0, f[n + 2] = 0, f[n + 3] = (uint8_t)counts[i];
        }
        memcpy(f + n,
               "\x00\x00\x0e\x10\x00\x00"
               "CET",
               10); /* type: +3600, std, abbr 0; chars "CET\0" */
        n += 10;
    }
    const char footer[] = "\nCET-1CEST,M3.5.0,M10.5.0/3\n";
    memcpy(f + n, footer, sizeof(footer) - 1);
    n += sizeof(footer) - 1;
    cron_tz_t *slim = NULL;
    assert_int_equal(cron_tz_parse(f, n, &slim, NULL), 0);
    assert_int_equal(cron_tz_offset(slim, 1774745940), 3600); /* 01:59 CET before the change */
    assert_int_equal(cron_tz_offset(slim, 1774746000), 7200); /* 03:00 CEST */
    assert_int_equal(cron_tz_offset(slim, 1792888200), 7200); /* 02:30 CEST, Oct 25 */
    assert_int_equal(cron_tz_offset(slim, 1792891800), 3600); /* 02:30 CET */
    assert_int_equal(next_of("30 2 * * *", slim, 1774745940), 1774746000);
    cron_tz_free(slim);
    /* every truncation of it is refused or parsed, never read past the end (ASan watches) */
    for (size_t cut = 0; cut < n; cut++) {
        cron_tz_t *t = NULL;
        if (cron_tz_parse(f, cut, &t, NULL) == 0) cron_tz_free(t);
    }
}

static void test_zone_names(void **state)
{
    cron_tz_t *tz = NULL;
    sb_err_t err = {0};
    assert_int_equal(cron_tz_load("../../etc/passwd", NULL, &tz, &err), SB_EINVAL);
    assert_int_equal(cron_tz_load("/etc/localtime", NULL, &tz, &err), SB_EINVAL);
    assert_int_equal(cron_tz_load("Europe/Atlantis", NULL, &tz, &err), SB_ENOENT);
    assert_non_null(strstr(err.msg, "unknown time zone \"Europe/Atlantis\""));
    assert_int_equal(cron_tz_load("Europe", NULL, &tz, &err), SB_ENOENT); /* a directory */
    assert_int_equal(cron_tz_load("UTC", NULL, &tz, &err), 0);
    assert_int_equal(cron_tz_offset(tz, utc(2026, 7, 1, 0, 0)), 0);
    cron_tz_free(tz);
    uint8_t junk[64] = "TZif2 but not really";
    assert_int_equal(cron_tz_parse(junk, sizeof(junk), &tz, NULL), SB_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors_name_the_field),
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_next_in_utc),
        cmocka_unit_test(test_spring_forward_gap_fires_once_after_the_change),
        cmocka_unit_test(test_fall_back_repeated_hour_fires_once),
        cmocka_unit_test(test_offsets_past_the_transition_table_use_the_footer_rule),
        cmocka_unit_test(test_zone_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
