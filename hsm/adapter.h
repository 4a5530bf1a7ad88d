/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_ADAPTER_H
#define KMS_HSM_ADAPTER_H

#include <stdint.h>

#include "common/err.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "hsm/uid.h"
#include "proto/msg.h"

/*
 * The HSM adapter's operations (kms-hsmd): the fixed table of proto/msg.h's operations, each
 * re-checking its arguments and the requesting client's entitlement in the store itself
 * (kmsd is not trusted), and answering only with wrapped material and public values.
 *
 * Issuers (ARCHITECTURE.md):
 *   online: KSAK and z_T are unwrapped from the store (wrapped under the KEK) into locked
 *     memory at start, their public keys checked against the certificate's; each key set is
 *     computed (hsm/eccsi.c, hsm/sakke.c, self-checked) and wrapped under the client's TrK.
 *   pre-minted: the key set is read from the store (wrapped under the KEK), unwrapped into the
 *     token and re-wrapped under the TrK there; a set the store lacks is an error, never a
 *     fallback to computing one. On a token with the RFC 5649 padding defect (hsm/keys.h), the
 *     PVT and RSK (65 and 257 octets) pass through locked memory to be wrapped: the
 *     configuration must allow that mode.
 *
 * A client that the configuration names in plaintext_clients (kms-hsmd.conf's plaintext_client:
 * TS 33.180's KeyContentType, for clients without a TrK) gets its key sets unwrapped: the reply
 * says plain and holds the keys themselves, and neither its TrK nor its InK is used. Online, the
 * keys are copied from the locked memory they are computed in; pre-minted, each is unwrapped
 * from the KEK into locked memory. Every other client's reply is wrapped, whatever kmsd asks:
 * kmsd cannot ask for plaintext at all.
 *
 * The provision reply's hmac is HMAC-SHA256, computed in the token under the client's InK,
 * over "KMS-KEYSET-1" || key_period (8 octets, big-endian) || user_id (32) || for each of
 * rsk_wrapped, ssk_wrapped, pvt_wrapped: its length (2 octets) and octets || trk_id: length (1)
 * and octets. It binds the wrapped set to its identity and period for the client; docs/protocol.md.
 *
 * The sign reply's signature is the SignatureValue of a response kmsd rendered: HMAC-SHA256,
 * computed in the token under the client's InK, over the canonical ds:SignedInfo that kms-hsmd
 * builds itself from the request's 32-octet digest (proto/signedinfo.h), so that the InK signs
 * only SignedInfo elements of that one shape, never bytes kmsd chose; key_id is the InK's label.
 * The client must be known and not revoked (KMS_ERR_FORBIDDEN otherwise, as for the other
 * operations).
 *
 * The tls_sign reply's signature is made with kmsd's TLS private key (an ECDSA P-256 key pair in
 * the token, labelled tls_key_label, hsm/keys.h), CKM_ECDSA over the request's digest as it is:
 * kmsd holds only the public half and has every private-key operation of its TLS handshakes done
 * here (as h2o's neverbleed, or OpenSSH's ssh-pkcs11-helper). Without tls_key_label, TLS_SIGN is
 * KMS_ERR_UNSUPPORTED.
 *
 * AUDIT_SIGN makes a checkpoint of the audit log (proto/store.h): this node's audit key (an
 * ECDSA P-256 pair in the token, labelled audit_key_label, made like the TLS key, registered in
 * the store) signs kms_store_checkpoint_digest(seq, hash, time_s), but only after kms-hsmd has
 * read record seq from its own store handle and found exactly the request's hash there
 * (KMS_ERR_FORBIDDEN otherwise: no record seq, or another hash), so that a compromised kmsd
 * cannot have a chain head signed that is not in the store; the signature is verified with the
 * public point (KMS_ERR_HSM if not), then the adapter writes the checkpoint, naming its key's
 * fingerprint, into the store itself (kms_store_checkpoint_put: a seq checkpointed already by
 * another node keeps the first; a write failure is the store's code), and the reply carries the
 * signature. Without audit_key_label, AUDIT_SIGN is KMS_ERR_UNSUPPORTED.
 */

enum kms_issuer {
	KMS_ISSUER_ONLINE = 0,
	KMS_ISSUER_PREMINTED = 1,
};

struct kms_adapter_config {
	const char *store_path; /* the store (opened read-write: rotation records labels) */
	const char *kek_label;  /* CKA_LABEL of the domain KEK in the token */
	enum kms_issuer issuer;
	enum kms_id_format id_format; /* the identifier ECCSI/SAKKE consume (hsm/uid.h) */
	CK_MECHANISM_TYPE kwp;        /* the token's RFC 5649 mechanism id */
	int allow_host_ecb;           /* allow KMS_WRAP_HOST_ECB on a token with the defect */
	unsigned int past_periods;    /* serve key periods down to current - past_periods */
	unsigned int future_periods;  /* and up to current + future_periods (e.g. 1: the next) */
	const char *tls_key_label;    /* kmsd's TLS key pair in the token (CKA_LABEL), or NULL */
	const char *audit_key_label;  /* the audit key pair in the token (CKA_LABEL), or NULL */
	int no_purge;                 /* keep retired client keys (kms-hsmd --check) */
	/* clients whose key sets go out unwrapped (plaintext_client; see the provision reply) */
	const char *const *plaintext_clients;
	size_t num_plaintext_clients; /* 0..KMS_ADAPTER_MAX_PLAINTEXT */
};

/*
 * How long a successful check that the token is there (C_GetTokenInfo) stands for the
 * operations after it, in milliseconds. Each operation asked the token first, since SoftHSM's
 * session copies outlive a token that is gone; asked at most this often, a token that goes
 * away turns requests into KMS_ERR_HSM_UNAVAIL within this time (at once on tokens whose
 * session objects die with them), and a network HSM is spared a round trip per operation.
 */
#define KMS_ADAPTER_PRESENT_MS 250

/* The most clients a configuration may name in plaintext_client. */
#define KMS_ADAPTER_MAX_PLAINTEXT 64

struct kms_adapter;

/*
 * kms_adapter_new - the start-up of kms-hsmd, in order: the issuing core's known-answer tests
 * (kms_mikey_selftest), the store and its certificate, the token's RFC 5649 probe
 * (kms_wrap_probe, then kms_wrap_choose) and HMAC-SHA256 test (kms_hmac_probe), the KEK; for the
 * online issuer, the master secrets unwrapped into locked memory, and their public keys compared
 * with the certificate's; with tls_key_label, the TLS key pair found, and a signature made in the
 * token with it verified with OpenSSL against its public point; with audit_key_label, the same for
 * the audit key, whose point must also be registered in the store (kms_store_has_audit_key).
 * Then, unless no_purge, the token objects of the client keys the store has retired are destroyed
 * (kms_store_retired_list; a failure there is logged and does not stop the start). Any
 * failure refuses to serve, with
 * a message saying which step failed. p11 is borrowed (it must outlive the adapter). *out is owned
 * (kms_adapter_free).
 */
int kms_adapter_new(struct kms_adapter **out, struct kms_p11 *p11,
		    const struct kms_adapter_config *cfg) KMS_WUR;

/* kms_adapter_wrap_mode - how this adapter wraps for clients (hsm/keys.h), for reports. */
enum kms_wrap_mode kms_adapter_wrap_mode(const struct kms_adapter *a);

/* kms_adapter_free - wipe the master secrets, close the store, free. NULL is a no-op. */
void kms_adapter_free(struct kms_adapter *a);

/*
 * kms_adapter_handle - answer one decoded request: rep gets op and id of req and a status
 * (KMS_OK, or the reason: KMS_ERR_FORBIDDEN for anything the client may not have, whether or
 * not it exists; KMS_ERR_RANGE for a key period the KMS does not serve; KMS_ERR_HSM_UNAVAIL
 * while the token is gone; ...). Never fails itself: every outcome is in rep->status.
 * ntp_now is the current time in NTP seconds (kms_ntp_from_unix(time(NULL)) in kms-hsmd).
 */
void kms_adapter_handle(struct kms_adapter *a, const struct kms_proto_request *req,
			struct kms_proto_reply *rep, uint64_t ntp_now);

/*
 * kms_adapter_serve - the adapter's loop on the socketpair end fd: read a frame, decode the
 * request, answer, until the peer closes (KMS_OK) or sends anything unexpected: an
 * unreadable frame, a request that does not decode, an unknown operation (the connection is
 * closed then; the adapter itself keeps running, as kmsd's supervisor restarts the
 * connection: the function returns the error). Recycles the PKCS#11 module between requests
 * when due.
 */
int kms_adapter_serve(struct kms_adapter *a, int fd) KMS_WUR;

#endif /* KMS_HSM_ADAPTER_H */
