/* tests/unit/store/test_versioning.c - the storage engine's versions: named and null versions, delete markers, permanent
 * deletes, the latest version across restarts, leftovers of a crash, ListObjectVersions paging */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store/fs.h"

#define FS_FIXTURE_TMPL "/tmp/edgehook-test-ver-XXXXXX"
#include "fs_fixture.h"

/* puts data (its own text as the ETag: the engine does not check it) and returns the new version's id ("null" for null) */
static const char *put(store_bucket_t *b, const char *key, const char *data, char id[33])
{
    store_fs_writer_t w;
    store_obj_t *o = NULL;
    assert_int_equal(store_fs_writer_open(&w, b, key, strlen(key)), 0);
    assert_int_equal(store_fs_writer_write(&w, data, strlen(data)), 0);
    store_obj_meta_t meta = {"0123456789abcdef0123456789abcdef", 0, NULL, 0};
    assert_int_equal(store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, &o), 0);
    snprintf(id, 33, "%s", store_fs_obj_version(o));
    store_fs_obj_release(o);
    return id;
}

/* the data of a version (NULL id: the latest), or NULL if it is missing or a delete marker */
static char *get(store_bucket_t *b, const char *key, const char *id)
{
    store_obj_t *o = store_fs_obj_get_version(b, key, strlen(key), id);
    if (o == NULL || o->delete_marker) {
        store_fs_obj_release(o);
        return NULL;
    }
    char *buf = calloc(1, o->size + 1);
    int fd = open(o->data_path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, o->size + 1), (ssize_t)o->size);
    close(fd);
    store_fs_obj_release(o);
    return buf;
}

static void expect(store_bucket_t *b, const char *key, const char *id, const char *data)
{
    char *got = get(b, key, id);
    if (data == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, data);
    free(got);
}

/* the versions of all keys as "key:id:latest[:M]" lines, paging by max */
static char *list_all(store_bucket_t *b, const char *delimiter, size_t max)
{
    static char out[8192];
    char key[1100] = "", vid[33] = "";
    int has_key = 0;
    out[0] = '\0';
    for (int pages = 0; pages != 100; ++pages) {
        store_list_params_t p = {"",          0,  delimiter, delimiter != NULL ? strlen(delimiter) : 0, has_key ? key : NULL,
                                 strlen(key), max};
        store_list_result_t r;
        assert_int_equal(store_fs_list_versions(b, &p, vid, &r), 0);
        /* in key order: versions and common prefixes interleave */
        for (size_t i = 0, j = 0; i != r.num_objs || j != r.num_prefixes;) {
            if (j == r.num_prefixes || (i != r.num_objs && strcmp(r.objs[i]->key, r.prefixes[j]) < 0)) {
                snprintf(out + strlen(out), sizeof(out) - strlen(out), "%.*s:%s:%d%s\n", (int)r.objs[i]->key_len, r.objs[i]->key,
                         store_fs_obj_version(r.objs[i]), r.latest[i], r.objs[i]->delete_marker ? ":M" : "");
                ++i;
            } else {
                snprintf(out + strlen(out), sizeof(out) - strlen(out), "P %s\n", r.prefixes[j++]);
            }
        }
        int more = r.truncated;
        if (more) {
            assert_true(r.num_objs + r.num_prefixes == max);
            snprintf(key, sizeof(key), "%.*s", (int)r.next_len, r.next);
            snprintf(vid, sizeof(vid), "%s", r.next_version);
            has_key = 1;
        }
        store_fs_list_free(&r);
        if (!more)
            return out;
    }
    fail_msg("listing does not end");
    return NULL;
}

static size_t count_names(const char *dir, const char *suffix)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char p[4200];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && strlen(e->d_name) == 2)
            n += count_names(p, suffix);
        else if (strlen(e->d_name) > strlen(suffix) && strcmp(e->d_name + strlen(e->d_name) - strlen(suffix), suffix) == 0)
            ++n;
    }
    closedir(d);
    return n;
}

static void test_ids(void **state)
{
    assert_true(store_fs_valid_version_id("null", 4));
    assert_true(store_fs_valid_version_id("0123456789abcdef0123456789abcdef", 32));
    const char *bad[] = {"",
                         "Null",
                         "../../etc/passwd",
                         "0123456789ABCDEF0123456789abcdef",
                         "0123456789abcdef0123456789abcde",
                         "0123456789abcdef0123456789abcdef0",
                         "0123456789abcdef/123456789abcdef",
                         "0123456789abcdef.123456789abcdef"};
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i)
        assert_false(store_fs_valid_version_id(bad[i], strlen(bad[i])));
    assert_false(store_fs_valid_version_id("null\0", 5));
}

static void test_versions_and_restart(void **state)
{
    store_fs_t *fs = open_fs();
    char id0[33], id1[33], id2[33], id3[33], bdir[512];
    assert_int_equal(store_fs_bucket_create(fs, "vbk"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "vbk", 3);
    snprintf(bdir, sizeof(bdir), "%s/vbk", root);
    assert_int_equal(store_fs_bucket_versioning(b), STORE_FS_VERSIONING_OFF);
    /* before versioning: the null version, replaced by an overwrite */
    assert_string_equal(put(b, "k", "zero", id0), "null");
    assert_string_equal(put(b, "k", "null", id0), "null");
    assert_int_equal(count_names(bdir, ".ver"), 0);
    assert_int_equal(store_fs_bucket_set_versioning(b, STORE_FS_VERSIONING_ENABLED), 0);
    put(b, "k", "one", id1);
    put(b, "k", "two", id2);
    assert_int_equal(strlen(id1), 32);
    assert_true(strcmp(id1, id2) < 0); /* ids sort by time */
    expect(b, "k", NULL, "two");
    expect(b, "k", id1, "one");
    expect(b, "k", "null", "null");
    assert_int_equal(count_names(bdir, ".ver"), 2);
    char want[2048];
    snprintf(want, sizeof(want), "k:%s:1\nk:%s:0\nk:null:0\n", id2, id1);
    assert_string_equal(list_all(b, NULL, 1000), want);
    assert_string_equal(list_all(b, NULL, 1), want); /* paging inside a key: key and version id markers */

    /* a delete marker: the key is gone for GET and ListObjects, its versions stay */
    store_fs_deleted_t d;
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, NULL, &d), 0);
    assert_true(d.created_marker && d.delete_marker);
    assert_int_equal(strlen(d.version_id), 32);
    snprintf(id3, sizeof(id3), "%s", d.version_id);
    assert_null(store_fs_obj_get(b, "k", 1));
    store_obj_t *m = store_fs_obj_get_version(b, "k", 1, NULL);
    assert_non_null(m);
    assert_true(m->delete_marker);
    store_fs_obj_release(m);
    store_list_params_t lp = {"", 0, NULL, 0, NULL, 0, 1000};
    store_list_result_t lr;
    assert_int_equal(store_fs_list(b, &lp, &lr), 0);
    assert_int_equal(lr.num_objs, 0);
    store_fs_list_free(&lr);
    expect(b, "k", id1, "one");
    snprintf(want, sizeof(want), "k:%s:1:M\nk:%s:0\nk:%s:0\nk:null:0\n", id3, id2, id1);
    assert_string_equal(list_all(b, NULL, 1000), want);
    assert_int_equal(store_fs_bucket_delete(fs, "vbk"), STORE_FS_ENOTEMPTY);

    /* a restart finds the same versions, the same latest, the same state */
    store_fs_bucket_release(b);
    store_fs_close(fs);
    fs = open_fs();
    b = store_fs_bucket_get(fs, "vbk", 3);
    assert_int_equal(store_fs_bucket_versioning(b), STORE_FS_VERSIONING_ENABLED);
    assert_string_equal(list_all(b, NULL, 1000), want);
    assert_null(store_fs_obj_get(b, "k", 1));

    /* removing the delete marker for good undeletes; removing a version removes only it */
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, id3, &d), 0);
    assert_true(d.delete_marker && !d.created_marker);
    expect(b, "k", NULL, "two");
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, id1, &d), 0);
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, id1, &d), STORE_FS_ENOENT);
    assert_int_equal(store_fs_obj_delete_version(b, "nokey", 5, id1, &d), STORE_FS_ENOENT);
    expect(b, "k", id1, NULL);
    snprintf(want, sizeof(want), "k:%s:1\nk:null:0\n", id2);
    assert_string_equal(list_all(b, NULL, 1000), want);
    assert_int_equal(count_names(bdir, ".ver"), 1);

    /* Suspended: writes are the null version and replace it; a delete is a null delete marker */
    assert_int_equal(store_fs_bucket_set_versioning(b, STORE_FS_VERSIONING_SUSPENDED), 0);
    assert_string_equal(put(b, "k", "sus", id0), "null");
    snprintf(want, sizeof(want), "k:null:1\nk:%s:0\n", id2);
    assert_string_equal(list_all(b, NULL, 1000), want);
    expect(b, "k", "null", "sus");
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, NULL, &d), 0);
    assert_string_equal(d.version_id, "null");
    snprintf(want, sizeof(want), "k:null:1:M\nk:%s:0\n", id2);
    assert_string_equal(list_all(b, NULL, 1000), want);
    store_fs_bucket_release(b);
    store_fs_close(fs);
    fs = open_fs();
    b = store_fs_bucket_get(fs, "vbk", 3);
    assert_int_equal(store_fs_bucket_versioning(b), STORE_FS_VERSIONING_SUSPENDED);
    assert_string_equal(list_all(b, NULL, 1000), want);
    /* only the data of "two" is left: 1 data file, 1 .ver record, the null marker's .meta */
    assert_int_equal(count_names(bdir, ".meta"), 1);
    assert_int_equal(count_names(bdir, ".ver"), 1);
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, "null", &d), 0);
    expect(b, "k", NULL, "two");
    assert_int_equal(store_fs_obj_delete_version(b, "k", 1, id2, &d), 0);
    assert_null(store_fs_obj_get_version(b, "k", 1, NULL));
    store_fs_bucket_release(b);
    assert_int_equal(store_fs_bucket_delete(fs, "vbk"), 0);
    store_fs_close(fs);
}

static void test_listing_pages(void **state)
{
    store_fs_t *fs = open_fs();
    char id[33];
    assert_int_equal(store_fs_bucket_create(fs, "lbk"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "lbk", 3);
    put(b, "a", "1", id);
    assert_int_equal(store_fs_bucket_set_versioning(b, STORE_FS_VERSIONING_ENABLED), 0);
    const char *keys[] = {"a", "b/1", "b/2", "a", "c", "b/1", "c", "d/x"};
    for (size_t i = 0; i != sizeof(keys) / sizeof(keys[0]); ++i)
        put(b, keys[i], keys[i], id);
    store_fs_deleted_t d;
    assert_int_equal(store_fs_obj_delete_version(b, "d/x", 3, NULL, &d), 0);
    char full[8192], flat[8192];
    snprintf(full, sizeof(full), "%s", list_all(b, NULL, 1000));
    snprintf(flat, sizeof(flat), "%s", list_all(b, "/", 1000));
    /* 3 versions of a (2 + null), 2 of b/1, 1 of b/2, 2 of c, 2 of d/x (marker latest) */
    size_t lines = 0;
    for (const char *p = full; *p != '\0'; ++p)
        lines += *p == '\n';
    assert_int_equal(lines, 10);
    assert_non_null(strstr(full, ":1:M\n"));
    assert_non_null(strstr(flat, "P b/\nc:"));
    assert_non_null(strstr(flat, ":0\nP d/\n"));
    for (size_t max = 1; max != 12; ++max) {
        assert_string_equal(list_all(b, NULL, max), full);
        assert_string_equal(list_all(b, "/", max), flat);
    }
    /* ListObjects: the latest versions only, the deleted key (and its prefix) skipped */
    store_list_params_t lp = {"", 0, "/", 1, NULL, 0, 1000};
    store_list_result_t lr;
    assert_int_equal(store_fs_list(b, &lp, &lr), 0);
    assert_int_equal(lr.num_objs, 2);
    assert_int_equal(lr.num_prefixes, 1);
    assert_string_equal(lr.prefixes[0], "b/");
    store_fs_list_free(&lr);
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

/* what a kill -9 leaves: a record being written, data without a record, a record of another name, a record whose data is gone */
static void test_crash_leftovers(void **state)
{
    store_fs_t *fs = open_fs();
    char id1[33], id2[33], path[4200], dir[1024];
    assert_int_equal(store_fs_bucket_create(fs, "cbk"), 0);
    store_bucket_t *b = store_fs_bucket_get(fs, "cbk", 3);
    assert_int_equal(store_fs_bucket_set_versioning(b, STORE_FS_VERSIONING_ENABLED), 0);
    put(b, "k", "one", id1);
    put(b, "k", "two", id2);
    store_obj_t *o = store_fs_obj_get_version(b, "k", 1, id2);
    snprintf(dir, sizeof(dir), "%s", o->data_path);
    *strrchr(dir, '/') = '\0';
    char hash[65];
    snprintf(hash, sizeof(hash), "%s", strrchr(o->data_path, '/') + 1);
    store_fs_obj_release(o);
    store_fs_bucket_release(b);
    store_fs_close(fs);

    /* a torn newer version: its record never got renamed, its data has no record */
    snprintf(path, sizeof(path), "%s/%s.ffffffffffffffff0000000000000000.ver.0123456789abcdef.tmp", dir, hash);
    FILE *f = fopen(path, "w");
    fputs("edgehook-store-object 1\nkey k\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.fedcba9876543210", dir, hash);
    f = fopen(path, "w");
    fputs("torn", f);
    fclose(f);
    /* a record under a name that is not its version: ignored, not trusted */
    char src[4200];
    snprintf(src, sizeof(src), "%s/%s.%s.ver", dir, hash, id1);
    snprintf(path, sizeof(path), "%s/%s.eeeeeeeeeeeeeeee0000000000000000.ver", dir, hash);
    assert_int_equal(link(src, path), 0);

    fs = open_fs();
    b = store_fs_bucket_get(fs, "cbk", 3);
    char want[512];
    snprintf(want, sizeof(want), "k:%s:1\nk:%s:0\n", id2, id1);
    assert_string_equal(list_all(b, NULL, 1000), want);
    expect(b, "k", NULL, "two");
    expect(b, "k", id1, "one");
    snprintf(path, sizeof(path), "%s/%s.fedcba9876543210", dir, hash);
    assert_int_equal(access(path, F_OK), -1); /* swept */
    /* new versions still sort after everything loaded */
    char id3[33];
    put(b, "k", "three", id3);
    assert_true(strcmp(id3, id2) > 0);
    expect(b, "k", NULL, "three");
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test_setup_teardown(test_versions_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listing_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
