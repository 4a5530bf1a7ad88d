/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_TLSKEY_H
#define KMS_KMS_TLSKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#include "common/err.h"

/*
 * kmsd's TLS private key in the token (tls_key_token = yes): the one small interface behind
 * which the TLS key lives (toolchain-notes.md). kmsd holds only the public half, from its
 * certificate; every private-key operation of a handshake is a KMS_PROTO_TLS_SIGN request to
 * kms-hsmd, which signs in the token (as h2o's neverbleed, OpenSSH's ssh-pkcs11-helper). kmsd
 * holds no PIN and loads no PKCS#11 module.
 *
 * With OpenSSL 3.0 this is a legacy EC_KEY with an EC_KEY_METHOD whose sign_sig asks kms-hsmd
 * (deprecated APIs, confined to kms/tlskey.c): an OpenSSL provider can replace it later without
 * any change to the callers. Only ECDSA P-256 keys.
 */

struct kms_hsmd_pool;

/* The kms-hsmd slot a signature goes to is the calling thread's kms_tlskey_slot (internal.h). */

/*
 * kms_tlskey_new - the server key of the certificate cert_file (PEM; its first certificate):
 * an EVP_PKEY with that certificate's public key (ECDSA P-256) whose signatures are made by
 * kms-hsmd through pool (borrowed: it must outlive the key). *out is owned (EVP_PKEY_free).
 * Returns KMS_OK; KMS_ERR_CRYPTO (the file cannot be read, or its key is not P-256; err says
 * which); KMS_ERR_NOMEM. Nothing is asked of kms-hsmd here: see kms_tlskey_check.
 */
int kms_tlskey_new(EVP_PKEY **out, struct kms_hsmd_pool *pool, const char *cert_file, char *err,
		   size_t err_len) KMS_WUR;

/*
 * kms_tlskey_check - have kms-hsmd sign a random digest with key (from kms_tlskey_new) and verify
 * the signature with the certificate's public key. Returns KMS_OK; KMS_ERR_AUTH ("the token's
 * TLS key does not match tls_cert"); KMS_ERR_UNSUPPORTED (kms-hsmd has no tls_key); the error
 * of the call otherwise. err says which.
 */
int kms_tlskey_check(EVP_PKEY *key, char *err, size_t err_len) KMS_WUR;

#endif /* KMS_KMS_TLSKEY_H */
