/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_STORE_H
#define KMS_PROTO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The store (SQLite): the roster (clients, identities, entitlements, revocations), the KMS
 * certificate's public values, the master secrets wrapped under the domain KEK, and pre-minted
 * key sets wrapped under the KEK. Everything in it is public or wrapped: a stolen file leaks no
 * key (SECURITY.md). It lives in proto/ because it is a data format that kms-hsmd (hsm/), kmsd
 * (kms/) and the tools all read: the one-way dependencies (common <- proto <- hsm, kms, tools)
 * leave no other shared place. The schema is docs/store.md; its version is in PRAGMA
 * user_version, and a store of another version is refused.
 *
 * Text values are bounded (the same bounds as proto/msg.h); blobs too. Every query is a
 * prepared statement with bound parameters. A store opened read-only (kms-hsmd) cannot write.
 * One struct kms_store is used by one thread at a time.
 */

#define KMS_STORE_SCHEMA_VERSION 1
#define KMS_STORE_MAX_ID         255  /* client ids, key labels */
#define KMS_STORE_MAX_URI        2048 /* identity URIs, KMS URIs */
#define KMS_STORE_MAX_BLOB       512  /* a wrapped key */

struct kms_store;

enum kms_store_mode {
	KMS_STORE_RO = 0,     /* read only; the file must exist and have the schema */
	KMS_STORE_RW = 1,     /* read and write; the file must exist and have the schema */
	KMS_STORE_CREATE = 2, /* read and write; creates the file (mode 0600) and the schema */
};

/* The client classes of the roster (kms-interface.md): a UE, or an MC server. */
enum kms_client_class {
	KMS_CLIENT_UE = 0,
	KMS_CLIENT_SERVER = 1,
};

/* The KMS certificate's public values (one row: the domain's root certificate). */
struct kms_store_cert {
	char kms_uri[KMS_STORE_MAX_URI + 1];
	char cert_uri[KMS_STORE_MAX_URI + 1]; /* may be empty */
	uint64_t user_key_period;             /* seconds, >= 1 */
	uint64_t user_key_offset;             /* seconds */
	uint8_t kpak[65];
	uint8_t z_t[257];
};

/* A client of the roster. */
struct kms_store_client {
	char client_id[KMS_STORE_MAX_ID + 1];
	enum kms_client_class cls;
	char trk_label[KMS_STORE_MAX_ID + 1]; /* the token label of its current TrK */
	char ink_label[KMS_STORE_MAX_ID + 1]; /* and InK */
	int revoked;
};

/* A wrapped blob (under the KEK). */
struct kms_store_blob {
	uint8_t data[KMS_STORE_MAX_BLOB];
	size_t len;
};

/* A pre-minted key set: RSK, SSK, PVT, each wrapped under the KEK. */
struct kms_store_keyset {
	struct kms_store_blob rsk;
	struct kms_store_blob ssk;
	struct kms_store_blob pvt;
};

/*
 * kms_store_open - open (or create) the store at path. *out is owned (kms_store_close).
 * Returns KMS_OK, KMS_ERR_IO (cannot open or create), KMS_ERR_PARSE (not a store of
 * KMS_STORE_SCHEMA_VERSION), KMS_ERR_INVALID_ARG, KMS_ERR_NOMEM.
 */
int kms_store_open(struct kms_store **out, const char *path, enum kms_store_mode mode) KMS_WUR;
void kms_store_close(struct kms_store *st);

/* The certificate: KMS_OK, or KMS_ERR_FORBIDDEN if the store has none yet. */
int kms_store_get_cert(struct kms_store *st, struct kms_store_cert *out) KMS_WUR;
int kms_store_put_cert(struct kms_store *st, const struct kms_store_cert *cert) KMS_WUR;

/*
 * Master secrets, wrapped under the KEK, by name ("ksak", "z_t"). get: KMS_ERR_FORBIDDEN if
 * absent. put replaces.
 */
int kms_store_get_secret(struct kms_store *st, const char *name,
			 struct kms_store_blob *out) KMS_WUR;
int kms_store_put_secret(struct kms_store *st, const char *name,
			 const struct kms_store_blob *blob) KMS_WUR;

/* Clients. get: KMS_ERR_FORBIDDEN if unknown. put inserts or replaces. */
int kms_store_get_client(struct kms_store *st, const char *client_id,
			 struct kms_store_client *out) KMS_WUR;
int kms_store_put_client(struct kms_store *st, const struct kms_store_client *client) KMS_WUR;

/* Identities: add (not revoked), revoke / restore. KMS_ERR_FORBIDDEN for an unknown URI. */
int kms_store_add_identity(struct kms_store *st, const char *uri) KMS_WUR;
int kms_store_set_identity_revoked(struct kms_store *st, const char *uri, int revoked) KMS_WUR;

/* Entitlements: client_id may have the key material of uri. */
int kms_store_entitle(struct kms_store *st, const char *client_id, const char *uri) KMS_WUR;
int kms_store_withdraw(struct kms_store *st, const char *client_id, const char *uri) KMS_WUR;

/*
 * kms_store_check_entitled - KMS_OK if client_id is a known, unrevoked client, uri a known,
 * unrevoked identity, and the client is entitled to it; KMS_ERR_FORBIDDEN in every other case
 * (unknown client, unknown identity, revoked, not entitled: one answer, so a caller cannot tell
 * whether a foreign identity exists). Other errors only for a failing store (KMS_ERR_IO).
 */
int kms_store_check_entitled(struct kms_store *st, const char *client_id, const char *uri) KMS_WUR;

/* Pre-minted key sets. get: KMS_ERR_FORBIDDEN if absent (no fallback anywhere). put replaces. */
int kms_store_get_keyset(struct kms_store *st, const char *uri, uint64_t period,
			 struct kms_store_keyset *out) KMS_WUR;
int kms_store_put_keyset(struct kms_store *st, const char *uri, uint64_t period,
			 const struct kms_store_keyset *ks) KMS_WUR;

#endif /* KMS_PROTO_STORE_H */
