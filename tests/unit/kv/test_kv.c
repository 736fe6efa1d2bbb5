/* tests/unit/kv/test_kv.c - the kv stores: snapshots and views, the limits, the log's format (torn tails, damaged records,
 * foreign files), restarts, compaction, and readers that never see half of a bulk write while a writer runs */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "kv/kv.h"
#include "kv/kvlog.h"

static char dir[256], path[300];

static int on_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/edgehook-test-kv-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sub/dir/flags.kvlog", dir); /* the directories are created */
    return 0;
}

static int teardown(void **state)
{
    nftw(dir, on_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static kv_store_conf_t conf_of(uint64_t max_keys, uint64_t max_bytes, uint64_t max_value)
{
    return (kv_store_conf_t){"flags", path, max_keys, max_bytes, max_value};
}

static kv_db_t *open_db(void)
{
    char err[1024] = "";
    kv_store_conf_t c = conf_of(KV_DEFAULT_MAX_KEYS, KV_DEFAULT_MAX_BYTES, KV_DEFAULT_MAX_VALUE);
    kv_db_t *db = kv_db_open(&c, 1, err, sizeof(err));
    if (db == NULL)
        fail_msg("open: %s", err);
    return db;
}

static int put(kv_db_t *db, const char *k, const char *v)
{
    char err[512];
    kv_op_t op = {k, strlen(k), v, strlen(v), 0};
    return kv_db_write(db, 0, &op, 1, 0, err, sizeof(err));
}

static int del(kv_db_t *db, const char *k)
{
    char err[512];
    kv_op_t op = {k, strlen(k), NULL, 0, 1};
    return kv_db_write(db, 0, &op, 1, 0, err, sizeof(err));
}

/* the value of k in a fresh view, as a static string ("<absent>" when absent) */
static const char *get(kv_db_t *db, const char *k)
{
    static char buf[4096];
    const char *v;
    size_t vlen;
    kv_view_t *view = kv_view_acquire(db);
    int found = kv_view_get(view, 0, k, strlen(k), &v, &vlen);
    if (found)
        snprintf(buf, sizeof(buf), "%.*s", (int)vlen, v);
    kv_view_release(view);
    return found ? buf : "<absent>";
}

static off_t file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static void test_put_get_delete_and_views(void **state)
{
    kv_db_t *db = open_db();
    assert_int_equal(kv_db_count(db), 1);
    assert_int_equal(kv_db_find(db, "flags", 5), 0);
    assert_int_equal(kv_db_find(db, "flag", 4), -1);
    assert_string_equal(get(db, "a"), "<absent>");
    assert_int_equal(put(db, "a", "1"), KV_OK);
    assert_int_equal(put(db, "b", ""), KV_OK); /* an empty value is a value */
    assert_string_equal(get(db, "a"), "1");
    assert_string_equal(get(db, "b"), "");
    /* a view taken before a write keeps what it saw: one snapshot per call */
    kv_view_t *before = kv_view_acquire(db);
    assert_int_equal(put(db, "a", "2"), KV_OK);
    assert_int_equal(del(db, "b"), KV_OK);
    const char *v;
    size_t vlen;
    assert_int_equal(kv_view_get(before, 0, "a", 1, &v, &vlen), 1);
    assert_int_equal(vlen, 1);
    assert_memory_equal(v, "1", 1);
    assert_int_equal(kv_view_get(before, 0, "b", 1, &v, &vlen), 1);
    kv_meta_t meta;
    kv_view_meta(before, 0, &meta);
    assert_int_equal(meta.keys, 2);
    assert_int_equal(meta.version, 2);
    kv_view_release(before);
    assert_string_equal(get(db, "a"), "2");
    assert_string_equal(get(db, "b"), "<absent>");
    assert_int_equal(del(db, "b"), KV_E_NOTFOUND); /* a delete of an absent key says so, and writes nothing */
    kv_stats_t st;
    kv_db_stats(db, 0, &st);
    assert_int_equal(st.keys, 1);
    assert_int_equal(st.bytes, 2);
    assert_int_equal(st.version, 4);
    assert_int_equal(st.updates, 4);
    /* out-of-range store indices read nothing */
    kv_view_t *view = kv_view_acquire(db);
    assert_int_equal(kv_view_get(view, 1, "a", 1, &v, &vlen), 0);
    assert_int_equal(kv_view_get(view, -1, "a", 1, &v, &vlen), 0);
    kv_view_release(view);
    kv_db_close(db);
}

static void test_bulk_is_all_or_nothing(void **state)
{
    char err[512];
    kv_db_t *db = open_db();
    assert_int_equal(put(db, "keep", "x"), KV_OK);
    assert_int_equal(put(db, "gone", "y"), KV_OK);
    kv_op_t ops[] = {
        {"a", 1, "1", 1, 0}, {"b", 1, "2", 1, 0}, {"gone", 4, NULL, 0, 1}, {"a", 1, "last", 4, 0}, {"never-there", 11, NULL, 0, 1}};
    assert_int_equal(kv_db_write(db, 0, ops, 5, 0, err, sizeof(err)), KV_OK);
    assert_string_equal(get(db, "a"), "last"); /* the last op of a key wins */
    assert_string_equal(get(db, "b"), "2");
    assert_string_equal(get(db, "gone"), "<absent>");
    assert_string_equal(get(db, "keep"), "x");
    kv_stats_t st;
    kv_db_stats(db, 0, &st);
    assert_int_equal(st.version, 3); /* one write, one version */
    /* one bad op: nothing of the write happens */
    kv_op_t bad[] = {{"c", 1, "3", 1, 0}, {"d", 1, "\xff", 1, 0}};
    assert_int_equal(kv_db_write(db, 0, bad, 2, 0, err, sizeof(err)), KV_E_INVALID);
    assert_non_null(strstr(err, "UTF-8"));
    assert_string_equal(get(db, "c"), "<absent>");
    /* replace: the store becomes exactly the puts */
    kv_op_t repl[] = {{"z", 1, "26", 2, 0}, {"y", 1, "25", 2, 0}};
    assert_int_equal(kv_db_write(db, 0, repl, 2, 1, err, sizeof(err)), KV_OK);
    assert_string_equal(get(db, "keep"), "<absent>");
    assert_string_equal(get(db, "z"), "26");
    /* listing order is byte order */
    kv_view_t *v = kv_view_acquire(db);
    const char *k, *val;
    size_t klen, vlen;
    assert_int_equal(kv_view_at(v, 0, 0, &k, &klen, &val, &vlen), 1);
    assert_memory_equal(k, "y", 1);
    assert_int_equal(kv_view_lower_bound(v, 0, "z", 1), 1);
    assert_int_equal(kv_view_lower_bound(v, 0, "zz", 2), 2);
    assert_int_equal(kv_view_at(v, 0, 2, &k, &klen, &val, &vlen), 0);
    kv_view_release(v);
    kv_db_close(db);
}

static void test_limits(void **state)
{
    char err[512], big[KV_MAX_KEY + 2];
    kv_store_conf_t c = conf_of(3, 40, 8);
    kv_db_t *db = kv_db_open(&c, 1, err, sizeof(err));
    assert_non_null(db);
    kv_op_t op = {"", 0, "v", 1, 0};
    assert_int_equal(kv_db_write(db, 0, &op, 1, 0, err, sizeof(err)), KV_E_INVALID);
    assert_string_equal(err, "the key is empty");
    memset(big, 'k', sizeof(big));
    assert_int_equal(kv_check_key(big, KV_MAX_KEY, err, sizeof(err)), KV_OK);
    assert_int_equal(kv_check_key(big, KV_MAX_KEY + 1, err, sizeof(err)), KV_E_INVALID);
    assert_non_null(strstr(err, "over the limit of 512"));
    assert_int_equal(kv_check_key("a\0b", 3, err, sizeof(err)), KV_E_INVALID);
    assert_non_null(strstr(err, "control character"));
    assert_int_equal(kv_check_key("a\nb", 3, err, sizeof(err)), KV_E_INVALID);
    assert_int_equal(kv_check_key("\xc0\xaf", 2, err, sizeof(err)), KV_E_INVALID);     /* an overlong '/' */
    assert_int_equal(kv_check_key("\xed\xa0\x80", 3, err, sizeof(err)), KV_E_INVALID); /* a surrogate */
    assert_int_equal(kv_check_key("../../etc/passwd", 16, err, sizeof(err)), KV_OK);   /* only bytes: keys are never paths */
    assert_int_equal(kv_check_key("caf\xc3\xa9", 5, err, sizeof(err)), KV_OK);
    op = (kv_op_t){"k", 1, "123456789", 9, 0};
    assert_int_equal(kv_db_write(db, 0, &op, 1, 0, err, sizeof(err)), KV_E_TOO_LARGE);
    assert_non_null(strstr(err, "max_value of 8"));
    assert_int_equal(put(db, "a", "12345678"), KV_OK);
    assert_int_equal(put(db, "b", "12345678"), KV_OK);
    assert_int_equal(put(db, "c", "12345678"), KV_OK);               /* 27 bytes, 3 keys */
    assert_int_equal(put(db, "d", "1"), KV_E_TOO_LARGE);             /* a 4th key */
    assert_int_equal(put(db, "a", "1234567890123"), KV_E_TOO_LARGE); /* over max_value */
    kv_op_t grow[] = {{"a", 1, "12345678", 8, 0}, {"bbbbbbbbbbbbbbbbbbbbbbbb", 24, "1", 1, 0}, {"b", 1, NULL, 0, 1}};
    assert_int_equal(kv_db_write(db, 0, grow, 3, 0, err, sizeof(err)), KV_E_TOO_LARGE); /* 43 bytes > 40 */
    assert_non_null(strstr(err, "max_bytes of 40"));
    assert_string_equal(get(db, "b"), "12345678"); /* refused whole */
    assert_int_equal(put(db, "a", "1"), KV_OK);    /* shrinking is fine */
    kv_db_close(db);
}

static void test_restart_reads_the_log(void **state)
{
    kv_db_t *db = open_db();
    assert_int_equal(put(db, "a", "1"), KV_OK);
    assert_int_equal(put(db, "b", "2"), KV_OK);
    assert_int_equal(del(db, "a"), KV_OK);
    assert_int_equal(put(db, "c", "3"), KV_OK);
    kv_db_close(db);
    db = open_db();
    assert_string_equal(get(db, "a"), "<absent>");
    assert_string_equal(get(db, "b"), "2");
    assert_string_equal(get(db, "c"), "3");
    kv_stats_t st;
    kv_db_stats(db, 0, &st);
    assert_int_equal(st.version, 4);
    assert_int_equal(st.updates, 0); /* since start */
    assert_int_equal(put(db, "d", "4"), KV_OK);
    kv_db_close(db);
    db = open_db();
    assert_string_equal(get(db, "d"), "4");
    kv_db_close(db);
}

/* every prefix of a record that is not the whole record is a torn write: reading stops before it, the file is cut back */
static void test_torn_tail(void **state)
{
    kv_db_t *db = open_db();
    assert_int_equal(put(db, "a", "1"), KV_OK);
    kv_db_close(db);
    off_t good = file_size(path);
    kv_op_t ops[] = {{"b", 1, "2", 1, 0}, {"c", 1, "3", 1, 0}};
    size_t len;
    char *rec = kvlog_encode(KVLOG_CHANGES, 2, ops, 2, &len);
    for (size_t cut = 1; cut < len; ++cut) {
        int fd = open(path, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, rec, cut), (ssize_t)cut);
        close(fd);
        db = open_db();
        assert_string_equal(get(db, "a"), "1");
        assert_string_equal(get(db, "b"), "<absent>"); /* never half of the bulk write */
        assert_string_equal(get(db, "c"), "<absent>");
        kv_db_close(db);
        assert_int_equal(file_size(path), good);
    }
    /* a whole record is read; then a write goes on after it */
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, rec, len), (ssize_t)len);
    close(fd);
    db = open_db();
    assert_string_equal(get(db, "b"), "2");
    assert_string_equal(get(db, "c"), "3");
    assert_int_equal(put(db, "d", "4"), KV_OK);
    kv_db_close(db);
    db = open_db();
    assert_string_equal(get(db, "d"), "4");
    kv_db_close(db);
    free(rec);
}

static void test_damaged_record_and_foreign_files(void **state)
{
    kv_db_t *db = open_db();
    assert_int_equal(put(db, "a", "1"), KV_OK);
    assert_int_equal(put(db, "b", "2"), KV_OK);
    kv_db_close(db);
    /* flip a byte of the last record's value: its CRC fails, it is dropped (and only it) */
    off_t size = file_size(path);
    int fd = open(path, O_RDWR);
    char c;
    assert_int_equal(pread(fd, &c, 1, size - 1), 1);
    c ^= 0x20;
    assert_int_equal(pwrite(fd, &c, 1, size - 1), 1);
    close(fd);
    db = open_db();
    assert_string_equal(get(db, "a"), "1");
    assert_string_equal(get(db, "b"), "<absent>");
    kv_db_close(db);
    /* a file that is not a kv log is never touched */
    char other[400], err[1024];
    snprintf(other, sizeof(other), "%s/notakvlog", dir);
    FILE *f = fopen(other, "w");
    fputs("{\"a\": \"1\"}\n", f);
    fclose(f);
    kv_store_conf_t cf = {"x", other, 10, 1000, 100};
    assert_null(kv_db_open(&cf, 1, err, sizeof(err)));
    assert_non_null(strstr(err, "not an edgehook kv log"));
    assert_int_equal(file_size(other), 11);
    /* a file with only part of the header (a start that died while creating it) starts afresh */
    snprintf(other, sizeof(other), "%s/partial.kvlog", dir);
    f = fopen(other, "w");
    fputs("EDGE", f);
    fclose(f);
    cf.path = other;
    kv_db_t *db2 = kv_db_open(&cf, 1, err, sizeof(err));
    assert_non_null(db2);
    assert_int_equal(file_size(other), KVLOG_HEADER_LEN);
    kv_db_close(db2);
    /* two stores on one file are refused */
    kv_store_conf_t two[] = {{"a", path, 10, 1000, 100}, {"b", path, 10, 1000, 100}};
    assert_null(kv_db_open(two, 2, err, sizeof(err)));
    assert_non_null(strstr(err, "the log file of store a too"));
}

static void test_record_format(void **state)
{
    kv_op_t ops[] = {{"key", 3, "value", 5, 0}, {"old", 3, NULL, 0, 1}};
    size_t len;
    char *rec = kvlog_encode(KVLOG_CHANGES, 7, ops, 2, &len);
    assert_int_equal(len, 8 + 13 + (7 + 3 + 5) + (7 + 3));
    kvlog_record_t r;
    assert_int_equal(kvlog_parse(rec, len, &r), len);
    assert_int_equal(r.kind, KVLOG_CHANGES);
    assert_int_equal(r.version, 7);
    assert_int_equal(r.nops, 2);
    size_t pos = 0;
    kv_op_t op;
    assert_int_equal(kvlog_record_next(&r, &pos, &op), 1);
    assert_int_equal(op.del, 0);
    assert_memory_equal(op.key, "key", 3);
    assert_memory_equal(op.val, "value", 5);
    assert_int_equal(kvlog_record_next(&r, &pos, &op), 1);
    assert_int_equal(op.del, 1);
    assert_int_equal(kvlog_record_next(&r, &pos, &op), 0);
    /* too short, a length past the end, a bad CRC, an unknown kind (CRC fixed up) */
    assert_int_equal(kvlog_parse(rec, 7, &r), 0);
    assert_int_equal(kvlog_parse(rec, len - 1, &r), 0);
    rec[len - 1] ^= 1;
    assert_int_equal(kvlog_parse(rec, len, &r), 0);
    rec[len - 1] ^= 1;
    char *copy = malloc(len);
    memcpy(copy, rec, len);
    copy[8] = 9;
    assert_int_equal(kvlog_parse(copy, len, &r), 0);
    /* a huge length is refused before anything is read */
    memcpy(copy, rec, len);
    copy[0] = copy[1] = copy[2] = copy[3] = (char)0xff;
    assert_int_equal(kvlog_parse(copy, len, &r), 0);
    free(copy);
    free(rec);
}

static void test_compaction_keeps_the_log_bounded(void **state)
{
    kv_db_t *db = open_db();
    char v[64];
    for (int i = 0; i != 2500; ++i) {
        snprintf(v, sizeof(v), "value number %d", i);
        assert_int_equal(put(db, i % 2 ? "odd" : "even", v), KV_OK);
    }
    kv_stats_t st;
    kv_db_stats(db, 0, &st);
    assert_true(st.log_bytes < 65536 + 4096); /* 2500 records would be ~90 KB */
    assert_int_equal(file_size(path), (off_t)st.log_bytes);
    kv_db_close(db);
    db = open_db();
    assert_string_equal(get(db, "odd"), "value number 2499");
    assert_string_equal(get(db, "even"), "value number 2498");
    kv_db_stats(db, 0, &st);
    assert_int_equal(st.version, 2500);
    kv_db_close(db);
}

/* readers check that a and b are always equal while a writer bulk-updates both: a view is one state of the store */
static _Atomic int stop, torn_seen, reads;

static void *reader(void *arg)
{
    kv_db_t *db = arg;
    while (!stop) {
        kv_view_t *v = kv_view_acquire(db);
        const char *a, *b;
        size_t alen, blen;
        if (kv_view_get(v, 0, "a", 1, &a, &alen) && kv_view_get(v, 0, "b", 1, &b, &blen) &&
            (alen != blen || memcmp(a, b, alen) != 0))
            ++torn_seen;
        ++reads;
        kv_view_release(v);
    }
    return NULL;
}

static void test_readers_never_see_half_a_bulk_write(void **state)
{
    char err[512], val[32];
    kv_db_t *db = open_db();
    pthread_t th[2];
    stop = torn_seen = reads = 0;
    for (int i = 0; i != 2; ++i)
        pthread_create(&th[i], NULL, reader, db);
    for (int i = 0; i != 300; ++i) {
        snprintf(val, sizeof(val), "%d", i);
        kv_op_t ops[] = {{"a", 1, val, strlen(val), 0}, {"b", 1, val, strlen(val), 0}};
        assert_int_equal(kv_db_write(db, 0, ops, 2, 0, err, sizeof(err)), KV_OK);
    }
    while (reads < 100)
        sched_yield();
    stop = 1;
    for (int i = 0; i != 2; ++i)
        pthread_join(th[i], NULL);
    assert_int_equal(torn_seen, 0);
    assert_string_equal(get(db, "a"), "299");
    kv_db_close(db);
}

static void test_many_keys(void **state)
{
    char err[512], k[32], v[32];
    kv_store_conf_t c = conf_of(20000, 1 << 20, 64);
    kv_db_t *db = kv_db_open(&c, 1, err, sizeof(err));
    kv_op_t *ops = calloc(10000, sizeof(*ops));
    char(*keys)[16] = calloc(10000, 16);
    for (int i = 0; i != 10000; ++i) {
        snprintf(keys[i], 16, "key-%05d", 9999 - i);
        ops[i] = (kv_op_t){keys[i], strlen(keys[i]), keys[i], strlen(keys[i]), 0};
    }
    assert_int_equal(kv_db_write(db, 0, ops, 10000, 0, err, sizeof(err)), KV_OK);
    kv_db_close(db);
    db = kv_db_open(&c, 1, err, sizeof(err));
    kv_view_t *view = kv_view_acquire(db);
    for (int i = 0; i != 10000; ++i) {
        const char *val;
        size_t vlen;
        snprintf(k, sizeof(k), "key-%05d", i);
        assert_int_equal(kv_view_get(view, 0, k, strlen(k), &val, &vlen), 1);
        assert_memory_equal(val, k, vlen);
        snprintf(v, sizeof(v), "nokey-%d", i);
        assert_int_equal(kv_view_get(view, 0, v, strlen(v), &val, &vlen), 0);
    }
    const char *k0, *v0;
    size_t k0len, v0len;
    assert_int_equal(kv_view_at(view, 0, 0, &k0, &k0len, &v0, &v0len), 1);
    assert_memory_equal(k0, "key-00000", 9);
    kv_view_release(view);
    kv_db_close(db);
    free(ops);
    free(keys);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_delete_and_views, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bulk_is_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_reads_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_and_foreign_files, setup, teardown),
        cmocka_unit_test(test_record_format),
        cmocka_unit_test_setup_teardown(test_compaction_keeps_the_log_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers_never_see_half_a_bulk_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
