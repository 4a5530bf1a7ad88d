/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-admin - the operator's tool for a KMS store (docs/kms-admin.md).
 *
 *   kms-admin --store FILE audit verify [--key FINGERPRINT]...
 *   kms-admin --store FILE audit show [--client C] [--identity U] [--outcome W]
 *                                     [--since T] [--until T] [--json]
 *   kms-admin --store FILE certcache import FILE | withdraw KMS_URI | list
 *   kms-admin --store FILE roster identity add|revoke|restore URI | identity list [--json]
 *   kms-admin --store FILE roster client list [--json] | client revoke|restore ID
 *   kms-admin --store FILE roster entitle|withdraw CLIENT URI
 *   kms-admin --store FILE roster entitlements [--client ID | --identity URI] [--json]
 *   kms-admin --store FILE roster import FILE.csv [--dry-run]
 *
 * The store is opened read-only, except by certcache import and withdraw. Everything printed from
 * the log is escaped (the file is outside input: whoever can write it chooses its bytes), so a
 * record cannot move the cursor, forge a line, or break out of a JSON string.
 *
 * Exit status: 0 done (verify: the chain and its checkpoints are intact); 1 verify found the chain
 * or a checkpoint broken, import
 * refused the file, withdraw found nothing to withdraw; 2 usage error; 3 the store could not
 * be read or written, or the output could not be written.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/obj_mac.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/sakke.h"
#include "kms/config.h"
#include "kms/supervise.h"
#include "proto/mp.h"
#include "proto/store.h"
#include "proto/xml.h"
#include "tools/roster-csv.h"

#include "common/banned.h"

#define EXIT_BROKEN 1
#define EXIT_USAGE  2
#define EXIT_FAILED 3

#define PROG "kms-admin"

#define MAX_PINS 64 /* audit verify --key: at most this many (a domain has one per node) */

static const char usage_main[] =
	"usage: kms-admin --store FILE audit verify [--key FINGERPRINT]...\n"
	"       kms-admin --store FILE audit show [--client C] [--identity U] [--outcome W]\n"
	"                                         [--since T] [--until T] [--json]\n"
	"       kms-admin --store FILE certcache import FILE | withdraw KMS_URI | list\n"
	"       kms-admin --store FILE roster COMMAND ... (see 'kms-admin roster --help')\n"
	"       kms-admin --help | kms-admin audit --help | kms-admin certcache --help\n"
	"\n"
	"The operator's tool for a KMS store (the SQLite file of kmsd and kms-hsmd).\n"
	"\n"
	"Options:\n"
	"  --store FILE  the store (required: there is no default). It is opened read-only\n"
	"                (read-write by certcache import and withdraw); its directory must\n"
	"                let this user create the store's -wal and -shm files unless\n"
	"                another process has them open already.\n"
	"  --config FILE instead of --store: kmsd's configuration (kmsd.conf), checked as\n"
	"                kmsd checks it; its store, and for 'roster client rotate' without\n"
	"                --hsmd-conf or --hsmd-socket, its hsmd_socket or hsmd_conf and hsmd.\n"
	"  --help, -h    this text; 'kms-admin audit --help' and 'kms-admin certcache\n"
	"                --help' explain those commands.\n"
	"\n"
	"Commands:\n"
	"  audit verify  check the hash chain of the audit log and its signed checkpoints\n"
	"  audit show    print audit records, filtered, as a table or as JSON lines\n"
	"  certcache import FILE     import (or replace) an external KMS's certificate\n"
	"  certcache withdraw URI    withdraw the certificate of the external KMS URI\n"
	"  certcache list            list the external KMS certificates\n"
	"  roster ...                identities, clients and entitlements; CSV import\n"
	"\n"
	"Exit status: 0 done; 1 'audit verify' found the chain broken, 'certcache import'\n"
	"refused the file, 'certcache withdraw' found nothing to withdraw; 2 a usage error;\n"
	"3 the store could not be read or written, or the output not written.\n"
	"\n"
	"Documentation: docs/kms-admin.md, docs/store.md and docs/deployment.md (running it\n"
	"as the service's user on a production host), in the source tree.\n";

static const char usage_certcache[] =
	"usage: kms-admin --store FILE certcache import FILE\n"
	"       kms-admin --store FILE certcache withdraw KMS_URI\n"
	"       kms-admin --store FILE certcache list\n"
	"\n"
	"The certificate cache holds the KmsCertificates of external KMSs, which kmsd serves\n"
	"(Role External) at certcache and certcache/<n> (docs/store.md). Every import,\n"
	"replacement and withdrawal takes the next change number; the cache number is the\n"
	"last one. --store may also come after the command.\n"
	"\n"
	"certcache import FILE\n"
	"  Reads the KmsCertificate in FILE (at most 64 KiB of XML in the namespace\n"
	"  urn:3gpp:ns:mcsecKMSInterface:1.0: the element itself, or the KmsResponse of\n"
	"  that KMS's init, whose signature is not checked: get the file over a trusted\n"
	"  channel). It must have UserIdFormat 2, ParameterSet 1 if any, a PubEncKey that\n"
	"  is a point of the SAKKE curve (RFC 6509) and a PubAuthKey that is a point of\n"
	"  P-256. The certificate of its KmsUri is imported, or replaced (also a withdrawn\n"
	"  one, which is served again). Prints\n"
	"    imported KMS_URI: change N\n"
	"\n"
	"certcache withdraw KMS_URI\n"
	"  Marks the certificate of KMS_URI withdrawn: it stays in the store, and\n"
	"  certcache/<n> shows it to clients as Revoked. Prints\n"
	"    withdrew KMS_URI: change N\n"
	"  and exits 1 if there is no such certificate or it is withdrawn already.\n"
	"\n"
	"certcache list\n"
	"  Prints the cache number, then one line per certificate in change order:\n"
	"  CHANGE, STATE (active, revoked: the certificate says so, withdrawn), KMS_URI,\n"
	"  CERT_URI, VALID_TO (UTC), DOMAINS; '-' stands for an empty field.\n"
	"\n"
	"Exit status: 0 done; 1 the file was refused (import) or there was nothing to\n"
	"withdraw; 2 a usage error; 3 the store could not be read or written, or the\n"
	"output not written.\n";

static const char usage_audit[] =
	"usage: kms-admin --store FILE audit verify [--key FINGERPRINT]...\n"
	"       kms-admin --store FILE audit show [--client C] [--identity U] [--outcome W]\n"
	"                                         [--since T] [--until T] [--json]\n"
	"\n"
	"The audit log holds one record per kmsd request (provisioning, refusal, error): its\n"
	"sequence number (1, 2, 3, ...), time, request id, client, identity, resource, HTTP\n"
	"status, outcome, detail, the ids of the keys material was wrapped under, and two\n"
	"SHA-256 values that chain each record to the one before (docs/store.md).\n"
	"--store may also come after the command.\n"
	"\n"
	"audit verify [--key FINGERPRINT]...\n"
	"  Walks the whole log in sequence order and checks every record: its sequence number\n"
	"  follows the previous one, its fields are well formed, its prev_hash is the previous\n"
	"  record's hash, and its hash matches its content. Then every signed checkpoint (each\n"
	"  node's kms-hsmd signs the chain now and then with its own audit key, in its token):\n"
	"  its record is there, with the hash it signed, it names a registered audit key, and its\n"
	"  signature verifies under that key. Prints\n"
	"    chain: N records verified; checkpoints: K verified, the last at record S\n"
	"    (R records after it not yet checkpointed)\n"
	"    audit key: FINGERPRINT (LABEL): C checkpoints   (each registered key)\n"
	"  and exits 0 (a store without audit keys or checkpoints prints 'audit log OK: N\n"
	"  records'), or\n"
	"    audit log broken at record N: <reason>        (the chain), or\n"
	"    checkpoint at record S broken: <reason>       (a checkpoint), and exits 1,\n"
	"  naming the first record or checkpoint that fails. A log cut at its end, or rewritten\n"
	"  from some record on with every hash recomputed, fails at the first checkpoint past\n"
	"  the change; records after the last checkpoint are not covered by one.\n"
	"  --key FINGERPRINT  (repeatable) the SHA-256 of an audit key's public point (64 hex\n"
	"                     digits, as the key ceremony's transcript of each node shows it):\n"
	"                     every checkpoint must be signed by one of these keys, and each\n"
	"                     must be registered in the store.\n"
	"\n"
	"audit show [filters] [--json]\n"
	"  Prints the records the filters select, in sequence order, with the fields as they\n"
	"  are stored (run 'audit verify' to know they are genuine). All filters apply at once:\n"
	"    --client C     records of client C (the authenticated client id; \"\" for\n"
	"                   requests without one)\n"
	"    --identity U   records about user identity U (e.g. sip:alice@example.org)\n"
	"    --outcome W    records with outcome W: provisioned, refused, error, ...\n"
	"    --since T      records at or after time T\n"
	"    --until T      records before time T\n"
	"  T, always UTC: Unix seconds (1714564800), a date (2024-05-01, its midnight), or a\n"
	"  date and time (2024-05-01T12:00:00, with or without a final Z).\n"
	"  Texts match exactly (case matters). Each option may be given once, as '--opt VALUE'\n"
	"  or '--opt=VALUE'.\n"
	"\n"
	"  The table has one line per record: SEQ, TIME (UTC, milliseconds), STATUS (HTTP;\n"
	"  0: none sent), OUTCOME, CLIENT, IDENTITY, KEY_IDS, REQUEST_ID, RESOURCE, DETAIL;\n"
	"  '-' stands for an empty field. Control and direction-changing characters are\n"
	"  printed as \\uXXXX and a backslash as \\\\.\n"
	"\n"
	"  --json prints one JSON object per line and record instead, with the members seq,\n"
	"  time (ISO 8601, UTC, nanoseconds), time_s, time_ns, request_id, client, identity,\n"
	"  resource, http_status, outcome, detail, key_ids, prev_hash and hash (64 upper-case\n"
	"  hex digits each); strings are escaped as JSON requires.\n"
	"\n"
	"Exit status: 0 done; 1 'audit verify' found the chain or a checkpoint broken; 2 a\n"
	"usage error; 3 the store could not be read (also: a malformed record met by 'show') or "
	"the\n"
	"output not written.\n";

static const char usage_roster[] =
	"usage: kms-admin --store FILE roster identity add|revoke|restore URI\n"
	"       kms-admin --store FILE roster identity list [--json]\n"
	"       kms-admin --store FILE roster client list [--json]\n"
	"       kms-admin --store FILE roster client revoke|restore ID\n"
	"       kms-admin --store FILE roster entitle|withdraw CLIENT URI\n"
	"       kms-admin --store FILE roster entitlements [--client ID | --identity URI] "
	"[--json]\n"
	"       kms-admin --store FILE roster import FILE.csv [--dry-run]\n"
	"       kms-admin --store FILE roster client rotate ID --hsmd-conf FILE [--hsmd PROG]\n"
	"       kms-admin --store FILE roster client rotate ID --hsmd-socket PATH\n"
	"       kms-admin --config kmsd.conf roster client rotate ID\n"
	"       kms-admin --store FILE roster client rotations|retired [--json]\n"
	"       kms-admin --store FILE roster client finish-rotation|cancel-rotation ID\n"
	"\n"
	"--config kmsd.conf may stand for --store FILE everywhere (see 'kms-admin --help').\n"
	"\n"
	"The roster says which clients (UEs, MC servers) may have the key material of which\n"
	"user identities. Every change is one transaction in the store and takes effect at\n"
	"kmsd's next request: kmsd may keep running. --store may also come after the command.\n"
	"Clients are enrolled, with their transport and integrity keys (TrK, InK), by the key\n"
	"ceremony (kms-devsetup for a development domain), not here: here they are listed,\n"
	"revoked and restored.\n"
	"\n"
	"identity add URI        add the identity URI (not revoked); nothing if it is there\n"
	"identity revoke URI     revoke it: no client gets its key material\n"
	"identity restore URI    undo revoke\n"
	"identity list           STATE (active, revoked) and URI of every identity\n"
	"client list             CLIENT, CLASS (ue, server), STATE, TRK and INK key labels\n"
	"client revoke ID        revoke the client ID: kmsd refuses it everything\n"
	"client restore ID       undo revoke\n"
	"entitle CLIENT URI      CLIENT may have the key material of URI (both must exist)\n"
	"withdraw CLIENT URI     withdraw that entitlement\n"
	"entitlements            CLIENT and URI of every entitlement, or of one client\n"
	"                        (--client ID) or one identity (--identity URI)\n"
	"import FILE.csv         apply a CSV file of changes in one transaction (at most\n"
	"                        16 MiB, 100000 changes, 8192 bytes a line), one per line:\n"
	"                          identity,URI\n"
	"                          entitle,CLIENT,URI\n"
	"                          revoke-identity,URI\n"
	"                          withdraw,CLIENT,URI\n"
	"                        RFC 4180 quoting, LF or CRLF; empty lines and lines that\n"
	"                        start with '#' are skipped, and a first line 'op,...' is a\n"
	"                        header. Lines apply in order. Every line is checked first\n"
	"                        (a bad one: 'FILE:LINE: reason', and nothing changes);\n"
	"                        then a summary is printed. --dry-run checks every line\n"
	"                        against the store and changes nothing.\n"
	"--json prints one JSON object per line instead of the table.\n"
	"\n"
	"Key rotation (the security extension of TS 33.180: NewTransportKey, NewIntegrityKey):\n"
	"client rotate ID        kms-hsmd makes a new TrK and InK for ID in the token and\n"
	"                        stores them as a pending rotation. kmsd then hands ID both\n"
	"                        keys, wrapped under its current TrK, with every init and\n"
	"                        keyprov, and keeps using the current keys until ID sends a\n"
	"                        request signed with the new InK (SignedKmsRequest): that\n"
	"                        finishes the rotation. kms-hsmd is started with\n"
	"                        --hsmd-conf FILE (its kms-hsmd.conf; run this as a user\n"
	"                        that can read its PIN; --hsmd PROG: the program, default:\n"
	"                        kms-hsmd next to kms-admin) or reached at --hsmd-socket\n"
	"                        PATH (kms-hsmd.socket; run this as kms-hsmd.conf's\n"
	"                        peer_user). Prints the new keys' labels.\n"
	"client rotations        CLIENT, CREATED (UTC), FROM_TRK, NEW_TRK and NEW_INK of\n"
	"                        every pending rotation\n"
	"client finish-rotation ID  finish ID's pending rotation without its proof (the\n"
	"                        client confirmed out of band that it has the new keys)\n"
	"client cancel-rotation ID  drop ID's pending rotation (its new keys are never\n"
	"                        used)\n"
	"client retired          LABEL and RETIRED (UTC) of every retired key: the old keys\n"
	"                        of finished rotations, the new ones of cancelled ones.\n"
	"                        Their store copies are gone; kms-hsmd destroys them in its\n"
	"                        token when it starts (and at once when a client's proof\n"
	"                        finishes a rotation)\n"
	"\n"
	"Exit status: 0 done; 1 refused (no such client, identity or entitlement; a bad\n"
	"import file; a rotation pending already, or none pending); 2 a usage error; 3 the\n"
	"store could not be read or written, kms-hsmd could not be started or reached, or\n"
	"the output not written.\n";

/* The command line, parsed. Strings are borrowed from argv. */
struct args {
	const char *store;
	const char *config;  /* --config kmsd.conf: store (and kms-hsmd) from there */
	const char *cmd;     /* "audit" or "certcache" */
	const char *sub;     /* "verify" or "show"; "import", "withdraw" or "list" */
	const char *operand; /* certcache import FILE, withdraw KMS_URI; borrowed */
	struct kms_audit_filter filter;
	int json;
	size_t num_pins; /* audit verify --key (repeatable): the pinned audit keys */
	uint8_t pins[MAX_PINS][KMS_AUDIT_HASH_LEN];
	int have_since, have_until;
	/* roster: its words (e.g. "identity", "add", URI), --client, --identity, --dry-run */
	const char *words[4];
	size_t num_words;
	const char *r_client, *r_identity;
	int dry_run;
	const char *hsmd, *hsmd_conf, *hsmd_socket; /* roster client rotate */
};

/* Report a usage error on stderr (one line, with a pointer to --help): EXIT_USAGE. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try 'kms-admin --help')\n", stderr);
	return EXIT_USAGE;
}

/* ---------------------------------------------------------------------------------------- */
/* Values of options                                                                          */

static int
parse_digits(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0) {
		return KMS_ERR_PARSE;
	}
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9') {
			return KMS_ERR_PARSE;
		}
		if (v > (max - (uint64_t)(s[i] - '0')) / 10) {
			return KMS_ERR_RANGE;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return KMS_OK;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (y >= 1970). */
static uint64_t
days_from_civil(uint64_t y, uint64_t m, uint64_t d)
{
	uint64_t era, yoe, doy, doe;

	y -= m <= 2 ? 1 : 0;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
is_leap(uint64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/*
 * A time argument, UTC: Unix seconds, YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS with an optional Z.
 * Years 1970..9999. KMS_OK or KMS_ERR_PARSE.
 */
static int
parse_time(const char *s, uint64_t *out)
{
	static const uint64_t mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	uint64_t y, mo, d, h = 0, mi = 0, sec = 0, dim;
	size_t len = strlen(s);

	*out = 0;
	if (len > 0 && len <= 19 && strspn(s, "0123456789") == len) {
		return parse_digits(s, len, INT64_MAX, out) == KMS_OK ? KMS_OK : KMS_ERR_PARSE;
	}
	if (len == 20 && s[19] == 'Z') {
		len = 19;
	}
	if ((len != 10 && len != 19) || s[4] != '-' || s[7] != '-' ||
	    parse_digits(s, 4, 9999, &y) != KMS_OK || parse_digits(s + 5, 2, 99, &mo) != KMS_OK ||
	    parse_digits(s + 8, 2, 99, &d) != KMS_OK) {
		return KMS_ERR_PARSE;
	}
	if (len == 19 && (s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
			  parse_digits(s + 11, 2, 23, &h) != KMS_OK ||
			  parse_digits(s + 14, 2, 59, &mi) != KMS_OK ||
			  parse_digits(s + 17, 2, 59, &sec) != KMS_OK)) {
		return KMS_ERR_PARSE;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1) {
		return KMS_ERR_PARSE;
	}
	dim = mdays[mo - 1] + (mo == 2 && is_leap(y) ? 1 : 0);
	if (d > dim) {
		return KMS_ERR_PARSE;
	}
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return KMS_OK;
}

/* A filter text: what the store accepts (at most max bytes of UTF-8, no control characters). */
static int
check_text(const char *opt, const char *v, size_t max)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t len = strnlen(v, max + 1), i;

	if (len > max) {
		return usage_error("%s: at most %zu bytes", opt, max);
	}
	if (kms_mp_utf8_check(p, len) != KMS_OK) {
		return usage_error("%s: not valid UTF-8", opt);
	}
	for (i = 0; i < len; i++) {
		if (p[i] < 0x20 || p[i] == 0x7f ||
		    (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)) {
			return usage_error("%s: control characters never occur in the log", opt);
		}
	}
	return 0;
}

static int
check_outcome(const char *v)
{
	size_t len = strlen(v);

	if (len == 0 || len > KMS_AUDIT_MAX_OUTCOME ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyz0123456789_-") != len) {
		return usage_error("--outcome: a word of 1 to %d characters a-z, 0-9, '_' and '-'",
				   KMS_AUDIT_MAX_OUTCOME);
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The command line                                                                           */

/*
 * argv[*i] is "--name" or "--name=value": if it names this option, set *out_value (the next
 * argument, or what follows '=') and return 1; 0 if it is another option; -1 on an error
 * (already reported).
 */
static int
opt_value(int argc, char **argv, int *i, const char *name, const char **out_value)
{
	const char *a = argv[*i];
	size_t n = strlen(name);

	if (strncmp(a, name, n) != 0 || (a[n] != '\0' && a[n] != '=')) {
		return 0;
	}
	if (a[n] == '=') {
		*out_value = a + n + 1;
		return 1;
	}
	if (*i + 1 >= argc) {
		(void)usage_error("%s wants a value", name);
		return -1;
	}
	*i += 1;
	*out_value = argv[*i];
	return 1;
}

/* --store or --config, wherever it comes: 1 taken, 0 not this option, -1 error (reported). */
static int
opt_store(int argc, char **argv, int *i, struct args *a)
{
	const char *v = ""; /* set by opt_value when it matches */
	const char *name = "--store";
	int k = opt_value(argc, argv, i, name, &v);

	if (k == 0) {
		name = "--config";
		k = opt_value(argc, argv, i, name, &v);
	}
	if (k != 1) {
		return k;
	}
	if (a->store != NULL || a->config != NULL) {
		(void)usage_error("%s", "one --store FILE or --config FILE, once");
		return -1;
	}
	if (v[0] == '\0') {
		(void)usage_error("%s: an empty file name", name);
		return -1;
	}
	if (name[2] == 's') {
		a->store = v;
	} else {
		a->config = v;
	}
	return 1;
}

/* Whether a store is given (--store or --config): 0, or the usage error's exit status. */
static int
need_store(const struct args *a)
{
	if (a->store == NULL && a->config == NULL) {
		return usage_error("%s", "--store FILE (or --config kmsd.conf) is required (there "
					 "is no default store)");
	}
	return 0;
}

static int
is_help(const char *s)
{
	return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0;
}

/* A time option's value into *slot (*have set): 0 or an exit status. */
static int
time_opt(const char *name, const char *v, int *have, uint64_t *slot)
{
	uint64_t tv;

	if (*have) {
		return usage_error("%s given twice", name);
	}
	if (parse_time(v, &tv) != KMS_OK) {
		return usage_error("%s: '%s' is not a time: Unix seconds, YYYY-MM-DD or "
				   "YYYY-MM-DDTHH:MM:SS[Z], UTC, years 1970 to 9999",
				   name, v);
	}
	if (tv == 0 && strcmp(name, "--until") == 0) {
		return usage_error("%s: no record is older than 1970-01-01T00:00:00Z", name);
	}
	*have = 1;
	*slot = tv;
	return 0;
}

/* A text option's value into *slot: 0 or an exit status. */
static int
text_opt(const char *name, const char *v, size_t max, const char **slot)
{
	int rc;

	if (*slot != NULL) {
		return usage_error("%s given twice", name);
	}
	if ((rc = max != 0 ? check_text(name, v, max) : check_outcome(v)) != 0) {
		return rc;
	}
	*slot = v;
	return 0;
}

/* The options after "audit verify" or "audit show": 0, an exit status, or -1 (help shown). */
static int
parse_audit_opts(int argc, char **argv, int i, struct args *a)
{
	static const char *const names[] = {"--client", "--identity", "--outcome", "--since",
					    "--until"};
	const char *v = ""; /* set by opt_value when it matches */
	size_t n;
	int k = 0, rc;

	for (; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_audit, stdout);
			return -1;
		}
		if ((k = opt_store(argc, argv, &i, a)) != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			continue;
		}
		if (strcmp(a->sub, "show") != 0) {
			if ((k = opt_value(argc, argv, &i, "--key", &v)) < 0) {
				return EXIT_USAGE;
			}
			if (k == 0) {
				return usage_error("'audit verify' takes no argument '%s'",
						   argv[i]);
			}
			if (a->num_pins == MAX_PINS) {
				return usage_error("--key: at most %d of them", MAX_PINS);
			}
			if (kms_hex_decode(a->pins[a->num_pins], sizeof(a->pins[0]), v,
					   strlen(v)) != KMS_OK) {
				return usage_error("--key: want an audit key's fingerprint, %d hex "
						   "digits",
						   2 * KMS_AUDIT_HASH_LEN);
			}
			a->num_pins++;
			continue;
		}
		if (strcmp(argv[i], "--json") == 0) {
			if (a->json) {
				return usage_error("%s given twice", "--json");
			}
			a->json = 1;
			continue;
		}
		for (n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
			if ((k = opt_value(argc, argv, &i, names[n], &v)) != 0) {
				break;
			}
		}
		if (k < 0) {
			return EXIT_USAGE;
		}
		switch (k == 0 ? SIZE_MAX : n) {
		case 0:
			rc = text_opt(names[n], v, KMS_AUDIT_MAX_CLIENT, &a->filter.client);
			break;
		case 1:
			rc = text_opt(names[n], v, KMS_AUDIT_MAX_IDENTITY, &a->filter.identity);
			break;
		case 2:
			rc = text_opt(names[n], v, 0, &a->filter.outcome);
			break;
		case 3:
			rc = time_opt(names[n], v, &a->have_since, &a->filter.since);
			break;
		case 4:
			rc = time_opt(names[n], v, &a->have_until, &a->filter.until);
			break;
		default:
			if (argv[i][0] == '-') {
				return usage_error("'audit show' has no option '%s'", argv[i]);
			}
			return usage_error("'audit show' takes no argument '%s'", argv[i]);
		}
		if (rc != 0) {
			return rc;
		}
	}
	if (a->have_since && a->have_until && a->filter.since >= a->filter.until) {
		return usage_error("%s", "--since must be before --until");
	}
	return 0;
}

/* The arguments after "certcache import|withdraw|list": 0, an exit status, or -1 (help shown). */
static int
parse_certcache_opts(int argc, char **argv, int i, struct args *a)
{
	int k, takes = strcmp(a->sub, "list") != 0;

	for (; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_certcache, stdout);
			return -1;
		}
		if ((k = opt_store(argc, argv, &i, a)) != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			continue;
		}
		if (argv[i][0] == '-' && strcmp(argv[i], "-") != 0) {
			return usage_error("'certcache %s' has no option '%s'", a->sub, argv[i]);
		}
		if (!takes || a->operand != NULL) {
			return usage_error("'certcache %s' takes no argument '%s'", a->sub,
					   argv[i]);
		}
		if (argv[i][0] == '\0') {
			return usage_error("'certcache %s': an empty argument", a->sub);
		}
		a->operand = argv[i];
	}
	if (takes && a->operand == NULL) {
		return usage_error("'certcache %s' wants %s", a->sub,
				   strcmp(a->sub, "import") == 0 ? "a FILE" : "a KMS_URI");
	}
	return 0;
}

/* The arguments after "roster": 0, an exit status, or -1 (help shown). */
static int
parse_roster(int argc, char **argv, int i, struct args *a)
{
	const char *v = "";
	const char **slot;
	int k;

	a->cmd = "roster";
	a->sub = "roster";
	for (; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_roster, stdout);
			return -1;
		}
		if ((k = opt_store(argc, argv, &i, a)) != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			continue;
		}
		if (strcmp(argv[i], "--json") == 0) {
			a->json = 1;
			continue;
		}
		if (strcmp(argv[i], "--dry-run") == 0) {
			a->dry_run = 1;
			continue;
		}
		if ((k = opt_value(argc, argv, &i, "--hsmd-conf", &a->hsmd_conf)) != 0 ||
		    (k = opt_value(argc, argv, &i, "--hsmd-socket", &a->hsmd_socket)) != 0 ||
		    (k = opt_value(argc, argv, &i, "--hsmd", &a->hsmd)) != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			continue;
		}
		slot = &a->r_client;
		if ((k = opt_value(argc, argv, &i, "--client", &v)) == 0) {
			slot = &a->r_identity;
			k = opt_value(argc, argv, &i, "--identity", &v);
		}
		if (k != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			if (*slot != NULL || a->r_client != NULL || a->r_identity != NULL) {
				return usage_error("%s", "one --client or --identity at most");
			}
			if (v[0] == '\0') {
				return usage_error("%s", "--client or --identity: an empty value");
			}
			*slot = v;
			continue;
		}
		if (argv[i][0] == '-') {
			return usage_error("'roster' has no option '%s'", argv[i]);
		}
		if (a->num_words == sizeof(a->words) / sizeof(a->words[0])) {
			return usage_error("'roster': too many arguments ('%s')", argv[i]);
		}
		a->words[a->num_words++] = argv[i];
	}
	if (a->num_words == 0) {
		return usage_error("%s", "'roster' wants a command: identity, client, entitle, "
					 "withdraw, entitlements or import");
	}
	return need_store(a);
}

/* 0 (parsed), an exit status, or -1 (help was printed: exit 0). */
static int
parse_args(int argc, char **argv, struct args *a)
{
	int i, k;

	memset(a, 0, sizeof(*a));
	for (i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_main, stdout);
			return -1;
		}
		if ((k = opt_store(argc, argv, &i, a)) != 0) {
			if (k < 0) {
				return EXIT_USAGE;
			}
			continue;
		}
		if (argv[i][0] == '-') {
			return usage_error("unknown option '%s'", argv[i]);
		}
		break;
	}
	if (i >= argc) {
		return usage_error("%s", "a command is missing");
	}
	if (strcmp(argv[i], "certcache") == 0) {
		a->cmd = "certcache";
		if (++i >= argc) {
			return usage_error("%s",
					   "'certcache' wants a command: import, withdraw or list");
		}
		if (is_help(argv[i])) {
			fputs(usage_certcache, stdout);
			return -1;
		}
		if (strcmp(argv[i], "import") != 0 && strcmp(argv[i], "withdraw") != 0 &&
		    strcmp(argv[i], "list") != 0) {
			return usage_error(
				"unknown certcache command '%s' (import, withdraw or list)",
				argv[i]);
		}
		a->sub = argv[i];
		if ((k = parse_certcache_opts(argc, argv, i + 1, a)) != 0) {
			return k;
		}
		return need_store(a);
	}
	if (strcmp(argv[i], "roster") == 0) {
		return parse_roster(argc, argv, i + 1, a);
	}
	if (strcmp(argv[i], "audit") != 0) {
		return usage_error("unknown command '%s'", argv[i]);
	}
	a->cmd = "audit";
	if (++i >= argc) {
		return usage_error("%s", "'audit' wants a command: verify or show");
	}
	if (is_help(argv[i])) {
		fputs(usage_audit, stdout);
		return -1;
	}
	if (strcmp(argv[i], "verify") != 0 && strcmp(argv[i], "show") != 0) {
		return usage_error("unknown audit command '%s' (verify or show)", argv[i]);
	}
	a->sub = argv[i];
	if ((k = parse_audit_opts(argc, argv, i + 1, a)) != 0) {
		return k;
	}
	return need_store(a);
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                     */

/*
 * s, escaped: a backslash doubled; in JSON a quote as \"; control characters (C0, DEL, C1),
 * the line and paragraph separators, and the characters that change the direction of text
 * (which can make a terminal show bytes in another order than they are) as \uXXXX or \n,
 * \r, \t. Bytes of invalid UTF-8 (the store never returns any) as \u00XX of the byte.
 */
static void
put_escaped(FILE *f, const char *str, int json)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned int cp;
	size_t i = 0, n, len = strlen(str);

	while (i < len) {
		unsigned char c = s[i];

		if (c == '\\' || (json && c == '"')) {
			fputc('\\', f);
			fputc(c, f);
			i++;
			continue;
		}
		if (c == '\n' || c == '\r' || c == '\t') {
			fputc('\\', f);
			fputc(c == '\n' ? 'n' : c == '\r' ? 'r' : 't', f);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		if (c < 0x80) {
			fputc(c, f);
			i++;
			continue;
		}
		/* A sequence the store checked; decoded only to find the characters above. */
		n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (n == 1 || n > len - i || kms_mp_utf8_check(s + i, n) != KMS_OK) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		cp = n == 2   ? ((c & 0x1fu) << 6) | (s[i + 1] & 0x3fu)
		     : n == 3 ? ((c & 0x0fu) << 12) | ((s[i + 1] & 0x3fu) << 6) | (s[i + 2] & 0x3fu)
			      : 0x10000; /* four bytes: nothing to escape */
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
		    cp == 0xfeff) {
			fprintf(f, "\\u%04x", cp);
		} else {
			fwrite(s + i, 1, n, f);
		}
		i += n;
	}
}

/* A table cell: "-" for the empty text. */
static void
put_cell(FILE *f, const char *s)
{
	fputs("  ", f);
	if (s[0] == '\0') {
		fputc('-', f);
	} else {
		put_escaped(f, s, 0);
	}
}

/* The record's time, UTC: "YYYY-MM-DDTHH:MM:SS" and the fraction with digits digits. */
static void
put_time(FILE *f, const struct kms_audit_rec *rec, int digits)
{
	struct tm tm;
	time_t t;

	/* time_t is 64-bit on Debian 12's targets; gmtime_r refuses years it cannot hold. */
	t = (time_t)rec->time_s;
	if ((uint64_t)t != rec->time_s || gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900) {
		fprintf(f, "@%" PRIu64 ".%09" PRIu32, rec->time_s, rec->time_ns);
		return;
	}
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		tm.tm_hour, tm.tm_min, tm.tm_sec);
	if (digits == 3) {
		fprintf(f, "%03" PRIu32 "Z", rec->time_ns / 1000000u);
	} else {
		fprintf(f, "%09" PRIu32 "Z", rec->time_ns);
	}
}

static void
put_json_str(FILE *f, const char *name, const char *v)
{
	fprintf(f, ",\"%s\":\"", name);
	put_escaped(f, v, 1);
	fputc('"', f);
}

static void
put_json_hash(FILE *f, const char *name, const uint8_t h[KMS_AUDIT_HASH_LEN])
{
	char hex[2 * KMS_AUDIT_HASH_LEN + 1];

	if (kms_hex_encode(hex, sizeof(hex), h, KMS_AUDIT_HASH_LEN) != KMS_OK) {
		hex[0] = '\0'; /* cannot happen: the buffer fits */
	}
	fprintf(f, ",\"%s\":\"%s\"", name, hex);
}

struct show_ctx {
	FILE *out;
	int json;
	uint64_t last_seq;
};

static int
show_one(void *arg, const struct kms_audit_rec *rec)
{
	struct show_ctx *c = arg;
	FILE *f = c->out;

	c->last_seq = rec->seq;
	if (c->json) {
		fprintf(f, "{\"seq\":%" PRIu64 ",\"time\":\"", rec->seq);
		put_time(f, rec, 9);
		fprintf(f, "\",\"time_s\":%" PRIu64 ",\"time_ns\":%" PRIu32, rec->time_s,
			rec->time_ns);
		put_json_str(f, "request_id", rec->request_id);
		put_json_str(f, "client", rec->client);
		put_json_str(f, "identity", rec->identity);
		put_json_str(f, "resource", rec->resource);
		fprintf(f, ",\"http_status\":%d", rec->http_status);
		put_json_str(f, "outcome", rec->outcome);
		put_json_str(f, "detail", rec->detail);
		put_json_str(f, "key_ids", rec->key_ids);
		put_json_hash(f, "prev_hash", rec->prev_hash);
		put_json_hash(f, "hash", rec->hash);
		fputs("}\n", f);
	} else {
		fprintf(f, "%8" PRIu64 "  ", rec->seq);
		put_time(f, rec, 3);
		fprintf(f, "  %6d  %-11s", rec->http_status, rec->outcome);
		put_cell(f, rec->client);
		put_cell(f, rec->identity);
		put_cell(f, rec->key_ids);
		put_cell(f, rec->request_id);
		put_cell(f, rec->resource);
		put_cell(f, rec->detail);
		fputc('\n', f);
	}
	/* A closed pipe (| head) or a full disk: stop reading the log. */
	return ferror(f) ? KMS_ERR_IO : KMS_OK;
}

static int
finish_output(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the output: %s\n", strerror(errno));
		return EXIT_FAILED;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Commands                                                                                   */

/* The registered audit keys, as kms_store_audit_verify_checkpoints reports them. */
struct verify_key {
	uint8_t fp[KMS_AUDIT_HASH_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	uint64_t num_signed;
};

struct verify_keys {
	struct verify_key *v; /* owned */
	size_t num, cap;
	int oom;
};

static void
verify_key_cb(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN], const char *label,
	      uint64_t num_signed)
{
	struct verify_keys *ks = ctx;
	struct verify_key *nv;
	size_t cap;

	if (ks->num == ks->cap) {
		cap = ks->cap == 0 ? 4 : 2 * ks->cap;
		if (ks->oom || cap > SIZE_MAX / sizeof(*nv) ||
		    (nv = realloc(ks->v, cap * sizeof(*nv))) == NULL) {
			ks->oom = 1;
			return;
		}
		ks->v = nv;
		ks->cap = cap;
	}
	memcpy(ks->v[ks->num].fp, fp, KMS_AUDIT_HASH_LEN);
	snprintf(ks->v[ks->num].label, sizeof(ks->v[ks->num].label), "%s", label);
	ks->v[ks->num].num_signed = num_signed;
	ks->num++;
}

/* 1 if fp is pinned by --key (or nothing is), else 0. */
static int
is_pinned(const struct args *a, const uint8_t fp[KMS_AUDIT_HASH_LEN])
{
	size_t i;

	for (i = 0; i < a->num_pins; i++) {
		if (memcmp(a->pins[i], fp, KMS_AUDIT_HASH_LEN) == 0) {
			return 1;
		}
	}
	return a->num_pins == 0;
}

/* "audit key: FP (LABEL): N checkpoints" for each registered key, and each pin not there. */
static void
print_keys(const struct args *a, const struct verify_keys *ks)
{
	char fp[2 * KMS_AUDIT_HASH_LEN + 1];
	size_t i, j;

	for (i = 0; i < ks->num; i++) {
		if (kms_hex_encode(fp, sizeof(fp), ks->v[i].fp, KMS_AUDIT_HASH_LEN) != KMS_OK) {
			continue;
		}
		/* Labels are visible ASCII (the store checks them): printable as they are. */
		printf("audit key: %s (%s): %" PRIu64 " checkpoints%s\n", fp, ks->v[i].label,
		       ks->v[i].num_signed, is_pinned(a, ks->v[i].fp) ? "" : ", not pinned");
	}
	for (j = 0; j < a->num_pins; j++) {
		for (i = 0; i < ks->num; i++) {
			if (memcmp(ks->v[i].fp, a->pins[j], KMS_AUDIT_HASH_LEN) == 0) {
				break;
			}
		}
		if (i == ks->num &&
		    kms_hex_encode(fp, sizeof(fp), a->pins[j], KMS_AUDIT_HASH_LEN) == KMS_OK) {
			printf("audit key: %s (--key) is not registered in the store\n", fp);
		}
	}
}

static int
cmd_verify(struct kms_store *st, const struct args *a)
{
	struct kms_audit_report rep;
	struct verify_keys ks = {NULL, 0, 0, 0};
	int r, rc = EXIT_FAILED;

	r = kms_store_audit_verify_checkpoints(st, kms_ecdsa_verify_point,
					       a->num_pins > 0 ? a->pins : NULL, a->num_pins,
					       verify_key_cb, &ks, &rep);
	if (r != KMS_OK && r != KMS_ERR_AUTH) {
		fprintf(stderr, PROG ": cannot verify the audit log: %s\n", kms_strerror(r));
		goto out;
	}
	if (ks.oom) {
		fprintf(stderr, PROG ": cannot verify the audit log: %s\n",
			kms_strerror(KMS_ERR_NOMEM));
		goto out;
	}
	if (rep.chain_fault != KMS_AUDIT_FAULT_NONE) {
		printf("audit log broken at record %" PRIu64 ": %s\n", rep.chain_first_bad,
		       kms_audit_fault_str(rep.chain_fault));
	}
	if (rep.cp_fault == KMS_AUDIT_FAULT_CP_KEY) {
		printf("audit keys: %s\n", kms_audit_fault_str(rep.cp_fault));
	} else if (rep.cp_fault != KMS_AUDIT_FAULT_NONE) {
		printf("checkpoint at record %" PRIu64 " broken: %s\n", rep.cp_first_bad,
		       kms_audit_fault_str(rep.cp_fault));
	}
	if (r == KMS_OK && rep.num_keys == 0 && rep.num_checkpoints == 0) {
		/* No audit key, no checkpoints: the chain alone (a fixed form for scripts). */
		printf("audit log OK: %" PRIu64 " records\n", rep.chain_count);
		rc = finish_output();
		goto out;
	}
	if (r == KMS_OK && rep.num_checkpoints == 0) {
		printf("chain: %" PRIu64 " records verified; checkpoints: 0 verified (%" PRIu64
		       " records not yet checkpointed)\n",
		       rep.chain_count, rep.chain_count);
	} else if (r == KMS_OK) {
		printf("chain: %" PRIu64 " records verified; checkpoints: %" PRIu64
		       " verified, the last at record %" PRIu64 " (%" PRIu64
		       " records after it not yet checkpointed)\n",
		       rep.chain_count, rep.num_checkpoints, rep.last_cp_seq,
		       rep.chain_count - rep.last_cp_seq);
	}
	print_keys(a, &ks);
	rc = finish_output();
	if (r == KMS_ERR_AUTH) {
		rc = rc != 0 ? EXIT_FAILED : EXIT_BROKEN;
	}
out:
	free(ks.v);
	return rc;
}

static int
cmd_show(struct kms_store *st, const struct args *a)
{
	struct show_ctx c = {stdout, a->json, 0};
	int r;

	if (!a->json) {
		printf("%8s  %-24s  %6s  %-11s  %s  %s  %s  %s  %s  %s\n", "SEQ", "TIME", "STATUS",
		       "OUTCOME", "CLIENT", "IDENTITY", "KEY_IDS", "REQUEST_ID", "RESOURCE",
		       "DETAIL");
	}
	r = kms_store_audit_read(st, &a->filter, show_one, &c);
	if (r == KMS_OK) {
		return finish_output();
	}
	(void)fflush(stdout);
	if (r == KMS_ERR_IO && ferror(stdout)) {
		fprintf(stderr, PROG ": cannot write the output\n");
	} else if (r == KMS_ERR_PARSE) {
		fprintf(stderr,
			PROG ": a malformed audit record after record %" PRIu64
			     " (run 'kms-admin audit verify')\n",
			c.last_seq);
	} else {
		fprintf(stderr, PROG ": cannot read the audit log: %s\n", kms_strerror(r));
	}
	return EXIT_FAILED;
}

/* ---------------------------------------------------------------------------------------- */
/* certcache                                                                                  */

/* 1 if p (65 bytes) is a point of P-256 other than infinity. */
static int
p256_point_ok(const uint8_t p[KMS_XML_KPAK_LEN])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = g != NULL ? EC_POINT_new(g) : NULL;
	int ok = pt != NULL && EC_POINT_oct2point(g, pt, p, KMS_XML_KPAK_LEN, NULL) == 1 &&
		 !EC_POINT_is_at_infinity(g, pt) && EC_POINT_is_on_curve(g, pt, NULL) == 1;

	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return ok;
}

/* The whole file path, at most max bytes, into *out (malloc'ed): 0 or an exit status. */
static int
read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, rc = EXIT_BROKEN;

	*out = NULL;
	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		fprintf(stderr, PROG ": cannot open '%s': %s\n", path, strerror(errno));
		return EXIT_BROKEN;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		rc = EXIT_FAILED;
		goto out;
	}
	/* One byte more than allowed tells a file that is too large. */
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			fprintf(stderr, PROG ": cannot read '%s': %s\n", path, strerror(errno));
			goto out;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
	}
	if (len > max) {
		fprintf(stderr, PROG ": '%s' is larger than %zu bytes\n", path, max);
		goto out;
	}
	*out = buf;
	*out_len = len;
	buf = NULL; /* transferred */
	rc = 0;
out:
	free(buf);
	(void)close(fd);
	return rc;
}

/* The parsed certificate as the store keeps it: 0 or an exit status (reported). */
static int
to_store_cert(const struct kms_xml_cert_in *in, struct kms_store_ext_cert *out)
{
	memset(out, 0, sizeof(*out));
	/* The parser's bounds are the store's (URIs 2048, issuer 1024, domains 8192). */
	if (strlen(in->kms_uri) >= sizeof(out->kms_uri) ||
	    strlen(in->cert_uri) >= sizeof(out->cert_uri) ||
	    strlen(in->issuer) >= sizeof(out->issuer) ||
	    strlen(in->domains) >= sizeof(out->domains)) {
		fprintf(stderr, PROG ": the certificate has a value too long for the store\n");
		return EXIT_BROKEN;
	}
	memcpy(out->kms_uri, in->kms_uri, strlen(in->kms_uri) + 1);
	memcpy(out->cert_uri, in->cert_uri, strlen(in->cert_uri) + 1);
	memcpy(out->issuer, in->issuer, strlen(in->issuer) + 1);
	memcpy(out->domains, in->domains, strlen(in->domains) + 1);
	out->has_valid_from = in->has_valid_from;
	out->valid_from = in->valid_from;
	out->has_valid_to = in->has_valid_to;
	out->valid_to = in->valid_to;
	out->revoked = in->has_revoked && in->revoked;
	out->user_key_period = in->user_key_period;
	out->user_key_offset = in->user_key_offset;
	memcpy(out->z_t, in->pub_enc_key, sizeof(out->z_t));
	memcpy(out->kpak, in->pub_auth_key, sizeof(out->kpak));
	return 0;
}

static int
cmd_import(const struct args *a)
{
	struct kms_xml_cert_in *in = NULL;
	struct kms_store_ext_cert *cert = NULL;
	struct kms_store *st = NULL;
	char err[KMS_XML_ERR_LEN];
	uint8_t *data = NULL;
	size_t len = 0;
	uint64_t num = 0;
	int r, rc;

	if ((rc = read_file(a->operand, KMS_XML_MAX_CERT_FILE, &data, &len)) != 0) {
		return rc;
	}
	rc = EXIT_FAILED;
	if ((in = calloc(1, sizeof(*in))) == NULL || (cert = calloc(1, sizeof(*cert))) == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	if (kms_xml_init() != KMS_OK) {
		fprintf(stderr, PROG ": libxml2 cannot be used\n");
		goto out;
	}
	if ((r = kms_xml_parse_cert(in, err, sizeof(err), data, len)) != KMS_OK) {
		fprintf(stderr, PROG ": '%s' is not a usable KmsCertificate: %s (%s)\n", a->operand,
			err, kms_strerror(r));
		rc = r == KMS_ERR_NOMEM ? EXIT_FAILED : EXIT_BROKEN;
		goto out;
	}
	if (kms_sakke_point_check(in->pub_enc_key, sizeof(in->pub_enc_key)) != KMS_OK) {
		fprintf(stderr, PROG ": '%s': PubEncKey is not a point of the SAKKE curve\n",
			a->operand);
		rc = EXIT_BROKEN;
		goto out;
	}
	if (!p256_point_ok(in->pub_auth_key)) {
		fprintf(stderr, PROG ": '%s': PubAuthKey is not a point of P-256\n", a->operand);
		rc = EXIT_BROKEN;
		goto out;
	}
	if ((rc = to_store_cert(in, cert)) != 0) {
		goto out;
	}
	rc = EXIT_FAILED;
	if ((r = kms_store_open(&st, a->store, KMS_STORE_RW)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot open the store '%s': %s\n", a->store,
			kms_strerror(r));
		goto out;
	}
	if ((r = kms_store_ext_cert_put(st, cert, &num)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot import the certificate: %s\n", kms_strerror(r));
		goto out;
	}
	fputs("imported ", stdout);
	put_escaped(stdout, cert->kms_uri, 0);
	printf(": change %" PRIu64 "\n", num);
	rc = finish_output();
out:
	kms_store_close(st);
	free(cert);
	free(in);
	free(data);
	return rc;
}

static int
cmd_withdraw(const struct args *a)
{
	struct kms_store *st = NULL;
	uint64_t num = 0;
	int r, rc = EXIT_FAILED;

	if (strlen(a->operand) > KMS_STORE_MAX_URI ||
	    kms_mp_utf8_check((const uint8_t *)a->operand, strlen(a->operand)) != KMS_OK) {
		return usage_error("%s", "KMS_URI: at most 2048 bytes of UTF-8");
	}
	if ((r = kms_store_open(&st, a->store, KMS_STORE_RW)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot open the store '%s': %s\n", a->store,
			kms_strerror(r));
		return EXIT_FAILED;
	}
	r = kms_store_ext_cert_withdraw(st, a->operand, &num);
	if (r == KMS_ERR_FORBIDDEN) {
		fputs(PROG ": no certificate of ", stderr);
		put_escaped(stderr, a->operand, 0);
		fputs(" to withdraw (unknown, or withdrawn already)\n", stderr);
		rc = EXIT_BROKEN;
	} else if (r != KMS_OK) {
		fprintf(stderr, PROG ": cannot withdraw the certificate: %s\n", kms_strerror(r));
	} else {
		fputs("withdrew ", stdout);
		put_escaped(stdout, a->operand, 0);
		printf(": change %" PRIu64 "\n", num);
		rc = finish_output();
	}
	kms_store_close(st);
	return rc;
}

struct list_ctx {
	FILE *out;
	uint64_t last; /* the change number of the last certificate printed */
};

static int
list_one(void *arg, const struct kms_store_ext_cert *c)
{
	struct list_ctx *ctx = arg;
	FILE *f = ctx->out;
	struct tm tm;
	time_t t;

	fprintf(f, "%8" PRIu64 "  %-9s", c->change_num,
		c->withdrawn ? "withdrawn"
		: c->revoked ? "revoked"
			     : "active");
	put_cell(f, c->kms_uri);
	put_cell(f, c->cert_uri);
	fputs("  ", f);
	t = (time_t)c->valid_to;
	if (!c->has_valid_to) {
		fputc('-', f);
	} else if (gmtime_r(&t, &tm) != NULL) {
		fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
			tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	} else {
		fprintf(f, "@%" PRId64, c->valid_to);
	}
	put_cell(f, c->domains);
	fputc('\n', f);
	ctx->last = c->change_num;
	return ferror(f) ? KMS_ERR_IO : KMS_OK;
}

static int
cmd_list(const struct args *a)
{
	struct list_ctx ctx = {stdout, 0};
	struct kms_store *st = NULL;
	uint64_t num = 0, cache_num = 0;
	int more = 1, r, rc = EXIT_FAILED;

	if ((r = kms_store_open(&st, a->store, KMS_STORE_RO)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot open the store '%s': %s\n", a->store,
			kms_strerror(r));
		return EXIT_FAILED;
	}
	if ((r = kms_store_ext_cache_num(st, &cache_num)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot read the certificate cache: %s\n", kms_strerror(r));
		goto out;
	}
	printf("cache number %" PRIu64 "\n", cache_num);
	printf("%8s  %-9s  %s  %s  %s  %s\n", "CHANGE", "STATE", "KMS_URI", "CERT_URI", "VALID_TO",
	       "DOMAINS");
	/* In pages of change numbers (each page one snapshot), from the oldest change on. */
	while (more) {
		r = kms_store_ext_cert_read(st, ctx.last, 0, KMS_STORE_MAX_EXT_READ, list_one, &ctx,
					    &num, &more);
		if (r != KMS_OK) {
			(void)fflush(stdout);
			fprintf(stderr, PROG ": cannot read the certificate cache: %s\n",
				kms_strerror(r));
			goto out;
		}
	}
	rc = finish_output();
out:
	kms_store_close(st);
	return rc;
}

static int
cmd_certcache(const struct args *a)
{
	if (strcmp(a->sub, "import") == 0) {
		return cmd_import(a);
	}
	if (strcmp(a->sub, "withdraw") == 0) {
		return cmd_withdraw(a);
	}
	return cmd_list(a);
}

/* ---------------------------------------------------------------------------------------- */
/* roster                                                                                     */

/* Open the store for the roster: 0, or EXIT_FAILED (said). */
static int
roster_open(const struct args *a, enum kms_store_mode mode, struct kms_store **out)
{
	int r;

	if ((r = kms_store_open(out, a->store, mode)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot open the store '%s': %s\n", a->store,
			kms_strerror(r));
		return EXIT_FAILED;
	}
	return 0;
}

/* A store error of a roster command: the exit status. */
static int
roster_fail(const char *what, int r)
{
	fprintf(stderr, PROG ": cannot %s: %s\n", what, kms_strerror(r));
	return EXIT_FAILED;
}

/* "PREFIX TEXT SUFFIX\n" on f, TEXT escaped. */
static void
say_escaped(FILE *f, const char *prefix, const char *text, const char *suffix)
{
	fputs(prefix, f);
	put_escaped(f, text, 0);
	fputs(suffix, f);
	fputc('\n', f);
}

/* One change through kms_store_roster_apply (it tells new from existing): the exit status. */
static int
roster_one(const struct args *a, const struct kms_roster_op *op)
{
	struct kms_roster_summary sum;
	struct kms_store *st = NULL;
	const char *why = "";
	size_t bad = 0;
	int r, rc;

	if ((rc = roster_open(a, KMS_STORE_RW, &st)) != 0) {
		return rc;
	}
	r = kms_store_roster_apply(st, op, 1, 0, &sum, &bad, &why);
	kms_store_close(st);
	if (r == KMS_ERR_INVALID_ARG && why[0] != '\0') {
		return usage_error("%s", why);
	}
	if (r == KMS_ERR_FORBIDDEN) {
		fprintf(stderr, PROG ": refused: %s\n", why);
		return EXIT_BROKEN;
	}
	if (r != KMS_OK) {
		return roster_fail("change the roster", r);
	}
	switch (op->kind) {
	case KMS_ROSTER_ADD_IDENTITY:
		say_escaped(stdout, sum.added ? "added identity " : "identity ", op->uri,
			    sum.added ? "" : " exists already");
		break;
	case KMS_ROSTER_ENTITLE:
		fputs(sum.entitled ? "entitled " : "already entitled ", stdout);
		put_escaped(stdout, op->client_id, 0);
		say_escaped(stdout, " to ", op->uri, "");
		break;
	default:
		fputs("withdrew the entitlement of ", stdout);
		put_escaped(stdout, op->client_id, 0);
		say_escaped(stdout, " to ", op->uri, "");
		break;
	}
	return finish_output();
}

/* identity revoke|restore URI, client revoke|restore ID: the exit status. */
static int
roster_set_revoked(const struct args *a, int client, const char *key, int revoked)
{
	struct kms_store *st = NULL;
	int r, rc;

	if ((rc = roster_open(a, KMS_STORE_RW, &st)) != 0) {
		return rc;
	}
	r = client ? kms_store_set_client_revoked(st, key, revoked)
		   : kms_store_set_identity_revoked(st, key, revoked);
	kms_store_close(st);
	if (r == KMS_ERR_INVALID_ARG) {
		return usage_error("%s", client ? "ID: 1 to 255 visible ASCII characters"
						: "URI: 1 to 2048 bytes of UTF-8");
	}
	if (r == KMS_ERR_FORBIDDEN) {
		say_escaped(stderr, client ? PROG ": no such client " : PROG ": no such identity ",
			    key, "");
		return EXIT_BROKEN;
	}
	if (r != KMS_OK) {
		return roster_fail("change the roster", r);
	}
	say_escaped(stdout, revoked ? "revoked " : "restored ", key, "");
	return finish_output();
}

static int
list_identity(void *arg, const struct kms_store_identity *id)
{
	const struct args *a = arg;

	if (a->json) {
		fprintf(stdout, "{\"revoked\":%s", id->revoked ? "true" : "false");
		put_json_str(stdout, "uri", id->uri);
		fputs("}\n", stdout);
	} else {
		fprintf(stdout, "%-7s", id->revoked ? "revoked" : "active");
		put_cell(stdout, id->uri);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? KMS_ERR_IO : KMS_OK;
}

static int
list_client(void *arg, const struct kms_store_client *c)
{
	const struct args *a = arg;
	const char *cls = c->cls == KMS_CLIENT_UE ? "ue" : "server";

	if (a->json) {
		fprintf(stdout, "{\"class\":\"%s\",\"revoked\":%s", cls,
			c->revoked ? "true" : "false");
		put_json_str(stdout, "client", c->client_id);
		put_json_str(stdout, "trk_label", c->trk_label);
		put_json_str(stdout, "ink_label", c->ink_label);
		fputs("}\n", stdout);
	} else {
		put_escaped(stdout, c->client_id, 0);
		fprintf(stdout, "  %-6s  %-7s", cls, c->revoked ? "revoked" : "active");
		put_cell(stdout, c->trk_label);
		put_cell(stdout, c->ink_label);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? KMS_ERR_IO : KMS_OK;
}

static int
list_entitlement(void *arg, const struct kms_store_entitlement *e)
{
	const struct args *a = arg;

	if (a->json) {
		fputs("{", stdout);
		fputs("\"client\":\"", stdout);
		put_escaped(stdout, e->client_id, 1);
		fputc('"', stdout);
		put_json_str(stdout, "uri", e->uri);
		fputs("}\n", stdout);
	} else {
		put_escaped(stdout, e->client_id, 0);
		put_cell(stdout, e->uri);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? KMS_ERR_IO : KMS_OK;
}

/* identity list, client list, entitlements: the exit status. */
static int
roster_list(const struct args *a, int which)
{
	struct kms_store *st = NULL;
	int r, rc;

	if ((rc = roster_open(a, KMS_STORE_RO, &st)) != 0) {
		return rc;
	}
	if (which == 0) {
		if (!a->json) {
			printf("%-7s  %s\n", "STATE", "URI");
		}
		r = kms_store_identity_list(st, list_identity, (void *)(uintptr_t)a);
	} else if (which == 1) {
		if (!a->json) {
			printf("%s  %-6s  %-7s  %s  %s\n", "CLIENT", "CLASS", "STATE", "TRK",
			       "INK");
		}
		r = kms_store_client_list(st, list_client, (void *)(uintptr_t)a);
	} else {
		if (!a->json) {
			printf("%s  %s\n", "CLIENT", "URI");
		}
		r = kms_store_entitlement_list(st, a->r_client, a->r_identity, list_entitlement,
					       (void *)(uintptr_t)a);
	}
	kms_store_close(st);
	if (r == KMS_ERR_INVALID_ARG) {
		return usage_error("%s", "--client: 1 to 255 visible ASCII characters; "
					 "--identity: 1 to 2048 bytes of UTF-8");
	}
	if (r != KMS_OK) {
		(void)fflush(stdout);
		return roster_fail("read the roster", r);
	}
	return finish_output();
}

/* import FILE.csv [--dry-run]: the exit status. */
static int
roster_import(const struct args *a, const char *path)
{
	struct kms_roster_csv csv;
	struct kms_roster_summary sum;
	struct kms_store *st = NULL;
	char err[KMS_ROSTER_CSV_ERR_LEN];
	const char *why = "";
	uint8_t *data = NULL;
	size_t len = 0, line = 0, bad = 0;
	int r, rc;

	memset(&csv, 0, sizeof(csv));
	if ((rc = read_file(path, KMS_ROSTER_CSV_MAX_FILE, &data, &len)) != 0) {
		return rc;
	}
	r = kms_roster_csv_parse(&csv, &line, err, sizeof(err), data, len);
	if (r != KMS_OK) {
		fputs(PROG ": ", stderr);
		put_escaped(stderr, path, 0);
		if (line > 0) {
			fprintf(stderr, ":%zu", line);
		}
		fprintf(stderr, ": %s (nothing changed)\n", err);
		rc = r == KMS_ERR_NOMEM ? EXIT_FAILED : EXIT_BROKEN;
		goto out;
	}
	if ((rc = roster_open(a, KMS_STORE_RW, &st)) != 0) {
		goto out;
	}
	r = kms_store_roster_apply(st, csv.ops, csv.num_ops, a->dry_run, &sum, &bad, &why);
	if (r == KMS_ERR_FORBIDDEN || (r == KMS_ERR_INVALID_ARG && why[0] != '\0')) {
		fputs(PROG ": ", stderr);
		put_escaped(stderr, path, 0);
		fprintf(stderr, ":%zu: %s (nothing changed)\n",
			bad < csv.num_ops ? csv.lines[bad] : 0, why);
		rc = EXIT_BROKEN;
		goto out;
	}
	if (r != KMS_OK) {
		rc = roster_fail("import the roster file (nothing changed)", r);
		goto out;
	}
	printf("%s%zu changes: %zu identities added (%zu existed), %zu entitled (%zu were), "
	       "%zu identities revoked, %zu entitlements withdrawn\n",
	       a->dry_run ? "dry run, nothing written: " : "imported ", csv.num_ops, sum.added,
	       sum.existed, sum.entitled, sum.already_entitled, sum.revoked, sum.withdrawn);
	rc = finish_output();
out:
	kms_store_close(st);
	kms_roster_csv_cleanup(&csv);
	free(data);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* roster client rotate / rotations / finish-rotation / cancel-rotation                         */

/* client rotate ID: ROTATE_KEYS through a kms-hsmd of our own or the socket's. */
static int
roster_rotate(const struct args *a, const char *client)
{
	struct kms_hsmd_config cfg;
	struct kms_hsmd_pool *pool = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply *rep = NULL;
	char prog[PATH_MAX + 32], err[512];
	size_t len = strlen(client);
	int r, rc = EXIT_FAILED;

	if ((a->hsmd_conf == NULL) == (a->hsmd_socket == NULL)) {
		return usage_error("%s", "'roster client rotate' wants one of --hsmd-conf FILE and "
					 "--hsmd-socket PATH");
	}
	if (a->hsmd != NULL && a->hsmd_socket != NULL) {
		return usage_error("%s", "--hsmd goes with --hsmd-conf, not --hsmd-socket");
	}
	if (len == 0 || len > KMS_PROTO_MAX_CLIENT_ID) {
		return usage_error("%s", "ID: 1 to 255 visible ASCII characters");
	}
	memset(&cfg, 0, sizeof(cfg));
	if (a->hsmd_socket != NULL) {
		if (a->hsmd_socket[0] != '/') {
			return usage_error("%s", "--hsmd-socket: an absolute path");
		}
		cfg.socket_path = a->hsmd_socket;
	} else {
		if (a->hsmd != NULL) {
			if (a->hsmd[0] != '/' || strlen(a->hsmd) >= PATH_MAX) {
				return usage_error("%s", "--hsmd: an absolute path, shorter than "
							 "PATH_MAX");
			}
			cfg.hsmd_path = a->hsmd;
		} else if (kms_hsmd_default_path(prog, sizeof(prog)) != KMS_OK) {
			fprintf(stderr, PROG ": cannot find kms-hsmd: give --hsmd PROG\n");
			return EXIT_FAILED;
		} else {
			cfg.hsmd_path = prog;
		}
		cfg.hsmd_conf = a->hsmd_conf;
	}
	cfg.slots = 1;
	cfg.timeout_ms = 30000;
	if ((r = kms_hsmd_pool_new(&pool, &cfg, 30000, err, sizeof(err))) != KMS_OK) {
		fprintf(stderr, PROG ": kms-hsmd did not start or answer: %s\n",
			err[0] != '\0' ? err : kms_strerror(r));
		return EXIT_FAILED;
	}
	if ((rep = calloc(1, sizeof(*rep))) == NULL) {
		kms_hsmd_pool_free(pool);
		return roster_fail("rotate", KMS_ERR_NOMEM);
	}
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_ROTATE_KEYS;
	memcpy(req.u.rotate_keys.client_id, client, len + 1);
	req.u.rotate_keys.client_id_len = len;
	r = kms_hsmd_call(pool, 0, &req, rep);
	r = r == KMS_OK ? rep->status : r;
	if (r == KMS_OK) {
		fputs("rotation of ", stdout);
		put_escaped(stdout, client, 0);
		fputs(" pending: new TrK ", stdout);
		put_escaped(stdout, rep->u.rotate_keys.new_trk_id, 0);
		fputs(", new InK ", stdout);
		put_escaped(stdout, rep->u.rotate_keys.new_ink_id, 0);
		fputs("\n  the client gets them with its next init or keyprov; a request signed "
		      "with the new InK finishes the rotation\n",
		      stdout);
		rc = finish_output();
	} else if (r == KMS_ERR_FORBIDDEN) {
		say_escaped(stderr,
			    PROG ": refused: no such client, or revoked, or its TrK is not "
				 "in the token: ",
			    client, "");
		rc = EXIT_BROKEN;
	} else if (r == KMS_ERR_AUTH) {
		say_escaped(stderr, PROG ": refused: a rotation is pending already for ", client,
			    " (finish-rotation or cancel-rotation it first)");
		rc = EXIT_BROKEN;
	} else {
		fprintf(stderr, PROG ": kms-hsmd could not rotate the keys: %s\n", kms_strerror(r));
	}
	kms_memzero(rep, sizeof(*rep));
	free(rep);
	kms_hsmd_pool_free(pool);
	return rc;
}

/* Unix seconds t as "YYYY-MM-DDTHH:MM:SSZ" into out, or as the number if it is no date. */
static void
utc_seconds(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		snprintf(out, cap, "%" PRId64, t);
	}
}

static int
list_rotation(void *arg, const struct kms_store_rotation *rot)
{
	const struct args *a = arg;
	char when[32];

	utc_seconds(when, sizeof(when), rot->created);
	if (a->json) {
		fprintf(stdout, "{\"created\":\"%s\"", when);
		put_json_str(stdout, "client", rot->client_id);
		put_json_str(stdout, "from_trk", rot->from_trk_label);
		put_json_str(stdout, "new_trk", rot->new_trk_label);
		put_json_str(stdout, "new_ink", rot->new_ink_label);
		fputs("}\n", stdout);
	} else {
		put_escaped(stdout, rot->client_id, 0);
		fprintf(stdout, "  %s", when);
		put_cell(stdout, rot->from_trk_label);
		put_cell(stdout, rot->new_trk_label);
		put_cell(stdout, rot->new_ink_label);
		fputc('\n', stdout);
	}
	return ferror(stdout) ? KMS_ERR_IO : KMS_OK;
}

/* client rotations: the exit status. */
static int
roster_rotations(const struct args *a)
{
	struct kms_store *st = NULL;
	int r, rc;

	if ((rc = roster_open(a, KMS_STORE_RO, &st)) != 0) {
		return rc;
	}
	r = kms_store_rotation_list(st, list_rotation, (void *)(uintptr_t)a);
	kms_store_close(st);
	if (r != KMS_OK) {
		return roster_fail("list the pending rotations", r);
	}
	return finish_output();
}

static int
list_retired(void *arg, const char *label, int64_t retired)
{
	const struct args *a = arg;
	char when[32];

	utc_seconds(when, sizeof(when), retired);
	if (a->json) {
		fprintf(stdout, "{\"retired\":\"%s\"", when);
		put_json_str(stdout, "label", label);
		fputs("}\n", stdout);
	} else {
		put_escaped(stdout, label, 0);
		fprintf(stdout, "  %s\n", when);
	}
	return ferror(stdout) ? KMS_ERR_IO : KMS_OK;
}

/* client retired: the exit status. */
static int
roster_retired(const struct args *a)
{
	struct kms_store *st = NULL;
	int r, rc;

	if ((rc = roster_open(a, KMS_STORE_RO, &st)) != 0) {
		return rc;
	}
	r = kms_store_retired_list(st, list_retired, (void *)(uintptr_t)a);
	kms_store_close(st);
	if (r != KMS_OK) {
		return roster_fail("list the retired keys", r);
	}
	return finish_output();
}

/* client finish-rotation|cancel-rotation ID: the exit status. */
static int
roster_end_rotation(const struct args *a, const char *client, int finish)
{
	struct kms_store_rotation *rot = NULL;
	struct kms_store *st = NULL;
	int r, rc, found = 0;

	if (strlen(client) == 0 || strlen(client) > KMS_PROTO_MAX_CLIENT_ID) {
		return usage_error("%s", "ID: 1 to 255 visible ASCII characters");
	}
	if ((rot = calloc(1, sizeof(*rot))) == NULL) {
		return roster_fail("end the rotation", KMS_ERR_NOMEM);
	}
	if ((rc = roster_open(a, KMS_STORE_RW, &st)) != 0) {
		free(rot);
		return rc;
	}
	r = kms_store_get_rotation(st, client, rot, &found);
	if (r == KMS_OK && !found) {
		r = KMS_ERR_FORBIDDEN;
	} else if (r == KMS_OK) {
		r = finish ? kms_store_finish_rotation(st, client, rot->new_ink_label)
			   : kms_store_cancel_rotation(st, client);
	}
	kms_store_close(st);
	if (r == KMS_ERR_INVALID_ARG) {
		free(rot);
		return usage_error("%s", "ID: 1 to 255 visible ASCII characters");
	}
	if (r == KMS_ERR_FORBIDDEN || r == KMS_ERR_AUTH) {
		say_escaped(stderr,
			    PROG ": refused: no pending rotation (or the client changed) for ",
			    client, "");
		free(rot);
		return EXIT_BROKEN;
	}
	if (r != KMS_OK) {
		free(rot);
		return roster_fail(finish ? "finish the rotation" : "cancel the rotation", r);
	}
	fputs(finish ? "finished the rotation of " : "cancelled the rotation of ", stdout);
	put_escaped(stdout, client, 0);
	fputs(finish ? ": its TrK is now " : ": its TrK stays ", stdout);
	put_escaped(stdout, finish ? rot->new_trk_label : rot->from_trk_label, 0);
	fputs(finish ? "; its old TrK and InK are retired" : "; the new keys are retired", stdout);
	fputs(" (each kms-hsmd destroys them in its token when it starts)\n", stdout);
	free(rot);
	return finish_output();
}

/* The roster command in a->words: the exit status. */
static int
cmd_roster(const struct args *a)
{
	const char *const *w = a->words;
	size_t n = a->num_words;
	struct kms_roster_op op;
	int filtered = a->r_client != NULL || a->r_identity != NULL;

	memset(&op, 0, sizeof(op));
	if ((a->hsmd != NULL || a->hsmd_conf != NULL || a->hsmd_socket != NULL) &&
	    !(n == 3 && strcmp(w[0], "client") == 0 && strcmp(w[1], "rotate") == 0)) {
		return usage_error("%s", "--hsmd, --hsmd-conf and --hsmd-socket only with "
					 "'client rotate'");
	}
	if ((a->json || filtered || a->dry_run) &&
	    !(n == 2 &&
	      (strcmp(w[1], "list") == 0 || strcmp(w[1], "rotations") == 0 ||
	       strcmp(w[1], "retired") == 0) &&
	      !filtered && !a->dry_run) &&
	    !(n == 1 && strcmp(w[0], "entitlements") == 0 && !a->dry_run) &&
	    !(n == 2 && strcmp(w[0], "import") == 0 && !a->json && !filtered)) {
		return usage_error("%s", "--json only with list, rotations, retired and "
					 "entitlements, --client and "
					 "--identity only with entitlements, --dry-run only with "
					 "import");
	}
	if (strcmp(w[0], "identity") == 0 || strcmp(w[0], "client") == 0) {
		int client = w[0][0] == 'c';

		if (n == 2 && strcmp(w[1], "list") == 0) {
			return roster_list(a, client);
		}
		if (n == 3 && (strcmp(w[1], "revoke") == 0 || strcmp(w[1], "restore") == 0)) {
			return roster_set_revoked(a, client, w[2], strcmp(w[1], "revoke") == 0);
		}
		if (client && n == 3 && strcmp(w[1], "rotate") == 0) {
			return roster_rotate(a, w[2]);
		}
		if (client && n == 2 && strcmp(w[1], "rotations") == 0) {
			return roster_rotations(a);
		}
		if (client && n == 2 && strcmp(w[1], "retired") == 0) {
			return roster_retired(a);
		}
		if (client && n == 3 &&
		    (strcmp(w[1], "finish-rotation") == 0 ||
		     strcmp(w[1], "cancel-rotation") == 0)) {
			return roster_end_rotation(a, w[2], w[1][0] == 'f');
		}
		if (!client && n == 3 && strcmp(w[1], "add") == 0) {
			op.kind = KMS_ROSTER_ADD_IDENTITY;
			op.uri = w[2];
			return roster_one(a, &op);
		}
		return usage_error("'roster %s' wants %s", w[0],
				   client ? "list, rotations, retired, or revoke|restore|rotate|"
					    "finish-rotation|cancel-rotation ID"
					  : "list, or add|revoke|restore URI");
	}
	if (strcmp(w[0], "entitle") == 0 || strcmp(w[0], "withdraw") == 0) {
		if (n != 3) {
			return usage_error("'roster %s' wants CLIENT URI", w[0]);
		}
		op.kind = w[0][0] == 'e' ? KMS_ROSTER_ENTITLE : KMS_ROSTER_WITHDRAW;
		op.client_id = w[1];
		op.uri = w[2];
		return roster_one(a, &op);
	}
	if (strcmp(w[0], "entitlements") == 0) {
		if (n != 1) {
			return usage_error("%s", "'roster entitlements' takes no argument");
		}
		return roster_list(a, 2);
	}
	if (strcmp(w[0], "import") == 0) {
		if (n != 2 || w[1][0] == '\0') {
			return usage_error("%s", "'roster import' wants a FILE");
		}
		return roster_import(a, w[1]);
	}
	return usage_error("unknown roster command '%s' (identity, client, entitle, withdraw, "
			   "entitlements or import)",
			   w[0]);
}

/* The command a names, on a->store: the exit status. */
static int
run(struct args *a)
{
	struct kms_store *st = NULL;
	int r, rc;

	if (a->store == NULL || a->cmd == NULL) {
		return EXIT_USAGE; /* parse_args set them: cannot happen */
	}
	if (strcmp(a->cmd, "certcache") == 0) {
		return cmd_certcache(a);
	}
	if (strcmp(a->cmd, "roster") == 0) {
		return cmd_roster(a);
	}
	if (a->sub == NULL) {
		return EXIT_USAGE;
	}
	if ((r = kms_store_open(&st, a->store, KMS_STORE_RO)) != KMS_OK) {
		fprintf(stderr, PROG ": cannot open the store '%s': %s\n", a->store,
			kms_strerror(r));
		return EXIT_FAILED;
	}
	rc = strcmp(a->sub, "verify") == 0 ? cmd_verify(st, a) : cmd_show(st, a);
	kms_store_close(st);
	return rc;
}

/*
 * --config kmsd.conf: load and check it as kmsd does, take its store, and for 'roster client
 * rotate' without --hsmd-conf or --hsmd-socket its way to kms-hsmd; then run the command.
 */
static int
with_config(struct args *a)
{
	struct kmsd_config cfg;
	char err[KMS_CONF_ERR_LEN];
	int r, rc;

	err[0] = '\0';
	if ((r = kmsd_config_load(&cfg, a->config, err, sizeof(err))) != KMS_OK) {
		fprintf(stderr, PROG ": --config: %s\n", err[0] != '\0' ? err : kms_strerror(r));
		kmsd_config_free(&cfg);
		return r == KMS_ERR_IO ? EXIT_FAILED : EXIT_USAGE;
	}
	a->store = cfg.store;
	if (a->cmd != NULL && strcmp(a->cmd, "roster") == 0 && a->num_words == 3 &&
	    strcmp(a->words[0], "client") == 0 && strcmp(a->words[1], "rotate") == 0 &&
	    a->hsmd_conf == NULL && a->hsmd_socket == NULL) {
		if (cfg.hsmd_socket != NULL) {
			a->hsmd_socket = cfg.hsmd_socket;
		} else {
			a->hsmd_conf = cfg.hsmd_conf;
			/* kmsd's kms-hsmd program, unless --hsmd names one */
			if (a->hsmd == NULL) {
				a->hsmd = cfg.hsmd;
			}
		}
	}
	rc = run(a);
	kmsd_config_free(&cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	struct args a;
	int rc;

	kms_log_init(PROG, KMS_LOG_WARN);
	if ((rc = parse_args(argc, argv, &a)) != 0) {
		return rc < 0 ? 0 : rc;
	}
	if (a.config != NULL) {
		return with_config(&a);
	}
	return run(&a);
}
