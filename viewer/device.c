/* viewer/device.c - the User-Agent classifier of the CloudFront-Is-*-Viewer headers (rules in viewer/device.h). */
#include <pthread.h>
#include <string.h>
#include "viewer/device.h"

/* what a word found in the User-Agent says */
enum { W_TV = 1, W_TABLET = 2, W_MOBILE = 4, W_ANDROID = 8, W_IOS = 16, W_SAYS_MOBILE = 32, W_TABLET_WORD = 64 };

typedef struct word {
    const char *s; /* lowercase */
    unsigned len, what;
} word_t;

#define W(s, w)                                                                                                                    \
    {                                                                                                                              \
        s, sizeof(s) - 1, w                                                                                                        \
    }
static const word_t words[] = {
    /* smart TVs and TV sticks */
    W("smarttv", W_TV),
    W("smart-tv", W_TV),
    W("smart tv", W_TV),
    W("hbbtv", W_TV),
    W("googletv", W_TV),
    W("google tv", W_TV),
    W("appletv", W_TV),
    W("apple tv", W_TV),
    W("crkey", W_TV),
    W("roku", W_TV),
    W("bravia", W_TV),
    W("netcast", W_TV),
    W("web0s", W_TV),
    W("viera", W_TV),
    W("; aft", W_TV),
    W("firetv", W_TV),
    W("opera tv", W_TV),
    W("nettv", W_TV),
    W("philipstv", W_TV),
    /* tablets */
    W("ipad", W_TABLET | W_IOS),
    W("tablet", W_TABLET_WORD),
    W("kindle", W_TABLET),
    W("silk/", W_TABLET),
    W("playbook", W_TABLET),
    W("nexus 7", W_TABLET),
    W("nexus 9", W_TABLET),
    W("nexus 10", W_TABLET),
    W("xoom", W_TABLET),
    W("sm-t", W_TABLET),
    W("gt-p", W_TABLET),
    /* phones */
    W("mobi", W_MOBILE | W_SAYS_MOBILE),
    W("iphone", W_MOBILE | W_IOS),
    W("ipod", W_MOBILE | W_IOS),
    W("windows phone", W_MOBILE),
    W("blackberry", W_MOBILE),
    W("bb10", W_MOBILE),
    W("opera mini", W_MOBILE),
    W("symbian", W_MOBILE),
    W("series60", W_MOBILE),
    W("palm", W_MOBILE),
    W("webos", W_MOBILE),
    W("j2me", W_MOBILE),
    W("midp", W_MOBILE),
    W("nokia", W_MOBILE),
    W("kaios", W_MOBILE),
    /* systems */
    W("android", W_ANDROID),
};
#undef W

static unsigned char lower_table[256]; /* ASCII lower case, built with the index */

static unsigned char lower(unsigned char c)
{
    return lower_table[c];
}

/* 1 when the lowercase word w starts at p (len bytes left) */
static int word_at(const char *p, size_t left, const word_t *w)
{
    if (w->len > left)
        return 0;
    for (unsigned i = 0; i != w->len; ++i)
        if (lower((unsigned char)p[i]) != (unsigned char)w->s[i])
            return 0;
    return 1;
}

#define NUM_WORDS (sizeof(words) / sizeof(words[0]))

/* the bucket of the two bytes a word starts with (every word has at least 4): at each byte of a User-Agent one table load says
 * whether any word can start there (most buckets are empty), and only the words of that bucket are compared */
static unsigned pair_bucket(unsigned char a, unsigned char b)
{
    return (a * 31u + b) & 255u;
}

static unsigned char by_pair[NUM_WORDS]; /* indexes into words[], grouped by bucket */
static unsigned char pair_at[257];       /* bucket k's words are by_pair[pair_at[k] .. pair_at[k + 1]) */
static pthread_once_t index_once = PTHREAD_ONCE_INIT;
static void build_index(void)
{
    size_t n = 0;
    for (unsigned c = 0; c != 256; ++c)
        lower_table[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    for (unsigned k = 0; k != 256; ++k) {
        pair_at[k] = (unsigned char)n;
        for (size_t w = 0; w != NUM_WORDS; ++w)
            if (pair_bucket((unsigned char)words[w].s[0], (unsigned char)words[w].s[1]) == k)
                by_pair[n++] = (unsigned char)w;
    }
    pair_at[256] = (unsigned char)n;
}

unsigned viewer_device_classify(const char *ua, size_t len)
{
    unsigned seen = 0, flags = 0;
    pthread_once(&index_once, build_index);
    if (ua == NULL)
        len = 0;
    if (len > VIEWER_DEVICE_UA_MAX)
        len = VIEWER_DEVICE_UA_MAX;
    unsigned char next = len != 0 ? lower((unsigned char)ua[0]) : 0;
    for (size_t i = 0; i + 1 < len; ++i) {
        unsigned char c = next;
        next = lower((unsigned char)ua[i + 1]);
        unsigned k = pair_bucket(c, next);
        if (pair_at[k] == pair_at[k + 1])
            continue; /* no word starts with these two bytes */
        for (unsigned j = pair_at[k]; j != pair_at[k + 1]; ++j) {
            const word_t *w = &words[by_pair[j]];
            if (!word_at(ua + i, len - i, w))
                continue;
            if (w->what == W_TABLET_WORD) {
                /* "Tablet PC" is a Windows laptop's */
                static const word_t pc = {" pc", 3, 0};
                if (!word_at(ua + i + w->len, len - i - w->len, &pc))
                    seen |= W_TABLET;
                continue;
            }
            seen |= w->what;
        }
    }
    if ((seen & W_ANDROID) && !(seen & W_SAYS_MOBILE))
        seen |= W_TABLET;
    if (seen & W_TV)
        flags |= VIEWER_DEVICE_SMARTTV;
    else
        flags |= ((seen & W_MOBILE) ? VIEWER_DEVICE_MOBILE : 0) | ((seen & W_TABLET) ? VIEWER_DEVICE_TABLET : 0);
    if (!(flags & (VIEWER_DEVICE_SMARTTV | VIEWER_DEVICE_MOBILE | VIEWER_DEVICE_TABLET)))
        flags |= VIEWER_DEVICE_DESKTOP;
    if (seen & W_ANDROID)
        flags |= VIEWER_DEVICE_ANDROID;
    if (seen & W_IOS)
        flags |= VIEWER_DEVICE_IOS;
    return flags;
}
