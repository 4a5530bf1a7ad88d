/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_COMMON_CONF_H
#define KMS_COMMON_CONF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

/*
 * Configuration files (kms-hsmd, kmsd and the tools). A file is outside input: it is bounded,
 * parsed strictly, and the first problem is reported as "FILE:LINE: message" (or "FILE:
 * message" when no line is at fault) in a buffer the caller prints. docs/configuration.md
 * describes the syntax for operators; in short:
 *
 *     # kms-hsmd.conf
 *     module = /usr/lib/softhsm/libsofthsm2.so
 *     token  = kms-dev
 *     issuer = online
 *     banner = "  two leading spaces, a \"quote\" and a \\ backslash  "
 *
 *   - UTF-8 text (no byte order mark), at most KMS_CONF_MAX_FILE bytes and KMS_CONF_MAX_LINES
 *     lines of at most KMS_CONF_MAX_LINE bytes each. Lines end in "\n"; the last one may lack
 *     it. A "\r" before the "\n" (Windows line endings) is refused with its own message, not
 *     stripped. NUL bytes, control characters other than tab (C0, DEL, and C1 U+0080..U+009F)
 *     and invalid UTF-8 are refused anywhere in the file, comments included.
 *   - Blank lines (spaces and tabs only) are ignored. A line whose first non-blank character
 *     is '#' is a comment; '#' anywhere else is part of the value (no trailing comments).
 *   - Every other line is "key = value". A key is 1 to KMS_CONF_MAX_KEY characters of
 *     [a-z0-9_.-]. Spaces and tabs around the key, around the first '=' and at the end of the
 *     line are dropped. The value is the rest of the line, as is ('=' and '#' included), not
 *     empty, at most KMS_CONF_MAX_VALUE bytes. A value that starts with '"' is quoted: it must
 *     end with the line's last '"', and inside it \" and \\ are the only escapes; quotes keep
 *     leading and trailing spaces, and "" is the empty string.
 *   - Each key may appear once, unless it is declared KMS_CONF_REPEATABLE (its values then
 *     keep the file's order). A key the table does not declare is an error; the message
 *     suggests the closest declared key within edit distance 2, or lists the declared keys.
 *   - Values are typed by the table (enum kms_conf_type). A required key missing from the file
 *     is an error; an optional key missing from it takes its default, if it has one.
 *
 * A value declared KMS_CONF_SECRET never appears in a message, nor does any part of it (not a
 * byte of a bad escape, nor its length); the line and the key name do. The secret flag does not
 * lock memory: kms_conf_free() wipes every value, and the loader wipes its copy of the file,
 * but values sit in ordinary heap memory until then. PINs and keys do not belong in a
 * configuration file (a PIN is read from its own file, hsm/pin.h); copy any secret value into
 * a struct kms_secret and free the conf early.
 *
 * Error codes: KMS_ERR_PARSE for everything wrong with the content (syntax, limits, values,
 * missing keys), KMS_ERR_IO when the file cannot be opened, examined or read, or is not a
 * regular file, KMS_ERR_NOMEM, and KMS_ERR_INVALID_ARG for a caller's mistake (a NULL
 * argument, or a key table that breaks the rules of struct kms_conf_key). The message says
 * which; callers print it and stop.
 */

#define KMS_CONF_MAX_FILE  1048576u /* bytes in a file (1 MiB) */
#define KMS_CONF_MAX_LINES 10000u   /* lines in a file */
#define KMS_CONF_MAX_LINE  16384u /* bytes in a line without its "\n": a 4096-byte value escaped */
#define KMS_CONF_MAX_KEY   64u    /* bytes in a key */
#define KMS_CONF_MAX_VALUE 4096u  /* bytes in a value, after quotes and escapes are removed */
#define KMS_CONF_MAX_PATH  4095u  /* bytes in a KMS_CONF_PATH value (PATH_MAX with its NUL) */
#define KMS_CONF_MAX_KEYS  256u   /* entries in a key table */
#define KMS_CONF_ERR_LEN   1024u  /* a message buffer of this size is never cut */

enum kms_conf_type {
	/* Any text the syntax allows (no control characters but tab), "" included. */
	KMS_CONF_STRING = 1,
	/* yes, true, on (true) or no, false, off (false); lower case only. */
	KMS_CONF_BOOL,
	/*
	 * An unsigned decimal number in [min, max]: digits only, no sign, no spaces, no leading
	 * zero ("0" itself is fine, "007" is refused so it cannot be mistaken for octal). With
	 * KMS_CONF_HEX, also "0x" and 1 to 16 hex digits of either case (leading zeros allowed).
	 */
	KMS_CONF_U64,
	/* One of the words of the key's NULL-terminated list, exactly. */
	KMS_CONF_ENUM,
	/* An absolute path: starts with '/', at most KMS_CONF_MAX_PATH bytes. */
	KMS_CONF_PATH,
	/* A file mode: 1 to 4 octal digits (600, 0640, 2750), at most 07777. */
	KMS_CONF_MODE,
};

enum kms_conf_flag {
	KMS_CONF_REQUIRED = 1u << 0,   /* the file must set it (then it has no default) */
	KMS_CONF_REPEATABLE = 1u << 1, /* may appear on several lines; each is a value */
	KMS_CONF_SECRET = 1u << 2,     /* its value never appears in a message */
	KMS_CONF_HEX = 1u << 3,        /* KMS_CONF_U64 only: 0x hexadecimal is accepted too */
};

/*
 * One key the caller declares. Tables are usually static const and written with designated
 * initialisers:
 *
 *     static const char *const issuers[] = {"online", "pre-minted", NULL};
 *     static const struct kms_conf_key keys[] = {
 *             {.name = "module", .type = KMS_CONF_PATH, .flags = KMS_CONF_REQUIRED},
 *             {.name = "issuer", .type = KMS_CONF_ENUM, .words = issuers, .def = "online"},
 *             {.name = "workers", .type = KMS_CONF_U64, .min = 1, .max = 64, .def = "4"},
 *             {.name = "mechanism", .type = KMS_CONF_U64, .flags = KMS_CONF_REPEATABLE |
 *              KMS_CONF_HEX, .max = UINT64_MAX},
 *     };
 *
 * The parser refuses a table (KMS_ERR_INVALID_ARG) unless: names are valid keys and distinct;
 * the type is one of enum kms_conf_type and flags only enum kms_conf_flag bits; KMS_CONF_HEX is
 * on a KMS_CONF_U64 only; a required key has no default; a default is a valid value of its key
 * (as written in a file: quotes and escapes work); words is set for KMS_CONF_ENUM only, with
 * at least one word, each a valid key name (the words are as strict as keys), all distinct;
 * min and max are set for KMS_CONF_U64 only, with min <= max and max != 0 (a forgotten bound
 * would allow only 0). A repeatable key's default is its single value when the file sets none.
 */
struct kms_conf_key {
	const char *name; /* borrowed */
	enum kms_conf_type type;
	unsigned int flags;       /* enum kms_conf_flag bits */
	const char *def;          /* borrowed; NULL: no default (the key may stay unset) */
	uint64_t min;             /* KMS_CONF_U64: inclusive bounds */
	uint64_t max;             /* KMS_CONF_U64: UINT64_MAX for no upper bound */
	const char *const *words; /* borrowed; KMS_CONF_ENUM: the allowed words, NULL-terminated */
};

/* A parsed file: opaque. It borrows the key table, which must outlive it. */
struct kms_conf;

/*
 * kms_conf_load - open path, check it and parse it with kms_conf_parse() against the num_keys
 * keys of the table keys. The file is opened O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK (a
 * FIFO cannot block the open); the descriptor must be a regular file of at most
 * KMS_CONF_MAX_FILE bytes (fstat) before anything is read, and is read to exactly that size
 * (a file that grows or shrinks meanwhile is refused). Symbolic links are followed. path is
 * the name in messages. On success *out is a new conf (owned: kms_conf_free() it) and err is
 * "". On failure *out is NULL, err holds the message (cut to err_len - 1 bytes, ending in
 * "...", if it does not fit; KMS_CONF_ERR_LEN always fits a message about a path of up to 256
 * bytes) and the return is KMS_ERR_IO (cannot open, stat or read it, or not a regular file),
 * KMS_ERR_PARSE (the size, or any error of kms_conf_parse), KMS_ERR_NOMEM or
 * KMS_ERR_INVALID_ARG. err may be NULL only if err_len is 0.
 */
int kms_conf_load(struct kms_conf **out, char *err, size_t err_len, const struct kms_conf_key *keys,
		  size_t num_keys, const char *path) KMS_WUR;

/*
 * kms_conf_parse - parse the len bytes at data (borrowed; data may be NULL if len is 0) as a
 * configuration file called name (used in messages only) against the table keys (borrowed by
 * the result). The whole text is parsed and checked before anything is returned; the first
 * error in file order wins, then the first missing required key in table order. Returns KMS_OK
 * with *out a new conf (owned), KMS_ERR_PARSE, KMS_ERR_NOMEM or KMS_ERR_INVALID_ARG (see the
 * top of this file), with *out NULL and the message in err as for kms_conf_load().
 */
int kms_conf_parse(struct kms_conf **out, char *err, size_t err_len,
		   const struct kms_conf_key *keys, size_t num_keys, const char *name,
		   const uint8_t *data, size_t len) KMS_WUR;

/* kms_conf_free - wipe every value and free conf. NULL is a no-op. */
void kms_conf_free(struct kms_conf *conf);

/*
 * kms_conf_count - how many values key name has: its number of lines in the file, else 1 if
 * it has a default, else 0. 0 also for a name the table does not declare.
 */
size_t kms_conf_count(const struct kms_conf *conf, const char *name);

/*
 * kms_conf_line - the line of the file that set value i of key name (1-based), or 0 when the
 * value is the default or there is no such value.
 */
unsigned int kms_conf_line(const struct kms_conf *conf, const char *name, size_t i);

/*
 * The typed getters: value i (0 for a key that is not repeatable; 0 .. kms_conf_count() - 1
 * in file order for one that is) of key name. They return KMS_OK; KMS_ERR_INVALID_ARG when
 * conf, name or out is NULL, or name is not declared with a type the getter serves (a bug in
 * the caller); KMS_ERR_RANGE when the key has no value i (in particular, an optional key
 * without a default that the file does not set has none). *out is cleared on failure.
 *
 * kms_conf_str - KMS_CONF_STRING, KMS_CONF_PATH, KMS_CONF_ENUM (the word): the value as a
 *   NUL-terminated string without NUL inside, at most KMS_CONF_MAX_VALUE bytes, borrowed from
 *   conf (valid until kms_conf_free()).
 * kms_conf_bool - KMS_CONF_BOOL.
 * kms_conf_u64 - KMS_CONF_U64: a number in [min, max].
 * kms_conf_enum - KMS_CONF_ENUM: the index of the word in the key's words.
 * kms_conf_mode - KMS_CONF_MODE: a mode <= 07777.
 */
int kms_conf_str(const struct kms_conf *conf, const char *name, size_t i, const char **out) KMS_WUR;
int kms_conf_bool(const struct kms_conf *conf, const char *name, size_t i, bool *out) KMS_WUR;
int kms_conf_u64(const struct kms_conf *conf, const char *name, size_t i, uint64_t *out) KMS_WUR;
int kms_conf_enum(const struct kms_conf *conf, const char *name, size_t i, size_t *out) KMS_WUR;
int kms_conf_mode(const struct kms_conf *conf, const char *name, size_t i, mode_t *out) KMS_WUR;

/*
 * kms_conf_decimal - the decimal grammar of KMS_CONF_U64, for numbers that come from argv or
 * the environment: s[0..len) is 1 or more digits, no sign, no space, no leading zero ("0"
 * itself is fine), at most max. KMS_OK with *out set; KMS_ERR_PARSE (not such a number) or
 * KMS_ERR_RANGE (above max, or above 2^64 - 1), *out untouched.
 */
int kms_conf_decimal(const char *s, size_t len, uint64_t max, uint64_t *out) KMS_WUR;

/*
 * kms_conf_read_file - read the whole regular file path, of at most max bytes, into *out
 * (malloc'd, owned; NUL-terminated after *out_len bytes): opened O_RDONLY | O_CLOEXEC |
 * O_NOCTTY | O_NONBLOCK, fstat checked before anything is read, read to exactly that size (a
 * file that grows or shrinks meanwhile is refused). The buffer is wiped before it is freed on
 * failure; the caller wipes it after use if it may hold a secret. Returns KMS_OK; KMS_ERR_IO
 * (cannot open, stat or read it, or not a regular file); KMS_ERR_TOO_LARGE; KMS_ERR_NOMEM;
 * KMS_ERR_INVALID_ARG; with the "PATH: message" in err (kms_conf_errf). kms_conf_load reads
 * with it.
 */
int kms_conf_read_file(const char *path, size_t max, uint8_t **out, size_t *out_len, char *err,
		       size_t err_len) KMS_WUR;

/*
 * kms_conf_read_fd - the reading part of kms_conf_read_file, for a caller that opens and checks
 * the file itself (hsm/pin.c: O_NOFOLLOW, owner and mode) and reads into memory of its own (a
 * struct kms_secret): read exactly len bytes from fd, a file that fstat said is len bytes
 * long, into buf (borrowed, len bytes; may be NULL if len is 0), then check that the file ends
 * there (a file that shrank or grew since the fstat is refused). Reads restart after EINTR.
 * name is the file's name in messages. Returns KMS_OK; KMS_ERR_IO with "NAME: cannot read:
 * REASON" in err (kms_conf_errf; REASON is the read's strerror, or that the file shrank or
 * grew while being read); KMS_ERR_INVALID_ARG (fd < 0, name NULL, buf NULL with len > 0, err
 * NULL with err_len > 0; nothing read, err untouched). On KMS_ERR_IO buf is wiped; a byte
 * read past the end is always wiped.
 */
int kms_conf_read_fd(int fd, const char *name, uint8_t *buf, size_t len, char *err,
		     size_t err_len) KMS_WUR;

/*
 * kms_conf_errf / kms_conf_verrf - the message form of this file, for parsers of files in this
 * syntax that add rules of their own: "NAME:LINE: message" (or "NAME: message" for line 0) into
 * err (err_len bytes; nothing when err is NULL or err_len 0). A message that does not fit is
 * cut on a UTF-8 character boundary and ends in "...". Returns KMS_ERR_PARSE, always, so that a
 * caller can `return kms_conf_errf(...)`.
 */
int kms_conf_errf(char *err, size_t err_len, const char *name, unsigned int line, const char *fmt,
		  ...) __attribute__((format(printf, 5, 6)));
int kms_conf_verrf(char *err, size_t err_len, const char *name, unsigned int line, const char *fmt,
		   va_list ap) __attribute__((format(printf, 5, 0)));

#endif /* KMS_COMMON_CONF_H */
