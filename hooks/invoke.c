/* hooks/invoke.c - `edgehook invoke`: runs one hook locally on a Lambda@Edge test event and reports like `aws lambda invoke`. */
#include "hooks/hooks.h"

int hooks_invoke_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return 2;
}
