/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-ceremony - the key ceremony of a KMS domain (docs/kms-ceremony.md): runs a ceremony file
 * (docs/ceremony-file.md) that the custodians reviewed, step by step with confirmation, writing
 * every step to a transcript that a token key signs at the end.
 *
 *   kms-ceremony check FILE
 *   kms-ceremony run FILE [--yes] [--transcript PATH]
 *   kms-ceremony restore FILE --backup PATH [--share PATH]... [--yes] [--transcript PATH]
 *   kms-ceremony verify-transcript PATH [--key FINGERPRINT]
 *
 * The steps of run (those the file lists, in this order): init-token, generate, certificate,
 * backup, enrol, premint. restore rebuilds the domain's token content from M backup shares: in a
 * second node's token, or after a disaster.
 *
 * Secrets (the PINs, the backup key, the shares, KSAK and z_T) live only in locked memory
 * (common/secmem.h) or in stack copies wiped before return; they never reach the transcript, the
 * log, or a message. Every file is created O_EXCL | O_NOFOLLOW with mode 0600: nothing is ever
 * overwritten.
 *
 * Exit status: 0 done; 1 a step failed (the message says which and why); 2 usage, or the
 * ceremony file (or a file it names) is wrong: nothing was changed; 3 stopped on request (an
 * interrupted pre-mint: run the same file again to resume).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/conf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secmem.h"
#include "common/shamir.h"
#include "hsm/eccsi.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"
#include "proto/store.h"
#include "tools/backup-file.h"
#include "tools/ceremony-file.h"
#include "tools/ceremony-p11.h"
#include "tools/devtoken.h"
#include "tools/share.h"
#include "tools/transcript.h"

#include "common/banned.h"

#define PROG    "kms-ceremony"
#define VERSION "kms-ceremony 1"

#define EXIT_DONE    0
#define EXIT_FAILED  1
#define EXIT_USAGE   2
#define EXIT_STOPPED 3

#define BACKUP_KEY_LEN   32
#define MAX_SHARE_FILE   KMS_SHARE_MAX_TEXT
#define MAX_SHARES_IN    255
#define MAX_TRANSCRIPT   KMS_TRANSCRIPT_MAX_FILE
#define MAX_ENROL_BLOB   1100 /* an RSA-OAEP export under an 8192-bit key is 1024 octets */
#define ERR_LEN          1024
#define CLIENT_LABEL_LEN 40 /* "trk." 16 hex "." 16 hex, and the NUL */

static const char usage_text[] =
	"usage: kms-ceremony check FILE\n"
	"       kms-ceremony run FILE [--yes] [--transcript PATH]\n"
	"       kms-ceremony restore FILE --backup PATH [--share PATH]... [--yes]\n"
	"                    [--transcript PATH]\n"
	"       kms-ceremony verify-transcript PATH [--key FINGERPRINT]\n"
	"       kms-ceremony --help\n"
	"\n"
	"The key ceremony of a KMS domain (docs/kms-ceremony.md), driven by a ceremony file that\n"
	"the custodians review beforehand (docs/ceremony-file.md; deploy/ceremony.example).\n"
	"\n"
	"  check FILE         parse FILE, print the plan it describes, change nothing.\n"
	"  run FILE           run the steps FILE lists, in this order, each after confirmation:\n"
	"                     init-token   initialise the token (SO and user PIN, each typed "
	"twice)\n"
	"                     generate     the transcript signing key, the domain KEK (in the\n"
	"                                  token, exported once under the backup key, then not\n"
	"                                  extractable), KSAK and z_T (stored wrapped under the "
	"KEK),\n"
	"                                  this node's audit key (registered in the store)\n"
	"                     certificate  the domain's KMS certificate, into the store\n"
	"                     backup       the backup file, and the backup key split M-of-N into\n"
	"                                  one share per custodian (needs generate in the same "
	"run)\n"
	"                     enrol        each client's TrK and InK made in the token, exported\n"
	"                                  wrapped under the client's key; the roster\n"
	"                     premint      key sets for the identities list and key periods,\n"
	"                                  wrapped under the KEK; resumable (run it again)\n"
	"  restore FILE       rebuild the domain in the token FILE names (init-token first if "
	"FILE\n"
	"                     lists it) from the backup file and M shares; the KPAK and Z_T the\n"
	"                     restored secrets give must equal the backup's certificate; this\n"
	"                     node's audit key is made and registered; the clients' keys are\n"
	"                     re-imported from the store.\n"
	"  verify-transcript PATH\n"
	"                     check a transcript's form and its signature; print the signing "
	"key's\n"
	"                     fingerprint (compare it with the one written down at the ceremony).\n"
	"\n"
	"Options:\n"
	"  --yes              do not ask for confirmation before each step (the transcript says\n"
	"                     so); PINs are still asked.\n"
	"  --transcript PATH  write the transcript here instead of the file's 'transcript' (it "
	"must\n"
	"                     not exist: a transcript is never overwritten).\n"
	"  --backup PATH      the backup file to restore from.\n"
	"  --share PATH       a share file; repeat it. Without --share the shares are typed in.\n"
	"  --key FINGERPRINT  verify-transcript: the signing key must have this fingerprint.\n"
	"  --help, -h         this text.\n"
	"\n"
	"PINs and typed shares are read from the terminal with echo off, or, when standard input "
	"is\n"
	"not a terminal, one line each from standard input (a PIN that is asked twice is two "
	"lines).\n"
	"\n"
	"Exit status: 0 done; 1 a step failed; 2 usage or a bad ceremony file (nothing changed);\n"
	"3 stopped (an interrupted pre-mint: run the same file again to resume).\n";

static volatile sig_atomic_t stop_requested;

static void
on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A message for the people in the room (stdout). */
static void
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A problem (stderr), prefixed with the program's name. */
static void
complain(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The state of one run or restore. */
struct run {
	struct kms_cer_file *f;
	int yes;
	const char *transcript_path;
	struct kms_transcript *tr;
	struct kms_p11 *p11;
	struct kms_p11_session *s;
	struct kms_store *st;
	struct kms_wrap_policy pol;
	struct kms_secret *so_pin;
	struct kms_secret *user_pin;
	struct kms_secret *bkey; /* the backup key, generate to backup */
	struct kms_eccsi_kms *eccsi;
	struct kms_sakke_kms *sakke;
	CK_OBJECT_HANDLE kek;
	uint8_t kek_blob[KMS_BACKUP_MAX_BLOB]; /* the KEK wrapped under the backup wrap key */
	size_t kek_blob_len;
	CK_OBJECT_HANDLE sign_key;
	uint8_t sign_point[KMS_EC_POINT_LEN];
	struct kms_store_cert *cert;
	uint64_t periods_done; /* pre-mint: sets made in this run */
	int declined;          /* the operator stopped before a step */
};

/* Read one line from fd 0 byte by byte (no stdio buffer that could swallow the next PIN line).
 * The line's "\n" (and a "\r" before it) is dropped. 0, or -1 at end of file or on error. */
static int
read_line(char *out, size_t cap)
{
	size_t n = 0;
	char c;
	ssize_t k;

	for (;;) {
		k = read(0, &c, 1);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			if (n == 0) {
				return -1;
			}
			break;
		}
		if (c == '\n') {
			break;
		}
		if (n + 1 < cap) {
			out[n++] = c;
		}
	}
	if (n > 0 && out[n - 1] == '\r') {
		n--;
	}
	out[n] = '\0';
	return 0;
}

/* Ask before a step: 1 to go on, 0 to stop. With --yes it only says what comes. */
static int
confirm(struct run *r, const char *step, const char *what)
{
	char line[64];

	say("\n== %s: %s\n", step, what);
	if (r->yes) {
		return 1;
	}
	say("Type 'yes' to run this step, anything else stops the ceremony: ");
	if (read_line(line, sizeof(line)) != 0 || strcmp(line, "yes") != 0) {
		say("stopped before %s.\n", step);
		r->declined = 1;
		return 0;
	}
	return 1;
}

/* The transcript entry of a step; a transcript that cannot be written stops the ceremony. */
static int note(struct run *r, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
note(struct run *r, const char *step, const char *fmt, ...)
{
	char text[KMS_TRANSCRIPT_MAX_ENTRY + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		complain("transcript entry of %s too long", step);
		return KMS_ERR_TOO_LARGE;
	}
	if (kms_transcript_add(r->tr, step, "%s", text) != KMS_OK) {
		complain("cannot write the transcript %s: %s", r->transcript_path, strerror(errno));
		return KMS_ERR_IO;
	}
	return KMS_OK;
}

/* hex SHA-256 of len octets (public values only: fingerprints) into out. */
static void
fingerprint(const uint8_t *data, size_t len, char out[65])
{
	uint8_t md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	if (kms_hex_encode(out, 65, md, sizeof(md)) != KMS_OK) {
		out[0] = '\0';
	}
}

/* hex of public octets (ids, labels) into out; "" if it does not fit. */
static void
hex_text(char *out, size_t cap, const uint8_t *data, size_t len)
{
	if (kms_hex_encode(out, cap, data, len) != KMS_OK) {
		out[0] = '\0';
	}
}

static int
utc_text(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(out, 32, "%lld", (long long)t);
		return -1;
	}
	return 0;
}

/* The plan of a ceremony file, for the custodians' review (check) and at the start of run. */
static void
print_plan(const struct kms_cer_file *f)
{
	char from[32], to[32];
	size_t i;

	(void)utc_text(f->valid_from, from);
	(void)utc_text(f->valid_to, to);
	say("Ceremony %s (file %s), operator %s\n", f->ceremony, f->path, f->operator_name);
	for (i = 0; i < f->num_witnesses; i++) {
		say("  witness: %s\n", f->witnesses[i]);
	}
	say("Token '%s' of %s; store %s; KEK label '%s'; signing key '%s'\n", f->token_label,
	    f->module, f->store, f->kek_label, f->signing_key_label);
	say("Domain %s: valid %s to %s, key period %llu s (offset %llu), %zu domain(s)\n",
	    f->kms_uri, from, to, (unsigned long long)f->user_key_period,
	    (unsigned long long)f->user_key_offset, f->num_domains);
	say("Backup: %u of %zu custodians restore it:", f->threshold, f->num_custodians);
	for (i = 0; i < f->num_custodians; i++) {
		say(" %s%s", f->custodians[i], i + 1 < f->num_custodians ? "," : "\n");
	}
	say("Steps:");
	for (i = 0; i < KMS_CER_NUM_STEPS; i++) {
		if (f->steps[i]) {
			say(" %s", kms_cer_step_name((enum kms_cer_step)i));
		}
	}
	say("\n");
	if (f->steps[KMS_CER_ENROL]) {
		say("Clients to enrol: %zu\n", f->num_enrols);
	}
	if (f->steps[KMS_CER_PREMINT]) {
		say("Pre-mint: identities of %s, %llu key period(s)\n", f->premint_identities,
		    (unsigned long long)f->premint_periods);
	}
}

/* The transcript signer: ECDSA in the token with the signing key. */
static int
sign_cb(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	struct run *r = ctx;

	return kms_ecdsa_sign(r->s, r->sign_key, digest, 32, sig);
}

/* Is there a private key labelled label in the token? (kms_keys_find_tls logs an error for a
 * missing key, which on a fresh token is the normal case.) */
static int
has_private_key(struct kms_p11_session *s, const char *label, int *out)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_TOKEN, &yes, sizeof(yes)},
		{CKA_LABEL, (void *)(uintptr_t)label, strlen(label)},
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_FUNCTION_LIST *fn = kms_p11_fn(s);
	int rc;

	*out = 0;
	if ((rc = kms_p11_check(s, fn->C_FindObjectsInit(kms_p11_handle(s), tmpl, 3),
				"C_FindObjectsInit")) != KMS_OK) {
		return rc;
	}
	rc = kms_p11_check(s, fn->C_FindObjects(kms_p11_handle(s), h, 2, &n), "C_FindObjects");
	if (kms_p11_check(s, fn->C_FindObjectsFinal(kms_p11_handle(s)), "C_FindObjectsFinal") !=
		    KMS_OK &&
	    rc == KMS_OK) {
		rc = KMS_ERR_HSM;
	}
	*out = n > 0;
	return rc;
}

/* PINs, then the token opened and probed, the signing key found or made. */
static int
open_token(struct run *r, int init)
{
	char err[ERR_LEN];
	unsigned long slot = 0;
	char fpr[65];
	int exact = 0, found = 0, rc;

	if (init) {
		if (!confirm(r, "init-token",
			     "initialise the token; the security officer and then the user PIN, "
			     "each typed twice")) {
			return KMS_ERR_UNSUPPORTED;
		}
		say("Security officer PIN of the new token '%s':\n", r->f->token_label);
		if ((rc = kms_cer_read_pin("SO PIN", 1, &r->so_pin)) != KMS_OK) {
			complain("SO PIN: %s", rc == KMS_ERR_AUTH
						       ? "the two entries differ"
						       : "not read (4 to 255 characters)");
			return rc;
		}
		say("User PIN of the new token (kms-hsmd logs in with it):\n");
		if ((rc = kms_cer_read_pin("user PIN", 1, &r->user_pin)) != KMS_OK) {
			complain("user PIN: %s", rc == KMS_ERR_AUTH
							 ? "the two entries differ"
							 : "not read (4 to 255 characters)");
			return rc;
		}
		rc = kms_cer_init_token(r->f->module, r->f->module_params, r->f->has_slot,
					(unsigned long)r->f->slot, r->f->token_label, r->so_pin,
					r->user_pin, &slot, err, sizeof(err));
		kms_secret_free(r->so_pin);
		r->so_pin = NULL;
		if (rc != KMS_OK) {
			complain("init-token: %s", err);
			return rc;
		}
		if ((rc = note(r, "init-token", "token '%s' initialised in slot %lu of %s",
			       r->f->token_label, slot, r->f->module)) != KMS_OK) {
			return rc;
		}
	} else {
		say("User PIN of the token '%s':\n", r->f->token_label);
		if ((rc = kms_cer_read_pin("user PIN", 0, &r->user_pin)) != KMS_OK) {
			complain("user PIN: not read (4 to 255 characters)");
			return rc;
		}
	}
	if ((rc = kms_cer_open(&r->p11, r->f->module, r->f->module_params, r->f->token_label,
			       r->user_pin, err, sizeof(err))) != KMS_OK) {
		complain("%s", err);
		return rc;
	}
	if ((rc = kms_p11_borrow(r->p11, &r->s)) != KMS_OK) {
		complain("the token '%s' gives no session (%s)", r->f->token_label,
			 kms_err_name(rc));
		return rc;
	}
	r->pol.kwp = (CK_MECHANISM_TYPE)r->f->kwp_mechanism;
	if ((rc = kms_hmac_probe(r->s)) != KMS_OK ||
	    (rc = kms_wrap_probe(r->s, &r->pol, &exact)) != KMS_OK ||
	    (rc = kms_wrap_choose(&r->pol, exact, r->f->allow_host_ecb_wrap)) != KMS_OK) {
		complain("the token failed its known-answer tests (%s): it cannot hold a domain",
			 kms_err_name(rc));
		return rc;
	}
	if ((rc = note(r, "selftest", "HMAC-SHA256 and RFC 5649 known-answer tests passed; %s",
		       r->pol.mode == KMS_WRAP_TOKEN
			       ? "the token wraps"
			       : "host-ECB wrap (the token's RFC 5649 is defective)")) != KMS_OK) {
		return rc;
	}
	if ((rc = has_private_key(r->s, r->f->signing_key_label, &found)) != KMS_OK) {
		return rc;
	}
	if (found && (rc = kms_keys_find_tls(r->s, &r->sign_key, r->sign_point,
					     r->f->signing_key_label)) != KMS_OK) {
		complain("the transcript signing key '%s' in the token is not usable (%s)",
			 r->f->signing_key_label, kms_err_name(rc));
		return rc;
	}
	if (found) {
		fingerprint(r->sign_point, sizeof(r->sign_point), fpr);
		return note(r, "signing-key", "transcript signing key '%s' found, fingerprint %s",
			    r->f->signing_key_label, fpr);
	}
	if ((rc = kms_keys_generate_tls(r->s, &r->sign_key, r->sign_point,
					r->f->signing_key_label)) != KMS_OK) {
		complain("cannot make the transcript signing key '%s' in the token (%s)",
			 r->f->signing_key_label, kms_err_name(rc));
		return rc;
	}
	fingerprint(r->sign_point, sizeof(r->sign_point), fpr);
	say("Transcript signing key '%s' made in the token. Write its fingerprint down:\n  %s\n",
	    r->f->signing_key_label, fpr);
	return note(r, "signing-key",
		    "transcript signing key '%s' generated in the token (ECDSA P-256), "
		    "fingerprint %s",
		    r->f->signing_key_label, fpr);
}

/* This node's audit key: made in the token (or found, when a restore runs again) and
 * registered in the store, where kms-admin audit verify checks the checkpoints kms-hsmd signs
 * with it. */
static int
audit_key(struct run *r, const char *step)
{
	uint8_t point[KMS_EC_POINT_LEN], fp[32];
	CK_OBJECT_HANDLE priv;
	char hex[65];
	int found = 0, rc;

	if ((rc = has_private_key(r->s, r->f->audit_key_label, &found)) != KMS_OK) {
		return rc;
	}
	rc = found ? kms_keys_find_tls(r->s, &priv, point, r->f->audit_key_label)
		   : kms_keys_generate_tls(r->s, &priv, point, r->f->audit_key_label);
	if (rc != KMS_OK) {
		complain("%s: the audit key '%s' could not be %s (%s)", step, r->f->audit_key_label,
			 found ? "used" : "made in the token", kms_err_name(rc));
		return rc;
	}
	if ((rc = kms_store_put_audit_key(r->st, point, r->f->audit_key_label)) != KMS_OK ||
	    (rc = kms_store_audit_key_fingerprint(point, fp)) != KMS_OK) {
		complain("%s: the audit key could not be registered in the store (%s)", step,
			 kms_err_name(rc));
		return rc;
	}
	hex_text(hex, sizeof(hex), fp, sizeof(fp));
	say("Audit key '%s' of this node %s; its fingerprint (kms-admin audit verify --key):\n"
	    "  %s\n",
	    r->f->audit_key_label, found ? "found" : "made in the token", hex);
	return note(r, step,
		    "audit key '%s' %s (ECDSA P-256, sign only) and registered in the store, "
		    "fingerprint %s",
		    r->f->audit_key_label, found ? "found in the token" : "generated in the token",
		    hex);
}

/* Wrap a secret under the KEK into the store's secrets. */
static int
put_secret(struct run *r, const char *name, const uint8_t *v, size_t len)
{
	struct kms_store_blob b;
	int rc;

	memset(&b, 0, sizeof(b));
	if ((rc = kms_wrap_bytes(r->s, &r->pol, r->kek, v, len, b.data, sizeof(b.data), &b.len)) !=
	    KMS_OK) {
		return rc;
	}
	return kms_store_put_secret(r->st, name, &b);
}

/* generate: the backup key, the KEK, KSAK and z_T. */
static int
step_generate(struct run *r)
{
	struct kms_secret *keys = NULL; /* wrap key || mac key */
	uint8_t ksak[KMS_ECCSI_SCALAR_LEN], z[KMS_SAKKE_SCALAR_LEN];
	uint8_t kpak[KMS_ECCSI_POINT_LEN], zpub[KMS_SAKKE_POINT_LEN];
	char fk[65], fz[65];
	int rc;

	if (!confirm(r, "generate",
		     "the backup key, the domain KEK in the token, and the master secrets KSAK "
		     "and z_T")) {
		return KMS_ERR_UNSUPPORTED;
	}
	r->bkey = kms_secret_new(BACKUP_KEY_LEN);
	keys = kms_secret_new(64);
	if (r->bkey == NULL || keys == NULL) {
		rc = KMS_ERR_NOMEM;
		goto out;
	}
	if (RAND_priv_bytes(r->bkey->data, BACKUP_KEY_LEN) != 1) {
		rc = KMS_ERR_RANDOM;
		goto out;
	}
	if ((rc = kms_backup_derive(r->bkey->data, keys->data, keys->data + 32)) != KMS_OK) {
		goto out;
	}
	if ((rc = kms_cer_new_kek(r->s, &r->pol, r->f->kek_label, keys->data, r->kek_blob,
				  sizeof(r->kek_blob), &r->kek_blob_len, &r->kek)) != KMS_OK) {
		complain("generate: the KEK '%s' could not be made in the token (%s)",
			 r->f->kek_label, kms_err_name(rc));
		goto out;
	}
	if ((rc = note(r, "generate",
		       "KEK '%s' (AES-256) generated in the token, exported once wrapped under the "
		       "backup key, now not extractable",
		       r->f->kek_label)) != KMS_OK) {
		goto out;
	}
	if ((rc = kms_eccsi_kms_generate(&r->eccsi)) != KMS_OK ||
	    (rc = kms_sakke_kms_generate(&r->sakke)) != KMS_OK) {
		complain("generate: the master secrets could not be made (%s)", kms_err_name(rc));
		goto out;
	}
	kms_eccsi_kms_ksak(r->eccsi, ksak);
	kms_sakke_kms_secret(r->sakke, z);
	if ((rc = put_secret(r, "ksak", ksak, sizeof(ksak))) != KMS_OK ||
	    (rc = put_secret(r, "z_t", z, sizeof(z))) != KMS_OK) {
		complain("generate: KSAK and z_T could not be stored wrapped (%s)",
			 kms_err_name(rc));
		goto out;
	}
	kms_eccsi_kms_kpak(r->eccsi, kpak);
	kms_sakke_kms_public(r->sakke, zpub);
	fingerprint(kpak, sizeof(kpak), fk);
	fingerprint(zpub, sizeof(zpub), fz);
	say("KPAK fingerprint %s\nZ_T  fingerprint %s\n", fk, fz);
	if ((rc = note(
		     r, "generate",
		     "KSAK and z_T generated, stored only wrapped under the KEK; KPAK fingerprint "
		     "%s; Z_T fingerprint %s",
		     fk, fz)) != KMS_OK) {
		goto out;
	}
	rc = audit_key(r, "generate");
out:
	kms_memzero(ksak, sizeof(ksak));
	kms_memzero(z, sizeof(z));
	kms_secret_free(keys);
	return rc;
}

/* The domain list of the file as the store keeps it: URIs separated by one space. */
static int
join_domains(const struct kms_cer_file *f, char *out, size_t cap)
{
	size_t i, len = 0, n;

	out[0] = '\0';
	for (i = 0; i < f->num_domains; i++) {
		n = strlen(f->domains[i]);
		if (n + (i > 0 ? 1 : 0) >= cap - len) {
			return KMS_ERR_TOO_LARGE;
		}
		if (i > 0) {
			out[len++] = ' ';
		}
		memcpy(out + len, f->domains[i], n);
		len += n;
		out[len] = '\0';
	}
	return KMS_OK;
}

/* certificate: the domain's KMS certificate into the store. */
static int
step_certificate(struct run *r)
{
	struct kms_store_cert *c = r->cert;
	char from[32], to[32], fk[65];
	int rc;

	if (!confirm(r, "certificate", "the domain's KMS certificate, into the store")) {
		return KMS_ERR_UNSUPPORTED;
	}
	memset(c, 0, sizeof(*c));
	snprintf(c->kms_uri, sizeof(c->kms_uri), "%s", r->f->kms_uri);
	snprintf(c->cert_uri, sizeof(c->cert_uri), "%s", r->f->cert_uri);
	snprintf(c->issuer, sizeof(c->issuer), "%s", r->f->issuer);
	c->has_valid_from = 1;
	c->valid_from = r->f->valid_from;
	c->has_valid_to = 1;
	c->valid_to = r->f->valid_to;
	c->user_key_period = r->f->user_key_period;
	c->user_key_offset = r->f->user_key_offset;
	if ((rc = join_domains(r->f, c->domains, sizeof(c->domains))) != KMS_OK) {
		complain("certificate: the domain list is too long");
		return rc;
	}
	kms_eccsi_kms_kpak(r->eccsi, c->kpak);
	kms_sakke_kms_public(r->sakke, c->z_t);
	if ((rc = kms_store_put_cert(r->st, c)) != KMS_OK) {
		complain("certificate: the store refused it (%s)", kms_err_name(rc));
		return rc;
	}
	(void)utc_text(c->valid_from, from);
	(void)utc_text(c->valid_to, to);
	fingerprint(c->kpak, sizeof(c->kpak), fk);
	say("KMS certificate of %s stored: valid %s to %s, key period %llu s.\n", c->kms_uri, from,
	    to, (unsigned long long)c->user_key_period);
	return note(r, "certificate",
		    "KMS certificate stored: KmsUri %s, CertUri '%s', Issuer '%s', valid %s to %s, "
		    "UserKeyPeriod %llu, UserKeyOffset %llu, parameter set 1, domains '%s', KPAK "
		    "fingerprint %s",
		    c->kms_uri, c->cert_uri, c->issuer, from, to,
		    (unsigned long long)c->user_key_period, (unsigned long long)c->user_key_offset,
		    c->domains, fk);
}

/* Show one share on the terminal to its custodian alone. */
static int
show_share(const struct kms_cer_file *f, size_t i, const char *text)
{
	char line[16];

	say("\nShare %zu of %zu is for custodian %s. Everyone else looks away.\n"
	    "Press Enter to show it.",
	    i + 1, f->num_custodians, f->custodians[i]);
	if (read_line(line, sizeof(line)) != 0) {
		return KMS_ERR_IO;
	}
	say("\n%s\nCopy it exactly, check it, then press Enter to clear the screen.", text);
	if (read_line(line, sizeof(line)) != 0) {
		return KMS_ERR_IO;
	}
	say("\033[2J\033[3J\033[H");
	return KMS_OK;
}

/* backup: the backup file, then one share per custodian. */
static int
step_backup(struct run *r)
{
	struct kms_backup *b = NULL;
	struct kms_secret *keys = NULL, *ys = NULL, *txt = NULL, *shs = NULL;
	struct kms_store_blob blob;
	uint8_t xs[MAX_SHARES_IN], back[BACKUP_KEY_LEN];
	char *text = NULL, path[PATH_MAX], fb[65], id_hex[17];
	size_t text_len = 0, i, tl;
	struct kms_share *sh;
	const struct kms_cer_file *f = r->f;
	int rc;

	if (!confirm(r, "backup",
		     "the backup file, and the backup key split among the custodians")) {
		return KMS_ERR_UNSUPPORTED;
	}
	b = calloc(1, sizeof(*b));
	keys = kms_secret_new(64);
	ys = kms_secret_new(MAX_SHARES_IN * BACKUP_KEY_LEN);
	txt = kms_secret_new(KMS_SHARE_MAX_TEXT + 1);
	shs = kms_secret_new(sizeof(struct kms_share));
	if (b == NULL || keys == NULL || ys == NULL || txt == NULL || shs == NULL) {
		rc = KMS_ERR_NOMEM;
		goto out;
	}
	sh = (struct kms_share *)(void *)shs->data;
	snprintf(b->ceremony, sizeof(b->ceremony), "%s", f->ceremony);
	if (RAND_bytes(b->backup_id, sizeof(b->backup_id)) != 1) {
		rc = KMS_ERR_RANDOM;
		goto out;
	}
	b->created = (int64_t)time(NULL);
	b->threshold = f->threshold;
	b->shares = (unsigned)f->num_custodians;
	for (i = 0; i < f->num_custodians; i++) {
		snprintf(b->custodians[i], sizeof(b->custodians[i]), "%s", f->custodians[i]);
	}
	snprintf(b->kms_uri, sizeof(b->kms_uri), "%s", r->cert->kms_uri);
	snprintf(b->cert_uri, sizeof(b->cert_uri), "%s", r->cert->cert_uri);
	snprintf(b->issuer, sizeof(b->issuer), "%s", r->cert->issuer);
	b->valid_from = r->cert->valid_from;
	b->valid_to = r->cert->valid_to;
	b->user_key_period = r->cert->user_key_period;
	b->user_key_offset = r->cert->user_key_offset;
	snprintf(b->domains, sizeof(b->domains), "%s", r->cert->domains);
	memcpy(b->kpak, r->cert->kpak, sizeof(b->kpak));
	memcpy(b->z_t, r->cert->z_t, sizeof(b->z_t));
	snprintf(b->kek_label, sizeof(b->kek_label), "%s", f->kek_label);
	memcpy(b->kek, r->kek_blob, r->kek_blob_len);
	b->kek_len = r->kek_blob_len;
	if ((rc = kms_store_get_secret(r->st, "ksak", &blob)) != KMS_OK ||
	    blob.len > sizeof(b->ksak)) {
		goto out;
	}
	memcpy(b->ksak, blob.data, blob.len);
	b->ksak_len = blob.len;
	if ((rc = kms_store_get_secret(r->st, "z_t", &blob)) != KMS_OK ||
	    blob.len > sizeof(b->z_t_secret)) {
		goto out;
	}
	memcpy(b->z_t_secret, blob.data, blob.len);
	b->z_t_secret_len = blob.len;
	if ((rc = kms_backup_derive(r->bkey->data, keys->data, keys->data + 32)) != KMS_OK ||
	    (rc = kms_backup_format(b, keys->data + 32, &text, &text_len)) != KMS_OK) {
		complain("backup: the backup file could not be made (%s)", kms_err_name(rc));
		goto out;
	}
	if (kms_devtoken_write_file(f->backup_file, text, text_len, 0600) != KMS_OK) {
		complain("backup: cannot write %s: %s", f->backup_file, strerror(errno));
		rc = KMS_ERR_IO;
		goto out;
	}
	fingerprint((const uint8_t *)text, text_len, fb);
	hex_text(id_hex, sizeof(id_hex), b->backup_id, sizeof(b->backup_id));
	if ((rc = note(r, "backup", "backup file %s written: backup id %s, sha256 %s",
		       f->backup_file, id_hex, fb)) != KMS_OK) {
		goto out;
	}
	/* the split, and a check that the first M shares open it again */
	if ((rc = kms_shamir_split(r->bkey->data, BACKUP_KEY_LEN, f->threshold,
				   (unsigned)f->num_custodians, xs, ys->data)) != KMS_OK ||
	    (rc = kms_shamir_combine(xs, ys->data, f->threshold, BACKUP_KEY_LEN, back)) != KMS_OK) {
		complain("backup: the backup key could not be split (%s)", kms_err_name(rc));
		goto out;
	}
	if (!kms_ct_memeq(back, r->bkey->data, BACKUP_KEY_LEN)) {
		complain("backup: the shares do not give the backup key back (internal error)");
		rc = KMS_ERR_INTERNAL;
		goto out;
	}
	for (i = 0; i < f->num_custodians; i++) {
		memset(sh, 0, sizeof(*sh));
		snprintf(sh->ceremony, sizeof(sh->ceremony), "%s", f->ceremony);
		memcpy(sh->backup_id, b->backup_id, sizeof(sh->backup_id));
		snprintf(sh->label, sizeof(sh->label), "%s", f->custodians[i]);
		sh->x = xs[i];
		sh->m = f->threshold;
		sh->n = (unsigned)f->num_custodians;
		memcpy(sh->y, ys->data + i * BACKUP_KEY_LEN, BACKUP_KEY_LEN);
		if ((rc = kms_share_format(sh, (char *)txt->data, txt->len, &tl)) != KMS_OK) {
			goto out;
		}
		if (f->share_output == KMS_CER_SHARES_FILES) {
			if (snprintf(path, sizeof(path), "%s/share-%zu.txt", f->share_dir, i + 1) >=
				    (int)sizeof(path) ||
			    kms_devtoken_write_file(path, txt->data, tl, 0600) != KMS_OK) {
				complain("backup: cannot write the share file %s/share-%zu.txt: %s",
					 f->share_dir, i + 1, strerror(errno));
				rc = KMS_ERR_IO;
				goto out;
			}
			say("Share %zu of %zu (custodian %s) written to %s\n", i + 1,
			    f->num_custodians, f->custodians[i], path);
		} else if ((rc = show_share(f, i, (const char *)txt->data)) != KMS_OK) {
			complain("backup: the terminal closed while showing share %zu", i + 1);
			goto out;
		}
		kms_memzero(txt->data, txt->len);
		if ((rc = note(r, "backup", "share %zu of %zu handed to custodian %s (%s)", i + 1,
			       f->num_custodians, f->custodians[i],
			       f->share_output == KMS_CER_SHARES_FILES ? "as a file"
								       : "on the terminal")) !=
		    KMS_OK) {
			goto out;
		}
	}
	rc = note(r, "backup", "any %u of the %zu shares restore the domain", f->threshold,
		  f->num_custodians);
out:
	kms_memzero(back, sizeof(back));
	kms_memzero(xs, sizeof(xs));
	if (text != NULL) {
		kms_memzero(text, text_len);
		free(text);
	}
	free(b);
	kms_secret_free(keys);
	kms_secret_free(ys);
	kms_secret_free(txt);
	kms_secret_free(shs);
	return rc;
}

/* The hex digits of SHA-256(client id) that name a client in labels and file names. */
static void
client_hash(char out[17], const char *client_id)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[65];

	SHA256((const uint8_t *)client_id, strlen(client_id), md);
	hex_text(hex, sizeof(hex), md, sizeof(md));
	snprintf(out, 17, "%.16s", hex);
}

/*
 * The token label of a client's new key: "trk." / "ink.", 16 hex digits of SHA-256(id), '.',
 * and 16 random hex digits. Each enrolment gets labels of its own: a node whose token still
 * holds a client's earlier key (restored before this enrolment, not restarted since) must not
 * take that key for the new one of the same label. Under a new label it imports the new key
 * from the store's client_keys, and destroys the earlier one, which the enrolment retired.
 */
static int
client_label(char out[CLIENT_LABEL_LEN], const char *prefix, const char *client_id)
{
	uint8_t rnd[8];
	char h[17], r[17];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		return KMS_ERR_RANDOM;
	}
	client_hash(h, client_id);
	hex_text(r, sizeof(r), rnd, sizeof(rnd));
	snprintf(out, CLIENT_LABEL_LEN, "%s.%s.%s", prefix, h, r);
	return KMS_OK;
}

/* The enrolment file's name: the client id with [^A-Za-z0-9._-] as '_', and 8 hex digits. */
static int
enrol_path(char *out, size_t cap, const char *dir, const char *client_id)
{
	char safe[64], h[17];
	size_t i, n = 0;

	for (i = 0; client_id[i] != '\0' && n + 1 < sizeof(safe); i++) {
		char c = client_id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		safe[n++] = ok ? c : '_';
	}
	safe[n] = '\0';
	client_hash(h, client_id);
	return snprintf(out, cap, "%s/%s-%.8s.enrol", dir, safe, h) >= (int)cap ? -1 : 0;
}

/* Add an identity to the roster unless it is there (an existing one, revoked or not, is left
 * as it is: kms_store_add_identity is idempotent). */
static int
ensure_identity(struct kms_store *st, const char *uri)
{
	return kms_store_add_identity(st, uri);
}

/* The KEK of the store's domain, when this run did not make it. */
static int
find_kek(struct run *r)
{
	int rc;

	if (r->kek != CK_INVALID_HANDLE) {
		return KMS_OK;
	}
	if ((rc = kms_keys_find(r->s, &r->kek, r->f->kek_label)) != KMS_OK) {
		complain("the token has no KEK labelled '%s' (is this the domain's token?)",
			 r->f->kek_label);
	}
	return rc;
}

/* One client: its TrK and InK made and exported, the roster. */
static int
enrol_one(struct run *r, const struct kms_cer_enrol *e)
{
	struct kms_cer_client_key ck;
	struct kms_store_blob trk_kb, ink_kb;
	struct kms_store_client c;
	uint8_t trk_out[MAX_ENROL_BLOB], ink_out[MAX_ENROL_BLOB];
	char trk_hex[2 * MAX_ENROL_BLOB + 1], ink_hex[2 * MAX_ENROL_BLOB + 1];
	char trk_label[CLIENT_LABEL_LEN], ink_label[CLIENT_LABEL_LEN], path[PATH_MAX], err[ERR_LEN];
	char text[8192];
	size_t trk_len = 0, ink_len = 0;
	CK_OBJECT_HANDLE trk = CK_INVALID_HANDLE, ink = CK_INVALID_HANDLE;
	const char *how;
	int rc, n, oaep_sha1 = r->f->oaep_hash == KMS_CER_OAEP_SHA1;

	memset(&ck, 0, sizeof(ck));
	if ((rc = client_label(trk_label, "trk", e->client_id)) != KMS_OK ||
	    (rc = client_label(ink_label, "ink", e->client_id)) != KMS_OK) {
		complain("enrol: %s: no random label (%s)", e->client_id, kms_err_name(rc));
		return rc;
	}
	if (enrol_path(path, sizeof(path), r->f->enrol_dir, e->client_id) != 0) {
		complain("enrol: the path of %s's enrolment file is too long", e->client_id);
		return KMS_ERR_TOO_LARGE;
	}
	if ((rc = kms_cer_client_key_load(&ck, e->key_file, err, sizeof(err))) != KMS_OK) {
		complain("enrol: %s (line %u): %s", e->client_id, e->line, err);
		return rc;
	}
	how = ck.kind == KMS_CER_CKEY_AES ? "aes-kwp"
	      : oaep_sha1                 ? "rsa-oaep-sha1"
					  : "rsa-oaep-sha256";
	memset(&trk_kb, 0, sizeof(trk_kb));
	memset(&ink_kb, 0, sizeof(ink_kb));
	rc = kms_cer_enrol_key(r->s, &r->pol, r->kek, 0, trk_label, &ck, oaep_sha1, trk_out,
			       sizeof(trk_out), &trk_len, trk_kb.data, sizeof(trk_kb.data),
			       &trk_kb.len, &trk);
	if (rc == KMS_OK) {
		rc = kms_cer_enrol_key(r->s, &r->pol, r->kek, 1, ink_label, &ck, oaep_sha1, ink_out,
				       sizeof(ink_out), &ink_len, ink_kb.data, sizeof(ink_kb.data),
				       &ink_kb.len, &ink);
	}
	if (rc != KMS_OK) {
		complain("enrol: %s: the keys could not be made and exported (%s)", e->client_id,
			 kms_err_name(rc));
		goto out;
	}
	memset(&c, 0, sizeof(c));
	snprintf(c.client_id, sizeof(c.client_id), "%s", e->client_id);
	c.cls = e->server ? KMS_CLIENT_SERVER : KMS_CLIENT_UE;
	snprintf(c.trk_label, sizeof(c.trk_label), "%s", trk_label);
	snprintf(c.ink_label, sizeof(c.ink_label), "%s", ink_label);
	/*
	 * The client row and its two keys under the KEK in one transaction: an enrolment that
	 * fails or is interrupted here leaves the store with all three rows or none of them,
	 * never a client that a restored node could not give its keys, nor keys without their
	 * client. The identity and the entitlement follow in transactions of their own; both
	 * accept a row that is already there.
	 */
	if ((rc = kms_store_put_client_with_keys(r->st, &c, &trk_kb, &ink_kb)) != KMS_OK ||
	    (rc = ensure_identity(r->st, e->client_id)) != KMS_OK ||
	    (rc = kms_store_entitle(r->st, e->client_id, e->client_id)) != KMS_OK) {
		complain("enrol: %s: the roster could not be written (%s)", e->client_id,
			 kms_err_name(rc));
		goto out;
	}
	if (kms_hex_encode(trk_hex, sizeof(trk_hex), trk_out, trk_len) != KMS_OK ||
	    kms_hex_encode(ink_hex, sizeof(ink_hex), ink_out, ink_len) != KMS_OK) {
		rc = KMS_ERR_INTERNAL;
		goto out;
	}
	n = snprintf(text, sizeof(text),
		     "# The enrolment of %s by the key ceremony %s (docs/kms-ceremony.md).\n"
		     "# The TrK and InK are wrapped under the client's key (%s): only the client\n"
		     "# can unwrap them.\n"
		     "format = kms-enrolment-1\n"
		     "client = %s\n"
		     "class = %s\n"
		     "kms_uri = %s\n"
		     "wrapping = %s\n"
		     "trk_label = %s\n"
		     "trk = %s\n"
		     "ink_label = %s\n"
		     "ink = %s\n",
		     e->client_id, r->f->ceremony, how, e->client_id, e->server ? "server" : "ue",
		     r->f->kms_uri, how, trk_label, trk_hex, ink_label, ink_hex);
	if (n < 0 || (size_t)n >= sizeof(text) ||
	    kms_devtoken_write_file(path, text, (size_t)n, 0600) != KMS_OK) {
		complain("enrol: cannot write %s: %s", path, strerror(errno));
		rc = KMS_ERR_IO;
		goto out;
	}
	say("Enrolled %s (%s): %s\n", e->client_id, e->server ? "MC server" : "UE", path);
	rc = note(
		r, "enrol",
		"client %s (%s): TrK '%s' and InK '%s' generated in the token, exported wrapped "
		"under the client's key (%s, file %s) into %s, and wrapped under the KEK into the "
		"store; now not extractable; entitled to its own identity",
		e->client_id, e->server ? "server" : "ue", trk_label, ink_label, how, e->key_file,
		path);
out:
	kms_cer_client_key_clear(&ck);
	return rc;
}

/*
 * Before anything is made: no client's enrolment file is there yet. An earlier enrolment's
 * file that the client has not been given must not be overwritten, and a run must not make
 * keys and write the roster and then fail at the file. The message says what to do.
 */
static int
enrol_files_absent(const struct kms_cer_file *f)
{
	char path[PATH_MAX];
	struct stat sb;
	size_t i;

	for (i = 0; i < f->num_enrols; i++) {
		if (enrol_path(path, sizeof(path), f->enrol_dir, f->enrols[i].client_id) != 0) {
			complain("enrol: the path of %s's enrolment file is too long",
				 f->enrols[i].client_id);
			return -1;
		}
		if (lstat(path, &sb) == 0) {
			complain(
				"enrol: %s exists, from an earlier enrolment of %s: hand it to the "
				"client and move it out of %s, then run again",
				path, f->enrols[i].client_id, f->enrol_dir);
			return -1;
		}
		if (errno != ENOENT) {
			complain("enrol: cannot check %s: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int
step_enrol(struct run *r)
{
	size_t i;
	int rc;

	if (!confirm(r, "enrol", "the clients' transport and integrity keys, and the roster")) {
		return KMS_ERR_UNSUPPORTED;
	}
	if ((rc = find_kek(r)) != KMS_OK) {
		return rc;
	}
	for (i = 0; i < r->f->num_enrols; i++) {
		if ((rc = enrol_one(r, &r->f->enrols[i])) != KMS_OK) {
			return rc;
		}
	}
	return KMS_OK;
}

/* The issuers for pre-minting: from this run's generate, or unwrapped from the store. */
static int
load_issuers(struct run *r)
{
	struct kms_store_blob b;
	struct kms_secret *ksak = NULL, *z = NULL;
	uint8_t kpak[KMS_ECCSI_POINT_LEN], zpub[KMS_SAKKE_POINT_LEN];
	int rc;

	if (r->eccsi != NULL && r->sakke != NULL) {
		return KMS_OK;
	}
	if ((rc = kms_store_get_cert(r->st, r->cert)) != KMS_OK) {
		complain("the store %s has no KMS certificate", r->f->store);
		return rc;
	}
	if ((rc = kms_store_get_secret(r->st, "ksak", &b)) != KMS_OK ||
	    (rc = kms_unwrap_secret(r->s, &r->pol, r->kek, b.data, b.len, KMS_ECCSI_SCALAR_LEN,
				    &ksak)) != KMS_OK ||
	    (rc = kms_store_get_secret(r->st, "z_t", &b)) != KMS_OK ||
	    (rc = kms_unwrap_secret(r->s, &r->pol, r->kek, b.data, b.len, KMS_SAKKE_SCALAR_LEN,
				    &z)) != KMS_OK ||
	    (rc = kms_eccsi_kms_new(&r->eccsi, ksak->data)) != KMS_OK ||
	    (rc = kms_sakke_kms_new(&r->sakke, z->data, z->len)) != KMS_OK) {
		complain("the master secrets could not be unwrapped with the KEK '%s' (%s)",
			 r->f->kek_label, kms_err_name(rc));
		goto out;
	}
	kms_eccsi_kms_kpak(r->eccsi, kpak);
	kms_sakke_kms_public(r->sakke, zpub);
	if (memcmp(kpak, r->cert->kpak, sizeof(kpak)) != 0 ||
	    memcmp(zpub, r->cert->z_t, sizeof(zpub)) != 0) {
		complain("the master secrets do not match the store's certificate");
		rc = KMS_ERR_AUTH;
	}
out:
	kms_secret_free(ksak);
	kms_secret_free(z);
	return rc;
}

/* One pre-minted key set, wrapped under the KEK, into the store. */
static int
mint_one(struct run *r, const char *uri, uint64_t period)
{
	uint8_t uid[KMS_UID_LEN], id[KMS_ID_MAX_LEN], ssk[KMS_ECCSI_SCALAR_LEN];
	uint8_t pvt[KMS_ECCSI_POINT_LEN], rsk[KMS_SAKKE_POINT_LEN];
	struct kms_store_keyset ks;
	size_t id_len = 0;
	int rc;

	memset(&ks, 0, sizeof(ks));
	if ((rc = kms_uid_compute(uid, uri, strlen(uri), r->cert->kms_uri, strlen(r->cert->kms_uri),
				  r->cert->user_key_period, r->cert->user_key_offset, period)) !=
		    KMS_OK ||
	    (rc = kms_uid_identifier(id, &id_len, uid, (enum kms_id_format)r->f->id_format)) !=
		    KMS_OK ||
	    (rc = kms_eccsi_issue(r->eccsi, id, id_len, ssk, pvt)) != KMS_OK ||
	    (rc = kms_sakke_issue(r->sakke, id, id_len, rsk)) != KMS_OK ||
	    (rc = kms_wrap_bytes(r->s, &r->pol, r->kek, rsk, sizeof(rsk), ks.rsk.data,
				 sizeof(ks.rsk.data), &ks.rsk.len)) != KMS_OK ||
	    (rc = kms_wrap_bytes(r->s, &r->pol, r->kek, ssk, sizeof(ssk), ks.ssk.data,
				 sizeof(ks.ssk.data), &ks.ssk.len)) != KMS_OK ||
	    (rc = kms_wrap_bytes(r->s, &r->pol, r->kek, pvt, sizeof(pvt), ks.pvt.data,
				 sizeof(ks.pvt.data), &ks.pvt.len)) != KMS_OK) {
		goto out;
	}
	rc = kms_store_put_keyset(r->st, uri, period, &ks);
out:
	kms_memzero(ssk, sizeof(ssk));
	kms_memzero(rsk, sizeof(rsk));
	kms_memzero(pvt, sizeof(pvt));
	return rc;
}

static void
progress(uint64_t done, uint64_t total, uint64_t made, uint64_t skipped, int final)
{
	static int last_pct = -1;
	int pct = total > 0 ? (int)(done * 100 / total) : 100;
	int i, bar = pct / 4;

	if (isatty(2)) {
		fprintf(stderr, "\rpre-mint [");
		for (i = 0; i < 25; i++) {
			fputc(i < bar ? '#' : ' ', stderr);
		}
		fprintf(stderr, "] %3d%% %llu/%llu (%llu new, %llu already there)%s", pct,
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)made, (unsigned long long)skipped, final ? "\n" : "");
	} else if (final || pct / 10 != last_pct / 10) {
		fprintf(stderr, "pre-mint: %d%% %llu/%llu (%llu new, %llu already there)\n", pct,
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)made, (unsigned long long)skipped);
	}
	last_pct = pct;
	fflush(stderr);
}

/* premint: every identity of the list for every period; sets in the store are kept. */
static int
step_premint(struct run *r)
{
	char **ids = NULL;
	size_t num_ids = 0, i;
	uint64_t first, p, done = 0, made = 0, skipped = 0, total, stop_after = 0;
	char err[ERR_LEN];
	const char *env;
	int has, rc;

	if (!confirm(r, "premint", "key sets for the identities list, wrapped under the KEK")) {
		return KMS_ERR_UNSUPPORTED;
	}
	if ((rc = kms_cer_identities_load(&ids, &num_ids, r->f->premint_identities, err,
					  sizeof(err))) != KMS_OK) {
		complain("premint: %s", err);
		return rc;
	}
	if ((rc = find_kek(r)) != KMS_OK || (rc = load_issuers(r)) != KMS_OK) {
		goto out;
	}
	if (r->f->premint_from < 0 ||
	    (rc = kms_key_period_no(&first, kms_ntp_from_unix((uint64_t)r->f->premint_from),
				    r->cert->user_key_period, r->cert->user_key_offset)) !=
		    KMS_OK) {
		complain("premint: premint_from is before the first key period");
		rc = KMS_ERR_RANGE;
		goto out;
	}
	/* KMS_CEREMONY_STOP_AFTER=N (tests): stop as if interrupted after N new sets. */
	env = getenv("KMS_CEREMONY_STOP_AFTER");
	if (env != NULL && kms_conf_decimal(env, strlen(env), UINT64_MAX, &stop_after) != KMS_OK) {
		complain("premint: KMS_CEREMONY_STOP_AFTER is not a number; ignored");
	}
	total = (uint64_t)num_ids * r->f->premint_periods;
	if ((rc = note(r, "premint",
		       "%zu identities of %s, %llu key period(s) from period %llu, identifier %s",
		       num_ids, r->f->premint_identities, (unsigned long long)r->f->premint_periods,
		       (unsigned long long)first,
		       r->f->id_format == 0   ? "the raw UID"
		       : r->f->id_format == 1 ? "the UID in lower-case hex"
					      : "the UID in upper-case hex")) != KMS_OK) {
		goto out;
	}
	for (i = 0; i < num_ids; i++) {
		if ((rc = ensure_identity(r->st, ids[i])) != KMS_OK) {
			complain("premint: %s could not be added to the roster (%s)", ids[i],
				 kms_err_name(rc));
			goto out;
		}
		for (p = first; p < first + r->f->premint_periods; p++) {
			if (stop_requested || (stop_after > 0 && made >= stop_after)) {
				progress(done, total, made, skipped, 1);
				say("Pre-mint stopped after %llu new sets (%llu of %llu done). Run "
				    "the same file again to resume.\n",
				    (unsigned long long)made, (unsigned long long)done,
				    (unsigned long long)total);
				(void)note(r, "premint",
					   "stopped on request: %llu new sets, %llu already there, "
					   "%llu of %llu done; resumable",
					   (unsigned long long)made, (unsigned long long)skipped,
					   (unsigned long long)done, (unsigned long long)total);
				rc = KMS_ERR_CLOSED;
				goto out;
			}
			if ((rc = kms_store_has_keyset(r->st, ids[i], p, &has)) != KMS_OK) {
				goto out;
			}
			if (has) {
				skipped++;
			} else if ((rc = mint_one(r, ids[i], p)) != KMS_OK) {
				complain("premint: the set of %s for period %llu failed (%s)",
					 ids[i], (unsigned long long)p, kms_err_name(rc));
				goto out;
			} else {
				made++;
			}
			done++;
			progress(done, total, made, skipped, done == total);
		}
	}
	r->periods_done = made;
	rc = note(r, "premint", "done: %llu new sets, %llu already there, %llu in all",
		  (unsigned long long)made, (unsigned long long)skipped, (unsigned long long)total);
out:
	kms_cer_identities_free(ids, num_ids);
	return rc;
}

/* Open (or, for generate, create) the store. */
static int
open_store(struct run *r, int create)
{
	struct stat sb;
	int rc;

	if (create && lstat(r->f->store, &sb) == 0) {
		complain("the store %s exists already: generate makes a new domain in a new store",
			 r->f->store);
		return KMS_ERR_INVALID_ARG;
	}
	rc = kms_store_open(&r->st, r->f->store, create ? KMS_STORE_CREATE : KMS_STORE_RW);
	if (rc != KMS_OK) {
		complain("cannot open the store %s (%s)", r->f->store, kms_err_name(rc));
	}
	return rc;
}

static void
run_free(struct run *r)
{
	if (r->s != NULL) {
		kms_p11_return(r->s);
	}
	kms_p11_free(r->p11);
	kms_store_close(r->st);
	kms_secret_free(r->so_pin);
	kms_secret_free(r->user_pin);
	kms_secret_free(r->bkey);
	kms_eccsi_kms_free(r->eccsi);
	kms_sakke_kms_free(r->sakke);
	free(r->cert);
	kms_cer_file_free(r->f);
	kms_memzero(r, sizeof(*r));
}

/* Sign and close the transcript, or abandon it with the reason. */
static int
end_transcript(struct run *r, int ok, const char *why)
{
	char fpr[65];
	int rc;

	if (r->tr == NULL) {
		return KMS_OK;
	}
	if (!ok || r->s == NULL) {
		kms_transcript_abandon(r->tr, why);
		r->tr = NULL;
		return KMS_OK;
	}
	rc = kms_transcript_finish(r->tr, r->sign_point, sign_cb, r);
	r->tr = NULL;
	if (rc != KMS_OK) {
		complain("the transcript %s could not be signed (%s)", r->transcript_path,
			 kms_err_name(rc));
		return rc;
	}
	fingerprint(r->sign_point, sizeof(r->sign_point), fpr);
	say("\nTranscript %s signed by the key with fingerprint\n  %s\n", r->transcript_path, fpr);
	return KMS_OK;
}

/* A run's state, and its ceremony file loaded: 0, or -1 (said). run_free it either way. */
static int
load_file(struct run *r, const char *path, int yes, const char *transcript)
{
	char err[ERR_LEN];

	memset(r, 0, sizeof(*r));
	r->kek = CK_INVALID_HANDLE;
	r->yes = yes;
	r->transcript_path = transcript;
	if (kms_cer_file_load(&r->f, path, err, sizeof(err)) != KMS_OK) {
		complain("%s", err);
		return -1;
	}
	r->cert = calloc(1, sizeof(*r->cert));
	if (r->cert == NULL) {
		complain("out of memory");
		return -1;
	}
	return 0;
}

static int
start_transcript(struct run *r, const char *what)
{
	uint8_t *data = NULL;
	size_t len = 0, i;
	char fpr[65], err[ERR_LEN];
	int rc;

	if (r->transcript_path == NULL) {
		r->transcript_path = r->f->transcript;
	}
	if (kms_transcript_create(&r->tr, r->transcript_path, r->f->ceremony, r->f->operator_name,
				  VERSION) != KMS_OK) {
		complain("cannot create the transcript %s: %s%s", r->transcript_path,
			 strerror(errno),
			 errno == EEXIST ? " (a transcript is never overwritten: name another "
					   "with --transcript)"
					 : "");
		return KMS_ERR_IO;
	}
	if ((rc = kms_conf_read_file(r->f->path, KMS_CONF_MAX_FILE, &data, &len, err,
				     sizeof(err))) != KMS_OK) {
		complain("cannot read the ceremony file again: %s", err);
		return rc;
	}
	fingerprint(data, len, fpr);
	free(data);
	if ((rc = note(r, what, "ceremony file %s, sha256 %s; confirmation %s", r->f->path, fpr,
		       r->yes ? "given for all steps beforehand (--yes)" : "asked at each step")) !=
	    KMS_OK) {
		return rc;
	}
	for (i = 0; i < r->f->num_witnesses; i++) {
		if ((rc = note(r, what, "witness present: %s", r->f->witnesses[i])) != KMS_OK) {
			return rc;
		}
	}
	return KMS_OK;
}

static int
cmd_run(const char *path, int yes, const char *transcript)
{
	struct run r;
	int rc = KMS_ERR_INTERNAL, status = EXIT_FAILED;
	const char *why = "a step failed";
	size_t i;

	if (load_file(&r, path, yes, transcript) != 0) {
		run_free(&r);
		return EXIT_USAGE;
	}
	for (i = 0; i < KMS_CER_NUM_STEPS && !r.f->steps[i]; i++) {
	}
	if (i == KMS_CER_NUM_STEPS) {
		complain("%s lists no step: nothing to run", path);
		run_free(&r);
		return EXIT_USAGE;
	}
	if (r.f->steps[KMS_CER_BACKUP] && !r.f->steps[KMS_CER_CERTIFICATE]) {
		complain("%s: the backup step needs the certificate step in the same run (the "
			 "backup "
			 "holds the certificate)",
			 path);
		run_free(&r);
		return EXIT_USAGE;
	}
	if (r.f->steps[KMS_CER_ENROL] && enrol_files_absent(r.f) != 0) {
		run_free(&r);
		return EXIT_USAGE;
	}
	print_plan(r.f);
	if ((rc = start_transcript(&r, "run")) != KMS_OK) {
		run_free(&r);
		return EXIT_FAILED;
	}
	if ((rc = open_token(&r, r.f->steps[KMS_CER_INIT_TOKEN])) != KMS_OK ||
	    (rc = open_store(&r, r.f->steps[KMS_CER_GENERATE])) != KMS_OK) {
		goto out;
	}
	if (r.f->steps[KMS_CER_GENERATE] && (rc = step_generate(&r)) != KMS_OK) {
		goto out;
	}
	if (r.f->steps[KMS_CER_CERTIFICATE] && (rc = step_certificate(&r)) != KMS_OK) {
		goto out;
	}
	if (r.f->steps[KMS_CER_BACKUP] && (rc = step_backup(&r)) != KMS_OK) {
		goto out;
	}
	kms_secret_free(r.bkey); /* the shares are out: the key goes */
	r.bkey = NULL;
	if (r.f->steps[KMS_CER_ENROL] && (rc = step_enrol(&r)) != KMS_OK) {
		goto out;
	}
	if (r.f->steps[KMS_CER_PREMINT] && (rc = step_premint(&r)) != KMS_OK) {
		if (rc == KMS_ERR_CLOSED) {
			status = EXIT_STOPPED;
			rc = KMS_OK; /* a clean stop: the transcript is signed */
			why = NULL;
		}
		goto out;
	}
	(void)note(&r, "run", "all steps done");
	status = EXIT_DONE;
	why = NULL;
out:
	if (r.declined) {
		why = "stopped before a step by the operator";
	}
	if (end_transcript(&r, why == NULL, why != NULL ? why : "") != KMS_OK) {
		status = EXIT_FAILED;
	}
	if (status == EXIT_FAILED) {
		complain("the ceremony did not complete%s%s", why != NULL ? ": " : "",
			 why != NULL ? why : "");
	}
	run_free(&r);
	return status;
}

/* The shares: from files, or typed in (each ends with an empty line). */
static int
read_shares(const char *const *files, size_t num_files, unsigned need, struct kms_share *out,
	    size_t *num, char *text, size_t cap)
{
	char err[ERR_LEN], line[256];
	uint8_t *data = NULL;
	size_t len, i, k = 0;
	int rc;

	*num = 0;
	if (num_files > 0) {
		for (i = 0; i < num_files && i < MAX_SHARES_IN; i++) {
			if ((rc = kms_conf_read_file(files[i], MAX_SHARE_FILE, &data, &len, err,
						     sizeof(err))) != KMS_OK) {
				complain("share %zu: %s", i + 1, err);
				return rc;
			}
			rc = kms_share_parse((const char *)data, len, &out[i], err, sizeof(err));
			kms_memzero(data, len);
			free(data);
			data = NULL;
			if (rc != KMS_OK) {
				complain("share %zu (%s): %s", i + 1, files[i], err);
				return rc;
			}
		}
		*num = i;
		return KMS_OK;
	}
	for (i = 0; i < need; i++) {
		say("Share %zu of %u: type it line by line, then an empty line:\n", i + 1, need);
		len = 0;
		for (;;) {
			if (read_line(line, sizeof(line)) != 0) {
				complain("share %zu: input ended", i + 1);
				kms_memzero(line, sizeof(line));
				return KMS_ERR_TRUNCATED;
			}
			if (line[0] == '\0') {
				if (len == 0) {
					continue;
				}
				break;
			}
			k = strlen(line);
			if (k + 1 >= cap - len) {
				complain("share %zu: too long", i + 1);
				kms_memzero(line, sizeof(line));
				return KMS_ERR_TOO_LARGE;
			}
			memcpy(text + len, line, k);
			text[len + k] = '\n';
			len += k + 1;
		}
		kms_memzero(line, sizeof(line));
		rc = kms_share_parse(text, len, &out[i], err, sizeof(err));
		kms_memzero(text, cap);
		if (rc != KMS_OK) {
			complain("share %zu: %s", i + 1, err);
			return rc;
		}
		say("\033[2J\033[3J\033[H");
	}
	*num = need;
	return KMS_OK;
}

/* Do the shares belong to this backup, and are there enough different ones? */
static int
check_shares(const struct kms_backup *b, const struct kms_share *sh, size_t num,
	     const char *const *files)
{
	char id_hex[17];
	size_t i, j;

	hex_text(id_hex, sizeof(id_hex), b->backup_id, sizeof(b->backup_id));
	for (i = 0; i < num; i++) {
		const char *src = files != NULL ? files[i] : "typed";

		if (strcmp(sh[i].ceremony, b->ceremony) != 0 ||
		    memcmp(sh[i].backup_id, b->backup_id, sizeof(b->backup_id)) != 0) {
			complain("share %zu (%s) is from another backup (ceremony %s), not from "
				 "%s's "
				 "backup %s",
				 i + 1, src, sh[i].ceremony, b->ceremony, id_hex);
			return KMS_ERR_AUTH;
		}
		if (sh[i].m != b->threshold || sh[i].n != b->shares || sh[i].x > b->shares) {
			complain("share %zu (%s) says %u of %u, any %u; the backup says %u shares, "
				 "any %u",
				 i + 1, src, sh[i].x, sh[i].n, sh[i].m, b->shares, b->threshold);
			return KMS_ERR_AUTH;
		}
		if (strcmp(sh[i].label, b->custodians[sh[i].x - 1]) != 0) {
			complain(
				"share %zu (%s) names custodian '%s'; the backup gives share %u to "
				"'%s'",
				i + 1, src, sh[i].label, sh[i].x, b->custodians[sh[i].x - 1]);
			return KMS_ERR_AUTH;
		}
		for (j = 0; j < i; j++) {
			if (sh[j].x == sh[i].x) {
				complain(
					"share %zu (%s) is share %u again (given as share %zu too)",
					i + 1, src, sh[i].x, j + 1);
				return KMS_ERR_AUTH;
			}
		}
	}
	if (num < b->threshold) {
		complain("%zu share%s given: this backup needs %u", num, num == 1 ? "" : "s",
			 b->threshold);
		return KMS_ERR_AUTH;
	}
	return KMS_OK;
}

/* The store of a restored node: the backup's certificate and secrets (a new store), or the
 * same certificate (a copy of the ceremony's store). */
static int
restore_store(struct run *r, const struct kms_backup *b)
{
	struct kms_store_cert *c = r->cert;
	struct kms_store_blob blob;
	struct stat sb;
	int rc, fresh = lstat(r->f->store, &sb) != 0;

	if ((rc = open_store(r, fresh)) != KMS_OK) {
		return rc;
	}
	if (!fresh) {
		if ((rc = kms_store_get_cert(r->st, c)) != KMS_OK ||
		    strcmp(c->kms_uri, b->kms_uri) != 0 ||
		    memcmp(c->kpak, b->kpak, sizeof(c->kpak)) != 0 ||
		    memcmp(c->z_t, b->z_t, sizeof(c->z_t)) != 0) {
			complain("the store %s holds another domain's certificate (or none)",
				 r->f->store);
			return KMS_ERR_AUTH;
		}
		return KMS_OK;
	}
	memset(c, 0, sizeof(*c));
	snprintf(c->kms_uri, sizeof(c->kms_uri), "%s", b->kms_uri);
	snprintf(c->cert_uri, sizeof(c->cert_uri), "%s", b->cert_uri);
	snprintf(c->issuer, sizeof(c->issuer), "%s", b->issuer);
	c->has_valid_from = 1;
	c->valid_from = b->valid_from;
	c->has_valid_to = 1;
	c->valid_to = b->valid_to;
	c->user_key_period = b->user_key_period;
	c->user_key_offset = b->user_key_offset;
	snprintf(c->domains, sizeof(c->domains), "%s", b->domains);
	memcpy(c->kpak, b->kpak, sizeof(c->kpak));
	memcpy(c->z_t, b->z_t, sizeof(c->z_t));
	if ((rc = kms_store_put_cert(r->st, c)) != KMS_OK) {
		return rc;
	}
	memset(&blob, 0, sizeof(blob));
	memcpy(blob.data, b->ksak, b->ksak_len);
	blob.len = b->ksak_len;
	if ((rc = kms_store_put_secret(r->st, "ksak", &blob)) != KMS_OK) {
		return rc;
	}
	memcpy(blob.data, b->z_t_secret, b->z_t_secret_len);
	blob.len = b->z_t_secret_len;
	return kms_store_put_secret(r->st, "z_t", &blob);
}

struct import_ctx {
	struct run *r;
	size_t imported, present;
	int failed;
};

static int
import_cb(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	struct import_ctx *ic = ctx;
	CK_OBJECT_HANDLE h;
	int exists = 0, rc;

	rc = kms_cer_import_key(ic->r->s, &ic->r->pol, ic->r->kek, ink, label, wrapped->data,
				wrapped->len, &exists, &h);
	if (rc != KMS_OK && exists) {
		ic->present++;
		return KMS_OK;
	}
	if (rc != KMS_OK) {
		complain("restore: the client key '%s' could not be imported (%s)", label,
			 kms_err_name(rc));
		return rc;
	}
	ic->imported++;
	return note(ic->r, "restore", "client key '%s' (%s) imported from the store", label,
		    ink ? "InK" : "TrK");
}

static int
cmd_restore(const char *path, int yes, const char *transcript, const char *backup_path,
	    const char *const *share_files, size_t num_share_files)
{
	struct run r;
	struct kms_backup *b = NULL;
	struct kms_secret *shs = NULL, *keys = NULL, *bk = NULL, *ksak = NULL, *z = NULL;
	struct kms_secret *typed = NULL;
	struct kms_share *sh;
	struct import_ctx ic;
	uint8_t xs[MAX_SHARES_IN], kpak[KMS_ECCSI_POINT_LEN], zpub[KMS_SAKKE_POINT_LEN];
	char err[ERR_LEN], id_hex[17], fk[65];
	size_t num = 0, i, sh_cap = MAX_SHARES_IN * sizeof(struct kms_share);
	int rc = KMS_ERR_INTERNAL, status = EXIT_FAILED, kek_made = 0, existing = 0;
	const char *why = "a step failed";

	if (load_file(&r, path, yes, transcript) != 0) {
		run_free(&r);
		return EXIT_USAGE;
	}
	if (r.f->steps[KMS_CER_GENERATE] || r.f->steps[KMS_CER_CERTIFICATE] ||
	    r.f->steps[KMS_CER_BACKUP] || r.f->steps[KMS_CER_ENROL] ||
	    r.f->steps[KMS_CER_PREMINT]) {
		complain("%s: restore runs init-token only (if listed); the file lists other steps",
			 path);
		run_free(&r);
		return EXIT_USAGE;
	}
	b = calloc(1, sizeof(*b));
	shs = kms_secret_new(sh_cap);
	keys = kms_secret_new(64);
	bk = kms_secret_new(BACKUP_KEY_LEN);
	typed = kms_secret_new(KMS_SHARE_MAX_TEXT + 1);
	if (b == NULL || shs == NULL || keys == NULL || bk == NULL || typed == NULL) {
		complain("out of memory");
		goto out;
	}
	sh = (struct kms_share *)(void *)shs->data;
	if (kms_backup_load(b, backup_path, err, sizeof(err)) != KMS_OK) {
		complain("%s", err);
		status = EXIT_USAGE;
		goto out;
	}
	hex_text(id_hex, sizeof(id_hex), b->backup_id, sizeof(b->backup_id));
	say("Restoring the backup %s of ceremony %s (domain %s): any %u of %u shares.\n", id_hex,
	    b->ceremony, b->kms_uri, b->threshold, b->shares);
	if (read_shares(share_files, num_share_files, b->threshold, sh, &num, (char *)typed->data,
			typed->len) != KMS_OK ||
	    check_shares(b, sh, num, num_share_files > 0 ? share_files : NULL) != KMS_OK) {
		status = EXIT_USAGE;
		goto out;
	}
	for (i = 0; i < b->threshold; i++) {
		xs[i] = (uint8_t)sh[i].x;
	}
	{
		struct kms_secret *ys = kms_secret_new((size_t)b->threshold * BACKUP_KEY_LEN);

		if (ys == NULL) {
			goto out;
		}
		for (i = 0; i < b->threshold; i++) {
			memcpy(ys->data + i * BACKUP_KEY_LEN, sh[i].y, BACKUP_KEY_LEN);
		}
		rc = kms_shamir_combine(xs, ys->data, b->threshold, BACKUP_KEY_LEN, bk->data);
		kms_secret_free(ys);
		if (rc != KMS_OK) {
			complain("the shares could not be combined (%s)", kms_err_name(rc));
			goto out;
		}
	}
	if ((rc = kms_backup_derive(bk->data, keys->data, keys->data + 32)) != KMS_OK) {
		goto out;
	}
	if (kms_backup_check_mac(b, keys->data + 32) != KMS_OK) {
		complain("the shares do not open the backup %s: the backup file was changed, or a "
			 "share is wrong although its checks pass",
			 backup_path);
		status = EXIT_USAGE;
		goto out;
	}
	say("The shares open the backup (its MAC verifies).\n");
	print_plan(r.f);
	if ((rc = start_transcript(&r, "restore")) != KMS_OK) {
		goto out;
	}
	if ((rc = note(&r, "restore",
		       "backup %s (file %s) of ceremony %s, domain %s, opened with %zu shares: %s",
		       id_hex, backup_path, b->ceremony, b->kms_uri, num,
		       "custodians named below")) != KMS_OK) {
		goto out;
	}
	for (i = 0; i < num; i++) {
		if ((rc = note(&r, "restore", "share %u of %u from custodian %s", sh[i].x, sh[i].n,
			       sh[i].label)) != KMS_OK) {
			goto out;
		}
	}
	kms_memzero(shs->data, shs->len);
	if ((rc = open_token(&r, r.f->steps[KMS_CER_INIT_TOKEN])) != KMS_OK) {
		goto out;
	}
	if (!confirm(&r, "restore",
		     "the KEK into the token, the master secrets checked, the store, the clients' "
		     "keys")) {
		rc = KMS_ERR_UNSUPPORTED;
		goto out;
	}
	rc = kms_cer_restore_kek(r.s, &r.pol, b->kek_label, keys->data, b->kek, b->kek_len, &r.kek);
	if (rc == KMS_ERR_INVALID_ARG && kms_keys_find(r.s, &r.kek, b->kek_label) == KMS_OK) {
		/* a restore run again (after a failure further on): the KEK is there; the check
		 * of the master secrets below proves that it is this domain's */
		say("The token holds a key labelled '%s' already: checking that it is this "
		    "domain's KEK.\n",
		    b->kek_label);
		existing = 1;
	} else if (rc != KMS_OK) {
		complain("restore: the KEK '%s' could not be restored into the token (%s)",
			 b->kek_label, kms_err_name(rc));
		goto out;
	} else {
		kek_made = 1;
	}
	if ((rc = kms_unwrap_secret(r.s, &r.pol, r.kek, b->ksak, b->ksak_len, KMS_ECCSI_SCALAR_LEN,
				    &ksak)) != KMS_OK ||
	    (rc = kms_unwrap_secret(r.s, &r.pol, r.kek, b->z_t_secret, b->z_t_secret_len,
				    KMS_SAKKE_SCALAR_LEN, &z)) != KMS_OK ||
	    (rc = kms_eccsi_kms_new(&r.eccsi, ksak->data)) != KMS_OK ||
	    (rc = kms_sakke_kms_new(&r.sakke, z->data, z->len)) != KMS_OK) {
		complain("restore: the master secrets do not unwrap under the token's KEK '%s' "
			 "(%s)%s",
			 b->kek_label, kms_err_name(rc),
			 existing ? ": the token's key of that label is another domain's" : "");
		goto out;
	}
	kms_eccsi_kms_kpak(r.eccsi, kpak);
	kms_sakke_kms_public(r.sakke, zpub);
	if (memcmp(kpak, b->kpak, sizeof(kpak)) != 0 || memcmp(zpub, b->z_t, sizeof(zpub)) != 0) {
		complain(
			"restore: the restored KSAK and z_T do not give the certificate's KPAK and "
			"Z_T");
		rc = KMS_ERR_AUTH;
		goto out;
	}
	fingerprint(kpak, sizeof(kpak), fk);
	say("The restored master secrets give the certificate's KPAK and Z_T (KPAK %s).\n", fk);
	if ((rc = note(&r, "restore",
		       "KEK '%s' %s (not extractable); KSAK and z_T unwrap under it and give the "
		       "certificate's KPAK (fingerprint %s) and Z_T",
		       b->kek_label,
		       existing ? "found in the token (a restore run again)"
				: "restored into the token",
		       fk)) != KMS_OK) {
		goto out;
	}
	if ((rc = restore_store(&r, b)) != KMS_OK) {
		complain("restore: the store %s could not be set up (%s)", r.f->store,
			 kms_err_name(rc));
		goto out;
	}
	kek_made = 0; /* from here on the KEK stays: the store refers to it */
	if ((rc = audit_key(&r, "restore")) != KMS_OK) {
		goto out;
	}
	memset(&ic, 0, sizeof(ic));
	ic.r = &r;
	if ((rc = kms_store_client_key_list(r.st, import_cb, &ic)) != KMS_OK) {
		goto out;
	}
	say("Client keys: %zu imported, %zu already in the token.\n", ic.imported, ic.present);
	if ((rc = note(&r, "restore", "done: %zu client keys imported, %zu already there",
		       ic.imported, ic.present)) != KMS_OK) {
		goto out;
	}
	status = EXIT_DONE;
	why = NULL;
out:
	if (kek_made && r.kek != CK_INVALID_HANDLE &&
	    kms_p11_destroy_object(r.s, r.kek) == KMS_OK) {
		say("The restored KEK was removed from the token again: nothing changed.\n");
	}
	if (r.declined) {
		why = "stopped before a step by the operator";
	}
	if (end_transcript(&r, why == NULL, why != NULL ? why : "") != KMS_OK) {
		status = EXIT_FAILED;
	}
	if (status != EXIT_DONE) {
		complain("the restore did not complete");
	}
	kms_memzero(xs, sizeof(xs));
	kms_secret_free(ksak);
	kms_secret_free(z);
	kms_secret_free(shs);
	kms_secret_free(keys);
	kms_secret_free(bk);
	kms_secret_free(typed);
	free(b);
	run_free(&r);
	return status;
}

static int
cmd_check(const char *path)
{
	struct run r;

	if (load_file(&r, path, 0, NULL) != 0) {
		run_free(&r);
		return EXIT_USAGE;
	}
	print_plan(r.f);
	say("%s: no errors.\n", path);
	run_free(&r);
	return EXIT_DONE;
}

static int
cmd_verify(const char *path, const char *want)
{
	uint8_t *data = NULL;
	size_t len = 0, entries = 0;
	char fpr[65], err[ERR_LEN];
	int rc;

	if ((rc = kms_conf_read_file(path, MAX_TRANSCRIPT, &data, &len, err, sizeof(err))) !=
	    KMS_OK) {
		complain("%s", err);
		return EXIT_USAGE;
	}
	rc = kms_transcript_verify(data, len, fpr, &entries, err, sizeof(err));
	free(data);
	if (rc != KMS_OK) {
		complain("%s does NOT verify: %s", path, err);
		return EXIT_FAILED;
	}
	if (want != NULL && strcasecmp(want, fpr) != 0) {
		complain("%s is signed by the key %s, not by %s", path, fpr, want);
		return EXIT_FAILED;
	}
	say("%s verifies: %zu entries, signed by the key with fingerprint\n  %s\n", path, entries,
	    fpr);
	return EXIT_DONE;
}

int
main(int argc, char **argv)
{
	const char *cmd, *file = NULL, *transcript = NULL, *backup = NULL, *key = NULL;
	const char *shares[MAX_SHARES_IN];
	size_t num_shares = 0;
	struct sigaction sa;
	int i, yes = 0;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return EXIT_DONE;
	}
	if (argc < 3) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	file = argv[2];
	for (i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--yes") == 0) {
			yes = 1;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(usage_text, stdout);
			return EXIT_DONE;
		} else if (i + 1 < argc && strcmp(argv[i], "--transcript") == 0) {
			transcript = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--backup") == 0) {
			backup = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--key") == 0) {
			key = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--share") == 0) {
			if (num_shares == MAX_SHARES_IN) {
				complain("at most %d shares", MAX_SHARES_IN);
				return EXIT_USAGE;
			}
			shares[num_shares++] = argv[++i];
		} else {
			complain("unknown or incomplete option '%s' (see --help)", argv[i]);
			return EXIT_USAGE;
		}
	}
	if (kms_harden_process() != KMS_OK) {
		complain("cannot harden the process (core dumps, memory locking)");
		return EXIT_FAILED;
	}
	kms_log_init(PROG, KMS_LOG_WARN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGINT, &sa, NULL);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)signal(SIGPIPE, SIG_IGN);
	if (strcmp(cmd, "check") == 0 && transcript == NULL && backup == NULL && !yes &&
	    num_shares == 0) {
		return cmd_check(file);
	}
	if (strcmp(cmd, "run") == 0 && backup == NULL && key == NULL && num_shares == 0) {
		return cmd_run(file, yes, transcript);
	}
	if (strcmp(cmd, "restore") == 0 && backup != NULL && key == NULL) {
		return cmd_restore(file, yes, transcript, backup, shares, num_shares);
	}
	if (strcmp(cmd, "verify-transcript") == 0 && !yes && transcript == NULL && backup == NULL &&
	    num_shares == 0) {
		return cmd_verify(file, key);
	}
	fputs(usage_text, stderr);
	return EXIT_USAGE;
}
