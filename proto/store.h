/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_STORE_H
#define KMS_PROTO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The store (SQLite): the roster (clients, identities, entitlements, revocations), the KMS
 * certificate's public values, the master secrets wrapped under the domain KEK, pre-minted
 * key sets wrapped under the KEK, and the hash-chained audit log. Everything in it is public or
 * wrapped: a stolen file leaks no key (SECURITY.md). It lives in proto/ because it is a data format
 * that kms-hsmd (hsm/), kmsd (kms/) and the tools all read: the one-way dependencies (common <-
 * proto <- hsm, kms, tools) leave no other shared place. The schema is docs/store.md; its version
 * is in PRAGMA user_version. A store of version 3 to 6 is migrated to 7 by the first
 * read-write open (and refused by read-only ones until then); a store of any other version is
 * refused.
 *
 * Text values are bounded (the same bounds as proto/msg.h); blobs too. Every query is a
 * prepared statement with bound parameters. A store opened read-only cannot write.
 * One struct kms_store is used by one thread at a time. A read-write handle commits with
 * synchronous=FULL: a write is on disk when its function returns KMS_OK.
 */

#define KMS_STORE_SCHEMA_VERSION 7
#define KMS_STORE_MAX_ID         255  /* client ids, key labels */
#define KMS_STORE_MAX_URI        2048 /* identity URIs, KMS URIs */
#define KMS_STORE_MAX_BLOB       512  /* a wrapped key */
#define KMS_STORE_MAX_ISSUER     1024 /* bytes of Issuer */
#define KMS_STORE_MAX_DOMAINS    64   /* KmsDomain URIs of one certificate */
#define KMS_STORE_DOMAINS_LEN    8192 /* bytes of the domain list (URIs, one space between) */

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

/*
 * The KMS certificate's public values (one row: the domain's root certificate). Texts are
 * NUL-terminated within their arrays.
 */
struct kms_store_cert {
	char kms_uri[KMS_STORE_MAX_URI + 1];
	char cert_uri[KMS_STORE_MAX_URI + 1]; /* may be empty */
	uint64_t user_key_period;             /* seconds, >= 1 */
	uint64_t user_key_offset;             /* seconds */
	uint8_t kpak[65];
	uint8_t z_t[257];
	/* Issuer: 0..KMS_STORE_MAX_ISSUER bytes of UTF-8 without control characters (C0, DEL,
	 * C1); "" none. */
	char issuer[KMS_STORE_MAX_ISSUER + 1];
	/* ValidFrom, ValidTo: Unix seconds, -62135596800..253402300799 (years 0001..9999), each
	 * present when its has_ flag is 1 (0: absent); from < to when both are present. */
	int has_valid_from;
	int64_t valid_from;
	int has_valid_to;
	int64_t valid_to;
	/* KmsDomainList: 0..KMS_STORE_MAX_DOMAINS URIs, each without whitespace or control
	 * characters, separated by one space (none at either end), as ext_certs.domains; "" none.
	 */
	char domains[KMS_STORE_DOMAINS_LEN + 1];
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
 * A read-write open (KMS_STORE_RW, or KMS_STORE_CREATE of an existing file) of a store of
 * schema version 3, 4, 5 or 6 migrates it to KMS_STORE_SCHEMA_VERSION (7) first, in one
 * transaction (the new tables and user_version; no row changes), and logs that it did; a
 * read-only open of a version 3 to 6 store is refused with a log line saying to open it
 * read-write once. Returns KMS_OK, KMS_ERR_IO (cannot open or create; the migration could not
 * write), KMS_ERR_PARSE (not a store of KMS_STORE_SCHEMA_VERSION, nor, read-write, of version
 * 3 to 6), KMS_ERR_INVALID_ARG, KMS_ERR_NOMEM.
 */
int kms_store_open(struct kms_store **out, const char *path, enum kms_store_mode mode) KMS_WUR;
void kms_store_close(struct kms_store *st);

/*
 * kms_store_get_cert - the certificate, every field, from one read snapshot, into *out (all
 * zero on any failure). A certificate written before schema version 4 has no issuer, validity
 * or domain list ("" and has_ flags 0). Returns KMS_OK; KMS_ERR_FORBIDDEN (the store has none
 * yet); KMS_ERR_PARSE (a malformed value in the file); KMS_ERR_INVALID_ARG (NULL st or out);
 * KMS_ERR_IO, KMS_ERR_NOMEM.
 *
 * kms_store_put_cert - insert or replace the certificate, every field, in one transaction.
 * cert is borrowed. Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL st or cert, a text out of its
 * bounds or characters or not NUL-terminated in its array, a malformed domain list, a has_
 * flag not 0 or 1, valid_from not before valid_to when both are present, a read-only handle);
 * KMS_ERR_RANGE (user_key_period 0, a period above INT64_MAX, a time out of its range);
 * KMS_ERR_IO, KMS_ERR_NOMEM. On error nothing changed.
 */
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

/* kms_store_id_ok - 1 if s[0..len) is a client id or key label as the store keeps them: 1 to
 * KMS_STORE_MAX_ID visible ASCII characters (0x21..0x7e); else 0. */
int kms_store_id_ok(const char *s, size_t len);

/* Clients. get: KMS_ERR_FORBIDDEN if unknown. put inserts or replaces. */
int kms_store_get_client(struct kms_store *st, const char *client_id,
			 struct kms_store_client *out) KMS_WUR;
int kms_store_put_client(struct kms_store *st, const struct kms_store_client *client) KMS_WUR;

/*
 * kms_store_set_client_revoked - revoke (revoked 1) or restore (0) the client client_id: a
 * revoked client is refused everything (kms_store_check_entitled). One transaction.
 * Returns KMS_OK (also when the flag was set already); KMS_ERR_FORBIDDEN (no such client);
 * KMS_ERR_INVALID_ARG (NULL st, a malformed id, revoked not 0 or 1, a read-only handle);
 * KMS_ERR_IO, KMS_ERR_NOMEM.
 */
int kms_store_set_client_revoked(struct kms_store *st, const char *client_id, int revoked) KMS_WUR;

/*
 * kms_store_add_identity - add uri to the roster, not revoked, unless it is there: an existing
 * identity is left exactly as it is (a revoked one stays revoked; its entitlements and key
 * sets stay) and the answer is KMS_OK all the same, so that adding is idempotent (a resumed
 * pre-mint adds what is missing). Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL st, a malformed
 * uri, a read-only handle); KMS_ERR_IO, KMS_ERR_NOMEM.
 *
 * kms_store_set_identity_revoked - revoke (1) or restore (0) uri. KMS_ERR_FORBIDDEN for an
 * unknown URI.
 */
int kms_store_add_identity(struct kms_store *st, const char *uri) KMS_WUR;
int kms_store_set_identity_revoked(struct kms_store *st, const char *uri, int revoked) KMS_WUR;

/*
 * Entitlements: client_id may have the key material of uri. entitle: KMS_ERR_FORBIDDEN for an
 * unknown client or identity (an existing entitlement is KMS_OK). withdraw: KMS_ERR_FORBIDDEN
 * when there was no such entitlement.
 */
int kms_store_entitle(struct kms_store *st, const char *client_id, const char *uri) KMS_WUR;
int kms_store_withdraw(struct kms_store *st, const char *client_id, const char *uri) KMS_WUR;

/* An identity of the roster, as the lists pass it on. */
struct kms_store_identity {
	char uri[KMS_STORE_MAX_URI + 1];
	int revoked;
};

/* An entitlement, as the lists pass it on. */
struct kms_store_entitlement {
	char client_id[KMS_STORE_MAX_ID + 1];
	char uri[KMS_STORE_MAX_URI + 1];
};

/*
 * kms_store_client_list, kms_store_identity_list, kms_store_entitlement_list - in one read
 * snapshot, call cb(arg, item) for every client (by client_id), every identity (by URI), or
 * every entitlement (by client_id, then URI) whose client is client_id and whose identity is
 * uri (each NULL: any), in byte order. item is borrowed for the call only; cb may not use st.
 * cb returns KMS_OK to go on; any other value stops the walk and is returned as it is. Every
 * row is checked for the type, length and characters of its values.
 * Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, a malformed client_id or
 * uri, called from a callback of the store); KMS_ERR_PARSE (a malformed row: the walk stops
 * there); KMS_ERR_IO; KMS_ERR_NOMEM. Work on read-only handles.
 */
int kms_store_client_list(struct kms_store *st,
			  int (*cb)(void *arg, const struct kms_store_client *client),
			  void *arg) KMS_WUR;
int kms_store_identity_list(struct kms_store *st,
			    int (*cb)(void *arg, const struct kms_store_identity *identity),
			    void *arg) KMS_WUR;
int kms_store_entitlement_list(struct kms_store *st, const char *client_id, const char *uri,
			       int (*cb)(void *arg,
					 const struct kms_store_entitlement *entitlement),
			       void *arg) KMS_WUR;

/* The changes of a roster batch (kms_store_roster_apply). */
enum kms_roster_op_kind {
	KMS_ROSTER_ADD_IDENTITY = 0,    /* uri: add it (not revoked) unless it is there */
	KMS_ROSTER_ENTITLE = 1,         /* client_id, uri: both must exist */
	KMS_ROSTER_REVOKE_IDENTITY = 2, /* uri: must exist */
	KMS_ROSTER_WITHDRAW = 3,        /* client_id, uri: the entitlement must exist */
};

struct kms_roster_op {
	enum kms_roster_op_kind kind;
	const char *client_id; /* borrowed; ignored by ADD_IDENTITY and REVOKE_IDENTITY */
	const char *uri;       /* borrowed */
};

/* What a batch did (or, dry run, would do). */
struct kms_roster_summary {
	size_t added;            /* identities added */
	size_t existed;          /* identities that were there already */
	size_t entitled;         /* entitlements added */
	size_t already_entitled; /* entitlements that were there already */
	size_t revoked;          /* identities revoked (also: revoked already) */
	size_t withdrawn;        /* entitlements withdrawn */
};

#define KMS_STORE_MAX_ROSTER_OPS 100000 /* changes of one batch */

/*
 * kms_store_roster_apply - apply ops[0..num_ops) in order in one write transaction (a later op
 * sees what an earlier one did): all of them, or, on any error, none. With dry_run 1 every op
 * is checked against the store the same way and the transaction is then rolled back.
 * *out_sum gets the counts (KMS_OK only; else zeros). On KMS_ERR_FORBIDDEN or
 * KMS_ERR_INVALID_ARG for an op, *out_failed is its index and *out_why a constant reason ("no
 * such client", "no such identity", "no such entitlement", "a malformed client id or identity
 * URI"); otherwise 0 and "". All the ops' arguments are checked before the write lock is taken.
 * Returns KMS_OK; KMS_ERR_FORBIDDEN (an op refused by the roster); KMS_ERR_INVALID_ARG (a
 * malformed op, NULL st or outputs, num_ops above KMS_STORE_MAX_ROSTER_OPS, dry_run not 0 or
 * 1, a read-only handle, called from a callback of the store); KMS_ERR_IO; KMS_ERR_NOMEM.
 */
int kms_store_roster_apply(struct kms_store *st, const struct kms_roster_op *ops, size_t num_ops,
			   int dry_run, struct kms_roster_summary *out_sum, size_t *out_failed,
			   const char **out_why) KMS_WUR;

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

/*
 * kms_store_has_keyset - *out_has 1 if the store holds a key set for uri and period, else 0
 * (its values are not read or checked: kms_store_get_keyset does that), for a pre-mint that
 * resumes where it stopped. Works on read-only handles. Returns KMS_OK; KMS_ERR_INVALID_ARG
 * (NULL st or out_has, a malformed uri); KMS_ERR_RANGE (period above INT64_MAX); KMS_ERR_IO,
 * KMS_ERR_NOMEM. *out_has is 0 unless KMS_OK is returned.
 */
int kms_store_has_keyset(struct kms_store *st, const char *uri, uint64_t period,
			 int *out_has) KMS_WUR;

/*
 * Client keys (schema version 4): each client's TrK and InK wrapped under the domain KEK by
 * the enrolment of the key ceremony and by every key rotation of kms-hsmd, keyed by their token
 * label, so that a node restored from a backup can put them into its new token again.
 *
 * kms_store_put_client_key - insert the key labelled label (1..KMS_STORE_MAX_ID visible
 * ASCII characters, as the labels of struct kms_store_client), of role ink (0: a TrK, 1: an
 * InK), wrapped (1..KMS_STORE_MAX_BLOB bytes under the KEK), or replace the role and wrapped
 * key of that label. One transaction. wrapped is borrowed. Returns KMS_OK;
 * KMS_ERR_INVALID_ARG (NULL st or wrapped, a malformed label, ink not 0 or 1, a wrapped
 * length out of bounds, a read-only handle); KMS_ERR_IO, KMS_ERR_NOMEM.
 */
int kms_store_put_client_key(struct kms_store *st, const char *label, int ink,
			     const struct kms_store_blob *wrapped) KMS_WUR;

/*
 * kms_store_put_client_with_keys - in one transaction, insert or replace the client row client
 * (as kms_store_put_client) and its two keys in client_keys (as kms_store_put_client_key):
 * trk_wrapped (under the KEK) as the TrK labelled client->trk_label, ink_wrapped as the InK
 * labelled client->ink_label. All three rows are written, or, on any error, none: the key
 * ceremony's enrolment points a client at its keys only together with the copies that let
 * `kms-ceremony restore` put them into another token. (kms-hsmd's key rotation writes its new
 * keys with kms_store_put_rotation instead.) A pending rotation of the client made under
 * another TrK than client->trk_label (a re-enrolment) is dropped in the same transaction, with
 * its keys' client_keys rows that no client's row names: those keys are wrapped under a TrK the
 * client no longer has; its new keys are retired. So are the client's earlier TrK and InK, if
 * their labels differ from the new ones (kms_store_is_retired). The arguments are borrowed. Returns
 * KMS_OK; KMS_ERR_INVALID_ARG (NULL st or argument, a client or blob kms_store_put_client or
 * kms_store_put_client_key would refuse, the two labels equal, a read-only handle, called from
 * a callback of the store); KMS_ERR_IO (also: the write lock stayed taken past the busy
 * timeout), KMS_ERR_NOMEM.
 */
int kms_store_put_client_with_keys(struct kms_store *st, const struct kms_store_client *client,
				   const struct kms_store_blob *trk_wrapped,
				   const struct kms_store_blob *ink_wrapped) KMS_WUR;

/*
 * kms_store_client_key_list - in one read snapshot, call cb(ctx, label, ink, wrapped) for
 * every client key, in byte order of label. label and wrapped are borrowed for the call only;
 * cb may not use st. Every row is checked for the type, length and characters of its values.
 * cb returns KMS_OK to go on; any other value stops the walk and is returned as it is.
 * Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, called from a callback of
 * the store); KMS_ERR_PARSE (a malformed row: the walk stops there); KMS_ERR_IO;
 * KMS_ERR_NOMEM. Works on read-only handles.
 */
int kms_store_client_key_list(struct kms_store *st,
			      int (*cb)(void *ctx, const char *label, int ink,
					const struct kms_store_blob *wrapped),
			      void *ctx) KMS_WUR;

/*
 * Pending rotations (schema version 6; docs/store.md, "client_rotations"). kms-hsmd's key
 * rotation makes a new TrK and InK for a client and stores them as pending: the client keeps
 * its current keys (its row in clients is unchanged) while kmsd hands it the new ones, wrapped
 * under its current TrK, with its init and keyprov answers; once the client proves it holds the
 * new InK (or an operator confirms), the rotation is finished: its row names the new keys, in
 * the same transaction that deletes the pending row. A client has one pending rotation at most.
 * Labels are as those of struct kms_store_client: 1..KMS_STORE_MAX_ID visible ASCII characters,
 * NUL-terminated within their arrays.
 */

/* A pending rotation of a client's TrK and InK (schema version 6). */
struct kms_store_rotation {
	char client_id[KMS_STORE_MAX_ID + 1];
	char from_trk_label[KMS_STORE_MAX_ID + 1]; /* the client's TrK when the rotation was made:
						    * new_trk and new_ink are wrapped under it */
	char new_trk_label[KMS_STORE_MAX_ID + 1];
	char new_ink_label[KMS_STORE_MAX_ID + 1];
	struct kms_store_blob
		new_trk; /* the new TrK for the client, RFC 5649 under from_trk_label */
	struct kms_store_blob new_ink; /* the new InK, likewise */
	int64_t created;               /* Unix seconds */
};

/*
 * kms_store_put_rotation - in one transaction: the client rot->client_id must exist, not be
 * revoked (KMS_ERR_FORBIDDEN otherwise) and its trk_label must equal rot->from_trk_label
 * (KMS_ERR_AUTH otherwise: it changed meanwhile); no rotation may be pending for it
 * (KMS_ERR_AUTH); insert both new keys into client_keys (as kms_store_put_client_key: trk_kek
 * role 0 under new_trk_label, ink_kek role 1 under new_ink_label) and the rotation row. All or
 * nothing. The new keys' rows are inserted, never replaced: a label that client_keys holds
 * already is KMS_ERR_AUTH (the backup of another key stays as it is). rot, trk_kek and ink_kek
 * (each 1..KMS_STORE_MAX_BLOB bytes under the KEK) are borrowed.
 * Returns KMS_OK; KMS_ERR_FORBIDDEN (no such client, or it is revoked); KMS_ERR_AUTH (the
 * client's TrK is not rot->from_trk_label, a rotation is pending already, a new label is in
 * client_keys already); KMS_ERR_INVALID_ARG (NULL st or argument, a malformed client id or
 * label, a blob out of bounds, two of the four labels of the rotation equal (from_trk_label,
 * new_trk_label, new_ink_label and the client's current ink_label), a read-only handle, called
 * from a callback of the store); KMS_ERR_RANGE (rot->created negative); KMS_ERR_PARSE (the
 * client's row in the file is malformed); KMS_ERR_IO (also: the write lock stayed taken past the
 * busy timeout); KMS_ERR_NOMEM. On error nothing changed.
 */
int kms_store_put_rotation(struct kms_store *st, const struct kms_store_rotation *rot,
			   const struct kms_store_blob *trk_kek,
			   const struct kms_store_blob *ink_kek) KMS_WUR;

/*
 * kms_store_get_rotation - the pending rotation of client_id into *out and *found = 1, or
 * *found = 0 (KMS_OK either way). One read snapshot; the row is checked for the type, length and
 * characters of its values (and its labels for being distinct). Works on read-only handles.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL st, out or found, a malformed client_id, called from
 * a callback of the store); KMS_ERR_PARSE (the row is malformed); KMS_ERR_IO; KMS_ERR_NOMEM.
 * *out is all zero and *found 0 unless a rotation was found.
 */
int kms_store_get_rotation(struct kms_store *st, const char *client_id,
			   struct kms_store_rotation *out, int *found) KMS_WUR;

/*
 * kms_store_finish_rotation - in one transaction: the pending rotation of client_id must exist
 * and name new_ink_label (KMS_ERR_AUTH otherwise: nothing pending, or another rotation), and the
 * client's current trk_label must still be the rotation's from_trk_label (KMS_ERR_AUTH
 * otherwise: the client was re-enrolled meanwhile); the client's row gets trk_label =
 * new_trk_label, ink_label = new_ink_label (its class and revoked flag stay); the rotation row
 * is deleted; the client's old TrK and InK are retired (see kms_store_is_retired) and their
 * client_keys rows deleted. The new keys' client_keys rows stay (restore needs them).
 * Returns KMS_OK; KMS_ERR_AUTH (as above); KMS_ERR_FORBIDDEN (the client's row is gone);
 * KMS_ERR_INVALID_ARG (NULL st, a malformed client_id or new_ink_label, a read-only handle,
 * called from a callback of the store); KMS_ERR_PARSE (the rotation's or the client's row is
 * malformed); KMS_ERR_IO; KMS_ERR_NOMEM. On error nothing changed.
 */
int kms_store_finish_rotation(struct kms_store *st, const char *client_id,
			      const char *new_ink_label) KMS_WUR;

/*
 * kms_store_cancel_rotation - delete the pending rotation of client_id: KMS_OK, or
 * KMS_ERR_FORBIDDEN when none is pending. The client_keys rows of the cancelled keys are
 * deleted too (they were never used), in the same transaction, except a row whose label a
 * client's row names (a client enrolled under that label meanwhile keeps its key's backup),
 * and the cancelled keys are retired (kms_store_is_retired). The client's row is left as it is.
 * Returns KMS_OK; KMS_ERR_FORBIDDEN; KMS_ERR_INVALID_ARG (NULL st, a malformed client_id, a
 * read-only handle, called from a callback of the store); KMS_ERR_PARSE (the rotation's row is
 * malformed: nothing is deleted); KMS_ERR_IO; KMS_ERR_NOMEM. On error nothing changed.
 */
int kms_store_cancel_rotation(struct kms_store *st, const char *client_id) KMS_WUR;

/*
 * Retired client keys (schema version 7; docs/store.md, "retired_keys"). A key is retired, in the
 * transaction that stops its use, when a rotation is finished (the old TrK and InK), cancelled
 * or dropped by a re-enrolment (the new ones), or when a re-enrolment gives the client keys of
 * other labels (the old ones); its client_keys row is deleted with it. kms-hsmd
 * destroys the token objects of retired keys (every node, when it starts; the node that
 * finishes a rotation, at once). A label that a client's row names again (kms_store_put_client,
 * an enrolment) is no longer retired.
 *
 * kms_store_is_retired - *out_retired 1 if label is retired and named by no client's row and no
 * pending rotation (checked again here, whatever else wrote the file), else 0. Returns KMS_OK;
 * KMS_ERR_INVALID_ARG (NULL st or out_retired, a malformed label, called from a callback of the
 * store); KMS_ERR_IO; KMS_ERR_NOMEM. Works on read-only handles.
 */
int kms_store_is_retired(struct kms_store *st, const char *label, int *out_retired) KMS_WUR;

/*
 * kms_store_retired_list - in one read snapshot, cb(ctx, label, retired) for every retired key
 * that kms_store_is_retired would say 1 for, by label (byte order), with the Unix second of its
 * retirement; the callback rules of
 * kms_store_client_key_list. Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb,
 * called from a callback of the store); KMS_ERR_PARSE (a malformed row); KMS_ERR_IO;
 * KMS_ERR_NOMEM. Works on read-only handles.
 */
int kms_store_retired_list(struct kms_store *st,
			   int (*cb)(void *ctx, const char *label, int64_t retired),
			   void *ctx) KMS_WUR;

/*
 * kms_store_rotation_list - in one read snapshot, cb(ctx, rot) for every pending rotation, by
 * client_id (byte order); same callback rules as kms_store_client_key_list: rot is borrowed
 * for the call only; cb may not use st; cb returns KMS_OK to go on, any other value stops the
 * walk and is returned as it is. Every row is checked as by kms_store_get_rotation.
 * Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, called from a callback of the
 * store); KMS_ERR_PARSE (a malformed row: the walk stops there); KMS_ERR_IO; KMS_ERR_NOMEM.
 * Works on read-only handles.
 */
int kms_store_rotation_list(struct kms_store *st,
			    int (*cb)(void *ctx, const struct kms_store_rotation *rot),
			    void *ctx) KMS_WUR;

/*
 * kms_store_get_client_key - the client key labelled label: its role into *ink (0 a TrK, 1 an
 * InK) and its blob under the KEK into *wrapped, checked as kms_store_client_key_list checks a
 * row. Returns KMS_OK; KMS_ERR_FORBIDDEN (no such label); KMS_ERR_INVALID_ARG (NULL argument, a
 * malformed label, called from a callback of the store); KMS_ERR_PARSE (a malformed row);
 * KMS_ERR_IO; KMS_ERR_NOMEM. Works on read-only handles.
 */
int kms_store_get_client_key(struct kms_store *st, const char *label, int *ink,
			     struct kms_store_blob *wrapped) KMS_WUR;

/*
 * The audit log (docs/store.md, "The audit log"): one record per request, in a hash chain.
 * Record seq (1, 2, 3, ... without gaps) carries prev_hash, the hash of record seq - 1 (32 zero
 * bytes for record 1), and hash, SHA-256 over "KMS-AUDIT-1", seq, prev_hash and every field,
 * each length-prefixed: deleting, reordering or editing a record breaks the chain at it.
 * (Cutting records off the end does not, nor does rewriting the chain from some record on
 * with every hash recomputed: the signed checkpoints below do.)
 *
 * Text fields are UTF-8 without control characters (C0, DEL, C1), within the byte limits
 * below; no field may hold a secret (a token, a PIN, key material): the caller's duty.
 */
#define KMS_AUDIT_HASH_LEN       32
#define KMS_AUDIT_MAX_REQUEST_ID 64   /* bytes */
#define KMS_AUDIT_MAX_CLIENT     255  /* bytes; empty: not authenticated */
#define KMS_AUDIT_MAX_IDENTITY   2048 /* bytes; empty: none in the request */
#define KMS_AUDIT_MAX_RESOURCE   2048 /* bytes */
#define KMS_AUDIT_MAX_OUTCOME    32   /* bytes of [a-z0-9_-], at least 1 */
#define KMS_AUDIT_MAX_DETAIL     255  /* bytes */
#define KMS_AUDIT_MAX_KEY_IDS    255  /* bytes */

/*
 * One audit record. For kms_store_audit_append the caller fills time_s to key_ids (a NULL
 * text pointer is the empty text; outcome may not be empty); seq, prev_hash and hash are
 * ignored (the store sets them). Records read back (kms_store_audit_read) have every field
 * set; their text pointers are borrowed from the store and valid only during the callback.
 */
struct kms_audit_rec {
	uint64_t seq;
	uint64_t time_s;        /* Unix time, seconds, 0..INT64_MAX */
	uint32_t time_ns;       /* and nanoseconds, 0..999,999,999 */
	const char *request_id; /* borrowed; kmsd's request id */
	const char *client;     /* borrowed; the authenticated client id, or "" */
	const char *identity;   /* borrowed; the user identity (URI) asked for, or "" */
	const char *resource;   /* borrowed; the request's method and path */
	int http_status;        /* the status answered: 100..599, or 0 for none */
	const char *outcome;    /* borrowed; "provisioned", "refused", "error", ... */
	const char *detail;     /* borrowed; why (no secrets) */
	const char *key_ids;    /* borrowed; the ids of the keys material was wrapped under */
	uint8_t prev_hash[KMS_AUDIT_HASH_LEN];
	uint8_t hash[KMS_AUDIT_HASH_LEN];
};

/*
 * kms_store_audit_append - append rec to the audit log as record *out_seq, durably: the
 * transaction (BEGIN IMMEDIATE, read the last record's seq and hash, insert the next, COMMIT)
 * is on disk (WAL, synchronous=FULL) when this returns KMS_OK. The threads of a process take
 * turns (a process-wide mutex); processes wait for the file's write lock (the busy timeout,
 * up to KMS_AUDIT_ATTEMPTS times). Thread-safe across handles; one handle, one thread.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL st, rec or out_seq, a text field too long, not
 * UTF-8 or with a control character, a bad outcome word, http_status or time_ns); KMS_ERR_RANGE
 * (time_s above INT64_MAX); KMS_ERR_IO (a read-only handle or file, disk full, a file size
 * limit, a lock held past the retries, any other failed write); KMS_ERR_PARSE (the last record
 * in the file is malformed: nothing can be chained to it); KMS_ERR_NOMEM; KMS_ERR_CRYPTO
 * (SHA-256 failed). On any error nothing was written and *out_seq is 0. rec is borrowed.
 */
#define KMS_AUDIT_ATTEMPTS 3
int kms_store_audit_append(struct kms_store *st, const struct kms_audit_rec *rec,
			   uint64_t *out_seq) KMS_WUR;

/* Why kms_store_audit_verify stopped. */
enum kms_audit_fault {
	KMS_AUDIT_FAULT_NONE = 0,   /* the whole chain verified */
	KMS_AUDIT_FAULT_SEQ = 1,    /* seq is not the previous record's + 1 (deleted, moved) */
	KMS_AUDIT_FAULT_VALUE = 2,  /* a field has the wrong type, length or characters */
	KMS_AUDIT_FAULT_PREV = 3,   /* prev_hash is not the previous record's hash */
	KMS_AUDIT_FAULT_HASH = 4,   /* hash does not match the record's content (edited) */
	KMS_AUDIT_FAULT_UNREAD = 5, /* the record cannot be read (a value above 64 KiB, corrupt) */
	/* Checkpoints (kms_store_audit_verify_checkpoints): */
	KMS_AUDIT_FAULT_CP_SIG = 6,   /* its signature does not verify under its audit key */
	KMS_AUDIT_FAULT_CP_CUT = 7,   /* it covers a record beyond the end of the log (log cut) */
	KMS_AUDIT_FAULT_CP_HASH = 8,  /* its hash differs from the record's (chain rewritten) */
	KMS_AUDIT_FAULT_CP_VALUE = 9, /* the checkpoint row is malformed (type, length, range) */
	KMS_AUDIT_FAULT_CP_KEY = 10,  /* the audit keys: a malformed row, or a pinned key that is
				       * not registered (no checkpoint in particular) */
	KMS_AUDIT_FAULT_CP_KEY_UNKNOWN = 11,  /* its key_fp is not a registered audit key */
	KMS_AUDIT_FAULT_CP_KEY_UNPINNED = 12, /* signed by a registered key that is not pinned */
};

/* kms_audit_fault_str - a short constant description of fault; never NULL. */
const char *kms_audit_fault_str(enum kms_audit_fault fault);

/*
 * kms_store_audit_verify - walk the whole audit log in seq order (one read snapshot; constant
 * memory) and check every record: seq is the previous one's + 1 (1 for the first), its fields
 * are well formed, prev_hash is the previous record's hash (zeros for record 1), and hash is
 * the hash of its content. *out_count is the number of records that verified (1..count),
 * *out_first_bad the seq of the first record that did not (0 if none; count + 1 when the bad
 * record's own seq is unusable), *out_fault why.
 * Returns KMS_OK (the chain is intact: first_bad 0, fault NONE), KMS_ERR_AUTH (it is broken:
 * the outputs say where and why), KMS_ERR_INVALID_ARG (also: called from a read callback),
 * KMS_ERR_IO, KMS_ERR_NOMEM, KMS_ERR_CRYPTO (the walk failed: the outputs are 0). Works on
 * read-only handles.
 */
int kms_store_audit_verify(struct kms_store *st, uint64_t *out_count, uint64_t *out_first_bad,
			   enum kms_audit_fault *out_fault) KMS_WUR;

/*
 * Signed checkpoints (schema version 5; docs/store.md, "Checkpoints"). Each node's token has
 * its own audit key, an ECDSA P-256 key pair (kms-hsmd.conf audit_key; a private key is never
 * copied between tokens); the store keeps the public point of every node's key (table
 * audit_keys, keyed by its fingerprint, SHA-256 of the 65-octet point) so that the log can be
 * checked without a token. Now and then a kms-hsmd signs (seq, hash, time_s) of an audit record
 * it has read from the store itself (KMS_PROTO_AUDIT_SIGN): the digest is
 *   SHA-256("KMS-AUDIT-CHECKPOINT-1" || u64be(seq) || hash[32] || i64be(time_s))
 * and kms-hsmd writes the checkpoint (seq, hash, time_s, its key's fingerprint, the signature
 * r || s) into audit_checkpoints. A log cut below a checkpoint, or rewritten from a record at or
 * below one, no longer matches it.
 */
#define KMS_AUDIT_POINT_LEN 65 /* an uncompressed P-256 point: 04 || x || y */
#define KMS_AUDIT_SIG_LEN   64 /* ECDSA r || s */

/* One checkpoint. */
struct kms_audit_checkpoint {
	uint64_t seq;                       /* the audit record it covers, 1..INT64_MAX */
	uint8_t hash[KMS_AUDIT_HASH_LEN];   /* that record's hash */
	uint64_t time_s;                    /* when it was signed: Unix seconds, 0..INT64_MAX */
	uint8_t key_fp[KMS_AUDIT_HASH_LEN]; /* the fingerprint of the audit key that signed it */
	uint8_t sig[KMS_AUDIT_SIG_LEN];     /* r || s */
};

/*
 * kms_store_checkpoint_digest - the digest the audit key signs for (seq, hash, time_s), into
 * out. Returns KMS_OK; KMS_ERR_RANGE (seq 0 or either number above INT64_MAX);
 * KMS_ERR_INVALID_ARG (NULL hash or out); KMS_ERR_CRYPTO. out is zeroed on failure.
 */
int kms_store_checkpoint_digest(uint64_t seq, const uint8_t hash[KMS_AUDIT_HASH_LEN],
				uint64_t time_s, uint8_t out[KMS_AUDIT_HASH_LEN]) KMS_WUR;

/*
 * kms_store_audit_key_fingerprint - SHA-256 of the 65-octet point, into out (an audit key's
 * fingerprint: the key ceremony's transcript shows it, kms-admin audit verify --key pins it).
 * Returns KMS_OK, KMS_ERR_INVALID_ARG (NULL), KMS_ERR_CRYPTO.
 */
int kms_store_audit_key_fingerprint(const uint8_t point[KMS_AUDIT_POINT_LEN],
				    uint8_t out[KMS_AUDIT_HASH_LEN]) KMS_WUR;

/*
 * kms_store_put_audit_key - register an audit key: its public point (uncompressed, 04 || x || y;
 * only its form is checked here, the key ceremony checks the curve) and its token label
 * (1..KMS_STORE_MAX_ID visible ASCII), under its fingerprint. One transaction. A domain has
 * one key per node: another key beside those registered is fine; the very key again with the
 * same label is KMS_OK (nothing changes). Returns KMS_OK; KMS_ERR_FORBIDDEN (the key is
 * registered already under another label: nothing changed); KMS_ERR_INVALID_ARG (NULL, a
 * malformed point or label, a read-only handle, called from a callback of the store);
 * KMS_ERR_PARSE (its row in the file is malformed); KMS_ERR_IO, KMS_ERR_NOMEM,
 * KMS_ERR_CRYPTO.
 *
 * kms_store_has_audit_key - *out_has = 1 if point is a registered audit key, else 0 (also on
 * failure). Returns KMS_OK; KMS_ERR_PARSE (its row is malformed: a point that is not its
 * fingerprint's); KMS_ERR_INVALID_ARG; KMS_ERR_IO; KMS_ERR_NOMEM; KMS_ERR_CRYPTO. Works on
 * read-only handles.
 *
 * kms_store_audit_key_list - in one read snapshot, call cb(ctx, fp, point, label) for every
 * registered audit key in fingerprint order (bytewise); the arguments are borrowed for the call
 * only; cb may not use st. Every row is checked (lengths, the point's form, fp = SHA-256 of the
 * point, the label). cb returns KMS_OK to go on; any other value stops the walk and is returned
 * as it is. Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, called from a
 * callback of the store); KMS_ERR_PARSE (a malformed row: the walk stops there); KMS_ERR_IO;
 * KMS_ERR_NOMEM; KMS_ERR_CRYPTO. Works on read-only handles.
 */
int kms_store_put_audit_key(struct kms_store *st, const uint8_t point[KMS_AUDIT_POINT_LEN],
			    const char *label) KMS_WUR;
int kms_store_has_audit_key(struct kms_store *st, const uint8_t point[KMS_AUDIT_POINT_LEN],
			    int *out_has) KMS_WUR;
int kms_store_audit_key_list(struct kms_store *st,
			     int (*cb)(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN],
				       const uint8_t point[KMS_AUDIT_POINT_LEN], const char *label),
			     void *ctx) KMS_WUR;

/*
 * kms_store_checkpoint_put - insert the checkpoint cp (borrowed) unless its seq has one already:
 * then the first one stays (another node checkpointed that record first) and this is KMS_OK
 * too. cp->key_fp must be a registered audit key. The signature is not checked here
 * (kms_store_audit_verify_checkpoints does). One transaction. Returns KMS_OK;
 * KMS_ERR_FORBIDDEN (cp->key_fp is not a registered key: nothing written); KMS_ERR_INVALID_ARG
 * (NULL, a read-only handle, called from a callback of the store); KMS_ERR_RANGE (seq 0, seq or
 * time_s above INT64_MAX); KMS_ERR_IO, KMS_ERR_NOMEM.
 */
int kms_store_checkpoint_put(struct kms_store *st, const struct kms_audit_checkpoint *cp) KMS_WUR;

/*
 * kms_store_checkpoint_walk - in one read snapshot, call cb(arg, cp) for every checkpoint in
 * seq order; cp is borrowed for the call only; cb may not use st. Every row is checked for the
 * type, length and range of its values (not for its signature or key). cb returns KMS_OK to go
 * on; any other value stops the walk and is returned as it is. Returns KMS_OK; cb's value;
 * KMS_ERR_INVALID_ARG (NULL st or cb, called from a callback of the store); KMS_ERR_PARSE (a
 * malformed row: the walk stops there); KMS_ERR_IO; KMS_ERR_NOMEM. Works on read-only handles.
 */
int kms_store_checkpoint_walk(struct kms_store *st,
			      int (*cb)(void *arg, const struct kms_audit_checkpoint *cp),
			      void *arg) KMS_WUR;

/*
 * kms_store_checkpoint_last - the seq of the newest checkpoint into *out_seq (0: none).
 * kms_store_audit_head - the seq and hash of the last audit record (0 and zeros: an empty log).
 * kms_store_audit_hash_at - the hash of audit record seq into out_hash: KMS_ERR_FORBIDDEN when
 * the log has no record seq (kms-hsmd signs only what is in the store).
 * Each returns KMS_OK; KMS_ERR_PARSE (a malformed value); KMS_ERR_INVALID_ARG (NULL, called
 * from a callback of the store); KMS_ERR_RANGE (seq 0 or above INT64_MAX); KMS_ERR_IO;
 * KMS_ERR_NOMEM; the outputs are zero on failure. They work on read-only handles.
 */
int kms_store_checkpoint_last(struct kms_store *st, uint64_t *out_seq) KMS_WUR;
int kms_store_audit_head(struct kms_store *st, uint64_t *out_seq,
			 uint8_t out_hash[KMS_AUDIT_HASH_LEN]) KMS_WUR;
int kms_store_audit_hash_at(struct kms_store *st, uint64_t seq,
			    uint8_t out_hash[KMS_AUDIT_HASH_LEN]) KMS_WUR;

/*
 * The verdict of kms_store_audit_verify_checkpoints. chain_*: kms_store_audit_verify's outputs.
 * num_checkpoints: the checkpoints that verified, all of them when cp_fault is NONE;
 * last_cp_seq: the seq of the last of those (0: none); cp_first_bad: the seq of the first
 * checkpoint that failed (0 if none, or if the fault is the keys' (CP_KEY)) and cp_fault why.
 * num_keys: the registered audit keys.
 */
struct kms_audit_report {
	uint64_t chain_count;
	uint64_t chain_first_bad;
	enum kms_audit_fault chain_fault;
	uint64_t num_checkpoints;
	uint64_t last_cp_seq;
	uint64_t cp_first_bad;
	enum kms_audit_fault cp_fault;
	uint64_t num_keys;
};

/*
 * The ECDSA P-256 verification the checkpoint check uses (hsm/keys.h's kms_ecdsa_verify_point
 * has this type; proto/ does not depend on hsm/): KMS_OK if sig (r || s) verifies for digest
 * under point, KMS_ERR_AUTH if not, another code if it cannot tell (treated as not verified).
 */
typedef int (*kms_audit_verify_fn)(const uint8_t point[KMS_AUDIT_POINT_LEN], const uint8_t *digest,
				   size_t len, const uint8_t sig[KMS_AUDIT_SIG_LEN]);

/*
 * A registered audit key as kms_store_audit_verify_checkpoints reports it: its fingerprint and
 * label (borrowed for the call), and num_signed, the checkpoints in the store that name it.
 */
typedef void (*kms_audit_key_fn)(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN], const char *label,
				 uint64_t num_signed);

/*
 * kms_store_audit_verify_checkpoints - in one read snapshot: the chain (as
 * kms_store_audit_verify); then the registered audit keys: every row well formed (its fp the
 * SHA-256 of its point), and each of the num_pins fingerprints pins[] (if any) registered (else
 * CP_KEY); then every checkpoint in seq order: its record exists (else CP_CUT), has exactly
 * the checkpoint's hash (else CP_HASH), its key_fp is a registered key (else CP_KEY_UNKNOWN)
 * and, with pins, one of the pinned ones (else CP_KEY_UNPINNED), and its signature verifies
 * under that key with verify (else CP_SIG). It stops at the first failing checkpoint. Then, if
 * key_cb is not NULL, key_cb(key_ctx, ...) for every registered key in fingerprint order (also
 * when something failed, unless the key rows are malformed). A store without checkpoints
 * passes with none. *out is zeroed first.
 * Returns KMS_OK (chain and every checkpoint verified), KMS_ERR_AUTH (the report says what
 * failed first: the chain, the checkpoints, or both), KMS_ERR_INVALID_ARG (NULL st, verify or
 * out; pins NULL with num_pins > 0; called from a callback), KMS_ERR_IO, KMS_ERR_NOMEM,
 * KMS_ERR_CRYPTO (the walk failed).
 */
int kms_store_audit_verify_checkpoints(struct kms_store *st, kms_audit_verify_fn verify,
				       const uint8_t (*pins)[KMS_AUDIT_HASH_LEN], size_t num_pins,
				       kms_audit_key_fn key_cb, void *key_ctx,
				       struct kms_audit_report *out) KMS_WUR;

/*
 * Which records kms_store_audit_read passes on: a NULL text matches every record, a text
 * matches records with exactly that value (the empty text: records without one); time bounds
 * compare the record's time_s. All the conditions hold at once.
 */
struct kms_audit_filter {
	const char *client;   /* borrowed; NULL: any */
	const char *identity; /* borrowed; NULL: any */
	const char *outcome;  /* borrowed; NULL: any */
	uint64_t since;       /* time_s >= since (0: no lower bound) */
	uint64_t until;       /* time_s < until (0: no upper bound) */
};

/*
 * kms_store_audit_read - call cb(arg, rec) for each record that filter (NULL: all) selects, in
 * seq order, from one read snapshot, in constant memory. rec is borrowed for the call only. cb
 * returns KMS_OK to go on; any other value stops the walk and is returned as it is. cb may not
 * use st (other handles are fine). Each record is checked for the type, length and characters
 * of its fields, not for its hashes (kms_store_audit_verify does that).
 * Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, a filter text too long, not
 * UTF-8 or with a control character; since >= until when both are set; called from cb);
 * KMS_ERR_RANGE (since or until above INT64_MAX); KMS_ERR_PARSE (a malformed record: the
 * walk stops there); KMS_ERR_IO; KMS_ERR_NOMEM.
 */
int kms_store_audit_read(struct kms_store *st, const struct kms_audit_filter *filter,
			 int (*cb)(void *arg, const struct kms_audit_rec *rec), void *arg) KMS_WUR;

/*
 * The certificate cache of external KMSs (docs/store.md, "ext_certs"): the KmsCertificates of
 * other KMSs (Role External) that kmsd serves at certcache and certcache/<n>, keyed by KmsUri.
 * Every import, replacement and withdrawal takes the next change number of the store (1, 2,
 * 3, ...; the cache number is the highest one given, 0 when there was none) and gives it to
 * the row it changed. A withdrawn certificate stays as a row (withdrawn 1), so that
 * certcache/<n> can tell clients it is gone; rows are never deleted.
 */
#define KMS_STORE_MAX_EXT_READ 1024 /* certificates one kms_store_ext_cert_read passes on */

/* An external KMS certificate. Texts are NUL-terminated UTF-8 without NUL. */
struct kms_store_ext_cert {
	char kms_uri[KMS_STORE_MAX_URI + 1];   /* the key: 1..KMS_STORE_MAX_URI bytes */
	char cert_uri[KMS_STORE_MAX_URI + 1];  /* may be empty (absent) */
	char issuer[KMS_STORE_MAX_ISSUER + 1]; /* may be empty (absent) */
	int has_valid_from;                    /* 0 or 1 */
	int64_t valid_from;                    /* Unix seconds, -62135596800..253402300799 */
	int has_valid_to;
	int64_t valid_to;
	int revoked;              /* the certificate's own Revoked (0 or 1) */
	uint64_t user_key_period; /* seconds, 1..INT64_MAX */
	uint64_t user_key_offset; /* seconds, 0..INT64_MAX */
	uint8_t z_t[257];         /* PubEncKey */
	uint8_t kpak[65];         /* PubAuthKey */
	/* KmsDomainList: 0..KMS_STORE_MAX_DOMAINS URIs, each without whitespace or control
	 * characters, separated by one space (no space at either end); "" for none. */
	char domains[KMS_STORE_DOMAINS_LEN + 1];
	/* Set by the store, ignored by put: */
	int withdrawn;       /* 1: withdrawn by the operator (kmsd serves it as Revoked) */
	uint64_t change_num; /* the change number of its last import or withdrawal */
};

/*
 * kms_store_ext_cert_put - import cert, or replace the certificate of its kms_uri (also a
 * withdrawn one: it is served again), with the next change number, which goes to
 * *out_change_num (may be NULL). cert is borrowed; its withdrawn and change_num are ignored.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (NULL st or cert, a text out of its bounds or not
 * UTF-8, a malformed domain list, a flag not 0 or 1, a read-only handle); KMS_ERR_RANGE
 * (user_key_period 0 or either period above INT64_MAX, a time out of its range);
 * KMS_ERR_IO, KMS_ERR_NOMEM, KMS_ERR_PARSE (a malformed change number in the file). One
 * transaction: on error nothing changed and *out_change_num is 0.
 */
int kms_store_ext_cert_put(struct kms_store *st, const struct kms_store_ext_cert *cert,
			   uint64_t *out_change_num) KMS_WUR;

/*
 * kms_store_ext_cert_withdraw - mark the certificate of kms_uri withdrawn, with the next
 * change number (into *out_change_num, may be NULL). Returns KMS_OK; KMS_ERR_FORBIDDEN (no
 * certificate of kms_uri, or it is withdrawn already: nothing changed); KMS_ERR_INVALID_ARG,
 * KMS_ERR_IO, KMS_ERR_NOMEM, KMS_ERR_PARSE as for put.
 */
int kms_store_ext_cert_withdraw(struct kms_store *st, const char *kms_uri,
				uint64_t *out_change_num) KMS_WUR;

/* kms_store_ext_cache_num - the current cache number into *out (0: no change yet). */
int kms_store_ext_cache_num(struct kms_store *st, uint64_t *out) KMS_WUR;

/*
 * kms_store_ext_cert_read - in one read snapshot, call cb(arg, cert) for the certificates
 * whose change number is above since, in ascending change number order, skipping withdrawn
 * ones when skip_withdrawn is 1, at most max (1..KMS_STORE_MAX_EXT_READ) of them.
 * *out_cache_num is the cache number of that snapshot and *out_more is 1 when more than max
 * certificates matched (those after the max-th were not passed on), else 0; both may be
 * NULL. cert is borrowed for the call only; cb may not use st. cb returns KMS_OK to go on;
 * any other value stops the walk and is returned as it is.
 * Returns KMS_OK; cb's value; KMS_ERR_INVALID_ARG (NULL st or cb, max out of range,
 * skip_withdrawn not 0 or 1, called from cb); KMS_ERR_RANGE (since above INT64_MAX);
 * KMS_ERR_PARSE (a malformed row: the walk stops there); KMS_ERR_IO; KMS_ERR_NOMEM. The
 * outputs are 0 unless KMS_OK is returned.
 */
int kms_store_ext_cert_read(struct kms_store *st, uint64_t since, int skip_withdrawn, size_t max,
			    int (*cb)(void *arg, const struct kms_store_ext_cert *cert), void *arg,
			    uint64_t *out_cache_num, int *out_more) KMS_WUR;

#endif /* KMS_PROTO_STORE_H */
