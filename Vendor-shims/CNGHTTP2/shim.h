// CNGHTTP2: libnghttp2 (Debian 12: 1.52, apt libnghttp2-dev) for the Transport module only.
// Transport drives nghttp2 through its memory API (nghttp2_session_mem_recv / mem_send); the C
// library never touches a socket. 1.52 predates the `*2` (ssize_t-free) variants, so we use the
// originals.
#ifndef CNGHTTP2_SHIM_H
#define CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
