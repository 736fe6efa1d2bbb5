/* proxy/lambdazip.h - the code of update-function-code's `ZipFile`: a zip archive that holds exactly one hook file (.lua or
 * .so), read with Debian's libzip when the build found it. */
#ifndef EDGE_PROXY_LAMBDAZIP_H
#define EDGE_PROXY_LAMBDAZIP_H

#include <stddef.h>

/** 1 if this build can read zip archives (libzip was found at build time) */
int lambdazip_available(void);

/**
 * Extracts the one hook file of a zip archive held in memory (zip, len). Directories are ignored; anything else must be exactly
 * one regular file named *.lua or *.so whose name has no `..` segment, no leading `/` and no `\`, at most max_size bytes once
 * inflated (checked against the header and while inflating: a zip bomb stops at max_size + 1 bytes). On success returns 0,
 * *data (malloc'ed, freed by the caller) and *size, and *is_lua; else -1 with the reason in err (an English sentence for
 * InvalidParameterValueException).
 */
int lambdazip_extract(const void *zip, size_t len, size_t max_size, char **data, size_t *size, int *is_lua, char *err,
                      size_t errlen);

#endif
