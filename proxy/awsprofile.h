/* proxy/awsprofile.h - a profile of the AWS shared credentials and config files (~/.aws/credentials, ~/.aws/config), as the AWS
 * CLI and SDKs read them, for S3 origins */
#ifndef EDGE_PROXY_AWSPROFILE_H
#define EDGE_PROXY_AWSPROFILE_H

#include <stddef.h>

typedef struct awsprofile {
    char *access_key;    /* aws_access_key_id */
    char *secret_key;    /* aws_secret_access_key */
    char *session_token; /* aws_session_token (or the older aws_security_token), NULL when none */
    char *region;        /* region of the profile in the config file, NULL when none */
    char profile[128];   /* the profile read */
    char file[1024];     /* the file the keys came from */
} awsprofile_t;

/**
 * Reads a profile: name NULL means $AWS_PROFILE, else "default"; credentials_file NULL means $AWS_SHARED_CREDENTIALS_FILE, else
 * $HOME/.aws/credentials; the config file is $AWS_CONFIG_FILE, else $HOME/.aws/config. The keys come from the profile's section
 * of the credentials file (`[NAME]`), else from its section of the config file (`[profile NAME]`, `[default]`); the region from
 * the config file. Returns 1 (found: free with awsprofile_free), 0 when there is no such profile with both keys (err says
 * why: no file, no section, a key missing), -1 on an error reading a file that exists.
 */
int awsprofile_load(const char *name, const char *credentials_file, awsprofile_t *out, char *err, size_t errlen);
/** frees the strings of a loaded profile (the secrets wiped) */
void awsprofile_free(awsprofile_t *p);

#endif
