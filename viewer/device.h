/* viewer/device.h - what kind of device a User-Agent names: the CloudFront-Is-*-Viewer headers. A small, documented classifier
 * (CloudFront does not publish its own): pure, no allocation, safe on any bytes. */
#ifndef EDGE_VIEWER_DEVICE_H
#define EDGE_VIEWER_DEVICE_H

#include <stddef.h>

#define VIEWER_DEVICE_DESKTOP 1u
#define VIEWER_DEVICE_MOBILE 2u
#define VIEWER_DEVICE_TABLET 4u
#define VIEWER_DEVICE_SMARTTV 8u
#define VIEWER_DEVICE_ANDROID 16u
#define VIEWER_DEVICE_IOS 32u

/** the first bytes of a User-Agent that are looked at (real ones are shorter; a longer one costs no more) */
#define VIEWER_DEVICE_UA_MAX 1024

/**
 * The device flags of a User-Agent (ua NULL or empty: no User-Agent). Words are matched case-insensitively anywhere in it:
 * - SMARTTV: SmartTV, Smart-TV, Smart TV, HbbTV, GoogleTV, Google TV, AppleTV, Apple TV, CrKey (Chromecast), Roku, BRAVIA,
 *   NetCast, Web0S, Viera, AFT (Amazon Fire TV models, as "; AFT"), FireTV, Opera TV, NetTV, PhilipsTV;
 * - TABLET: iPad, Tablet (not "Tablet PC", a Windows laptop), Kindle, Silk/, PlayBook, Nexus 7/9/10, Xoom, SM-T, GT-P, and
 *   Android without "Mobile" (Google's rule for Android tablets);
 * - MOBILE: Mobi (Mobile, Mobile Safari, IEMobile, Opera Mobi), iPhone, iPod, Windows Phone, BlackBerry, BB10, Opera Mini,
 *   Symbian, Series60, Palm, webOS, J2ME, MIDP, Nokia, KaiOS; an iPad's Safari says Mobile too, so an iPad is MOBILE and
 *   TABLET, as CloudFront says of some tablets;
 * - a SMARTTV is neither MOBILE nor TABLET (Fire TV and Android TV say Android without Mobile);
 * - DESKTOP: none of MOBILE, TABLET, SMARTTV (also: no User-Agent, curl, bots; an iPad asking for the desktop site says
 *   Macintosh and is DESKTOP);
 * - ANDROID: Android; IOS: iPhone, iPad or iPod.
 * At most VIEWER_DEVICE_UA_MAX bytes are read, each once.
 */
unsigned viewer_device_classify(const char *ua, size_t len);

#endif
