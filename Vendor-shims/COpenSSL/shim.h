// COpenSSL: libssl/libcrypto (Debian 12: OpenSSL 3.0, apt libssl-dev) for the Transport module only.
// Several OpenSSL entry points are C macros that Swift cannot import; each comes back here as a
// `static inline` function with a `COpenSSL_` prefix (a systemLibrary target compiles no .c file).
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/// BIO_get_mem_data is a macro over BIO_ctrl.
static inline long COpenSSL_BIO_get_mem_data(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

/// BIO_pending is a macro over BIO_ctrl.
static inline size_t COpenSSL_BIO_pending(BIO *bio) {
    return BIO_pending(bio);
}

/// BIO_set_mem_eof_return is a macro; -1 makes an empty memory BIO report "retry" rather than EOF,
/// which is what a read BIO fed from the network must do.
static inline long COpenSSL_BIO_set_mem_eof_return(BIO *bio, int value) {
    return BIO_set_mem_eof_return(bio, value);
}

/// SSL_CTX_set_mode and SSL_CTX_set_options-style macros.
static inline long COpenSSL_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}

static inline long COpenSSL_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}

/// The pointer is owned by the SSL object; valid until it is freed.
static inline X509 *COpenSSL_SSL_get_peer_certificate(const SSL *ssl) {
    return SSL_get1_peer_certificate(ssl);
}

static inline void COpenSSL_OPENSSL_free(void *p) { OPENSSL_free(p); }

#endif
