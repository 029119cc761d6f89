// CCurl: libcurl for Swift, imported only by HarkDevices (the Home Assistant HTTP transport).
// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed wrapper
// per argument kind.
#ifndef HARK_CCURL_SHIM_H
#define HARK_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt with a long argument (variadic in C).
static inline CURLcode hark_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
// curl_easy_setopt with a pointer argument: strings, lists, userdata (variadic in C).
static inline CURLcode hark_curl_setopt_ptr(CURL *h, CURLoption o, const void *v) { return curl_easy_setopt(h, o, v); }
// curl_easy_setopt with a write callback (variadic in C).
typedef size_t (*hark_curl_write_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);
static inline CURLcode hark_curl_setopt_write(CURL *h, hark_curl_write_fn f) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, f); }
// curl_easy_getinfo for a long result (variadic in C).
static inline CURLcode hark_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }

#endif
