/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_HSM_P11_H
#define KMS_HSM_P11_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

#include "common/err.h"
#include "common/secmem.h"

/*
 * The PKCS#11 layer of kms-hsmd: it loads the module, owns it (C_Initialize with OS locking,
 * C_Finalize on free), finds the one token the configured URI names, logs in as the user,
 * and lends sessions from a small fixed pool. It is the only place that turns a CK_RV into a
 * project error (kms_p11_err) and the only place that logs one (by name, kms_p11_rv_name).
 *
 * Typical use, one operation:
 *
 *	struct kms_p11_session *s;
 *	if ((r = kms_p11_borrow(p11, &s)) != KMS_OK)
 *		goto out;                        (KMS_ERR_HSM_UNAVAIL, _BUSY, _PIN)
 *	rv = kms_p11_fn(s)->C_WrapKey(kms_p11_handle(s), &mech, kek, key, buf, &len);
 *	r = kms_p11_check(s, rv, "C_WrapKey"); (maps, logs, notices a lost token)
 *	kms_p11_return(s);
 *
 * Token loss. A CK_RV that means the token or its sessions are gone, or a failure after which
 * the token no longer answers C_GetTokenInfo as the one the URI names (SoftHSM reports a
 * removed token as CKR_GENERAL_ERROR), makes kms_p11_check return KMS_ERR_HSM_UNAVAIL and puts
 * the layer down: borrows fail at once with KMS_ERR_HSM_UNAVAIL until a restart succeeds. A
 * restart (kms_p11_reconnect, or automatically on a borrow once the back-off has passed and
 * no session is out) finalizes the module, initializes it again, finds the token by its URI
 * and logs in again. A refused PIN is never retried on its own (a real HSM locks the PIN after
 * a few tries): after KMS_ERR_HSM_PIN only an explicit kms_p11_reconnect tries again.
 *
 * Session objects. Objects created in a session die with the module at every restart (and
 * with their session when a broken session is discarded): create, use and destroy them within
 * one borrow, and keep only token objects (found again by URI) across borrows. SoftHSM frees
 * destroyed session objects only at C_Finalize (246 bytes per AES key, measured; 100,000 keys
 * made and destroyed grow the process by 24 MB each time, for ever), so the adapter calls
 * kms_p11_recycle at a quiet moment (between requests) whenever kms_p11_recycle_due says so:
 * by default every 50,000 objects, about 12 MB. A recycle takes about 2 ms with SoftHSM.
 *
 * Threads: every function here may be called from any thread, except kms_p11_new and
 * kms_p11_free. A borrowed session belongs to the thread that borrowed it until returned; the
 * module itself is thread-safe (CKF_OS_LOCKING_OK). After fork() the child must not use an
 * instance made by its parent (every call then fails with KMS_ERR_INTERNAL): create one in
 * the child instead.
 */

#define KMS_P11_MAX_SESSIONS      16
#define KMS_P11_DEFAULT_SESSIONS  4
#define KMS_P11_DEFAULT_BORROW_MS 5000u
#define KMS_P11_DEFAULT_RETRY_MS  250u   /* first automatic restart delay; it doubles ... */
#define KMS_P11_MAX_RETRY_MS      30000u /* ... up to this */
/* 50,000 destroyed SoftHSM session objects hold about 12 MiB until C_Finalize. */
#define KMS_P11_DEFAULT_RECYCLE   50000ul
#define KMS_P11_MAX_ATTR          65536u /* kms_p11_get_attribute's largest value */
#define KMS_P11_MAX_SLOTS         256u
#define KMS_P11_MAX_PARAMS        1024u /* bytes in module_params */
#define KMS_P11_MAX_TEMPLATE      32u   /* attributes in a kms_p11_create/generate template */

struct kms_p11;
struct kms_p11_session;

/* The configuration of kms_p11_new. The strings are borrowed for the call only (copied). */
struct kms_p11_config {
	const char *module_path;      /* absolute path of the PKCS#11 module (.so) */
	const char *module_params;    /* the module's own initialisation string, given to
					 C_Initialize in CK_C_INITIALIZE_ARGS.pReserved (NSS's
					 softoken wants one: configdir=...), at most
					 KMS_P11_MAX_PARAMS bytes; NULL or "": none (pReserved
					 NULL, as PKCS#11 says) */
	const char *token_uri;        /* RFC 7512 URI; its token, slot and library attributes pick
					 the token (object attributes are ignored here) */
	const char *pin_file;         /* absolute path of the user PIN file, or NULL ... */
	const char *pin_credential;   /* ... a systemd credential name ... */
	const struct kms_secret *pin; /* ... or the PIN itself, in memory (the key ceremony):
					 exactly one of the three. Borrowed: it must outlive the
					 kms_p11, which logs in with it again at each restart */
	unsigned int num_sessions;    /* pool size, 1..KMS_P11_MAX_SESSIONS; 0: the default */
	unsigned int borrow_ms;       /* how long a borrow waits for a free session; 0: default */
	unsigned int retry_ms;        /* first automatic restart delay; 0: the default */
	unsigned long recycle_after;  /* kms_p11_recycle_due threshold in objects; 0: default */
};

/* Counters for monitoring (kms_p11_get_stats). */
struct kms_p11_stats {
	unsigned long objects_created;   /* through this layer since the last C_Initialize */
	unsigned long objects_destroyed; /* idem */
	unsigned long restarts;          /* successful reconnects and recycles since new */
	unsigned long generation;        /* C_Initialize count; 1 after kms_p11_new */
	int available;                   /* 1 if the token is up (as far as we know) */
	unsigned int sessions_out;       /* sessions borrowed now */
};

/*
 * kms_p11_new - load the module at cfg->module_path (dlopen RTLD_NOW | RTLD_LOCAL |
 * RTLD_NODELETE: it stays mapped after kms_p11_free; refused if
 * the path is relative, or the file is writable by group or others), check its function list
 * version (2.x, or 3.x through its 2.x-compatible C_GetFunctionList), C_Initialize it with
 * CKF_OS_LOCKING_OK (CKR_CRYPTOKI_ALREADY_INITIALIZED is an error: something else in the
 * process owns the module), find the one token that cfg->token_uri matches, open a session and
 * log in as the user with the PIN read from the PIN file or credential (wiped right after
 * C_Login; it is read again at each restart, so it must stay readable), or with cfg->pin, the
 * PIN in memory (1..255 octets; never copied; used again at each restart). On success *out is
 * a new instance (owned: kms_p11_free it).
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (bad configuration, a URI that names the PIN or module
 * differently, or several tokens matching); URI errors (KMS_ERR_PARSE, _ENCODING, _TOO_LARGE,
 * _RANGE, _UNSUPPORTED); KMS_ERR_HSM_UNAVAIL (module cannot be loaded, or no token matches);
 * KMS_ERR_UNSUPPORTED (module version); KMS_ERR_HSM_PIN; PIN file errors (kms_pin_read_file);
 * KMS_ERR_HSM; KMS_ERR_NOMEM. *out is NULL on failure, and the module is unloaded again.
 */
int kms_p11_new(struct kms_p11 **out, const struct kms_p11_config *cfg) KMS_WUR;

/*
 * kms_p11_free - close every session, C_Finalize, dlclose, free p. Every borrowed session must
 * have been returned (a session still out is logged and then invalid). NULL is a no-op.
 */
void kms_p11_free(struct kms_p11 *p);

/*
 * kms_p11_borrow - lend a logged-in session from the pool (*out, borrowed from p until
 * kms_p11_return). Waits up to borrow_ms for a free one. When the layer is down and the back-off
 * has passed, it first restarts the module itself (only when no session is out).
 * Returns KMS_OK; KMS_ERR_HSM_UNAVAIL (token down, restart failed or not yet due);
 * KMS_ERR_HSM_PIN (the last restart's login was refused: call kms_p11_reconnect);
 * KMS_ERR_HSM_BUSY (no session free in time); KMS_ERR_INTERNAL (used after fork).
 * *out is NULL on failure. Never borrow a second session while holding one.
 */
int kms_p11_borrow(struct kms_p11 *p, struct kms_p11_session **out) KMS_WUR;

/*
 * kms_p11_return - give s back. A session on which kms_p11_check saw the session or the token
 * gone is closed and replaced later. NULL is a no-op. s must not be used afterwards.
 */
void kms_p11_return(struct kms_p11_session *s);

/*
 * kms_p11_fn / kms_p11_handle - the module's function list and the session handle, for the
 * calls this layer does not wrap; valid only while s is borrowed. Never call C_Initialize,
 * C_Finalize, C_Login, C_Logout, C_CloseSession or C_CloseAllSessions through it: the layer
 * owns those. Pass every CK_RV to kms_p11_check.
 */
CK_FUNCTION_LIST *kms_p11_fn(const struct kms_p11_session *s);
CK_SESSION_HANDLE kms_p11_handle(const struct kms_p11_session *s);

/*
 * kms_p11_check - the project error for rv returned by the function named fn (a literal such as
 * "C_Encrypt") on s: KMS_OK for CKR_OK. Any other rv is logged by name. If rv means the token
 * or the session is gone, or the token no longer answers as the URI's token after a failure,
 * the session is marked for discard, the layer goes down, and the result is
 * KMS_ERR_HSM_UNAVAIL. Never logs data.
 */
int kms_p11_check(struct kms_p11_session *s, CK_RV rv, const char *fn) KMS_WUR;

/*
 * kms_p11_token_info - C_GetTokenInfo(slot), tried again (up to 5 times within about 150 ms)
 * while it answers CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED: SoftHSM answers so for a moment
 * while another process rewrites the token's file (a kms-hsmd starting or recycling its module
 * logs in), and a token that is really gone answers so every time. Returns the last CK_RV.
 */
CK_RV kms_p11_token_info(const struct kms_p11_session *s, CK_SLOT_ID slot, CK_TOKEN_INFO *ti);

/*
 * kms_p11_create_object / kms_p11_generate_key / kms_p11_destroy_object - C_CreateObject,
 * C_GenerateKey and C_DestroyObject on s, checked (kms_p11_check) and counted for
 * kms_p11_recycle_due. *out is CK_INVALID_HANDLE on failure. The template (at most
 * KMS_P11_MAX_TEMPLATE attributes, else KMS_ERR_INVALID_ARG) is borrowed and left as it is; a
 * copy fitted to the token (kms_p11_fit_template) is what the token gets.
 * kms_p11_note_created - count an object made through kms_p11_fn (C_DeriveKey, C_UnwrapKey,
 * C_CopyObject, C_GenerateKeyPair counts two).
 */
/*
 * kms_p11_fit_template - the template tmpl (n attributes) made fit for the token in place:
 * the restricting attributes that it does not enforce (CKA_ALLOWED_MECHANISMS,
 * CKA_WRAP_TEMPLATE, CKA_UNWRAP_TEMPLATE; tried at each start, see p11.c probe_enforced) are
 * removed and the rest moved up: a token that keeps them without enforcing them may refuse
 * them on token objects (NSS's softoken does). Returns the new count. kms_p11_create_object
 * and kms_p11_generate_key do it themselves; call it before the C_UnwrapKey or
 * C_GenerateKeyPair of kms_p11_fn.
 * kms_p11_enforces - KMS_P11_ENFORCES_ALLOWED_MECHS | KMS_P11_ENFORCES_WRAP_TEMPLATES, as the
 * token does.
 */
#define KMS_P11_ENFORCES_ALLOWED_MECHS  1u
#define KMS_P11_ENFORCES_WRAP_TEMPLATES 2u
CK_ULONG kms_p11_fit_template(const struct kms_p11_session *s, CK_ATTRIBUTE *tmpl, CK_ULONG n);
unsigned int kms_p11_enforces(const struct kms_p11_session *s);

int kms_p11_create_object(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_ATTRIBUTE *tmpl,
			  CK_ULONG num_attrs) KMS_WUR;
int kms_p11_generate_key(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_MECHANISM *mech,
			 CK_ATTRIBUTE *tmpl, CK_ULONG num_attrs) KMS_WUR;
int kms_p11_destroy_object(struct kms_p11_session *s, CK_OBJECT_HANDLE obj) KMS_WUR;
void kms_p11_note_created(struct kms_p11_session *s, unsigned int num_objects);

/*
 * kms_p11_get_attribute - read one attribute of obj into out (cap bytes) with the two-call
 * pattern: the first C_GetAttributeValue gets the length, which must be known, at most cap and
 * at most KMS_P11_MAX_ATTR; the second gets the value, whose length must not have changed.
 * *out_len is the value's length. Returns KMS_OK; KMS_ERR_TOO_LARGE (longer than cap or than
 * KMS_P11_MAX_ATTR); KMS_ERR_HSM (sensitive, not an attribute of the object, or changed between
 * the calls); whatever kms_p11_check returns. On failure *out_len is 0 and the content of out
 * is unspecified. Meant for public attributes: a token refuses sensitive values.
 * kms_p11_get_bool / kms_p11_get_ulong - the same for a CK_BBOOL (exactly 1 byte; *out 0 or 1)
 * or a CK_ULONG (exactly sizeof(CK_ULONG)); any other length is KMS_ERR_HSM.
 */
int kms_p11_get_attribute(struct kms_p11_session *s, void *out, size_t cap, size_t *out_len,
			  CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type) KMS_WUR;
int kms_p11_get_bool(struct kms_p11_session *s, int *out, CK_OBJECT_HANDLE obj,
		     CK_ATTRIBUTE_TYPE type) KMS_WUR;
int kms_p11_get_ulong(struct kms_p11_session *s, CK_ULONG *out, CK_OBJECT_HANDLE obj,
		      CK_ATTRIBUTE_TYPE type) KMS_WUR;

/*
 * kms_p11_ping - ask the token whether it is still the URI's token (C_GetTokenInfo), through a
 * borrowed session, so it also attempts the automatic restart when one is due. Call it from
 * the adapter's idle loop (every few seconds) to notice a lost token before a request does.
 * Returns what kms_p11_borrow and kms_p11_check return.
 */
int kms_p11_ping(struct kms_p11 *p) KMS_WUR;

/*
 * kms_p11_reconnect - restart now: wait (up to borrow_ms) until no session is out, C_Finalize,
 * C_Initialize, find the token again, log in again (reading the PIN file again). Works whether
 * the layer is up or down, and is the only way out of KMS_ERR_HSM_PIN.
 * Returns KMS_OK; KMS_ERR_HSM_BUSY (sessions still out, or another restart did not finish in
 * time); the errors of kms_p11_new's token and login steps (the layer is then down).
 * Handles of session objects are invalid afterwards (see the top of this file).
 */
int kms_p11_reconnect(struct kms_p11 *p) KMS_WUR;

/*
 * kms_p11_recycle - the same restart, done to give SoftHSM's memory of destroyed session
 * objects back (hsm-notes, pitfall 3). Call it when kms_p11_recycle_due says so, at a quiet
 * moment (no request in flight: it waits for every session to come back and blocks borrows
 * meanwhile; a SoftHSM restart takes a few milliseconds). Same returns as kms_p11_reconnect.
 */
int kms_p11_recycle(struct kms_p11 *p) KMS_WUR;

/* kms_p11_recycle_due - 1 once recycle_after objects were created since the last C_Initialize. */
int kms_p11_recycle_due(struct kms_p11 *p);

/* kms_p11_get_stats - a snapshot of p's counters. */
void kms_p11_get_stats(struct kms_p11 *p, struct kms_p11_stats *out);

/*
 * kms_p11_err - the project error for rv (one switch over every CKR_ value of the PKCS#11
 * header): CKR_OK -> KMS_OK; token, device or session gone -> KMS_ERR_HSM_UNAVAIL; PIN refused
 * -> KMS_ERR_HSM_PIN; mechanism or function not offered -> KMS_ERR_UNSUPPORTED; failed
 * verification -> KMS_ERR_AUTH; anything else -> KMS_ERR_HSM (and a few more, see p11.c).
 * kms_p11_rv_name - "CKR_PIN_INCORRECT", "CKR_VENDOR_DEFINED" for vendor codes, "CKR_UNKNOWN"
 * for others; never NULL.
 */
int kms_p11_err(CK_RV rv);
const char *kms_p11_rv_name(CK_RV rv);

#endif /* KMS_HSM_P11_H */
