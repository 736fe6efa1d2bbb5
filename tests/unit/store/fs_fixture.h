/* tests/unit/store/fs_fixture.h - the storage-engine tests' fixture: a store root in a fresh temporary folder per test
 * (removed after it), and store_fs_open on it. Include after cmocka.h; define FS_FIXTURE_TMPL (a mkdtemp template) first. */
#ifndef EDGE_TESTS_UNIT_STORE_FS_FIXTURE_H
#define EDGE_TESTS_UNIT_STORE_FS_FIXTURE_H
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store/fs.h"

static char root[256];

static int on_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup(void **state)
{
    char tmpl[] = FS_FIXTURE_TMPL;
    assert_non_null(mkdtemp(tmpl));
    snprintf(root, sizeof(root), "%s/root", tmpl);
    return 0;
}

static int teardown(void **state)
{
    char *slash = strrchr(root, '/');
    *slash = '\0';
    nftw(root, on_rm, 16, FTW_DEPTH | FTW_PHYS);
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
#endif
