/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store on SQLite 3 (docs/store.md has the schema and the rules).
 *
 * The file is outside input: kmsd, kms-hsmd and the tools share it, a backup may come back
 * from anywhere, and whoever can write it can put anything in it. So the connection is
 * configured not to run code from the file (no triggers, no views, no untrusted schema
 * functions, defensive mode), the schema is compared with ours object by object at open, and
 * every value read back is checked for its type, its length and its characters before it is
 * copied out: a value that fails is KMS_ERR_PARSE, as for any malformed input. The CHECK
 * constraints of the schema repeat the bounds (defence in depth); the C checks come first.
 */
#include "proto/store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/log.h"
#include "common/secmem.h"
#include "proto/mp.h"

#include "common/banned.h"

/* UPSERT (3.24), SQLITE_OPEN_NOFOLLOW and SQLITE_DBCONFIG_TRUSTED_SCHEMA (3.31). */
#if SQLITE_VERSION_NUMBER < 3031000
#error "the store needs SQLite 3.31 or later (Debian 12 has 3.40)"
#endif

#define XSTR(x) #x
#define STR(x)  XSTR(x)

/* PRAGMA application_id: "KMSS". file(1) and the open below recognise a store by it. */
#define STORE_APP_ID 0x4b4d5353

/* How long a statement waits for another connection's lock (kmsd, kms-hsmd, the tools). */
#define STORE_BUSY_TIMEOUT_MS 5000

/*
 * The largest value SQLite will materialise for this connection (SQLITE_LIMIT_LENGTH): our
 * values are at most KMS_STORE_MAX_URI bytes, so a hostile file cannot make a read allocate a
 * gigabyte before our length checks run (SQLITE_TOOBIG instead, mapped to KMS_ERR_PARSE).
 */
#define STORE_VALUE_LIMIT 65536

#define SQL_MAX_ID   STR(KMS_STORE_MAX_ID)
#define SQL_MAX_URI  STR(KMS_STORE_MAX_URI)
#define SQL_MAX_BLOB STR(KMS_STORE_MAX_BLOB)

/* CHECK constraints, by kind of column (the same bounds as the C checks). */
#define SQL_NO_NUL(c) "instr(CAST(" c " AS BLOB), x'00') = 0"
#define SQL_URI(c, min)                                                                            \
	"CHECK (typeof(" c ") = 'text' AND length(CAST(" c " AS BLOB)) BETWEEN " min               \
	" AND " SQL_MAX_URI " AND " SQL_NO_NUL(c) ")"
#define SQL_ID(c)                                                                                  \
	"CHECK (typeof(" c ") = 'text' AND length(CAST(" c " AS BLOB)) BETWEEN 1 AND " SQL_MAX_ID  \
	" AND " SQL_NO_NUL(c) " AND " c " NOT GLOB '*[^!-~]*')"
#define SQL_BLOB(c, min, max)                                                                      \
	"CHECK (typeof(" c ") = 'blob' AND length(" c ") BETWEEN " min " AND " max ")"
#define SQL_FLAG(c)         "CHECK (typeof(" c ") = 'integer' AND " c " IN (0, 1))"
#define SQL_INT_MIN(c, min) "CHECK (typeof(" c ") = 'integer' AND " c " >= " min ")"

/*
 * Schema version 1. sqlite_schema keeps each CREATE statement verbatim, and open compares
 * every object of the file with this list: same objects, same text, nothing else. Tables
 * keyed by text are WITHOUT ROWID, so no automatic index appears beside them.
 */
static const struct store_table {
	const char *name;
	const char *sql;
} store_tables[] = {
	{"certificate",
	 "CREATE TABLE certificate (\n"
	 "\tid INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),\n"
	 "\tkms_uri TEXT NOT NULL " SQL_URI(
		 "kms_uri",
		 "1") ",\n"
		      "\tcert_uri TEXT NOT NULL " SQL_URI(
			      "cert_uri",
			      "0") ",\n"
				   "\tuser_key_period INTEGER NOT NULL " SQL_INT_MIN(
					   "user_key_period",
					   "1") ",\n"
						"\tuser_key_offset INTEGER NOT NULL " SQL_INT_MIN(
							"user_key_offset",
							"0") ",\n"
							     "\tkpak BLOB NOT NULL " SQL_BLOB(
								     "kpak", "65",
								     "65") ",\n"
									   "\tz_t BLOB NOT "
									   "NULL " SQL_BLOB(
										   "z_t", "257",
										   "257") "\n"
											  ")"},
	{"clients",
	 "CREATE TABLE clients (\n"
	 "\tclient_id TEXT PRIMARY KEY NOT NULL " SQL_ID(
		 "client_id") ",\n"
			      "\tclass TEXT NOT NULL CHECK (typeof(class) = 'text' AND class IN "
			      "('ue', 'server')),\n"
			      "\ttrk_label TEXT NOT NULL " SQL_ID(
				      "trk_label") ",\n"
						   "\tink_label TEXT NOT NULL " SQL_ID(
							   "ink_label") ",\n"
									"\trevoked INTEGER NOT "
									"NULL " SQL_FLAG(
										"revoked") "\n"
											   ") "
											   "WITHOUT"
											   " ROWI"
											   "D"},
	{"entitlements", "CREATE TABLE entitlements (\n"
			 "\tclient_id TEXT NOT NULL REFERENCES clients (client_id),\n"
			 "\turi TEXT NOT NULL REFERENCES identities (uri),\n"
			 "\tPRIMARY KEY (client_id, uri)\n"
			 ") WITHOUT ROWID"},
	{"identities",
	 "CREATE TABLE identities (\n"
	 "\turi TEXT PRIMARY KEY NOT NULL " SQL_URI(
		 "uri", "1") ",\n"
			     "\trevoked INTEGER NOT NULL " SQL_FLAG("revoked") "\n"
									       ") WITHOUT ROWID"},
	{"keysets",
	 "CREATE TABLE keysets (\n"
	 "\turi TEXT NOT NULL REFERENCES identities (uri),\n"
	 "\tperiod INTEGER NOT NULL " SQL_INT_MIN(
		 "period",
		 "0") ",\n"
		      "\trsk BLOB NOT NULL " SQL_BLOB(
			      "rsk", "1",
			      SQL_MAX_BLOB) ",\n"
					    "\tssk BLOB NOT NULL " SQL_BLOB(
						    "ssk", "1",
						    SQL_MAX_BLOB) ",\n"
								  "\tpvt BLOB NOT NULL " SQL_BLOB(
									  "pvt", "1",
									  SQL_MAX_BLOB) ",\n"
											"\tPRIMARY "
											"KEY (uri, "
											"period)\n"
											") WITHOUT "
											"ROWID"},
	{"secrets",
	 "CREATE TABLE secrets (\n"
	 "\tname TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text' AND name IN ('ksak', "
	 "'z_t')),\n"
	 "\twrapped BLOB NOT NULL " SQL_BLOB("wrapped", "1", SQL_MAX_BLOB) "\n"
									   ") WITHOUT ROWID"},
};
#define NUM_STORE_TABLES (sizeof(store_tables) / sizeof(store_tables[0]))

/* The statements, prepared on first use and kept until close. */
enum stmt_id {
	S_GET_CERT,
	S_PUT_CERT,
	S_GET_SECRET,
	S_PUT_SECRET,
	S_GET_CLIENT,
	S_PUT_CLIENT,
	S_HAS_CLIENT,
	S_ADD_IDENTITY,
	S_HAS_IDENTITY,
	S_SET_IDENTITY_REVOKED,
	S_ENTITLE,
	S_WITHDRAW,
	S_CHECK_ENTITLED,
	S_GET_KEYSET,
	S_PUT_KEYSET,
	NUM_STMTS,
};

static const char *const stmt_sql[NUM_STMTS] = {
	[S_GET_CERT] = "SELECT kms_uri, cert_uri, user_key_period, user_key_offset, kpak, z_t "
		       "FROM certificate WHERE id = 1",
	[S_PUT_CERT] = "INSERT INTO certificate (id, kms_uri, cert_uri, user_key_period, "
		       "user_key_offset, kpak, z_t) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6) "
		       "ON CONFLICT (id) DO UPDATE SET kms_uri = excluded.kms_uri, "
		       "cert_uri = excluded.cert_uri, user_key_period = excluded.user_key_period, "
		       "user_key_offset = excluded.user_key_offset, kpak = excluded.kpak, "
		       "z_t = excluded.z_t",
	[S_GET_SECRET] = "SELECT wrapped FROM secrets WHERE name = ?1",
	[S_PUT_SECRET] = "INSERT INTO secrets (name, wrapped) VALUES (?1, ?2) "
			 "ON CONFLICT (name) DO UPDATE SET wrapped = excluded.wrapped",
	[S_GET_CLIENT] = "SELECT class, trk_label, ink_label, revoked FROM clients "
			 "WHERE client_id = ?1",
	[S_PUT_CLIENT] = "INSERT INTO clients (client_id, class, trk_label, ink_label, revoked) "
			 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (client_id) DO UPDATE SET "
			 "class = excluded.class, trk_label = excluded.trk_label, "
			 "ink_label = excluded.ink_label, revoked = excluded.revoked",
	[S_HAS_CLIENT] = "SELECT 1 FROM clients WHERE client_id = ?1",
	[S_ADD_IDENTITY] = "INSERT INTO identities (uri, revoked) VALUES (?1, 0) "
			   "ON CONFLICT (uri) DO NOTHING",
	[S_HAS_IDENTITY] = "SELECT 1 FROM identities WHERE uri = ?1",
	[S_SET_IDENTITY_REVOKED] = "UPDATE identities SET revoked = ?2 WHERE uri = ?1",
	[S_ENTITLE] = "INSERT INTO entitlements (client_id, uri) VALUES (?1, ?2) "
		      "ON CONFLICT (client_id, uri) DO NOTHING",
	[S_WITHDRAW] = "DELETE FROM entitlements WHERE client_id = ?1 AND uri = ?2",
	/* One query for every "no": the caller learns nothing about which part failed. */
	[S_CHECK_ENTITLED] = "SELECT 1 FROM entitlements AS e "
			     "JOIN clients AS c ON c.client_id = e.client_id "
			     "JOIN identities AS i ON i.uri = e.uri "
			     "WHERE e.client_id = ?1 AND e.uri = ?2 "
			     "AND typeof(c.revoked) = 'integer' AND c.revoked = 0 "
			     "AND typeof(i.revoked) = 'integer' AND i.revoked = 0",
	[S_GET_KEYSET] = "SELECT rsk, ssk, pvt FROM keysets WHERE uri = ?1 AND period = ?2",
	[S_PUT_KEYSET] = "INSERT INTO keysets (uri, period, rsk, ssk, pvt) "
			 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (uri, period) DO UPDATE SET "
			 "rsk = excluded.rsk, ssk = excluded.ssk, pvt = excluded.pvt",
};

struct kms_store {
	sqlite3 *db; /* owned */
	int read_only;
	sqlite3_stmt *stmts[NUM_STMTS]; /* owned; NULL until first use */
};

/* ---------------------------------------------------------------------------------------- */
/* SQLite errors                                                                              */

/*
 * The one place SQLite result codes become ours: out of memory is KMS_ERR_NOMEM; a file that
 * is not a database, is corrupt, or holds a value above STORE_VALUE_LIMIT is malformed input
 * (KMS_ERR_PARSE); everything else (locks held too long, a read-only file, disk full, I/O)
 * is KMS_ERR_IO.
 */
static int
map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return KMS_ERR_NOMEM;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_TOOBIG:
		return KMS_ERR_PARSE;
	default:
		return KMS_ERR_IO;
	}
}

/*
 * Log a failed SQLite call and map its code. SQLite's messages name tables, columns and
 * constraints, never bound values, so no blob reaches the log.
 */
static int
db_fail(struct kms_store *st, int rc, const char *what)
{
	kms_log(KMS_LOG_ERR, "store: %s: %s (%s)", what, sqlite3_errmsg(st->db),
		sqlite3_errstr(rc));
	return map_rc(rc);
}

/* A value read from the file failed its checks. */
static int
bad_value(const char *what)
{
	kms_log(KMS_LOG_ERR,
		"store: %s: a value in the file has the wrong type, length or "
		"characters",
		what);
	return KMS_ERR_PARSE;
}

/* ---------------------------------------------------------------------------------------- */
/* Text checks (arguments and values read back)                                               */

/* 1 if s[0..len) is 1..KMS_STORE_MAX_ID visible ASCII characters (0x21..0x7e), else 0. */
static int
id_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > KMS_STORE_MAX_ID) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) {
			return 0;
		}
	}
	return 1;
}

/* 1 if s[0..len) is min_len..KMS_STORE_MAX_URI bytes of UTF-8 without NUL, else 0. */
static int
uri_ok(const char *s, size_t len, size_t min_len)
{
	if (len < min_len || len > KMS_STORE_MAX_URI) {
		return 0;
	}
	if (len > 0 && memchr(s, '\0', len) != NULL) {
		return 0;
	}
	return kms_mp_utf8_check((const uint8_t *)s, len) == KMS_OK;
}

/*
 * The length of the C string s if it is terminated within cap bytes, else cap (which every
 * check below refuses, because cap is one more than the largest length allowed).
 */
static size_t
c_len(const char *s, size_t cap)
{
	return strnlen(s, cap);
}

/* An argument client id or label: KMS_OK or KMS_ERR_INVALID_ARG. */
static int
arg_id(const char *s)
{
	if (s == NULL || !id_ok(s, c_len(s, KMS_STORE_MAX_ID + 1))) {
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

/* An argument URI: KMS_OK or KMS_ERR_INVALID_ARG. */
static int
arg_uri(const char *s, size_t min_len)
{
	if (s == NULL || !uri_ok(s, c_len(s, KMS_STORE_MAX_URI + 1), min_len)) {
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

/* An argument blob: 1..KMS_STORE_MAX_BLOB bytes. */
static int
arg_blob(const struct kms_store_blob *b)
{
	if (b == NULL || b->len == 0 || b->len > KMS_STORE_MAX_BLOB) {
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

/* The names of the master secrets. */
static int
arg_secret_name(const char *name)
{
	if (name == NULL || (strcmp(name, "ksak") != 0 && strcmp(name, "z_t") != 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Statements                                                                                 */

/* The prepared statement id (borrowed: it belongs to st), preparing it on first use. */
static int
stmt_get(struct kms_store *st, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	*out = NULL;
	if (st->stmts[id] == NULL) {
		rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					&st->stmts[id], NULL);
		if (rc != SQLITE_OK) {
			st->stmts[id] = NULL;
			return db_fail(st, rc, "prepare");
		}
	}
	*out = st->stmts[id];
	return KMS_OK;
}

/*
 * Back to the start, bindings dropped: a statement never keeps a lock or a pointer to the
 * caller's buffers (bound with SQLITE_STATIC) beyond the call that used it.
 */
static void
stmt_done(sqlite3_stmt *s)
{
	if (s != NULL) {
		(void)sqlite3_reset(s);
		(void)sqlite3_clear_bindings(s);
	}
}

static int
bind_text(struct kms_store *st, sqlite3_stmt *s, int i, const char *v, size_t len)
{
	int rc;

	/* len <= KMS_STORE_MAX_URI: the int conversion is exact. */
	if ((rc = sqlite3_bind_text(s, i, v, (int)len, SQLITE_STATIC)) != SQLITE_OK) {
		return db_fail(st, rc, "bind");
	}
	return KMS_OK;
}

static int
bind_str(struct kms_store *st, sqlite3_stmt *s, int i, const char *v)
{
	return bind_text(st, s, i, v, strlen(v));
}

static int
bind_blob(struct kms_store *st, sqlite3_stmt *s, int i, const uint8_t *v, size_t len)
{
	int rc;

	/* len <= KMS_STORE_MAX_URI (a certificate's z_t): the int conversion is exact. */
	if ((rc = sqlite3_bind_blob(s, i, v, (int)len, SQLITE_STATIC)) != SQLITE_OK) {
		return db_fail(st, rc, "bind");
	}
	return KMS_OK;
}

static int
bind_u64(struct kms_store *st, sqlite3_stmt *s, int i, uint64_t v)
{
	int rc;

	/* Callers refused v > INT64_MAX. */
	if ((rc = sqlite3_bind_int64(s, i, (sqlite3_int64)v)) != SQLITE_OK) {
		return db_fail(st, rc, "bind");
	}
	return KMS_OK;
}

/* Step s: KMS_OK and *out_row 1 (a row is there) or 0 (done), or a mapped error. */
static int
step(struct kms_store *st, sqlite3_stmt *s, const char *what, int *out_row)
{
	int rc;

	*out_row = 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*out_row = 1;
		return KMS_OK;
	}
	if (rc == SQLITE_DONE) {
		return KMS_OK;
	}
	return db_fail(st, rc, what);
}

/* ---------------------------------------------------------------------------------------- */
/* Columns read back, each checked for type and length before it is used                      */

/* Column i as a blob of min_len..max_len bytes, copied to out (cap max_len). */
static int
col_blob(struct kms_store *st, sqlite3_stmt *s, int i, uint8_t *out, size_t min_len, size_t max_len,
	 size_t *out_len)
{
	const void *p;
	int n;

	*out_len = 0;
	if (sqlite3_column_type(s, i) != SQLITE_BLOB) {
		return KMS_ERR_PARSE;
	}
	p = sqlite3_column_blob(s, i);
	n = sqlite3_column_bytes(s, i);
	if (n < 0 || (size_t)n < min_len || (size_t)n > max_len) {
		return KMS_ERR_PARSE;
	}
	if (n > 0) {
		if (p == NULL) {
			return db_fail(st, sqlite3_errcode(st->db), "read");
		}
		memcpy(out, p, (size_t)n);
	}
	*out_len = (size_t)n;
	return KMS_OK;
}

/* Column i as a blob of exactly len bytes. */
static int
col_blob_exact(struct kms_store *st, sqlite3_stmt *s, int i, uint8_t *out, size_t len)
{
	size_t got;

	return col_blob(st, s, i, out, len, len, &got);
}

enum text_kind {
	TEXT_ID,      /* 1..KMS_STORE_MAX_ID visible ASCII */
	TEXT_URI,     /* 1..KMS_STORE_MAX_URI UTF-8 without NUL */
	TEXT_URI_OPT, /* 0..KMS_STORE_MAX_URI UTF-8 without NUL */
};

/*
 * Column i as text of its kind, copied NUL-terminated into out (cap bytes, one more than the
 * kind's largest length).
 */
static int
col_text(struct kms_store *st, sqlite3_stmt *s, int i, enum text_kind kind, char *out, size_t cap)
{
	const unsigned char *p;
	size_t len;
	int n, ok;

	if (sqlite3_column_type(s, i) != SQLITE_TEXT) {
		return KMS_ERR_PARSE;
	}
	p = sqlite3_column_text(s, i);
	n = sqlite3_column_bytes(s, i);
	if (p == NULL) {
		return db_fail(st, sqlite3_errcode(st->db), "read"); /* out of memory */
	}
	if (n < 0) {
		return KMS_ERR_PARSE;
	}
	len = (size_t)n;
	if (kind == TEXT_ID) {
		ok = id_ok((const char *)p, len);
	} else {
		ok = uri_ok((const char *)p, len, kind == TEXT_URI ? 1 : 0);
	}
	if (!ok || len >= cap) {
		return KMS_ERR_PARSE;
	}
	memcpy(out, p, len);
	out[len] = '\0';
	return KMS_OK;
}

/* Column i as an integer in 0..INT64_MAX (min_v..INT64_MAX). */
static int
col_u64(sqlite3_stmt *s, int i, int64_t min_v, uint64_t *out)
{
	sqlite3_int64 v;

	*out = 0;
	if (sqlite3_column_type(s, i) != SQLITE_INTEGER) {
		return KMS_ERR_PARSE;
	}
	v = sqlite3_column_int64(s, i);
	if (v < 0 || v < min_v) {
		return KMS_ERR_PARSE;
	}
	*out = (uint64_t)v;
	return KMS_OK;
}

/* Column i as a flag (0 or 1). */
static int
col_flag(sqlite3_stmt *s, int i, int *out)
{
	sqlite3_int64 v;

	*out = 0;
	if (sqlite3_column_type(s, i) != SQLITE_INTEGER) {
		return KMS_ERR_PARSE;
	}
	v = sqlite3_column_int64(s, i);
	if (v != 0 && v != 1) {
		return KMS_ERR_PARSE;
	}
	*out = (int)v;
	return KMS_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Transactions                                                                               */

static int
exec(struct kms_store *st, const char *sql, const char *what)
{
	int rc;

	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
		return db_fail(st, rc, what);
	}
	return KMS_OK;
}

/*
 * Start a write: refused on a read-only store (KMS_ERR_INVALID_ARG, before SQLite, which
 * would refuse too); BEGIN IMMEDIATE takes the write lock now (waiting up to the busy
 * timeout), so nothing between here and COMMIT can fail for a lock upgrade.
 */
static int
write_begin(struct kms_store *st)
{
	if (st->read_only) {
		kms_log(KMS_LOG_ERR, "store: write refused: the store is open read-only");
		return KMS_ERR_INVALID_ARG;
	}
	return exec(st, "BEGIN IMMEDIATE", "begin");
}

/* End a write begun by write_begin: commit if r is KMS_OK, else roll back. Returns the result. */
static int
write_end(struct kms_store *st, int r)
{
	if (r == KMS_OK) {
		r = exec(st, "COMMIT", "commit");
	}
	/* Some errors roll the transaction back themselves; a failed COMMIT may not. */
	if (r != KMS_OK && !sqlite3_get_autocommit(st->db)) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Open and close                                                                             */

/* Run a PRAGMA that answers one integer row. */
static int
pragma_int(struct kms_store *st, const char *sql, int *out)
{
	sqlite3_stmt *s = NULL;
	int rc, r = KMS_ERR_INTERNAL;

	*out = 0;
	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		return db_fail(st, rc, sql);
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? KMS_ERR_INTERNAL : db_fail(st, rc, sql);
		goto out;
	}
	if (sqlite3_column_type(s, 0) != SQLITE_INTEGER) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	*out = sqlite3_column_int(s, 0);
	r = KMS_OK;
out:
	(void)sqlite3_finalize(s);
	return r;
}

/* Set a connection PRAGMA and read it back: a setting that did not take is a failure. */
static int
pragma_set(struct kms_store *st, const char *set_sql, const char *get_sql, int want)
{
	int r, v;

	if ((r = exec(st, set_sql, set_sql)) != KMS_OK) {
		return r;
	}
	if ((r = pragma_int(st, get_sql, &v)) != KMS_OK) {
		return r;
	}
	if (v != want) {
		kms_log(KMS_LOG_ERR, "store: %s did not take effect", set_sql);
		return KMS_ERR_IO;
	}
	return KMS_OK;
}

/*
 * Connection settings that touch nothing in the file: nothing from the file runs (triggers,
 * views, schema functions, extensions), busy timeout, foreign keys, secure delete, cell size
 * checks; a read-only store is also query_only.
 */
static int
configure(struct kms_store *st)
{
	static const struct {
		int op, value;
	} cfg[] = {
		{SQLITE_DBCONFIG_DEFENSIVE, 1},
		{SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0},
		{SQLITE_DBCONFIG_ENABLE_TRIGGER, 0},
		{SQLITE_DBCONFIG_ENABLE_VIEW, 0},
		{SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0},
		{SQLITE_DBCONFIG_ENABLE_FTS3_TOKENIZER, 0},
	};
	size_t i;
	int rc, r, got;

	for (i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++) {
		got = -1;
		rc = sqlite3_db_config(st->db, cfg[i].op, cfg[i].value, &got);
		if (rc != SQLITE_OK || got != cfg[i].value) {
			kms_log(KMS_LOG_ERR, "store: cannot configure the connection (option %d)",
				cfg[i].op);
			return KMS_ERR_IO;
		}
	}
	(void)sqlite3_limit(st->db, SQLITE_LIMIT_LENGTH, STORE_VALUE_LIMIT);
	(void)sqlite3_limit(st->db, SQLITE_LIMIT_ATTACHED, 0);
	if ((rc = sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS)) != SQLITE_OK) {
		return db_fail(st, rc, "busy_timeout");
	}
	if ((r = pragma_set(st, "PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1)) != KMS_OK ||
	    (r = pragma_set(st, "PRAGMA secure_delete = ON", "PRAGMA secure_delete", 1)) !=
		    KMS_OK ||
	    (r = pragma_set(st, "PRAGMA cell_size_check = ON", "PRAGMA cell_size_check", 1)) !=
		    KMS_OK) {
		return r;
	}
	if (st->read_only &&
	    (r = pragma_set(st, "PRAGMA query_only = ON", "PRAGMA query_only", 1)) != KMS_OK) {
		return r;
	}
	return KMS_OK;
}

/* The schema of a file we have just created (empty): one transaction. */
static int
create_schema(struct kms_store *st)
{
	size_t i;
	int r;

	if ((r = exec(st, "BEGIN IMMEDIATE", "begin")) != KMS_OK) {
		return r;
	}
	for (i = 0; i < NUM_STORE_TABLES && r == KMS_OK; i++) {
		r = exec(st, store_tables[i].sql, "create the schema");
	}
	if (r == KMS_OK) {
		r = exec(st, "PRAGMA application_id = " STR(STORE_APP_ID), "application_id");
	}
	if (r == KMS_OK) {
		r = exec(st, "PRAGMA user_version = " STR(KMS_STORE_SCHEMA_VERSION),
			 "user_version");
	}
	return write_end(st, r);
}

/*
 * Is the file a store of our version? user_version, application_id, then every object in
 * sqlite_schema against store_tables (same names, same CREATE text, nothing more). Any
 * difference is KMS_ERR_PARSE; a file that is not SQLite fails in the first read
 * (SQLITE_NOTADB, also KMS_ERR_PARSE).
 */
static int
verify_schema(struct kms_store *st)
{
	static const char sql[] = "SELECT type, name, tbl_name, sql FROM sqlite_schema "
				  "ORDER BY name";
	sqlite3_stmt *s = NULL;
	const char *type, *name, *tbl, *text;
	size_t seen = 0;
	int rc, r = KMS_ERR_INTERNAL, version, app_id;

	if ((r = pragma_int(st, "PRAGMA user_version", &version)) != KMS_OK) {
		return r;
	}
	if (version != KMS_STORE_SCHEMA_VERSION) {
		kms_log(KMS_LOG_ERR, "store: schema version %d, this program reads %d", version,
			KMS_STORE_SCHEMA_VERSION);
		return KMS_ERR_PARSE;
	}
	if ((r = pragma_int(st, "PRAGMA application_id", &app_id)) != KMS_OK) {
		return r;
	}
	if (app_id != STORE_APP_ID) {
		kms_log(KMS_LOG_ERR, "store: the file is not a KMS store (application_id)");
		return KMS_ERR_PARSE;
	}
	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK) {
		return db_fail(st, rc, "schema");
	}
	r = KMS_ERR_PARSE;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* store_tables is sorted by name, as the query is (names are ASCII). */
		type = (const char *)sqlite3_column_text(s, 0);
		name = (const char *)sqlite3_column_text(s, 1);
		tbl = (const char *)sqlite3_column_text(s, 2);
		text = (const char *)sqlite3_column_text(s, 3);
		if (seen >= NUM_STORE_TABLES || type == NULL || name == NULL || tbl == NULL ||
		    text == NULL || strcmp(type, "table") != 0 ||
		    strcmp(name, store_tables[seen].name) != 0 ||
		    strcmp(tbl, store_tables[seen].name) != 0 ||
		    strcmp(text, store_tables[seen].sql) != 0) {
			kms_log(KMS_LOG_ERR, "store: the file's schema is not the KMS store's");
			goto out;
		}
		seen++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(st, rc, "schema");
		goto out;
	}
	if (seen != NUM_STORE_TABLES) {
		kms_log(KMS_LOG_ERR, "store: the file's schema is not the KMS store's");
		goto out;
	}
	r = KMS_OK;
out:
	(void)sqlite3_finalize(s);
	return r;
}

/* WAL, so readers (kms-hsmd, kmsd) and one writer (the tools) share the file. */
static int
set_wal(struct kms_store *st)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *mode;
	int rc, r = KMS_ERR_IO;

	if ((rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL)) !=
	    SQLITE_OK) {
		return db_fail(st, rc, "journal_mode");
	}
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? KMS_ERR_IO : db_fail(st, rc, "journal_mode");
		goto out;
	}
	mode = sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
		kms_log(KMS_LOG_ERR, "store: cannot switch the file to WAL mode");
		goto out;
	}
	r = KMS_OK;
out:
	(void)sqlite3_finalize(s);
	return r;
}

/*
 * Create the file, mode 0600, if it does not exist: *out_created says whether we did.
 * O_EXCL|O_NOFOLLOW: never through a symbolic link, never someone else's file. The
 * descriptor is closed before SQLite opens the path: closing a second descriptor of a file
 * later would drop SQLite's POSIX locks on it.
 */
static int
create_file(const char *path, int *out_created)
{
	int fd, r = KMS_OK;

	*out_created = 0;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			return KMS_OK; /* an existing file must already be a store */
		}
		kms_log(KMS_LOG_ERR, "store: cannot create %s: %s", path, strerror(errno));
		return KMS_ERR_IO;
	}
	*out_created = 1;
	/* The umask can only have taken bits away; make it exactly 0600 all the same. */
	if (fchmod(fd, 0600) != 0) {
		kms_log(KMS_LOG_ERR, "store: cannot set the mode of %s: %s", path, strerror(errno));
		r = KMS_ERR_IO;
	}
	if (close(fd) != 0 && r == KMS_OK) {
		kms_log(KMS_LOG_ERR, "store: cannot create %s: %s", path, strerror(errno));
		r = KMS_ERR_IO;
	}
	return r;
}

int
kms_store_open(struct kms_store **out, const char *path, enum kms_store_mode mode)
{
	struct kms_store *st = NULL;
	size_t path_len;
	int created = 0, flags, rc, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = NULL;
	if (path == NULL ||
	    (mode != KMS_STORE_RO && mode != KMS_STORE_RW && mode != KMS_STORE_CREATE)) {
		return KMS_ERR_INVALID_ARG;
	}
	/* Debian's SQLite reads "file:..." as a URI (with options): only plain paths here. */
	path_len = strnlen(path, PATH_MAX);
	if (path_len == 0 || path_len >= PATH_MAX || strncmp(path, "file:", 5) == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	st->read_only = mode == KMS_STORE_RO;
	if (mode == KMS_STORE_CREATE && (r = create_file(path, &created)) != KMS_OK) {
		goto out;
	}
	/* No SQLITE_OPEN_CREATE: the file exists (we made it, mode 0600) or the open fails. */
	flags = (st->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
		SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	if ((rc = sqlite3_open_v2(path, &st->db, flags, NULL)) != SQLITE_OK) {
		if (st->db == NULL) {
			r = KMS_ERR_NOMEM;
			goto out;
		}
		kms_log(KMS_LOG_ERR, "store: cannot open %s: %s", path, sqlite3_errmsg(st->db));
		r = map_rc(rc);
		goto out;
	}
	/* SQLite quietly opens a file it may not write read-only: a writer must be able to. */
	if (!st->read_only && sqlite3_db_readonly(st->db, "main") != 0) {
		kms_log(KMS_LOG_ERR, "store: cannot open %s for writing", path);
		r = KMS_ERR_IO;
		goto out;
	}
	if ((r = configure(st)) != KMS_OK) {
		goto out;
	}
	if (created && (r = create_schema(st)) != KMS_OK) {
		goto out;
	}
	if ((r = verify_schema(st)) != KMS_OK) {
		goto out;
	}
	/* Only now that the file is known to be ours: journal_mode = WAL writes to it. */
	if (!st->read_only && (r = set_wal(st)) != KMS_OK) {
		goto out;
	}
	*out = st;
	st = NULL; /* transferred */
	r = KMS_OK;
out:
	if (st != NULL) {
		kms_store_close(st);
		if (created) {
			(void)unlink(path); /* ours, and never finished: leave nothing behind */
		}
	}
	return r;
}

void
kms_store_close(struct kms_store *st)
{
	size_t i;

	if (st == NULL) {
		return;
	}
	for (i = 0; i < NUM_STMTS; i++) {
		(void)sqlite3_finalize(st->stmts[i]);
	}
	(void)sqlite3_close_v2(st->db);
	kms_memzero(st, sizeof(*st));
	free(st);
}

/* ---------------------------------------------------------------------------------------- */
/* The certificate                                                                            */

int
kms_store_get_cert(struct kms_store *st, struct kms_store_cert *out)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (st == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = stmt_get(st, S_GET_CERT, &s)) != KMS_OK ||
	    (r = step(st, s, "certificate", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if ((r = col_text(st, s, 0, TEXT_URI, out->kms_uri, sizeof(out->kms_uri))) != KMS_OK ||
	    (r = col_text(st, s, 1, TEXT_URI_OPT, out->cert_uri, sizeof(out->cert_uri))) !=
		    KMS_OK ||
	    (r = col_u64(s, 2, 1, &out->user_key_period)) != KMS_OK ||
	    (r = col_u64(s, 3, 0, &out->user_key_offset)) != KMS_OK ||
	    (r = col_blob_exact(st, s, 4, out->kpak, sizeof(out->kpak))) != KMS_OK ||
	    (r = col_blob_exact(st, s, 5, out->z_t, sizeof(out->z_t))) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("certificate");
		}
		goto out;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	if (r != KMS_OK) {
		kms_memzero(out, sizeof(*out));
	}
	return r;
}

int
kms_store_put_cert(struct kms_store *st, const struct kms_store_cert *cert)
{
	sqlite3_stmt *s = NULL;
	size_t kms_uri_len, cert_uri_len;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || cert == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	kms_uri_len = c_len(cert->kms_uri, sizeof(cert->kms_uri));
	cert_uri_len = c_len(cert->cert_uri, sizeof(cert->cert_uri));
	if (!uri_ok(cert->kms_uri, kms_uri_len, 1) || !uri_ok(cert->cert_uri, cert_uri_len, 0)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cert->user_key_period == 0 || cert->user_key_period > INT64_MAX ||
	    cert->user_key_offset > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_PUT_CERT, &s)) != KMS_OK ||
	    (r = bind_text(st, s, 1, cert->kms_uri, kms_uri_len)) != KMS_OK ||
	    (r = bind_text(st, s, 2, cert->cert_uri, cert_uri_len)) != KMS_OK ||
	    (r = bind_u64(st, s, 3, cert->user_key_period)) != KMS_OK ||
	    (r = bind_u64(st, s, 4, cert->user_key_offset)) != KMS_OK ||
	    (r = bind_blob(st, s, 5, cert->kpak, sizeof(cert->kpak))) != KMS_OK ||
	    (r = bind_blob(st, s, 6, cert->z_t, sizeof(cert->z_t))) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put certificate", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

/* ---------------------------------------------------------------------------------------- */
/* Master secrets                                                                             */

int
kms_store_get_secret(struct kms_store *st, const char *name, struct kms_store_blob *out)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (st == NULL || arg_secret_name(name) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = stmt_get(st, S_GET_SECRET, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, name)) != KMS_OK ||
	    (r = step(st, s, "secret", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if ((r = col_blob(st, s, 0, out->data, 1, sizeof(out->data), &out->len)) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("secrets");
		}
		goto out;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	if (r != KMS_OK) {
		kms_memzero(out, sizeof(*out));
	}
	return r;
}

int
kms_store_put_secret(struct kms_store *st, const char *name, const struct kms_store_blob *blob)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_secret_name(name) != KMS_OK || arg_blob(blob) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_PUT_SECRET, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, name)) != KMS_OK ||
	    (r = bind_blob(st, s, 2, blob->data, blob->len)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put secret", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

/* ---------------------------------------------------------------------------------------- */
/* Clients                                                                                    */

int
kms_store_get_client(struct kms_store *st, const char *client_id, struct kms_store_client *out)
{
	sqlite3_stmt *s = NULL;
	const unsigned char *cls;
	int row, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (st == NULL || arg_id(client_id) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = stmt_get(st, S_GET_CLIENT, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = step(st, s, "client", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	r = KMS_ERR_PARSE;
	if (sqlite3_column_type(s, 0) != SQLITE_TEXT) {
		(void)bad_value("clients");
		goto out;
	}
	if ((cls = sqlite3_column_text(s, 0)) == NULL) {
		r = db_fail(st, sqlite3_errcode(st->db), "read");
		goto out;
	}
	/* The CHECK constraint says no NUL; strcmp stopping at one would still be safe. */
	if (strcmp((const char *)cls, "ue") == 0 && sqlite3_column_bytes(s, 0) == 2) {
		out->cls = KMS_CLIENT_UE;
	} else if (strcmp((const char *)cls, "server") == 0 && sqlite3_column_bytes(s, 0) == 6) {
		out->cls = KMS_CLIENT_SERVER;
	} else {
		(void)bad_value("clients");
		goto out;
	}
	if ((r = col_text(st, s, 1, TEXT_ID, out->trk_label, sizeof(out->trk_label))) != KMS_OK ||
	    (r = col_text(st, s, 2, TEXT_ID, out->ink_label, sizeof(out->ink_label))) != KMS_OK ||
	    (r = col_flag(s, 3, &out->revoked)) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("clients");
		}
		goto out;
	}
	/* arg_id checked it: at most KMS_STORE_MAX_ID bytes and a NUL. */
	memcpy(out->client_id, client_id, strlen(client_id) + 1);
	r = KMS_OK;
out:
	stmt_done(s);
	if (r != KMS_OK) {
		kms_memzero(out, sizeof(*out));
	}
	return r;
}

int
kms_store_put_client(struct kms_store *st, const struct kms_store_client *client)
{
	sqlite3_stmt *s = NULL;
	size_t id_len, trk_len, ink_len;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || client == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	id_len = c_len(client->client_id, sizeof(client->client_id));
	trk_len = c_len(client->trk_label, sizeof(client->trk_label));
	ink_len = c_len(client->ink_label, sizeof(client->ink_label));
	if (!id_ok(client->client_id, id_len) || !id_ok(client->trk_label, trk_len) ||
	    !id_ok(client->ink_label, ink_len) ||
	    (client->cls != KMS_CLIENT_UE && client->cls != KMS_CLIENT_SERVER) ||
	    (client->revoked != 0 && client->revoked != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_PUT_CLIENT, &s)) != KMS_OK ||
	    (r = bind_text(st, s, 1, client->client_id, id_len)) != KMS_OK ||
	    (r = bind_str(st, s, 2, client->cls == KMS_CLIENT_UE ? "ue" : "server")) != KMS_OK ||
	    (r = bind_text(st, s, 3, client->trk_label, trk_len)) != KMS_OK ||
	    (r = bind_text(st, s, 4, client->ink_label, ink_len)) != KMS_OK ||
	    (r = bind_u64(st, s, 5, (uint64_t)client->revoked)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put client", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

/* ---------------------------------------------------------------------------------------- */
/* Identities and entitlements                                                                */

int
kms_store_add_identity(struct kms_store *st, const char *uri)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_ADD_IDENTITY, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "add identity", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

int
kms_store_set_identity_revoked(struct kms_store *st, const char *uri, int revoked)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_uri(uri, 1) != KMS_OK || (revoked != 0 && revoked != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_SET_IDENTITY_REVOKED, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK ||
	    (r = bind_u64(st, s, 2, (uint64_t)revoked)) != KMS_OK ||
	    (r = step(st, s, "revoke identity", &row)) != KMS_OK) {
		goto out;
	}
	/* The row count of this UPDATE: rows matched, whether or not the flag changed. */
	if (sqlite3_changes(st->db) == 0) {
		r = KMS_ERR_FORBIDDEN;
	}
out:
	stmt_done(s);
	return write_end(st, r);
}

/* Inside a write: KMS_OK if the row the statement id looks for (?1) exists, else FORBIDDEN. */
static int
row_exists(struct kms_store *st, enum stmt_id id, const char *key, const char *what)
{
	sqlite3_stmt *s = NULL;
	int row, r;

	if ((r = stmt_get(st, id, &s)) != KMS_OK || (r = bind_str(st, s, 1, key)) != KMS_OK ||
	    (r = step(st, s, what, &row)) != KMS_OK) {
		goto out;
	}
	r = row ? KMS_OK : KMS_ERR_FORBIDDEN;
out:
	stmt_done(s);
	return r;
}

int
kms_store_entitle(struct kms_store *st, const char *client_id, const char *uri)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_id(client_id) != KMS_OK || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/* Checked here rather than left to the foreign keys, for a precise answer. */
	if ((r = row_exists(st, S_HAS_CLIENT, client_id, "client")) != KMS_OK ||
	    (r = row_exists(st, S_HAS_IDENTITY, uri, "identity")) != KMS_OK) {
		goto out;
	}
	if ((r = stmt_get(st, S_ENTITLE, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, uri)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "entitle", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

int
kms_store_withdraw(struct kms_store *st, const char *client_id, const char *uri)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_id(client_id) != KMS_OK || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = stmt_get(st, S_WITHDRAW, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, uri)) != KMS_OK ||
	    (r = step(st, s, "withdraw", &row)) != KMS_OK) {
		goto out;
	}
	if (sqlite3_changes(st->db) == 0) {
		r = KMS_ERR_FORBIDDEN; /* there was no such entitlement */
	}
out:
	stmt_done(s);
	return write_end(st, r);
}

int
kms_store_check_entitled(struct kms_store *st, const char *client_id, const char *uri)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_id(client_id) != KMS_OK || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = stmt_get(st, S_CHECK_ENTITLED, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, uri)) != KMS_OK ||
	    (r = step(st, s, "check entitlement", &row)) != KMS_OK) {
		goto out;
	}
	r = row ? KMS_OK : KMS_ERR_FORBIDDEN;
out:
	stmt_done(s);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Key sets                                                                                   */

int
kms_store_get_keyset(struct kms_store *st, const char *uri, uint64_t period,
		     struct kms_store_keyset *out)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (st == NULL || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if (period > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = stmt_get(st, S_GET_KEYSET, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK || (r = bind_u64(st, s, 2, period)) != KMS_OK ||
	    (r = step(st, s, "key set", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if ((r = col_blob(st, s, 0, out->rsk.data, 1, sizeof(out->rsk.data), &out->rsk.len)) !=
		    KMS_OK ||
	    (r = col_blob(st, s, 1, out->ssk.data, 1, sizeof(out->ssk.data), &out->ssk.len)) !=
		    KMS_OK ||
	    (r = col_blob(st, s, 2, out->pvt.data, 1, sizeof(out->pvt.data), &out->pvt.len)) !=
		    KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("keysets");
		}
		goto out;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	if (r != KMS_OK) {
		kms_memzero(out, sizeof(*out));
	}
	return r;
}

int
kms_store_put_keyset(struct kms_store *st, const char *uri, uint64_t period,
		     const struct kms_store_keyset *ks)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || arg_uri(uri, 1) != KMS_OK || ks == NULL || arg_blob(&ks->rsk) != KMS_OK ||
	    arg_blob(&ks->ssk) != KMS_OK || arg_blob(&ks->pvt) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if (period > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = row_exists(st, S_HAS_IDENTITY, uri, "identity")) != KMS_OK) {
		goto out;
	}
	if ((r = stmt_get(st, S_PUT_KEYSET, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK || (r = bind_u64(st, s, 2, period)) != KMS_OK ||
	    (r = bind_blob(st, s, 3, ks->rsk.data, ks->rsk.len)) != KMS_OK ||
	    (r = bind_blob(st, s, 4, ks->ssk.data, ks->ssk.len)) != KMS_OK ||
	    (r = bind_blob(st, s, 5, ks->pvt.data, ks->pvt.len)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put key set", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}
