// COpenSSL: libssl/libcrypto (Debian 12: OpenSSL 3.0, apt libssl-dev) for the Transport module only.
// Several OpenSSL entry points are C macros that Swift cannot import; each comes back here as a
// `static inline` function with a `COpenSSL_` prefix (a systemLibrary target compiles no .c file).
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <string.h>
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

static inline long COpenSSL_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_max_proto_version(ctx, version);
}

/// The pointer is owned by the SSL object; valid until it is freed.
static inline X509 *COpenSSL_SSL_get_peer_certificate(const SSL *ssl) {
    return SSL_get1_peer_certificate(ssl);
}

static inline void COpenSSL_OPENSSL_free(void *p) { OPENSSL_free(p); }

/// EVP_EC_gen is a variadic macro; Swift cannot call it. A P-256 key for --auto-tls.
static inline EVP_PKEY *COpenSSL_generate_p256_key(void) {
    return EVP_EC_gen("P-256");
}

/// The server's ALPN preference: h2 first, then http/1.1 (as Go's net/http offers them).
static const unsigned char COpenSSL_alpn_server_protocols[] = {
    2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'
};

/// ALPN selection: the first of our protocols the client also offers; none → no ALPN (the
/// connection then goes on, and the plaintext sniffer tells HTTP/2 from HTTP/1.1).
static inline int COpenSSL_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                       const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl; (void)arg;
    unsigned char *selected = NULL;
    int rc = SSL_select_next_proto(&selected, outlen, COpenSSL_alpn_server_protocols,
                                   sizeof(COpenSSL_alpn_server_protocols), in, inlen);
    if (rc != OPENSSL_NPN_NEGOTIATED) return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
}

static inline void COpenSSL_install_alpn(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, COpenSSL_alpn_select, NULL);
}

/// The common name of a certificate's subject into buf (NUL-terminated); length or -1.
static inline int COpenSSL_certificate_common_name(X509 *cert, char *buf, int len) {
    X509_NAME *name = X509_get_subject_name(cert);
    if (name == NULL) return -1;
    return X509_NAME_get_text_by_NID(name, NID_commonName, buf, len);
}

/// The index-th subject alternative name of `cert`: its type (1 DNS name, 2 IP address, 0 any
/// other) and its bytes (a name's characters, an address's 4 or 16 bytes) into buf. Returns the
/// length (truncated to buflen), or -1 past the last name (or with no SAN extension).
static inline int COpenSSL_certificate_san_at(X509 *cert, int index, int *type, unsigned char *buf, int buflen) {
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return -1;
    int result = -1;
    if (index >= 0 && index < sk_GENERAL_NAME_num(names)) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, index);
        const ASN1_STRING *value = NULL;
        *type = 0;
        if (name->type == GEN_DNS) { *type = 1; value = name->d.dNSName; }
        else if (name->type == GEN_IPADD) { *type = 2; value = name->d.iPAddress; }
        result = 0;
        if (value != NULL) {
            int n = ASN1_STRING_length(value);
            if (n > buflen) n = buflen;
            memcpy(buf, ASN1_STRING_get0_data(value), (size_t)n);
            result = n;
        }
    }
    GENERAL_NAMES_free(names);
    return result;
}

/// Client verification as Go's crypto/tls + etcd's CRL check do it: a certificate listed in the
/// CRL is refused, but the CRL's own thisUpdate/nextUpdate are not enforced (etcd checks serials
/// only). Every other verification error stands.
///
/// With an allowed common name set on the context (`COpenSSL_SSL_CTX_set_allowed_cn`, etcd's
/// `--peer-cert-allowed-cn`), a client certificate whose subject CN differs is rejected during
/// the handshake (the client sees "bad certificate"), as etcd's VerifyPeerCertificate does.
static inline int COpenSSL_verify_callback(int ok, X509_STORE_CTX *ctx) {
    if (!ok) {
        int err = X509_STORE_CTX_get_error(ctx);
        if (err == X509_V_ERR_CRL_HAS_EXPIRED || err == X509_V_ERR_CRL_NOT_YET_VALID) {
            X509_STORE_CTX_set_error(ctx, X509_V_OK);
            return 1;
        }
        return ok;
    }
    if (X509_STORE_CTX_get_error_depth(ctx) == 0) {
        SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
        const char *allowed = ssl ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
        if (allowed != NULL) {
            char cn[256] = {0};
            X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
            X509_NAME *name = cert ? X509_get_subject_name(cert) : NULL;
            int n = name ? X509_NAME_get_text_by_NID(name, NID_commonName, cn, sizeof(cn)) : -1;
            // `allowed` is a comma-separated list (etcd 3.5 takes several names).
            int match = 0;
            const char *item = allowed;
            while (n >= 0 && !match && *item) {
                const char *end = strchr(item, ',');
                size_t len = end ? (size_t)(end - item) : strlen(item);
                if (len == (size_t)n && strncmp(item, cn, len) == 0) match = 1;
                item = end ? end + 1 : item + len;
            }
            if (!match) {
                X509_STORE_CTX_set_error(ctx, X509_V_ERR_CERT_REJECTED);
                return 0;
            }
        }
    }
    return ok;
}

/// The common names client certificates may carry, comma-separated (NULL: any); the string must
/// outlive `ctx`.
static inline void COpenSSL_SSL_CTX_set_allowed_cn(SSL_CTX *ctx, const char *cn) {
    SSL_CTX_set_app_data(ctx, (void *)cn);
}

static inline void COpenSSL_SSL_CTX_set_verify(SSL_CTX *ctx, int mode) {
    SSL_CTX_set_verify(ctx, mode, COpenSSL_verify_callback);
}

/// SNI for a client connection (`SSL_set_tlsext_host_name` is a macro).
static inline long COpenSSL_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

#endif
