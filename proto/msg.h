/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_MSG_H
#define KMS_PROTO_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "proto/frame.h"
#include "proto/mp.h"

/*
 * The messages between kmsd and kms-hsmd (docs/protocol.md has every field). Each message is
 * one msgpack map, the payload of one frame (proto/frame.h). A request carries "op" (which
 * operation) and "id" (chosen by kmsd) and the operation's arguments; the reply carries the
 * same "op" and "id", a "status" (an enum kms_err code) and, only when the status is KMS_OK,
 * the operation's results. Either side may be the hostile one, so both directions are decoded
 * with the same care: the message is pre-scanned (kms_mp_prescan) under KMS_PROTO_LIMITS,
 * then every key must be known for that operation, appear once, and carry a value of its type
 * and range; every field of the operation must be there.
 *
 * The structs hold no pointers: strings and byte strings are copied into fixed arrays with an
 * explicit length. A decoded str is also NUL-terminated (no str field may contain NUL).
 */

/* The operations; the numbers are on the wire (0 is never valid). */
enum kms_proto_op {
	KMS_PROTO_HEALTH = 1,      /* is kms-hsmd up, and is its token there */
	KMS_PROTO_PROVISION = 2,   /* the wrapped key set of an identity for a key period */
	KMS_PROTO_CERTIFICATE = 3, /* the public values of the KMS certificate */
	KMS_PROTO_ROTATE_KEYS = 4, /* new TrK and InK for a client, wrapped under its current TrK */
	KMS_PROTO_SIGN = 5,        /* HMAC of a response's SignedInfo under a client's InK */
	KMS_PROTO_TLS_SIGN = 6,    /* ECDSA signature by kmsd's TLS key in the token */
	KMS_PROTO_AUDIT_SIGN = 7,  /* ECDSA signature of an audit checkpoint by the audit key */
	KMS_PROTO_VERIFY = 8, /* check a client's HMAC on a signed request (finishes a rotation) */
};
#define KMS_PROTO_OP_MAX KMS_PROTO_VERIFY

/* Bounds of the fields (lengths in bytes). */
#define KMS_PROTO_MAX_CLIENT_ID   255  /* client ids: 1..255 visible ASCII (0x21..0x7e) */
#define KMS_PROTO_MAX_KEY_ID      255  /* TrK / InK ids: 1..255 visible ASCII */
#define KMS_PROTO_MAX_URI         2048 /* URIs: UTF-8 without NUL */
#define KMS_PROTO_MAX_NAME        255  /* display names: UTF-8 without NUL */
#define KMS_PROTO_MAX_WRAPPED     512  /* wrapped keys: 1..512 bytes */
#define KMS_PROTO_UID_LEN         32   /* TS 33.180 UID (SHA-256 output) */
#define KMS_PROTO_HMAC_LEN        32   /* HMAC-SHA256 */
#define KMS_PROTO_DIGEST_LEN      32   /* SHA-256: the reference digest of a response */
#define KMS_PROTO_KPAK_LEN        65   /* ECCSI KPAK, an uncompressed P-256 point */
#define KMS_PROTO_Z_T_LEN         257  /* SAKKE Z_T, an uncompressed point of parameter set 1 */
#define KMS_PROTO_PLAIN_RSK_LEN   257  /* a plain PROVISION reply's keys: the RSK (a point), */
#define KMS_PROTO_PLAIN_SSK_LEN   32   /* the SSK (a P-256 scalar), */
#define KMS_PROTO_PLAIN_PVT_LEN   65   /* the PVT (an uncompressed P-256 point) */
#define KMS_PROTO_PARAMETER_SET   1    /* RFC 6509 parameter set 1, the only one defined */
#define KMS_PROTO_TLS_DIGEST_MIN  20   /* TLS_SIGN digests: SHA-1 (20) .. SHA-512 (64) octets */
#define KMS_PROTO_TLS_DIGEST_MAX  64
#define KMS_PROTO_TLS_SIG_LEN     64   /* ECDSA P-256 r || s, 32 octets each (CKM_ECDSA) */
#define KMS_PROTO_AUDIT_HASH_LEN  32   /* an audit record's hash (proto/store.h) */
#define KMS_PROTO_AUDIT_SIG_LEN   64   /* ECDSA P-256 r || s */
#define KMS_PROTO_MAX_SIGNED_INFO 2048 /* VERIFY: a request's canonical ds:SignedInfo */
/* The most keys a message has (a PROVISION reply has 14). */
#define KMS_PROTO_MAX_KEYS        16

/*
 * KMS_PROTO_LIMITS - the pre-scan limits of these messages: one map of scalars, at most
 * KMS_PROTO_MAX_KEYS pairs, no str or bin longer than the longest field.
 */
#define KMS_PROTO_LIMITS                                                                           \
	((const struct kms_mp_limits){                                                             \
		.max_depth = 1, .max_count = KMS_PROTO_MAX_KEYS, .max_len = KMS_PROTO_MAX_URI})

/* PROVISION request: the key set of identity for key period key_period, asked by client_id. */
struct kms_proto_provision_req {
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1]; /* 1..255, visible ASCII */
	size_t client_id_len;
	char identity[KMS_PROTO_MAX_URI + 1]; /* 1..2048, UTF-8, e.g. "sip:alice@example.org" */
	size_t identity_len;
	uint64_t key_period; /* key period number (TS 33.180 F.2.1) */
	/* kmsd cannot send keys in plain on this request (HTTP/2: h2o copies the body into frame
	 * buffers it does not wipe): a plaintext client's set is refused (KMS_ERR_PLAIN_REFUSED)
	 * before it is made. Wrapped sets are not affected. */
	bool no_plain;
};

/* ROTATE_KEYS request: a new TrK and InK for client_id. */
struct kms_proto_rotate_keys_req {
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1]; /* 1..255, visible ASCII */
	size_t client_id_len;
};

/*
 * SIGN request: the signature of a response to client_id whose reference digest (SHA-256 of the
 * KmsResponse, proto/signedinfo.h) is digest. kms-hsmd builds the SignedInfo itself.
 */
struct kms_proto_sign_req {
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1]; /* 1..255, visible ASCII */
	size_t client_id_len;
	uint8_t digest[KMS_PROTO_DIGEST_LEN];
};

/*
 * TLS_SIGN request: the digest a TLS handshake of kmsd has kms-hsmd sign with kmsd's TLS private
 * key, which is in the token (kms-hsmd's tls_key). kms-hsmd signs it as it is (CKM_ECDSA).
 */
struct kms_proto_tls_sign_req {
	uint8_t digest[KMS_PROTO_TLS_DIGEST_MAX];
	size_t digest_len; /* KMS_PROTO_TLS_DIGEST_MIN..KMS_PROTO_TLS_DIGEST_MAX */
};

/*
 * AUDIT_SIGN request: sign the checkpoint of audit record seq, whose hash kmsd read as hash, at
 * time_s. kms-hsmd reads record seq from its own store handle and refuses (KMS_ERR_FORBIDDEN)
 * unless it exists with exactly this hash; it builds the digest itself (proto/store.h,
 * kms_store_checkpoint_digest).
 */
struct kms_proto_audit_sign_req {
	uint64_t seq; /* 1..INT64_MAX */
	uint8_t hash[KMS_PROTO_AUDIT_HASH_LEN];
	uint64_t time_s; /* Unix seconds, 0..INT64_MAX */
};

/*
 * VERIFY request: the signature of a request of client_id (a SignedKmsRequest), whose structure
 * and reference digest kmsd has checked (proto/xml.h): signature must be HMAC-SHA256 of
 * signed_info (the canonical ds:SignedInfo) under the key key_id, which must be the client's
 * InK or the new InK of its pending rotation (which the proof then finishes).
 */
struct kms_proto_verify_req {
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1]; /* 1..255, visible ASCII */
	size_t client_id_len;
	char key_id[KMS_PROTO_MAX_KEY_ID + 1]; /* 1..255, visible ASCII: ds:KeyName */
	size_t key_id_len;
	uint8_t signed_info[KMS_PROTO_MAX_SIGNED_INFO]; /* 1..2048 bytes */
	size_t signed_info_len;
	uint8_t signature[KMS_PROTO_HMAC_LEN];
};

/* A request. HEALTH and CERTIFICATE take no arguments. */
struct kms_proto_request {
	enum kms_proto_op op;
	uint32_t id; /* chosen by kmsd, echoed in the reply */
	union {
		struct kms_proto_provision_req provision;
		struct kms_proto_rotate_keys_req rotate_keys;
		struct kms_proto_sign_req sign;
		struct kms_proto_tls_sign_req tls_sign;
		struct kms_proto_audit_sign_req audit_sign;
		struct kms_proto_verify_req verify;
	} u;
};

/* HEALTH reply. */
struct kms_proto_health_rep {
	bool token_present;                  /* kms-hsmd has its token open and logged in */
	char issuer[KMS_PROTO_MAX_NAME + 1]; /* 0..255, UTF-8: the configured issuer's name */
	size_t issuer_len;
};

/*
 * PROVISION reply: the key set, wrapped under the client's TrK, and its public context.
 *
 * plain: only for a client that kms-hsmd's configuration names in plaintext_client (the
 * TS 33.180 KeyContentType, for clients without a TrK; docs/kms-hsmd.md). Then the *_wrapped
 * members hold the keys themselves (RSK 257, SSK 32, PVT 65 octets), trk_id is empty and hmac
 * is all zeros. Otherwise trk_id names the TrK and hmac is computed (hsm/adapter.h).
 */
struct kms_proto_provision_rep {
	bool plain;                          /* the keys are not wrapped (see above) */
	uint64_t key_period;                 /* key period number */
	uint64_t period_start;               /* NTP seconds; period_start <= period_end */
	uint64_t period_end;                 /* NTP seconds */
	char kms_uri[KMS_PROTO_MAX_URI + 1]; /* 1..2048, UTF-8 */
	size_t kms_uri_len;
	uint8_t user_id[KMS_PROTO_UID_LEN];
	uint8_t rsk_wrapped[KMS_PROTO_MAX_WRAPPED]; /* 1..512 bytes each */
	size_t rsk_wrapped_len;
	uint8_t ssk_wrapped[KMS_PROTO_MAX_WRAPPED];
	size_t ssk_wrapped_len;
	uint8_t pvt_wrapped[KMS_PROTO_MAX_WRAPPED];
	size_t pvt_wrapped_len;
	char trk_id[KMS_PROTO_MAX_KEY_ID +
		    1]; /* 1..255, visible ASCII: the wrapping TrK; 0: plain */
	size_t trk_id_len;
	uint8_t hmac[KMS_PROTO_HMAC_LEN]; /* computed in the token (InK, or TrK); zeros: plain */
};

/* CERTIFICATE reply: the public values of the KMS certificate. */
struct kms_proto_certificate_rep {
	char kms_uri[KMS_PROTO_MAX_URI + 1]; /* 1..2048, UTF-8 */
	size_t kms_uri_len;
	char cert_uri[KMS_PROTO_MAX_URI + 1]; /* 0..2048, UTF-8 (empty: none) */
	size_t cert_uri_len;
	uint8_t kpak[KMS_PROTO_KPAK_LEN];
	uint8_t z_t[KMS_PROTO_Z_T_LEN];
	uint64_t user_key_period; /* seconds, at least 1 */
	uint64_t user_key_offset; /* seconds */
	uint8_t parameter_set;    /* KMS_PROTO_PARAMETER_SET */
};

/* ROTATE_KEYS reply: the new keys, wrapped under the client's current TrK. */
struct kms_proto_rotate_keys_rep {
	uint8_t new_trk_wrapped[KMS_PROTO_MAX_WRAPPED]; /* 1..512 bytes */
	size_t new_trk_wrapped_len;
	char new_trk_id[KMS_PROTO_MAX_KEY_ID + 1]; /* 1..255, visible ASCII */
	size_t new_trk_id_len;
	uint8_t new_ink_wrapped[KMS_PROTO_MAX_WRAPPED]; /* 1..512 bytes */
	size_t new_ink_wrapped_len;
	char new_ink_id[KMS_PROTO_MAX_KEY_ID + 1]; /* 1..255, visible ASCII */
	size_t new_ink_id_len;
};

/*
 * SIGN reply: the SignatureValue of the response, HMAC-SHA256 computed in the token over the
 * canonical SignedInfo of the request's digest (kms_signedinfo_build()), and the id of the key.
 */
struct kms_proto_sign_rep {
	uint8_t signature[KMS_PROTO_HMAC_LEN];
	char key_id[KMS_PROTO_MAX_KEY_ID + 1]; /* 1..255, visible ASCII: the client's InK */
	size_t key_id_len;
};

/* TLS_SIGN reply: the ECDSA P-256 signature of the digest, r || s as CKM_ECDSA returns it. */
struct kms_proto_tls_sign_rep {
	uint8_t signature[KMS_PROTO_TLS_SIG_LEN];
};

/* AUDIT_SIGN reply: the ECDSA P-256 signature (r || s) of the checkpoint digest by the audit key.
 */
struct kms_proto_audit_sign_rep {
	uint8_t signature[KMS_PROTO_AUDIT_SIG_LEN];
};

/*
 * VERIFY reply (status KMS_OK: the signature is good; KMS_ERR_AUTH: it is not, or key_id is
 * none of the client's InKs): whether the signature was by the new InK of a pending rotation,
 * which is now finished (the client's TrK and InK are the new ones from here on).
 */
struct kms_proto_verify_rep {
	bool rotated;
};

/* A reply. u holds the results of op only when status is KMS_OK. */
struct kms_proto_reply {
	enum kms_proto_op op; /* that of the request */
	uint32_t id;          /* that of the request */
	int status;           /* KMS_OK or another enum kms_err code (kms_err_name() knows it) */
	union {
		struct kms_proto_health_rep health;
		struct kms_proto_provision_rep provision;
		struct kms_proto_certificate_rep certificate;
		struct kms_proto_rotate_keys_rep rotate_keys;
		struct kms_proto_sign_rep sign;
		struct kms_proto_tls_sign_rep tls_sign;
		struct kms_proto_audit_sign_rep audit_sign;
		struct kms_proto_verify_rep verify;
	} u;
};

/*
 * kms_proto_op_name - "health", "provision", "certificate", "rotate_keys", "sign", "tls_sign",
 * "audit_sign", "verify"; NULL otherwise.
 */
const char *kms_proto_op_name(int op);

/*
 * kms_proto_encode_request - encode req as one msgpack map (with msgpack-c's packer) into
 * out[0..out_cap); *out_len gets its length (at most KMS_MAX_IPC). req is checked first
 * exactly as the decoder checks what it reads, so what encodes also decodes.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (an unknown op, or a field out of its bounds or
 * character set); KMS_ERR_TOO_LARGE (out_cap is too small); KMS_ERR_NOMEM. Only the fields
 * of req->op are read. On failure *out_len is untouched and out[] is not written.
 */
int kms_proto_encode_request(uint8_t *out, size_t out_cap, size_t *out_len,
			     const struct kms_proto_request *req) KMS_WUR;

/*
 * kms_proto_decode_request - decode the request in[0..in_len) (a frame's payload, from a
 * peer that may be hostile) into *out. Keys may come in any order; each must be known for
 * the operation and appear once, and every field of the operation must be present.
 * Returns KMS_OK; KMS_ERR_TRUNCATED, KMS_ERR_TOO_LARGE, KMS_ERR_PARSE, KMS_ERR_ENCODING or
 * KMS_ERR_TRAILING from the pre-scan (kms_mp_prescan under KMS_PROTO_LIMITS); KMS_ERR_PARSE
 * (not a map, a wrong type, a non-canonical encoding, an unknown, duplicate or missing key, a
 * str field with NUL or outside its character set); KMS_ERR_RANGE (an unknown op, a number or
 * length out of its range); KMS_ERR_ENCODING (a str that is not UTF-8). *out is untouched on
 * failure; on success every byte of it is set (unused array tails and union space zeroed).
 * in is borrowed; nothing in *out points into it. Never allocates.
 */
int kms_proto_decode_request(struct kms_proto_request *out, const uint8_t *in,
			     size_t in_len) KMS_WUR;

/*
 * kms_proto_encode_reply - as kms_proto_encode_request(), for a reply. rep->status must be a
 * code kms_err_name() knows; when it is not KMS_OK only op, id and status are encoded and the
 * results in rep->u are ignored. Same return codes.
 */
int kms_proto_encode_reply(uint8_t *out, size_t out_cap, size_t *out_len,
			   const struct kms_proto_reply *rep) KMS_WUR;

/*
 * kms_proto_decode_reply - as kms_proto_decode_request(), for a reply: "status" is required
 * and must be a code kms_err_name() knows (else KMS_ERR_RANGE); the operation's results are
 * required when it is KMS_OK and refused (KMS_ERR_PARSE, unknown key) otherwise, in which case
 * out->u is zeroed. The caller checks that op and id are those of its request. Same return
 * codes, same guarantees.
 */
int kms_proto_decode_reply(struct kms_proto_reply *out, const uint8_t *in, size_t in_len) KMS_WUR;

/*
 * kms_proto_request_equal / kms_proto_reply_equal - true if a and b hold the same message:
 * the same op and id (and status), and, field by field, the same values of op's fields (only
 * the first *_len bytes of variable-length fields count). Messages with an unknown op are
 * equal to nothing.
 */
bool kms_proto_request_equal(const struct kms_proto_request *a, const struct kms_proto_request *b);
bool kms_proto_reply_equal(const struct kms_proto_reply *a, const struct kms_proto_reply *b);

#endif /* KMS_PROTO_MSG_H */
