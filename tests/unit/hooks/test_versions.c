/* tests/unit/hooks/test_versions.c - the registry of hooks/versions.c: $LATEST and publish, alias history and rollback, and
 * the state dir (written at commit, read back, refused when broken, a commit that cannot be written changes nothing), the fleet's
 * claim of version numbers and versions added from other nodes (checked against their sha256). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include "base/str.h"
#include "conf/config.h"
#include "hooks/json.h"
#include "hooks/versions.h"

static const char HOOK[] = "function handler(event, context)\n  local r = event.Records[1].cf.response\n"
                           "  r.headers['x-version'] = {{key = 'X-Version', value = '%s'}}\n  return r\nend\n";

static char dir[256];

static char *write_hook(const char *name, const char *version)
{
    static char paths[32][512]; /* a conf_hook_t keeps pointing at its own */
    static unsigned n;
    char *path = paths[n++ % 32];
    snprintf(path, sizeof(paths[0]), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, HOOK, version);
    fclose(fp);
    return path;
}

static conf_hook_t hook_conf(const char *name, const char *path)
{
    conf_hook_t c;
    memset(&c, 0, sizeof(c));
    c.name = (char *)name;
    c.lua = (char *)path;
    c.config_json = (char *)"{}";
    c.timeout_ms = -1;
    return c;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/edgehook-versions-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    hook_versions_close();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void commit(hook_versions_txn_t *txn)
{
    char err[512];
    assert_int_equal(hook_versions_commit(txn, err, sizeof(err)), 0);
}

static void open_state(void)
{
    char err[1024], sd[300];
    snprintf(sd, sizeof(sd), "%s/state", dir);
    if (hook_versions_open(sd, 0, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

/* whether the committed registry's JSON has needle */
static int has(const char *needle)
{
    char *json = hook_versions_json();
    int r = strstr(json, needle) != NULL;
    if (!r)
        print_message("not in %s: %s\n", json, needle);
    free(json);
    return r;
}

static void test_latest_and_publish(void **state)
{
    char err[512];
    unsigned v;
    (void)state;
    open_state();
    conf_hook_t c = hook_conf("tag", write_hook("tag.lua", "1"));
    hook_versions_txn_t *txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 1);
    commit(txn);

    /* new code: $LATEST only, no version; publishing makes 2; publishing again the same code gives 2 */
    char code[512];
    snprintf(code, sizeof(code), HOOK, "2");
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_update_code(txn, "tag", code, strlen(code), "lua", err, sizeof(err)), 0);
    commit(txn);
    assert_true(has("\"next_version\":2"));
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_publish_latest(txn, "tag", "AAAA", NULL, &v, err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_PRECONDITION);
    assert_int_equal(hook_versions_publish_latest(txn, "tag", NULL, "second", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 2);
    assert_int_equal(hook_versions_publish_latest(txn, "tag", NULL, "again", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 2);
    commit(txn);
    assert_true(has("\"description\":\"second\""));
    /* a reload with the config's file unchanged keeps the API's $LATEST; an edited file replaces it */
    char sha[65], want[100];
    edge_sha256_hex(code, strlen(code), sha);
    snprintf(want, sizeof(want), "\"latest\":{\"sha256\":\"%s\"", sha);
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 1);
    commit(txn);
    assert_true(has(want));
    conf_hook_t c3 = hook_conf("tag", write_hook("tag.lua", "3"));
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c3, err, sizeof(err)), 3);
    commit(txn);
    assert_false(has(want));
    assert_true(has("\"live\":{\"versions\":{\"3\":1}"));
    /* errors and their kinds */
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_update_code(txn, "nope", code, strlen(code), "lua", err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_NOT_FOUND);
    assert_int_equal(hook_versions_update_code(txn, "tag", "function handler(", 17, "lua", err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_INVALID);
    assert_int_equal(hook_versions_update_code(txn, "tag", code, strlen(code), "js", err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_INVALID);
    assert_int_equal(hook_versions_delete_alias(txn, "tag", "live", err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_CONFLICT);
    hook_versions_abort(txn);
    /* the code is content-addressed */
    char *json = hook_versions_json();
    const char *p = strstr(json, "\"latest\":{\"sha256\":\"");
    assert_non_null(p);
    char path[700];
    snprintf(path, sizeof(path), "%s/state/code/%.64s.lua", dir, p + strlen("\"latest\":{\"sha256\":\""));
    free(json);
    assert_int_equal(access(path, R_OK), 0);
}

static void set1(const char *alias, unsigned version, const char *by)
{
    char err[512];
    double one = 1.0;
    hook_versions_txn_t *txn = hook_versions_begin();
    if (hook_versions_set_alias_by(txn, "tag", alias, &version, &one, 1, NULL, NULL, by, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    commit(txn);
}

static int rollback(const char *alias, unsigned steps)
{
    char err[512];
    hook_versions_txn_t *txn = hook_versions_begin();
    if (hook_versions_rollback(txn, "tag", alias, steps, "api", err, sizeof(err)) != 0) {
        hook_versions_abort(txn);
        return -1;
    }
    commit(txn);
    return 0;
}

static void publish_n(unsigned n)
{
    char err[512];
    for (unsigned i = 2; i <= n; ++i) {
        char name[32], num[16];
        snprintf(name, sizeof(name), "v%u.lua", i);
        snprintf(num, sizeof(num), "%u", i);
        hook_versions_txn_t *txn = hook_versions_begin();
        assert_int_equal(hook_versions_publish(txn, "tag", write_hook(name, num), err, sizeof(err)), i);
        commit(txn);
    }
}

static void test_rollback_steps_and_restart(void **state)
{
    char err[512];
    (void)state;
    open_state();
    conf_hook_t c = hook_conf("tag", write_hook("tag.lua", "1"));
    hook_versions_txn_t *txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 1);
    commit(txn);
    publish_n(4);
    for (unsigned v = 1; v <= 4; ++v)
        set1("beta", v, "api");
    assert_int_equal(rollback("beta", 4), -1); /* only 3 earlier targets */
    assert_int_equal(rollback("beta", 3), 0);
    assert_true(has("\"beta\":{\"versions\":{\"1\":1}"));
    assert_int_equal(rollback("beta", 1), -1);
    set1("beta", 3, "api");
    assert_int_equal(rollback("beta", 1), 0); /* back to what 3 replaced: 1 */
    assert_true(has("\"beta\":{\"versions\":{\"1\":1}"));

    /* restart: the same registry, and the walk goes on from the stored history */
    char *before = hook_versions_json();
    hook_versions_close();
    open_state();
    char *after = hook_versions_json();
    assert_string_equal(before, after);
    free(before);
    free(after);
    set1("beta", 4, "api");
    assert_int_equal(rollback("beta", 1), 0);
    assert_true(has("\"beta\":{\"versions\":{\"1\":1}"));

    /* the config's file edited: live was set by the config, so it follows; once set by the API it stays */
    conf_hook_t c2 = hook_conf("tag", write_hook("tag.lua", "5"));
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c2, err, sizeof(err)), 5);
    commit(txn);
    assert_true(has("\"live\":{\"versions\":{\"5\":1}"));
    set1("live", 2, "api");
    conf_hook_t c3 = hook_conf("tag", write_hook("tag.lua", "6"));
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c3, err, sizeof(err)), 6);
    commit(txn);
    assert_true(has("\"live\":{\"versions\":{\"2\":1}"));

    /* the history keeps the last 256 targets: walks back end there */
    for (unsigned i = 0; i != 300; ++i)
        set1("gamma", 1 + i % 4, "api");
    assert_int_equal(rollback("gamma", 256), -1);
    assert_int_equal(rollback("gamma", 255), 0);
    assert_true(has("\"gamma\":{\"versions\":{\"1\":1}")); /* entry 44 of 300 (0-based): version 1 + 44 % 4 */
    /* the target it returned to was the oldest kept, and fell out: the rollback is now a target of its own, and undoing it
     * goes back to what it replaced (entry 299: version 4) */
    assert_int_equal(rollback("gamma", 1), 0);
    assert_true(has("\"gamma\":{\"versions\":{\"4\":1}"));

    /* a deleted hook's numbers are not reused */
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_delete_hook(txn, "tag", err, sizeof(err)), 0);
    commit(txn);
    assert_false(has("\"tag\""));
    hook_versions_close();
    open_state();
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 7);
    commit(txn);
}

static void test_broken_state_and_unwritable_commit(void **state)
{
    char err[1024], path[400], sd[300];
    (void)state;
    open_state();
    conf_hook_t c = hook_conf("tag", write_hook("tag.lua", "1"));
    hook_versions_txn_t *txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 1);
    commit(txn);
    publish_n(2);

    /* a commit that cannot be written: refused, the registry as it was */
    char *before = hook_versions_json();
    snprintf(path, sizeof(path), "%s/state/hooks", dir);
    char away[420];
    snprintf(away, sizeof(away), "%s.away", path);
    assert_int_equal(rename(path, away), 0);
    FILE *fp = fopen(path, "w");
    fclose(fp);
    double one = 1.0;
    unsigned two = 2;
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_set_alias_by(txn, "tag", "live", &two, &one, 1, NULL, NULL, "api", err, sizeof(err)), 0);
    assert_int_equal(hook_versions_commit(txn, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "state.json: cannot write"));
    char *after = hook_versions_json();
    assert_string_equal(before, after);
    free(after);
    free(before);
    unlink(path);
    assert_int_equal(rename(away, path), 0);

    /* garbage and torn files: open fails naming the file */
    hook_versions_close();
    snprintf(path, sizeof(path), "%s/state/hooks/state.json", dir);
    fp = fopen(path, "r+");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), 100), 0);
    fclose(fp);
    snprintf(sd, sizeof(sd), "%s/state", dir);
    assert_int_equal(hook_versions_open(sd, 0, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not JSON"));
    fp = fopen(path, "w");
    fputs("{\"format\": 1, \"hooks\": {\"tag\": {\"next_version\": 3, \"latest\": {}}}}", fp);
    fclose(fp);
    assert_int_equal(hook_versions_open(sd, 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    /* read-only (-t) on a state dir that does not exist: empty, nothing created */
    char none[400];
    snprintf(none, sizeof(none), "%s/none", dir);
    assert_int_equal(hook_versions_open(none, 1, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(none, &st), -1);
    /* one writer per state dir */
    hook_versions_close();
    unlink(path);
    open_state();
    assert_int_equal(hook_versions_open(sd, 0, err, sizeof(err)), 0); /* the same process opening again: its lock is replaced */
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t child = fork();
    if (child == 0) {
        char cerr[1024];
        int r = hook_versions_open(sd, 0, cerr, sizeof(cerr));
        char ok = r == -1 && strstr(cerr, "in use by another edgehook") != NULL ? 'y' : 'n';
        if (write(pfd[1], &ok, 1) != 1)
            _exit(2);
        _exit(0);
    }
    char got = 0;
    assert_int_equal(read(pfd[0], &got, 1), 1);
    assert_int_equal(got, 'y');
    close(pfd[0]);
    close(pfd[1]);
    waitpid(child, NULL, 0);
}

/* the fleet's claim of a number: 2 is taken by another node; refuse: every claim refused */
static unsigned claims[8], num_claims;
static int refuse_claims;
static int claim(const char *name, unsigned number, const char *record, size_t rlen, const char *code_path, char *err, size_t errlen)
{
    (void)name;
    (void)code_path;
    assert_true(rlen > 2 && record[0] == '{' && record[rlen - 1] == '}' && strstr(record, "\"sha256\":") != NULL);
    if (num_claims < 8)
        claims[num_claims++] = number;
    if (refuse_claims) {
        snprintf(err, errlen, "too big");
        return -2;
    }
    return number == 2 ? 1 : 0;
}

/* a version record as the fleet carries it, for code */
static hook_json_t *record_of(const char *code, size_t len, const char *sha)
{
    char text[1024], err[128], hash[65];
    edge_sha256_hex(code, len, hash);
    snprintf(text, sizeof(text),
             "{\"sha256\":\"%s\",\"ext\":\"lua\",\"source\":\"api\",\"description\":\"from e2\",\"config\":{},\"size\":%zu,"
             "\"created_ms\":1,\"timeout_ms\":-1,\"memory\":0,\"include_body\":false,\"fetch_allow\":[],\"kv\":[]}",
             sha != NULL ? sha : hash, len);
    hook_json_t *doc = hook_json_parse(text, strlen(text), err, sizeof(err));
    assert_non_null(doc);
    return doc;
}

static void test_fleet_claim_and_add(void **state)
{
    char err[512], code[512], other[512];
    unsigned v;
    (void)state;
    open_state();
    conf_hook_t c = hook_conf("tag", write_hook("tag.lua", "1"));
    hook_versions_txn_t *txn = hook_versions_begin();
    assert_int_equal(hook_versions_from_config(txn, &c, err, sizeof(err)), 1); /* the config's version claims nothing */
    commit(txn);
    hook_versions_set_claim(claim);
    /* an API publish claims 2, finds it taken, gets 3 */
    snprintf(code, sizeof(code), HOOK, "api");
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_update_code(txn, "tag", code, strlen(code), "lua", err, sizeof(err)), 0);
    assert_int_equal(hook_versions_publish_latest(txn, "tag", NULL, NULL, &v, err, sizeof(err)), 0);
    assert_int_equal(v, 3);
    commit(txn);
    assert_int_equal(num_claims, 2);
    assert_int_equal(claims[0], 2);
    assert_int_equal(claims[1], 3);
    /* a refused claim fails the publish */
    snprintf(other, sizeof(other), HOOK, "big");
    refuse_claims = 1;
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_update_code(txn, "tag", other, strlen(other), "lua", err, sizeof(err)), 0);
    assert_int_equal(hook_versions_publish_latest(txn, "tag", NULL, NULL, &v, err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_INVALID);
    assert_string_equal(err, "too big");
    hook_versions_abort(txn);
    refuse_claims = 0;
    hook_versions_set_claim(NULL);

    /* version 2 of another node: code that is not its sha256 is refused, the right code is added as 2 */
    hook_json_t *rec = record_of(other, strlen(other), NULL);
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_add_version(txn, "tag", 2, rec, code, strlen(code), &v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "sha256"));
    assert_int_equal(hook_versions_add_version(txn, "tag", 2, rec, other, strlen(other) - 1, &v, err, sizeof(err)), -1);
    assert_int_equal(hook_versions_add_version(txn, "nope", 2, rec, other, strlen(other), &v, err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_NOT_FOUND);
    assert_int_equal(hook_versions_add_version(txn, "tag", 2, rec, other, strlen(other), &v, err, sizeof(err)), 0);
    assert_int_equal(v, 2);
    commit(txn);
    assert_true(has("{\"version\":2,"));
    assert_true(has("\"description\":\"from e2\""));
    assert_true(has("\"next_version\":4"));
    /* the same again: nothing; version 3 of another node with other code than this node's 3: this node's next number */
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_add_version(txn, "tag", 2, rec, other, strlen(other), &v, err, sizeof(err)), 0);
    assert_int_equal(v, 2);
    assert_int_equal(hook_versions_add_version(txn, "tag", 3, rec, other, strlen(other), &v, err, sizeof(err)), 0);
    assert_int_equal(v, 4);
    /* a version further on moves the next number past it */
    char third[512];
    snprintf(third, sizeof(third), HOOK, "third");
    hook_json_t *rec3 = record_of(third, strlen(third), NULL);
    assert_int_equal(hook_versions_add_version(txn, "tag", 9, rec3, third, strlen(third), &v, err, sizeof(err)), 0);
    assert_int_equal(v, 9);
    commit(txn);
    assert_true(has("\"next_version\":10"));
    /* code that does not load is refused */
    const char *bad = "function handler(";
    hook_json_t *recb = record_of(bad, strlen(bad), NULL);
    txn = hook_versions_begin();
    assert_int_equal(hook_versions_add_version(txn, "tag", 10, recb, bad, strlen(bad), &v, err, sizeof(err)), -1);
    assert_int_equal(hook_versions_error_kind(txn), HOOK_VERSIONS_INVALID);
    hook_versions_abort(txn);
    hook_json_free(rec);
    hook_json_free(rec3);
    hook_json_free(recb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_latest_and_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_steps_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_state_and_unwritable_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fleet_claim_and_add, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
