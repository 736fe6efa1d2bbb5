/* tests/unit/store/test_seed.c - store.seed: buckets created from directories on start, existing buckets left alone, interrupted
 * seedings finished, content types */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "store/fs.h"
#include "store/seed.h"
#include "sigv4/sigv4.h"

static char base[256], root[300], site[300];

static int on_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void write_file(const char *rel, const char *data, size_t len)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", site, rel);
    for (char *p = path + strlen(site) + 1; (p = strchr(p, '/')) != NULL; ++p) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    fclose(fp);
}

static int setup(void **state)
{
    char tmpl[] = "/tmp/edgehook-test-seed-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    snprintf(base, sizeof(base), "%s", tmpl);
    snprintf(root, sizeof(root), "%s/root", base);
    snprintf(site, sizeof(site), "%s/site", base);
    assert_int_equal(mkdir(site, 0755), 0);
    return 0;
}

static int teardown(void **state)
{
    nftw(base, on_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static store_fs_t *open_fs(void)
{
    store_fs_t *fs;
    char err[256];
    if (store_fs_open(root, &fs, err, sizeof(err)) != 0)
        fail_msg("store_fs_open: %s", err);
    return fs;
}

static void seed(store_fs_t *fs, const char *bucket)
{
    conf_store_seed_t sd = {(char *)bucket, site, 1};
    char err[512];
    if (store_seed(fs, &sd, 1, err, sizeof(err)) != 0)
        fail_msg("store_seed: %s", err);
}

static const char *md5hex(const void *data, size_t len)
{
    static char out[33];
    uint8_t md[16];
    unsigned n = 16;
    EVP_Digest(data, len, md, &n, EVP_md5(), NULL);
    sigv4_hex(md, 16, out);
    return out;
}

/* the object's bytes equal data, its ETag is their MD5 and its Content-Type is type (NULL: none) */
static void check_obj(store_bucket_t *b, const char *key, const char *data, size_t len, const char *type)
{
    store_obj_t *o = store_fs_obj_get(b, key, strlen(key));
    if (o == NULL)
        fail_msg("no object %s", key);
    assert_int_equal(o->size, len);
    assert_string_equal(o->etag, md5hex(data, len));
    const char *ct = store_fs_obj_header(o, "content-type");
    if (type == NULL)
        assert_null(ct);
    else
        assert_string_equal(ct, type);
    char *buf = malloc(len + 1);
    FILE *fp = fopen(o->data_path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(buf, 1, len + 1, fp), len);
    fclose(fp);
    assert_memory_equal(buf, data, len);
    free(buf);
    store_fs_obj_release(o);
}

static void test_content_types(void **state)
{
    assert_string_equal(store_seed_content_type("index.html"), "text/html; charset=utf-8");
    assert_string_equal(store_seed_content_type("a/b/INDEX.HTM"), "text/html; charset=utf-8");
    assert_string_equal(store_seed_content_type("style.css"), "text/css; charset=utf-8");
    assert_string_equal(store_seed_content_type("app.js"), "text/javascript; charset=utf-8");
    assert_string_equal(store_seed_content_type("data.json"), "application/json");
    assert_string_equal(store_seed_content_type("photos/p.svg"), "image/svg+xml");
    assert_string_equal(store_seed_content_type("p.png"), "image/png");
    assert_string_equal(store_seed_content_type("p.JPG"), "image/jpeg");
    assert_string_equal(store_seed_content_type("p.jpeg"), "image/jpeg");
    assert_string_equal(store_seed_content_type("p.gif"), "image/gif");
    assert_string_equal(store_seed_content_type("p.webp"), "image/webp");
    assert_string_equal(store_seed_content_type("robots.txt"), "text/plain; charset=utf-8");
    assert_string_equal(store_seed_content_type("favicon.ico"), "image/x-icon");
    assert_string_equal(store_seed_content_type("f.woff2"), "font/woff2");
    assert_null(store_seed_content_type("README"));
    assert_null(store_seed_content_type(".htaccess")); /* a dot file has no extension */
    assert_null(store_seed_content_type("a.html/b"));  /* the extension is the last component's */
    assert_null(store_seed_content_type("trailing."));
    assert_null(store_seed_content_type("x.unknownext"));
}

static void test_seed_new_bucket(void **state)
{
    static const char big_seed[] = "0123456789abcdef";
    size_t big_len = 200000;
    char *big = malloc(big_len);
    for (size_t i = 0; i != big_len; ++i)
        big[i] = big_seed[(i * 7) % 16];
    write_file("index.html", "<h1>hi</h1>\n", 12);
    write_file("about/index.html", "<p>about</p>\n", 13);
    write_file("css/deep/er/style.css", "body{}\n", 7);
    write_file("empty.txt", "", 0);
    write_file("big.bin", big, big_len);
    write_file("caf\xc3\xa9 menu.svg", "<svg/>", 6);
    write_file("bad\x01name.txt", "x", 1); /* not a valid key: skipped */
    char target[600], link[600];
    snprintf(target, sizeof(target), "%s/index.html", site);
    snprintf(link, sizeof(link), "%s/home.html", site);
    assert_int_equal(symlink(target, link), 0); /* a link to a file is stored as the file */
    snprintf(link, sizeof(link), "%s/loop", site);
    assert_int_equal(symlink(site, link), 0); /* a link to a directory is not followed */

    store_fs_t *fs = open_fs();
    seed(fs, "site");
    store_bucket_t *b = store_fs_bucket_get(fs, "site", 4);
    assert_non_null(b);
    check_obj(b, "index.html", "<h1>hi</h1>\n", 12, "text/html; charset=utf-8");
    check_obj(b, "home.html", "<h1>hi</h1>\n", 12, "text/html; charset=utf-8");
    check_obj(b, "about/index.html", "<p>about</p>\n", 13, "text/html; charset=utf-8");
    check_obj(b, "css/deep/er/style.css", "body{}\n", 7, "text/css; charset=utf-8");
    check_obj(b, "empty.txt", "", 0, "text/plain; charset=utf-8");
    check_obj(b, "big.bin", big, big_len, NULL);
    check_obj(b, "caf\xc3\xa9 menu.svg", "<svg/>", 6, "image/svg+xml");

    store_list_params_t p = {"", 0, NULL, 0, NULL, 0, 1000};
    store_list_result_t r;
    assert_int_equal(store_fs_list(b, &p, &r), 0);
    assert_int_equal(r.num_objs, 7); /* and nothing else: not the bad name, nothing through the loop */
    assert_string_equal(r.objs[0]->key, "about/index.html");
    assert_string_equal(r.objs[6]->key, "index.html");
    store_fs_list_free(&r);
    store_fs_bucket_release(b);

    /* no marker is left behind */
    char marker[400];
    snprintf(marker, sizeof(marker), "%s/.seeding-site", root);
    assert_int_not_equal(access(marker, F_OK), 0);
    store_fs_close(fs);

    /* a restart loads the seeded objects like uploaded ones */
    fs = open_fs();
    b = store_fs_bucket_get(fs, "site", 4);
    assert_non_null(b);
    check_obj(b, "big.bin", big, big_len, NULL);
    store_fs_bucket_release(b);
    store_fs_close(fs);
    free(big);
}

static void test_existing_bucket_untouched(void **state)
{
    write_file("index.html", "v1", 2);
    store_fs_t *fs = open_fs();
    seed(fs, "site");
    store_bucket_t *b = store_fs_bucket_get(fs, "site", 4);
    /* a user's change: one object deleted, one added */
    assert_int_equal(store_fs_obj_delete(b, "index.html", 10), 0);
    store_fs_writer_t w;
    assert_int_equal(store_fs_writer_open(&w, b, "mine.txt", 8), 0);
    assert_int_equal(store_fs_writer_write(&w, "mine", 4), 0);
    store_obj_meta_t meta = {md5hex("mine", 4), 0, NULL, 0};
    assert_int_equal(store_fs_writer_commit(&w, &meta, NULL, NULL, NULL, NULL), 0);
    store_fs_bucket_release(b);
    store_fs_close(fs);

    /* the next start sees the bucket and leaves it as the user left it, whatever the directory holds now */
    write_file("index.html", "v2", 2);
    write_file("new.html", "new", 3);
    fs = open_fs();
    seed(fs, "site");
    b = store_fs_bucket_get(fs, "site", 4);
    store_obj_t *o = store_fs_obj_get(b, "index.html", 10);
    assert_null(o);
    assert_null(store_fs_obj_get(b, "new.html", 8));
    check_obj(b, "mine.txt", "mine", 4, NULL);
    store_fs_bucket_release(b);

    /* a second bucket from the same directory is a new bucket: seeded */
    seed(fs, "site2");
    b = store_fs_bucket_get(fs, "site2", 5);
    assert_non_null(b);
    check_obj(b, "index.html", "v2", 2, "text/html; charset=utf-8");
    check_obj(b, "new.html", "new", 3, "text/html; charset=utf-8");
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

static void test_interrupted_seeding_finished(void **state)
{
    write_file("a.txt", "a", 1);
    write_file("b/c.txt", "c", 1);
    store_fs_t *fs = open_fs();
    /* as if a start crashed after creating the bucket and storing part of the files: the marker is still there */
    assert_int_equal(store_fs_bucket_create(fs, "my.site"), 0);
    store_fs_close(fs);
    char marker[400];
    snprintf(marker, sizeof(marker), "%s/.seeding-my_site", root);
    FILE *fp = fopen(marker, "w");
    assert_non_null(fp);
    fclose(fp);

    fs = open_fs(); /* the marker survives the start's sweep */
    assert_int_equal(access(marker, F_OK), 0);
    seed(fs, "my.site");
    store_bucket_t *b = store_fs_bucket_get(fs, "my.site", 7);
    check_obj(b, "a.txt", "a", 1, "text/plain; charset=utf-8");
    check_obj(b, "b/c.txt", "c", 1, "text/plain; charset=utf-8");
    store_fs_bucket_release(b);
    assert_int_not_equal(access(marker, F_OK), 0);
    store_fs_close(fs);
}

static void test_unreadable_dir_fails(void **state)
{
    store_fs_t *fs = open_fs();
    conf_store_seed_t sd = {"gone", "/nonexistent/edgehook-seed", 1};
    char err[512];
    assert_int_equal(store_seed(fs, &sd, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/edgehook-seed"));
    /* the marker stays, so the next start tries again */
    char marker[400];
    snprintf(marker, sizeof(marker), "%s/.seeding-gone", root);
    assert_int_equal(access(marker, F_OK), 0);
    store_fs_close(fs);
}

/* store.seed[].cors: the rules are checked before anything is made, kept as PutBucketCors keeps them, and only on creation */
static void test_seed_cors(void **state)
{
    store_fs_t *fs = open_fs();
    char err[512], *text = NULL;
    size_t len = 0;
    static const char rules[] = "<?xml version=\"1.0\"?><!-- a comment --><CORSConfiguration><CORSRule>"
                                "<AllowedMethod>POST</AllowedMethod><AllowedOrigin>http://127.0.0.1:*</AllowedOrigin>"
                                "<ExposeHeader>ETag</ExposeHeader></CORSRule></CORSConfiguration>";
    static const char *const bad[] = {
        "<CORSConfiguration/>", "not xml at all",
        "<CORSConfiguration><CORSRule><AllowedMethod>BREW</AllowedMethod>"
        "<AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>",
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"};
    write_file("index.html", "<h1>hi</h1>\n", 12);
    for (size_t i = 0; i != sizeof(bad) / sizeof(bad[0]); ++i) {
        conf_store_seed_t sd = {"refused", site, 7, "cors.xml", (char *)bad[i], strlen(bad[i])};
        assert_int_equal(store_seed(fs, &sd, 1, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "store.seed (line 7): cors: cors.xml: "));
        assert_null(store_fs_bucket_get(fs, "refused", 7)); /* nothing made */
    }
    conf_store_seed_t sd = {"withcors", site, 1, "cors.xml", (char *)rules, strlen(rules)};
    if (store_seed(fs, &sd, 1, err, sizeof(err)) != 0)
        fail_msg("store_seed: %s", err);
    store_bucket_t *b = store_fs_bucket_get(fs, "withcors", 8);
    assert_non_null(b);
    assert_int_equal(store_fs_bucket_config_get(b, "cors", 1 << 20, &text, &len, NULL), 0);
    assert_non_null(strstr(text, "<CORSRule><AllowedMethod>POST</AllowedMethod><AllowedOrigin>http://127.0.0.1:*</AllowedOrigin>"
                                 "<ExposeHeader>ETag</ExposeHeader></CORSRule>"));
    assert_null(strstr(text, "comment"));
    free(text);
    check_obj(b, "index.html", "<h1>hi</h1>\n", 12, "text/html; charset=utf-8");
    store_fs_bucket_release(b);
    store_fs_close(fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_types),
        cmocka_unit_test_setup_teardown(test_seed_new_bucket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_bucket_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_seeding_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_dir_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seed_cors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
