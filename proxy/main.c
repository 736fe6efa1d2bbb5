/* proxy/main.c - the edgehook command line (placeholder until the server lands). */
#include <stdio.h>
#include <string.h>
#include "conf/config.h"

int main(int argc, char **argv)
{
    char err[CONF_ERRBUF_SIZE];
    if (argc == 4 && strcmp(argv[1], "-t") == 0) {
        conf_t *c = conf_load(argv[3], err, sizeof(err));
        if (c == NULL) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        conf_free(c);
        printf("ok\n");
        return 0;
    }
    return 2;
}
