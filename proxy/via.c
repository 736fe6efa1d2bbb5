/* proxy/via.c - reading Via field values (RFC 9110 section 7.6.3) for loop detection; pure, no allocation. */
#include <string.h>
#include "proxy/via.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int via_names_node(const char *via, size_t via_len, const char *name, size_t name_len)
{
    const char *p = via, *end = via + via_len;
    if (name_len == 0)
        return 0;
    while (p < end) {
        /* one entry: received-protocol RWS received-by [RWS comment], up to a comma outside a comment */
        const char *proto, *by, *by_end, *comment = NULL, *comment_end = NULL;
        while (p < end && (is_ows(*p) || *p == ','))
            ++p;
        proto = p;
        while (p < end && !is_ows(*p) && *p != ',')
            ++p;
        if (p == proto)
            continue;
        while (p < end && is_ows(*p))
            ++p;
        by = p;
        while (p < end && !is_ows(*p) && *p != ',' && *p != '(')
            ++p;
        by_end = p;
        while (p < end && is_ows(*p))
            ++p;
        if (p < end && *p == '(') {
            /* a comment: nested parentheses and quoted-pairs (RFC 9110 §5.6.5) */
            unsigned depth = 0;
            comment = p;
            while (p < end) {
                if (*p == '\\' && p + 1 < end) {
                    p += 2;
                    continue;
                }
                if (*p == '(')
                    ++depth;
                else if (*p == ')' && --depth == 0) {
                    ++p;
                    break;
                }
                ++p;
            }
            comment_end = p;
        }
        /* skip whatever else the entry holds up to the next comma */
        while (p < end && *p != ',')
            ++p;
        if ((size_t)(by_end - by) == name_len && memcmp(by, name, name_len) == 0 && comment != NULL &&
            (size_t)(comment_end - comment) >= sizeof("(edgehook") - 1 && memcmp(comment, "(edgehook", sizeof("(edgehook") - 1) == 0)
            return 1;
    }
    return 0;
}

