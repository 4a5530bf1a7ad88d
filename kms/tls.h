/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_TLS_H
#define KMS_KMS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/err.h"

/*
 * kmsd's TLS (kms-interface.md, Transport): TLS 1.2 and 1.3 only, ECDHE with AES-GCM or
 * ChaCha20-Poly1305 for 1.2, HTTP/2 and HTTP/1.1 through ALPN, client certificates verified
 * against the configured CAs (SSL_VERIFY_PEER, and SSL_VERIFY_FAIL_IF_NO_PEER_CERT unless client
 * certificates are optional), no renegotiation and no session resumption: every connection runs
 * a full handshake, so every request is attributed to the certificate verified on its own
 * connection.
 *
 * h2o 2.2.5 has no call for a connection's peer certificate (toolchain-notes.md). The verify
 * callback records what kmsd needs of the verified leaf certificate (struct kms_peer) as ex_data
 * of the connection's SSL object, and indexes it by h2o's socket (the data of the SSL object's
 * BIO); the record goes when OpenSSL frees the SSL object, that is when the connection closes.
 * A handler finds its connection's record through req->conn's socket (kms_tls_peer).
 */

#define KMS_TLS_MAX_NAME 255 /* a client's name (its certificate's URI): visible ASCII */

struct kms_peer {
	char uri[KMS_TLS_MAX_NAME + 1]; /* the first URI subjectAltName ("" if none fits) */
	uint8_t spki_sha256[32];        /* SHA-256 of the DER SubjectPublicKeyInfo */
};

struct kms_tls_config {
	const char *cert_file;     /* the server's certificate chain (PEM) */
	const char *key_file;      /* its private key (PEM), when key is NULL */
	EVP_PKEY *key;             /* or the key itself (borrowed; kms/tlskey.h: in the token) */
	const char *client_ca;     /* the CAs that issue client certificates (PEM bundle) */
	bool client_cert_optional; /* else a handshake without a client certificate fails */
};

/*
 * kms_tls_ctx_new - the SSL_CTX of the HTTPS listener (owned: SSL_CTX_free). Returns KMS_OK;
 * KMS_ERR_CRYPTO (a file cannot be loaded, or the key does not match the certificate: err says
 * which, with OpenSSL's reason); KMS_ERR_NOMEM.
 */
int kms_tls_ctx_new(SSL_CTX **out, const struct kms_tls_config *cfg, char *err,
		    size_t err_len) KMS_WUR;

/*
 * kms_tls_peer - copy the verified client certificate's record of the connection whose h2o
 * socket is sock into *out. Returns KMS_OK, or KMS_ERR_AUTH when the connection presented no
 * verified certificate (*out zeroed).
 */
int kms_tls_peer(const void *sock, struct kms_peer *out) KMS_WUR;

#endif /* KMS_KMS_TLS_H */
