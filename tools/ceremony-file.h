/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_CEREMONY_FILE_H
#define KMS_TOOLS_CEREMONY_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * The key ceremony file (kms-ceremony FILE) and the identities list for pre-minting. The
 * ceremony file is in the syntax of common/conf.h; docs/ceremony-file.md describes every key
 * and rule for custodians, and deploy/ceremony.example is a complete example. The parser adds
 * the semantic checks (value rules, the order of the steps, the keys that go together) to
 * kms_conf_parse(), each reported as "NAME:LINE: message" ("NAME: message" when the fault is a
 * key the file does not set).
 */

#define KMS_CER_MAX_NAME          64u       /* ceremony: [A-Za-z0-9._-]{1,64} */
#define KMS_CER_MAX_TEXT          64u       /* operator, witness, custodian: octets of UTF-8 */
#define KMS_CER_MAX_TOKEN_LABEL   32u       /* token_label: printable ASCII */
#define KMS_CER_MAX_KEY_LABEL     128u      /* kek_label, signing_key_label: printable ASCII */
#define KMS_CER_MAX_URI           2048u     /* kms_uri, cert_uri, domain, identities */
#define KMS_CER_MAX_ISSUER        1024u     /* issuer: octets of UTF-8 */
#define KMS_CER_MAX_MODULE_PARAMS 1024u     /* module_params: octets (KMS_P11_MAX_PARAMS) */
#define KMS_CER_MAX_DOMAINS       64u       /* domain lines */
#define KMS_CER_MAX_DOMAIN_LIST   8192u     /* the domains joined with one space */
#define KMS_CER_MAX_CUSTODIANS    255u      /* custodian lines (share x is x's, x = 1..255) */
#define KMS_CER_MAX_CLIENT_ID     255u      /* enrol: client id, printable ASCII without blanks */
#define KMS_CER_MIN_PERIOD        3600u     /* user_key_period, seconds */
#define KMS_CER_MAX_PERIOD        31536000u /* user_key_period, seconds (365 days) */
#define KMS_CER_MAX_PREMINT       1000u     /* premint_periods */
#define KMS_CER_MAX_IDENTITIES    100000u   /* identities in the identities list */
#define KMS_CER_MAX_IDS_FILE      (64u * 1024u * 1024u) /* bytes of the identities list */
#define KMS_CER_TIME_LEN          20u                   /* "YYYY-MM-DDTHH:MM:SSZ" */
#define KMS_CER_TIME_MIN          0LL                   /* 1970-01-01T00:00:00Z */
#define KMS_CER_TIME_MAX          253402300799LL        /* 9999-12-31T23:59:59Z */

enum kms_cer_step {
	KMS_CER_INIT_TOKEN,
	KMS_CER_GENERATE,
	KMS_CER_CERTIFICATE,
	KMS_CER_BACKUP,
	KMS_CER_ENROL,
	KMS_CER_PREMINT,
	KMS_CER_NUM_STEPS
};

/*
 * kms_cer_step_name - the word of step s in a ceremony file ("init-token", "generate",
 * "certificate", "backup", "enrol", "premint"); "?" for a value out of range. Never NULL.
 */
const char *kms_cer_step_name(enum kms_cer_step s);

enum kms_cer_share_output {
	KMS_CER_SHARES_TERMINAL,
	KMS_CER_SHARES_FILES
};

enum kms_cer_oaep {
	KMS_CER_OAEP_SHA1,
	KMS_CER_OAEP_SHA256
};

/* One "enrol = ID CLASS KEYFILE" line. */
struct kms_cer_enrol {
	char *client_id; /* owned; 1..255 octets of printable ASCII without blanks; distinct */
	int server;      /* class: 0 "ue", 1 "server" */
	char *key_file;  /* owned; absolute path of the client's key: a PEM RSA public key, or a
			    file of 64 hex digits (an AES-256 key-encryption key) */
	unsigned line;   /* the line of the file */
};

/*
 * A parsed ceremony file. Every string is owned by the struct (kms_cer_file_free) and
 * NUL-terminated; optional strings that the file does not set are "" (never NULL), optional
 * paths that it does not set are NULL.
 */
struct kms_cer_file {
	char *path;          /* the name the file was parsed as */
	char *ceremony;      /* [A-Za-z0-9._-]{1,64} */
	char *operator_name; /* "operator": 1..64 octets of UTF-8 text */
	char **witnesses;    /* "witness", repeatable, optional: like operator */
	size_t num_witnesses;
	char *module;            /* absolute path of the PKCS#11 module */
	char *module_params;     /* its initialisation string (C_Initialize's pReserved), at most
				    KMS_CER_MAX_MODULE_PARAMS octets; NULL: none */
	char *token_label;       /* 1..32 printable ASCII */
	int has_slot;            /* "slot" set (only with step init-token) */
	uint64_t slot;           /* init-token's slot id */
	char *store;             /* absolute path */
	char *kek_label;         /* default "kms.kek"; 1..128 printable ASCII */
	char *signing_key_label; /* default "kms.ceremony"; 1..128 printable ASCII */
	char *audit_key_label;   /* default "kms.audit": this node's audit checkpoint key */
	uint64_t kwp_mechanism;  /* default 0x210A; 1..0xffffffff */
	int allow_host_ecb_wrap; /* default no */
	char *kms_uri;           /* 1..2048 octets, no blanks */
	char *cert_uri;          /* optional ("" if unset); like kms_uri */
	char *issuer;            /* optional ("" if unset), 1..1024 octets of UTF-8 text */
	int64_t valid_from;      /* Unix seconds, valid_from < valid_to */
	int64_t valid_to;
	uint64_t user_key_period; /* 3600 .. 31536000 seconds */
	uint64_t user_key_offset; /* 0 .. user_key_period - 1, default 0 */
	char **domains;           /* "domain", repeatable, 1..64, distinct, like kms_uri */
	size_t num_domains;
	char **custodians; /* "custodian", repeatable, 2..255, like operator, distinct */
	size_t num_custodians;
	unsigned threshold;                     /* 2 .. num_custodians */
	char *backup_file;                      /* absolute path iff step backup, else NULL */
	enum kms_cer_share_output share_output; /* default terminal */
	char *share_dir;              /* absolute path iff share_output = files, else NULL */
	char *transcript;             /* absolute path, required */
	struct kms_cer_enrol *enrols; /* "enrol = ID CLASS KEYFILE" lines, iff step enrol */
	size_t num_enrols;
	char *enrol_dir;              /* absolute path iff enrol lines, else NULL */
	enum kms_cer_oaep oaep_hash;  /* default sha256 */
	unsigned id_format;           /* "id_format": the ECCSI/SAKKE identifier of pre-minted sets,
					 0 raw (default), 1 hex-lower, 2 hex-upper (enum kms_id_format
					 order; kms-hsmd's id_format must be the same) */
	char *premint_identities;     /* absolute path iff step premint, else NULL */
	int64_t premint_from;         /* iff step premint: the first period contains this time */
	uint64_t premint_periods;     /* iff step premint: 1 .. 1000 (else 0) */
	int steps[KMS_CER_NUM_STEPS]; /* 1 if the file lists the step */
	unsigned step_lines[KMS_CER_NUM_STEPS]; /* the line of each listed step, else 0 */
};

/*
 * kms_cer_file_parse - parse the len octets at data (borrowed) as a ceremony file called name
 * (for messages, and copied into (*out)->path). On success *out is owned (kms_cer_file_free)
 * and err is "". On failure *out is NULL and err (err_len octets; KMS_CONF_ERR_LEN is never
 * cut) says "NAME:LINE: ..." or "NAME: ...". Returns KMS_OK, KMS_ERR_PARSE (anything wrong in
 * the content), KMS_ERR_NOMEM, KMS_ERR_INVALID_ARG (NULL out, name, or data with len > 0).
 * Limits: those of common/conf.h (1 MiB, 10000 lines).
 */
int kms_cer_file_parse(struct kms_cer_file **out, const char *name, const uint8_t *data, size_t len,
		       char *err, size_t err_len) KMS_WUR;

/*
 * kms_cer_file_load - read the file path (kms_conf_load: a regular file of at most 1 MiB) and
 * parse it as kms_cer_file_parse() does, path being its name. Also KMS_ERR_IO when it cannot
 * be opened or read.
 */
int kms_cer_file_load(struct kms_cer_file **out, const char *path, char *err,
		      size_t err_len) KMS_WUR;

/* kms_cer_file_free - free f and everything it owns. NULL is a no-op. */
void kms_cer_file_free(struct kms_cer_file *f);

/*
 * kms_cer_identities_parse - the identities list for pre-minting: one identity URI per line
 * (1..2048 octets of printable ASCII without blanks), lines whose first non-blank character is
 * '#' and blank lines (spaces and tabs only) ignored, lines ending in LF or CRLF (the last may
 * lack it; a CR elsewhere is refused), at most 100000 identities, duplicates refused
 * ("NAME:LINE: duplicate of line N", LINE the later one), at most 64 MiB. On success *out is
 * an array of *num owned strings in file order (kms_cer_identities_free; an empty list is
 * *out NULL, *num 0) and err is "". On failure *out is NULL, *num 0 and err holds
 * "NAME:LINE: ..." or "NAME: ...". Returns KMS_OK, KMS_ERR_PARSE, KMS_ERR_TOO_LARGE (the size
 * or the count), KMS_ERR_NOMEM, KMS_ERR_INVALID_ARG.
 */
int kms_cer_identities_parse(char ***out, size_t *num, const char *name, const uint8_t *data,
			     size_t len, char *err, size_t err_len) KMS_WUR;

/*
 * kms_cer_identities_load - read the regular file path (at most 64 MiB; opened without
 * blocking on a FIFO) and parse it as kms_cer_identities_parse() does. Also KMS_ERR_IO.
 */
int kms_cer_identities_load(char ***out, size_t *num, const char *path, char *err,
			    size_t err_len) KMS_WUR;

/* kms_cer_identities_free - free the num strings of ids and ids. NULL is a no-op. */
void kms_cer_identities_free(char **ids, size_t num);

/*
 * Helpers shared with tools/backup-file.c and kms-ceremony.
 *
 * kms_cer_time_parse - s (NUL-terminated) as "YYYY-MM-DDTHH:MM:SSZ" (UTC only, exactly 20
 *   characters, a real calendar date, seconds 00..59) into Unix seconds in
 *   KMS_CER_TIME_MIN..KMS_CER_TIME_MAX. KMS_OK or KMS_ERR_PARSE (*out 0).
 * kms_cer_time_format - t in that range as "YYYY-MM-DDTHH:MM:SSZ" and a NUL into out.
 *   KMS_OK or KMS_ERR_RANGE (out "").
 * kms_cer_check_text - 1 if s[0..len) is 1..max octets of valid UTF-8 without control
 *   characters (C0 including tab, DEL, C1) and without a leading or trailing space; else 0.
 * kms_cer_check_uri - 1 if s[0..len) is 1..max octets of valid UTF-8 without control
 *   characters and without spaces; else 0.
 * kms_cer_check_ascii - 1 if s[0..len) is 1..max octets of printable ASCII (0x20..0x7e;
 *   0x21..0x7e when blanks is 0) without a leading or trailing space; else 0.
 */
int kms_cer_time_parse(int64_t *out, const char *s) KMS_WUR;
int kms_cer_time_format(char out[static KMS_CER_TIME_LEN + 1], int64_t t) KMS_WUR;
int kms_cer_check_text(const char *s, size_t len, size_t max);
int kms_cer_check_uri(const char *s, size_t len, size_t max);
int kms_cer_check_ascii(const char *s, size_t len, size_t max, int blanks);

#endif /* KMS_TOOLS_CEREMONY_FILE_H */
