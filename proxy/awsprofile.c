/* proxy/awsprofile.c - a profile of the AWS shared credentials and config files: a small INI reader (sections, `key = value`,
 * `#` and `;` comments, indented sub-settings skipped) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "proxy/awsprofile.h"

static char *strip(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t')
        ++s;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
        --e;
    *e = '\0';
    return s;
}

static void set(char **dst, const char *v)
{
    if (*dst != NULL)
        return; /* the first one given wins */
    if ((*dst = strdup(v)) == NULL)
        abort();
}

/* reads the section `want` (or `want2` when not NULL) of an INI file into out's fields; 1 if the section exists, 0 if not,
 * -1 if the file exists but cannot be read (err set); a missing file is 0 */
static int read_section(const char *path, const char *want, const char *want2, int config, awsprofile_t *out, char *err,
                        size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    int in = 0, found = 0;
    if (fp == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (line[0] == ' ' || line[0] == '\t') /* a nested setting (`s3 =` followed by indented lines) */
            continue;
        char *s = strip(line);
        if (*s == '\0' || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e == NULL) {
                in = 0;
                continue;
            }
            *e = '\0';
            char *name = strip(s + 1);
            in = strcmp(name, want) == 0 || (want2 != NULL && strcmp(name, want2) == 0);
            found |= in;
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || eq == NULL)
            continue;
        *eq = '\0';
        char *k = strip(s), *v = strip(eq + 1);
        if (*v == '\0')
            continue;
        if (strcmp(k, "aws_access_key_id") == 0)
            set(&out->access_key, v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            set(&out->secret_key, v);
        else if (strcmp(k, "aws_session_token") == 0 || strcmp(k, "aws_security_token") == 0)
            set(&out->session_token, v);
        else if (config && strcmp(k, "region") == 0)
            set(&out->region, v);
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(fp);
    return found;
}

void awsprofile_free(awsprofile_t *p)
{
    if (p->secret_key != NULL)
        OPENSSL_cleanse(p->secret_key, strlen(p->secret_key));
    if (p->session_token != NULL)
        OPENSSL_cleanse(p->session_token, strlen(p->session_token));
    free(p->access_key);
    free(p->secret_key);
    free(p->session_token);
    free(p->region);
    memset(p, 0, sizeof(*p));
}

static void home_path(char *out, size_t len, const char *env, const char *leaf)
{
    const char *v = getenv(env), *home = getenv("HOME");
    if (v != NULL && v[0] != '\0')
        snprintf(out, len, "%s", v);
    else
        snprintf(out, len, "%s/.aws/%s", home != NULL && home[0] != '\0' ? home : ".", leaf);
}

int awsprofile_load(const char *name, const char *credentials_file, awsprofile_t *out, char *err, size_t errlen)
{
    char cfile[1024], config[1024], section[160];
    const char *env = getenv("AWS_PROFILE");
    memset(out, 0, sizeof(*out));
    if (name == NULL)
        name = env != NULL && env[0] != '\0' ? env : "default";
    snprintf(out->profile, sizeof(out->profile), "%s", name);
    if (credentials_file != NULL)
        snprintf(cfile, sizeof(cfile), "%s", credentials_file);
    else
        home_path(cfile, sizeof(cfile), "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    home_path(config, sizeof(config), "AWS_CONFIG_FILE", "config");
    snprintf(section, sizeof(section), "profile %s", name);

    int in_creds = read_section(cfile, name, NULL, 0, out, err, errlen);
    if (in_creds < 0)
        goto fail;
    if (out->access_key != NULL && out->secret_key != NULL)
        snprintf(out->file, sizeof(out->file), "%s", cfile);
    /* the config file: [profile NAME] ([default] for the default profile), its region, and keys when the credentials file
     * has none */
    int had_keys = out->access_key != NULL && out->secret_key != NULL;
    int in_config = read_section(config, section, strcmp(name, "default") == 0 ? "default" : NULL, 1, out, err, errlen);
    if (in_config < 0)
        goto fail;
    if (!had_keys && out->access_key != NULL && out->secret_key != NULL)
        snprintf(out->file, sizeof(out->file), "%s", config);
    if (out->access_key == NULL || out->secret_key == NULL) {
        if (in_creds == 0 && in_config == 0)
            snprintf(err, errlen, "no profile \"%s\" in %s or %s", name, cfile, config);
        else
            snprintf(err, errlen, "the profile \"%s\" (%s, %s) lacks aws_access_key_id or aws_secret_access_key", name, cfile,
                     config);
        awsprofile_free(out);
        return 0;
    }
    return 1;
fail:
    awsprofile_free(out);
    return -1;
}
