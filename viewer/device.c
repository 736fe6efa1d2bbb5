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

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
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

/* the bytes that start a word, built from the table once: a byte that starts none costs one load */
static unsigned char starts[256];
static pthread_once_t starts_once = PTHREAD_ONCE_INIT;
static void init_starts(void)
{
    for (size_t i = 0; i != sizeof(words) / sizeof(words[0]); ++i)
        starts[(unsigned char)words[i].s[0]] = 1;
}

unsigned viewer_device_classify(const char *ua, size_t len)
{
    unsigned seen = 0, flags = 0;
    pthread_once(&starts_once, init_starts);
    if (ua == NULL)
        len = 0;
    if (len > VIEWER_DEVICE_UA_MAX)
        len = VIEWER_DEVICE_UA_MAX;
    for (size_t i = 0; i != len; ++i) {
        unsigned char c = lower((unsigned char)ua[i]);
        if (!starts[c])
            continue;
        for (size_t k = 0; k != sizeof(words) / sizeof(words[0]); ++k) {
            const word_t *w = &words[k];
            if ((unsigned char)w->s[0] != c || !word_at(ua + i, len - i, w))
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
