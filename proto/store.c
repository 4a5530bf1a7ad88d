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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
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
 * While it waits, it tries again after a pause that grows from BUSY_MIN_US to BUSY_MAX_US,
 * plus up to as much again at random. SQLite's own busy timeout sleeps up to 100 ms between
 * tries: with many audit writers (each holding the lock for one synced commit of a few ms) a
 * waiter then misses many chances and a request waits seconds; short, jittered pauses keep
 * the lock busy and the waits short.
 */
#define BUSY_MIN_US 50
#define BUSY_MAX_US 2000

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

/* The audit table, a macro per column. Text: 0..max bytes without NUL (C checks the rest). */
#define SQL_TEXT(c, max)                                                                           \
	"CHECK (typeof(" c ") = 'text' AND length(CAST(" c                                         \
	" AS BLOB)) <= " STR(max) " AND " SQL_NO_NUL(c) ")"
#define SQL_AUDIT_TEXT(c, max) "\t" c " TEXT NOT NULL " SQL_TEXT(c, max) ",\n"
#define SQL_AUDIT_SEQ          "\tseq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),\n"
#define SQL_AUDIT_TIME_S       "\ttime_s INTEGER NOT NULL " SQL_INT_MIN("time_s", "0") ",\n"
#define SQL_AUDIT_TIME_NS                                                                          \
	"\ttime_ns INTEGER NOT NULL CHECK (typeof(time_ns) = 'integer' AND time_ns BETWEEN 0 AND " \
	"999999999),\n"
#define SQL_AUDIT_REQUEST_ID SQL_AUDIT_TEXT("request_id", KMS_AUDIT_MAX_REQUEST_ID)
#define SQL_AUDIT_CLIENT     SQL_AUDIT_TEXT("client", KMS_AUDIT_MAX_CLIENT)
#define SQL_AUDIT_IDENTITY   SQL_AUDIT_TEXT("identity", KMS_AUDIT_MAX_IDENTITY)
#define SQL_AUDIT_RESOURCE   SQL_AUDIT_TEXT("resource", KMS_AUDIT_MAX_RESOURCE)
#define SQL_AUDIT_STATUS                                                                           \
	"\thttp_status INTEGER NOT NULL CHECK (typeof(http_status) = 'integer' AND (http_status "  \
	"= 0 OR http_status BETWEEN 100 AND 599)),\n"
#define SQL_AUDIT_OUTCOME                                                                          \
	"\toutcome TEXT NOT NULL CHECK (typeof(outcome) = 'text' AND length(CAST(outcome AS "      \
	"BLOB)) BETWEEN 1 AND " STR(KMS_AUDIT_MAX_OUTCOME) " AND " SQL_NO_NUL(                     \
		"outcome") " AND outcome NOT GLOB '*[^a-z0-9_-]*'),\n"
#define SQL_AUDIT_DETAIL    SQL_AUDIT_TEXT("detail", KMS_AUDIT_MAX_DETAIL)
#define SQL_AUDIT_KEY_IDS   SQL_AUDIT_TEXT("key_ids", KMS_AUDIT_MAX_KEY_IDS)
#define SQL_AUDIT_PREV_HASH "\tprev_hash BLOB NOT NULL " SQL_BLOB("prev_hash", "32", "32") ",\n"
#define SQL_AUDIT_HASH      "\thash BLOB NOT NULL " SQL_BLOB("hash", "32", "32") "\n"
#define SQL_AUDIT_COLUMNS                                                                          \
	SQL_AUDIT_SEQ SQL_AUDIT_TIME_S SQL_AUDIT_TIME_NS SQL_AUDIT_REQUEST_ID SQL_AUDIT_CLIENT     \
		SQL_AUDIT_IDENTITY SQL_AUDIT_RESOURCE SQL_AUDIT_STATUS SQL_AUDIT_OUTCOME           \
			SQL_AUDIT_DETAIL SQL_AUDIT_KEY_IDS SQL_AUDIT_PREV_HASH SQL_AUDIT_HASH

/* The certificate cache of external KMSs (schema version 3): a macro per column. */
#define SQL_EXT_TIME(c)                                                                            \
	"\t" c " INTEGER CHECK (" c " IS NULL OR (typeof(" c ") = 'integer' AND " c                \
	" BETWEEN -62135596800 AND 253402300799)),\n"
#define SQL_EXT_KMS_URI  "\tkms_uri TEXT PRIMARY KEY NOT NULL " SQL_URI("kms_uri", "1") ",\n"
#define SQL_EXT_CERT_URI "\tcert_uri TEXT NOT NULL " SQL_URI("cert_uri", "0") ",\n"
#define SQL_EXT_ISSUER   "\tissuer TEXT NOT NULL " SQL_TEXT("issuer", KMS_STORE_MAX_ISSUER) ",\n"
#define SQL_EXT_REVOKED  "\trevoked INTEGER NOT NULL " SQL_FLAG("revoked") ",\n"
#define SQL_EXT_PERIOD                                                                             \
	"\tuser_key_period INTEGER NOT NULL " SQL_INT_MIN("user_key_period", "1") ",\n"
#define SQL_EXT_OFFSET                                                                             \
	"\tuser_key_offset INTEGER NOT NULL " SQL_INT_MIN("user_key_offset", "0") ",\n"
#define SQL_EXT_Z_T       "\tz_t BLOB NOT NULL " SQL_BLOB("z_t", "257", "257") ",\n"
#define SQL_EXT_KPAK      "\tkpak BLOB NOT NULL " SQL_BLOB("kpak", "65", "65") ",\n"
#define SQL_EXT_DOMAINS   "\tdomains TEXT NOT NULL " SQL_TEXT("domains", KMS_STORE_DOMAINS_LEN) ",\n"
#define SQL_EXT_WITHDRAWN "\twithdrawn INTEGER NOT NULL " SQL_FLAG("withdrawn") ",\n"
#define SQL_EXT_CHANGE    "\tchange_num INTEGER NOT NULL " SQL_INT_MIN("change_num", "1") "\n"
#define SQL_EXT_COLUMNS                                                                            \
	SQL_EXT_KMS_URI SQL_EXT_CERT_URI SQL_EXT_ISSUER SQL_EXT_TIME("valid_from")                 \
		SQL_EXT_TIME("valid_to") SQL_EXT_REVOKED SQL_EXT_PERIOD SQL_EXT_OFFSET SQL_EXT_Z_T \
			SQL_EXT_KPAK SQL_EXT_DOMAINS SQL_EXT_WITHDRAWN SQL_EXT_CHANGE

/*
 * The certificate's fields of schema version 4 (one row beside the certificate's, id 1): a new
 * table rather than new columns, because ALTER TABLE ... ADD COLUMN would change the CREATE text
 * of certificate that open compares byte for byte.
 */
#define SQL_CERT_INFO_ID                                                                           \
	"\tid INTEGER PRIMARY KEY NOT NULL CHECK (id = 1) REFERENCES certificate (id),\n"
#define SQL_CERT_INFO_ORDER                                                                        \
	"\tCHECK (valid_from IS NULL OR valid_to IS NULL OR valid_from < valid_to)\n"
#define SQL_CERT_INFO_COLUMNS                                                                      \
	SQL_CERT_INFO_ID SQL_EXT_ISSUER SQL_EXT_TIME("valid_from") SQL_EXT_TIME("valid_to")        \
		SQL_EXT_DOMAINS SQL_CERT_INFO_ORDER

/* The client keys (schema version 4): a macro per column. */
#define SQL_CK_LABEL "\tlabel TEXT PRIMARY KEY NOT NULL " SQL_ID("label") ",\n"
#define SQL_CK_ROLE                                                                                \
	"\trole TEXT NOT NULL CHECK (typeof(role) = 'text' AND role IN ('trk', 'ink')),\n"
#define SQL_CK_WRAPPED "\twrapped BLOB NOT NULL " SQL_BLOB("wrapped", "1", SQL_MAX_BLOB) "\n"
#define SQL_CK_COLUMNS SQL_CK_LABEL SQL_CK_ROLE SQL_CK_WRAPPED

/*
 * The audit keys (one per node's token) and the signed checkpoints (schema version 5): a macro
 * per column. audit_keys is keyed by the fingerprint (SHA-256 of the point), WITHOUT ROWID.
 */
#define SQL_AK_FP      "\tfp BLOB PRIMARY KEY NOT NULL " SQL_BLOB("fp", "32", "32") ",\n"
#define SQL_AK_POINT   "\tpoint BLOB NOT NULL " SQL_BLOB("point", "65", "65") ",\n"
#define SQL_AK_LABEL   "\tlabel TEXT NOT NULL " SQL_ID("label") "\n"
#define SQL_AK_COLUMNS SQL_AK_FP SQL_AK_POINT SQL_AK_LABEL
#define SQL_CP_SEQ     "\tseq INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),\n"
#define SQL_CP_HASH    "\thash BLOB NOT NULL " SQL_BLOB("hash", "32", "32") ",\n"
#define SQL_CP_TIME_S  "\ttime_s INTEGER NOT NULL " SQL_INT_MIN("time_s", "0") ",\n"
#define SQL_CP_KEY_FP                                                                              \
	"\tkey_fp BLOB NOT NULL " SQL_BLOB("key_fp", "32", "32") " REFERENCES audit_keys (fp),\n"
#define SQL_CP_SIG     "\tsig BLOB NOT NULL " SQL_BLOB("sig", "64", "64") "\n"
#define SQL_CP_COLUMNS SQL_CP_SEQ SQL_CP_HASH SQL_CP_TIME_S SQL_CP_KEY_FP SQL_CP_SIG

/*
 * The pending rotations of clients' TrK and InK (schema version 6): a macro per column. One row
 * per client at most (the key), which must be in clients; the new labels are UNIQUE (two
 * automatic indexes, store_indexes), as they are in client_keys, where put_rotation inserts
 * them in the same transaction.
 */
#define SQL_CR_CLIENT_ID                                                                           \
	"\tclient_id TEXT PRIMARY KEY NOT NULL " SQL_ID(                                           \
		"client_id") " REFERENCES clients (client_id),\n"
#define SQL_CR_FROM_TRK      "\tfrom_trk_label TEXT NOT NULL " SQL_ID("from_trk_label") ",\n"
#define SQL_CR_NEW_TRK_LABEL "\tnew_trk_label TEXT NOT NULL UNIQUE " SQL_ID("new_trk_label") ",\n"
#define SQL_CR_NEW_INK_LABEL "\tnew_ink_label TEXT NOT NULL UNIQUE " SQL_ID("new_ink_label") ",\n"
#define SQL_CR_NEW_TRK       "\tnew_trk BLOB NOT NULL " SQL_BLOB("new_trk", "1", SQL_MAX_BLOB) ",\n"
#define SQL_CR_NEW_INK       "\tnew_ink BLOB NOT NULL " SQL_BLOB("new_ink", "1", SQL_MAX_BLOB) ",\n"
#define SQL_CR_CREATED       "\tcreated INTEGER NOT NULL " SQL_INT_MIN("created", "0") ",\n"
#define SQL_CR_DISTINCT                                                                            \
	"\tCHECK (from_trk_label <> new_trk_label AND from_trk_label <> new_ink_label AND "        \
	"new_trk_label <> new_ink_label)\n"
#define SQL_CR_COLUMNS                                                                             \
	SQL_CR_CLIENT_ID SQL_CR_FROM_TRK SQL_CR_NEW_TRK_LABEL SQL_CR_NEW_INK_LABEL SQL_CR_NEW_TRK  \
		SQL_CR_NEW_INK SQL_CR_CREATED SQL_CR_DISTINCT

/*
 * The client keys retired (schema version 7): the old TrK and InK of a finished rotation, the
 * new ones of a cancelled or dropped one, with the Unix second of their retirement. kms-hsmd
 * destroys the token objects of these labels (hsm/adapter.c); the row stays, so that every node
 * does, whenever it starts.
 */
#define SQL_RK_LABEL   "\tlabel TEXT PRIMARY KEY NOT NULL " SQL_ID("label") ",\n"
#define SQL_RK_RETIRED "\tretired INTEGER NOT NULL " SQL_INT_MIN("retired", "0") "\n"
#define SQL_RK_COLUMNS SQL_RK_LABEL SQL_RK_RETIRED

/*
 * The versions before this one, which a read-write open migrates (migrate): 3, 4, 5 and 6, each
 * to 7 in one step. Versions 1 and 2 were never deployed.
 */
#define STORE_OLDEST_VERSION 3

/*
 * Schema version 7 (3 plus cert_info and client_keys in 4, plus audit_keys and
 * audit_checkpoints in 5, plus client_rotations in 6, plus retired_keys in 7). sqlite_schema keeps
 * each CREATE statement verbatim, and open compares every object of the file with this list and
 * store_indexes (both sorted by name): same objects, same text, nothing else; a version 3 file must
 * hold exactly the tables of since 3. Tables keyed by text are WITHOUT ROWID, so no automatic index
 * appears beside them for the key; the audit log is keyed by its INTEGER PRIMARY KEY seq (the
 * rowid: no index either, and no AUTOINCREMENT, whose sqlite_sequence table would be one more
 * object).
 */
static const struct store_table {
	const char *name;
	const char *sql;
	int since; /* the schema version that added the table (the first ones are all 3) */
} store_tables[] = {
	{"audit", "CREATE TABLE audit (\n" SQL_AUDIT_COLUMNS ")", 3},
	{"audit_checkpoints", "CREATE TABLE audit_checkpoints (\n" SQL_CP_COLUMNS ")", 5},
	{"audit_keys", "CREATE TABLE audit_keys (\n" SQL_AK_COLUMNS ") WITHOUT ROWID", 5},
	{"cert_info", "CREATE TABLE cert_info (\n" SQL_CERT_INFO_COLUMNS ")", 4},
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
											  ")",
	 3},
	{"client_keys", "CREATE TABLE client_keys (\n" SQL_CK_COLUMNS ") WITHOUT ROWID", 4},
	{"client_rotations", "CREATE TABLE client_rotations (\n" SQL_CR_COLUMNS ") WITHOUT ROWID",
	 6},
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
											   "D",
	 3},
	{"entitlements",
	 "CREATE TABLE entitlements (\n"
	 "\tclient_id TEXT NOT NULL REFERENCES clients (client_id),\n"
	 "\turi TEXT NOT NULL REFERENCES identities (uri),\n"
	 "\tPRIMARY KEY (client_id, uri)\n"
	 ") WITHOUT ROWID",
	 3},
	{"ext_certs", "CREATE TABLE ext_certs (\n" SQL_EXT_COLUMNS ") WITHOUT ROWID", 3},
	{"identities",
	 "CREATE TABLE identities (\n"
	 "\turi TEXT PRIMARY KEY NOT NULL " SQL_URI(
		 "uri", "1") ",\n"
			     "\trevoked INTEGER NOT NULL " SQL_FLAG("revoked") "\n"
									       ") WITHOUT ROWID",
	 3},
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
											"ROWID",
	 3},
	{"retired_keys", "CREATE TABLE retired_keys (\n" SQL_RK_COLUMNS ") WITHOUT ROWID", 7},
	{"secrets",
	 "CREATE TABLE secrets (\n"
	 "\tname TEXT PRIMARY KEY NOT NULL CHECK (typeof(name) = 'text' AND name IN ('ksak', "
	 "'z_t')),\n"
	 "\twrapped BLOB NOT NULL " SQL_BLOB("wrapped", "1", SQL_MAX_BLOB) "\n"
									   ") WITHOUT ROWID",
	 3},
};
#define NUM_STORE_TABLES (sizeof(store_tables) / sizeof(store_tables[0]))

/*
 * The automatic indexes SQLite makes for UNIQUE columns (sqlite_schema: type 'index', no SQL
 * text), sorted by name. Their numbers are SQLite's: the first UNIQUE column of a table gets 2
 * when its PRIMARY KEY took 1 (even WITHOUT ROWID, where the key makes no index object).
 */
static const struct store_index {
	const char *name;
	const char *table;
	int since; /* the schema version that added it */
} store_indexes[] = {
	{"sqlite_autoindex_client_rotations_2", "client_rotations", 6}, /* new_trk_label */
	{"sqlite_autoindex_client_rotations_3", "client_rotations", 6}, /* new_ink_label */
};
#define NUM_STORE_INDEXES (sizeof(store_indexes) / sizeof(store_indexes[0]))

/* The number of objects (tables and automatic indexes) of schema version version. */
static size_t
num_objects(int version)
{
	size_t i, n = 0;

	for (i = 0; i < NUM_STORE_TABLES; i++) {
		if (store_tables[i].since <= version) {
			n++;
		}
	}
	for (i = 0; i < NUM_STORE_INDEXES; i++) {
		if (store_indexes[i].since <= version) {
			n++;
		}
	}
	return n;
}

/* The columns of an audit record as S_AUDIT_READ and S_AUDIT_WALK select them. */
#define AUDIT_COLS                                                                                 \
	"seq, time_s, time_ns, request_id, client, identity, resource, http_status, outcome, "     \
	"detail, key_ids, prev_hash, hash"
enum audit_col {
	AC_SEQ,
	AC_TIME_S,
	AC_TIME_NS,
	AC_REQUEST_ID,
	AC_CLIENT,
	AC_IDENTITY,
	AC_RESOURCE,
	AC_HTTP_STATUS,
	AC_OUTCOME,
	AC_DETAIL,
	AC_KEY_IDS,
	AC_PREV_HASH,
	AC_HASH,
};

/* The columns of an external certificate as S_EXT_PUT and S_EXT_READ name them. */
#define EXT_COLS                                                                                   \
	"kms_uri, cert_uri, issuer, valid_from, valid_to, revoked, user_key_period, "              \
	"user_key_offset, z_t, kpak, domains, withdrawn, change_num"
enum ext_col {
	EC_KMS_URI,
	EC_CERT_URI,
	EC_ISSUER,
	EC_VALID_FROM,
	EC_VALID_TO,
	EC_REVOKED,
	EC_PERIOD,
	EC_OFFSET,
	EC_Z_T,
	EC_KPAK,
	EC_DOMAINS,
	EC_WITHDRAWN,
	EC_CHANGE_NUM,
};

/* The columns of a rotation as S_PUT_ROTATION, S_GET_ROTATION and S_LIST_ROTATIONS name them. */
#define ROT_COLS                                                                                   \
	"client_id, from_trk_label, new_trk_label, new_ink_label, new_trk, new_ink, created"
enum rot_col {
	RC_CLIENT_ID,
	RC_FROM_TRK,
	RC_NEW_TRK_LABEL,
	RC_NEW_INK_LABEL,
	RC_NEW_TRK,
	RC_NEW_INK,
	RC_CREATED,
};

/* The columns of the certificate as S_GET_CERT selects them. */
enum cert_col {
	CC_KMS_URI,
	CC_CERT_URI,
	CC_PERIOD,
	CC_OFFSET,
	CC_KPAK,
	CC_Z_T,
	CC_INFO_ID,
	CC_ISSUER,
	CC_VALID_FROM,
	CC_VALID_TO,
	CC_DOMAINS,
};

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
	S_AUDIT_LAST,
	S_AUDIT_INSERT,
	S_AUDIT_READ,
	S_AUDIT_WALK,
	S_EXT_MAX,
	S_EXT_PUT,
	S_EXT_WITHDRAW,
	S_EXT_READ,
	S_SET_CLIENT_REVOKED,
	S_LIST_CLIENTS,
	S_LIST_IDENTITIES,
	S_LIST_ENTITLEMENTS,
	S_PUT_CERT_INFO,
	S_HAS_KEYSET,
	S_PUT_CLIENT_KEY,
	S_LIST_CLIENT_KEYS,
	S_GET_CLIENT_KEY,
	S_AUDIT_HASH_AT,
	S_AK_GET,
	S_AK_PUT,
	S_AK_LIST,
	S_AK_COUNTS,
	S_CP_PUT,
	S_CP_WALK,
	S_CP_LAST,
	S_HAS_CLIENT_KEY,
	S_INSERT_CLIENT_KEY,
	S_HAS_ROTATION,
	S_PUT_ROTATION,
	S_GET_ROTATION,
	S_LIST_ROTATIONS,
	S_SET_CLIENT_LABELS,
	S_DEL_ROTATION,
	S_DEL_ROTATION_KEYS,
	S_RETIRE,
	S_DEL_RETIRED_KEY,
	S_UNRETIRE,
	S_IS_RETIRED,
	S_LIST_RETIRED,
	NUM_STMTS,
};

static const char *const stmt_sql[NUM_STMTS] = {
	/* The columns of enum cert_col. No cert_info row (a certificate of version 3): i.id NULL.
	 */
	[S_GET_CERT] = "SELECT c.kms_uri, c.cert_uri, c.user_key_period, c.user_key_offset, "
		       "c.kpak, c.z_t, i.id, i.issuer, i.valid_from, i.valid_to, i.domains "
		       "FROM certificate AS c LEFT JOIN cert_info AS i ON i.id = c.id "
		       "WHERE c.id = 1",
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
	[S_AUDIT_LAST] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
	[S_AUDIT_INSERT] = "INSERT INTO audit (seq, time_s, time_ns, request_id, client, identity, "
			   "resource, http_status, outcome, detail, key_ids, prev_hash, hash) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
	/* The columns of both in the order of enum audit_col. A NULL parameter: no condition. */
	[S_AUDIT_READ] = "SELECT " AUDIT_COLS " FROM audit "
			 "WHERE (?1 IS NULL OR client = ?1) AND (?2 IS NULL OR identity = ?2) "
			 "AND (?3 IS NULL OR outcome = ?3) AND (?4 IS NULL OR time_s >= ?4) "
			 "AND (?5 IS NULL OR time_s < ?5) ORDER BY seq",
	[S_AUDIT_WALK] = "SELECT " AUDIT_COLS " FROM audit ORDER BY seq",
	/* Rows are never deleted and every change takes max + 1: the maximum only grows. */
	[S_EXT_MAX] = "SELECT max(change_num) FROM ext_certs",
	[S_EXT_PUT] = "INSERT INTO ext_certs (" EXT_COLS ") "
		      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12) "
		      "ON CONFLICT (kms_uri) DO UPDATE SET cert_uri = excluded.cert_uri, "
		      "issuer = excluded.issuer, valid_from = excluded.valid_from, "
		      "valid_to = excluded.valid_to, revoked = excluded.revoked, "
		      "user_key_period = excluded.user_key_period, "
		      "user_key_offset = excluded.user_key_offset, z_t = excluded.z_t, "
		      "kpak = excluded.kpak, domains = excluded.domains, withdrawn = 0, "
		      "change_num = excluded.change_num",
	[S_EXT_WITHDRAW] = "UPDATE ext_certs SET withdrawn = 1, change_num = ?2 "
			   "WHERE kms_uri = ?1 AND withdrawn = 0",
	[S_EXT_READ] = "SELECT " EXT_COLS " FROM ext_certs WHERE change_num > ?1 "
		       "AND (?2 = 0 OR withdrawn = 0) ORDER BY change_num LIMIT ?3",
	[S_SET_CLIENT_REVOKED] = "UPDATE clients SET revoked = ?2 WHERE client_id = ?1",
	/* The columns of S_GET_CLIENT first (client_row_get), then the id. */
	[S_LIST_CLIENTS] = "SELECT class, trk_label, ink_label, revoked, client_id FROM clients "
			   "ORDER BY client_id",
	[S_LIST_IDENTITIES] = "SELECT uri, revoked FROM identities ORDER BY uri",
	/* A NULL parameter: no condition. */
	[S_LIST_ENTITLEMENTS] = "SELECT client_id, uri FROM entitlements "
				"WHERE (?1 IS NULL OR client_id = ?1) AND (?2 IS NULL OR uri = ?2) "
				"ORDER BY client_id, uri",
	[S_PUT_CERT_INFO] = "INSERT INTO cert_info (id, issuer, valid_from, valid_to, domains) "
			    "VALUES (1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET "
			    "issuer = excluded.issuer, valid_from = excluded.valid_from, "
			    "valid_to = excluded.valid_to, domains = excluded.domains",
	[S_HAS_KEYSET] = "SELECT 1 FROM keysets WHERE uri = ?1 AND period = ?2",
	[S_PUT_CLIENT_KEY] = "INSERT INTO client_keys (label, role, wrapped) VALUES (?1, ?2, ?3) "
			     "ON CONFLICT (label) DO UPDATE SET role = excluded.role, "
			     "wrapped = excluded.wrapped",
	[S_LIST_CLIENT_KEYS] = "SELECT label, role, wrapped FROM client_keys ORDER BY label",
	[S_GET_CLIENT_KEY] = "SELECT label, role, wrapped FROM client_keys WHERE label = ?1",
	[S_AUDIT_HASH_AT] = "SELECT hash FROM audit WHERE seq = ?1",
	[S_AK_GET] = "SELECT fp, point, label FROM audit_keys WHERE fp = ?1",
	[S_AK_PUT] = "INSERT INTO audit_keys (fp, point, label) VALUES (?1, ?2, ?3)",
	[S_AK_LIST] = "SELECT fp, point, label FROM audit_keys ORDER BY fp",
	[S_AK_COUNTS] = "SELECT k.fp, k.point, k.label, (SELECT count(*) FROM audit_checkpoints c "
			"WHERE c.key_fp = k.fp) FROM audit_keys k ORDER BY k.fp",
	/* The first checkpoint of a seq stays: another node may have made it already. */
	[S_CP_PUT] = "INSERT INTO audit_checkpoints (seq, hash, time_s, key_fp, sig) "
		     "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (seq) DO NOTHING",
	[S_CP_WALK] = "SELECT seq, hash, time_s, key_fp, sig FROM audit_checkpoints ORDER BY seq",
	[S_CP_LAST] = "SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1",
	[S_HAS_CLIENT_KEY] = "SELECT 1 FROM client_keys WHERE label = ?1",
	/* No upsert: a rotation never replaces the backup of a key that is there. */
	[S_INSERT_CLIENT_KEY] =
		"INSERT INTO client_keys (label, role, wrapped) VALUES (?1, ?2, ?3)",
	[S_HAS_ROTATION] = "SELECT 1 FROM client_rotations WHERE client_id = ?1",
	[S_PUT_ROTATION] = "INSERT INTO client_rotations (" ROT_COLS ") "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	/* The columns of enum rot_col. */
	[S_GET_ROTATION] = "SELECT " ROT_COLS " FROM client_rotations WHERE client_id = ?1",
	[S_LIST_ROTATIONS] = "SELECT " ROT_COLS " FROM client_rotations ORDER BY client_id",
	[S_SET_CLIENT_LABELS] = "UPDATE clients SET trk_label = ?2, ink_label = ?3 "
				"WHERE client_id = ?1",
	[S_DEL_ROTATION] = "DELETE FROM client_rotations WHERE client_id = ?1",
	/* A label some client's row names (re-enrolled under it meanwhile) keeps its key. */
	[S_DEL_ROTATION_KEYS] = "DELETE FROM client_keys WHERE label IN (?1, ?2) AND NOT EXISTS "
				"(SELECT 1 FROM clients AS c WHERE c.trk_label = client_keys.label "
				"OR c.ink_label = client_keys.label)",
	/* Never a label that a client's row or a pending rotation names; the first date stays. */
	[S_RETIRE] =
		"INSERT INTO retired_keys (label, retired) "
		"SELECT ?1, CAST(strftime('%s', 'now') AS INTEGER) WHERE NOT EXISTS "
		"(SELECT 1 FROM clients WHERE trk_label = ?1 OR ink_label = ?1) AND NOT EXISTS "
		"(SELECT 1 FROM client_rotations WHERE from_trk_label = ?1 OR "
		"new_trk_label = ?1 OR new_ink_label = ?1) ON CONFLICT (label) DO NOTHING",
	[S_DEL_RETIRED_KEY] = "DELETE FROM client_keys WHERE label = ?1 AND EXISTS "
			      "(SELECT 1 FROM retired_keys WHERE label = ?1)",
	[S_UNRETIRE] = "DELETE FROM retired_keys WHERE label IN (?1, ?2)",
	/* Retired, and (whatever else wrote the file) named by no client nor pending rotation. */
	[S_IS_RETIRED] = "SELECT 1 FROM retired_keys WHERE label = ?1 AND NOT EXISTS "
			 "(SELECT 1 FROM clients WHERE trk_label = ?1 OR ink_label = ?1) AND NOT "
			 "EXISTS (SELECT 1 FROM client_rotations WHERE from_trk_label = ?1 OR "
			 "new_trk_label = ?1 OR new_ink_label = ?1)",
	/* As S_IS_RETIRED: the labels no client nor pending rotation names. */
	[S_LIST_RETIRED] = "SELECT r.label, r.retired FROM retired_keys AS r WHERE NOT EXISTS "
			   "(SELECT 1 FROM clients WHERE trk_label = r.label OR "
			   "ink_label = r.label) AND NOT EXISTS (SELECT 1 FROM client_rotations "
			   "WHERE from_trk_label = r.label OR new_trk_label = r.label OR "
			   "new_ink_label = r.label) ORDER BY r.label",
};

struct kms_store {
	sqlite3 *db; /* owned */
	int read_only;
	int in_audit_walk;              /* an audit read or verify is running (its callback) */
	int last_rc;                    /* the SQLite code of the last failure (db_fail) */
	struct timespec busy_since;     /* when the current wait for a lock began */
	uint32_t jitter;                /* xorshift32 state of the busy handler's pauses */
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
	st->last_rc = rc;
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

int
kms_store_id_ok(const char *s, size_t len)
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
	if (s == NULL || !kms_store_id_ok(s, c_len(s, KMS_STORE_MAX_ID + 1))) {
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
		ok = kms_store_id_ok((const char *)p, len);
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
/* Certificate fields: issuers, times, domain lists                                           */

#define EXT_TIME_MIN (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define EXT_TIME_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */

/* 1 if s[0..len) is 0..max bytes of UTF-8 without NUL. */
static int
text_ok(const char *s, size_t len, size_t max)
{
	if (len > max || (len > 0 && memchr(s, '\0', len) != NULL)) {
		return 0;
	}
	return kms_mp_utf8_check((const uint8_t *)s, len) == KMS_OK;
}

/*
 * 1 if s[0..len) is a domain list: "" or 1..KMS_STORE_MAX_DOMAINS URIs of 1..KMS_STORE_MAX_URI
 * bytes without whitespace or control characters (bytes above 0x20, not 0x7f, UTF-8), one
 * space between each two, within KMS_STORE_DOMAINS_LEN bytes.
 */
static int
domains_ok(const char *s, size_t len)
{
	size_t i, start = 0, count = 0;

	if (len > KMS_STORE_DOMAINS_LEN || !text_ok(s, len, KMS_STORE_DOMAINS_LEN)) {
		return 0;
	}
	if (len == 0) {
		return 1;
	}
	for (i = 0; i <= len; i++) {
		if (i == len || s[i] == ' ') {
			if (i == start || i - start > KMS_STORE_MAX_URI ||
			    ++count > KMS_STORE_MAX_DOMAINS) {
				return 0; /* empty (two spaces, one at an end), too long, too many
					   */
			}
			start = i + 1;
		} else if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f) {
			return 0;
		}
	}
	return 1;
}

static int
ext_time_ok(int has, int64_t t)
{
	return has == 0 || (has == 1 && t >= EXT_TIME_MIN && t <= EXT_TIME_MAX);
}

static int
bind_time_opt(struct kms_store *st, sqlite3_stmt *s, int i, int has, int64_t t)
{
	int rc;

	if (!has) {
		return KMS_OK; /* cleared bindings are NULL */
	}
	if ((rc = sqlite3_bind_int64(s, i, (sqlite3_int64)t)) != SQLITE_OK) {
		return db_fail(st, rc, "bind");
	}
	return KMS_OK;
}

/* Column i as an integer in min..max. */
static int
col_int_range(sqlite3_stmt *s, int i, int64_t min, int64_t max, int64_t *out)
{
	sqlite3_int64 v;

	*out = 0;
	if (sqlite3_column_type(s, i) != SQLITE_INTEGER) {
		return KMS_ERR_PARSE;
	}
	v = sqlite3_column_int64(s, i);
	if (v < min || v > max) {
		return KMS_ERR_PARSE;
	}
	*out = v;
	return KMS_OK;
}

/* Column i as an optional time (NULL: absent). */
static int
col_time_opt(sqlite3_stmt *s, int i, int *out_has, int64_t *out)
{
	int r;

	*out_has = 0;
	*out = 0;
	if (sqlite3_column_type(s, i) == SQLITE_NULL) {
		return KMS_OK;
	}
	if ((r = col_int_range(s, i, EXT_TIME_MIN, EXT_TIME_MAX, out)) != KMS_OK) {
		return r;
	}
	*out_has = 1;
	return KMS_OK;
}

/* Column i as text of 0..max bytes (checked by ok) into out (cap max + 1). */
static int
col_checked_text(struct kms_store *st, sqlite3_stmt *s, int i, size_t max, int domains, char *out)
{
	const unsigned char *p;
	int n;

	if (sqlite3_column_type(s, i) != SQLITE_TEXT) {
		return KMS_ERR_PARSE;
	}
	p = sqlite3_column_text(s, i);
	n = sqlite3_column_bytes(s, i);
	if (p == NULL) {
		return db_fail(st, sqlite3_errcode(st->db), "read"); /* out of memory */
	}
	if (n < 0 || (size_t)n > max) {
		return KMS_ERR_PARSE;
	}
	if (domains ? !domains_ok((const char *)p, (size_t)n)
		    : !text_ok((const char *)p, (size_t)n, max)) {
		return KMS_ERR_PARSE;
	}
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	return KMS_OK;
}

/*
 * The domain certificate's issuer and domain list: the bounds of ext_certs, and no control
 * characters either (no C0, DEL or C1: kms_mp_text_check), since kmsd puts them into every init
 * response and its XML writer refuses what XML 1.0 cannot carry: a bad value would fail every
 * init rather than the one write that stored it.
 */
static int
cert_issuer_ok(const char *s, size_t len)
{
	return len <= KMS_STORE_MAX_ISSUER && kms_mp_text_check((const uint8_t *)s, len) == KMS_OK;
}

static int
cert_domains_ok(const char *s, size_t len)
{
	return domains_ok(s, len) && kms_mp_text_check((const uint8_t *)s, len) == KMS_OK;
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
 * The busy handler (sqlite3_busy_handler): 1 to try again after a pause, 0 to give up
 * (SQLITE_BUSY) once STORE_BUSY_TIMEOUT_MS have passed since the first try (count 0).
 */
static int
busy_wait(void *arg, int count)
{
	struct kms_store *st = arg;
	struct timespec now, pause;
	int64_t waited_ms;
	uint32_t us, x;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	if (count == 0) {
		st->busy_since = now;
	}
	waited_ms = ((int64_t)now.tv_sec - (int64_t)st->busy_since.tv_sec) * 1000 +
		    ((int64_t)now.tv_nsec - (int64_t)st->busy_since.tv_nsec) / 1000000;
	if (waited_ms >= STORE_BUSY_TIMEOUT_MS) {
		return 0;
	}
	us = count >= 6 ? BUSY_MAX_US : (uint32_t)BUSY_MIN_US << count;
	if (us > BUSY_MAX_US) {
		us = BUSY_MAX_US;
	}
	/* Jitter (xorshift32, not for secrets), so that waiters do not wake in step. */
	x = st->jitter;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	st->jitter = x;
	us += x % (us + 1);
	pause.tv_sec = 0;
	pause.tv_nsec = (long)us * 1000;
	(void)nanosleep(&pause, NULL);
	return 1;
}

/*
 * Connection settings that touch nothing in the file: nothing from the file runs (triggers,
 * views, schema functions, extensions), busy timeout, foreign keys, secure delete, cell size
 * checks; a read-only store is also query_only, a read-write one synchronous=FULL.
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
	/* A seed that differs between handles and processes; 0 would stay 0. */
	(void)clock_gettime(CLOCK_MONOTONIC, &st->busy_since);
	st->jitter = (uint32_t)st->busy_since.tv_nsec ^ (uint32_t)(uintptr_t)st ^
		     ((uint32_t)getpid() << 16) ^ 0x9e3779b9u;
	if (st->jitter == 0) {
		st->jitter = 1;
	}
	if ((rc = sqlite3_busy_handler(st->db, busy_wait, st)) != SQLITE_OK) {
		return db_fail(st, rc, "busy_handler");
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
	/*
	 * A writer's COMMIT returns after the WAL is synced (FULL = 2): an audit record exists on
	 * disk before kmsd answers (fail closed), and so does every other write.
	 */
	if (!st->read_only &&
	    (r = pragma_set(st, "PRAGMA synchronous = FULL", "PRAGMA synchronous", 2)) != KMS_OK) {
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
 * Is the file a store of schema version want (KMS_STORE_SCHEMA_VERSION, or an older version
 * from STORE_OLDEST_VERSION on, before a migration)? user_version, application_id, then every
 * object in sqlite_schema against the tables of store_tables and the automatic indexes of
 * store_indexes that version has (same names, same CREATE text, nothing more). Any difference is
 * KMS_ERR_PARSE; a file that is not SQLite fails in the first read (SQLITE_NOTADB, also
 * KMS_ERR_PARSE).
 */
static int
verify_schema(struct kms_store *st, int want)
{
	static const char sql[] = "SELECT type, name, tbl_name, sql FROM sqlite_schema "
				  "ORDER BY name";
	sqlite3_stmt *s = NULL;
	const char *type, *name, *tbl, *text;
	size_t seen = 0, next = 0, next_ix = 0;
	int rc, r = KMS_ERR_INTERNAL, version, app_id, is_table, ok;

	if ((r = pragma_int(st, "PRAGMA user_version", &version)) != KMS_OK) {
		return r;
	}
	if (version >= STORE_OLDEST_VERSION && version < KMS_STORE_SCHEMA_VERSION &&
	    want == KMS_STORE_SCHEMA_VERSION) {
		/* Only a read-only handle gets here with it: a read-write open migrated it. */
		kms_log(KMS_LOG_ERR,
			"store: schema version %d: open it read-write once (kms-hsmd, kmsd, or a "
			"kms-admin command that writes) to migrate it to %d",
			version, KMS_STORE_SCHEMA_VERSION);
		return KMS_ERR_PARSE;
	}
	if (version != want) {
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
		type = (const char *)sqlite3_column_text(s, 0);
		name = (const char *)sqlite3_column_text(s, 1);
		tbl = (const char *)sqlite3_column_text(s, 2);
		text = (const char *)sqlite3_column_text(s, 3);
		while (next < NUM_STORE_TABLES && store_tables[next].since > want) {
			next++; /* not in that version */
		}
		while (next_ix < NUM_STORE_INDEXES && store_indexes[next_ix].since > want) {
			next_ix++;
		}
		/*
		 * The next object is the lesser name of the two sorted lists, as the query sorts
		 * them (names are ASCII: strcmp is SQLite's BINARY order).
		 */
		if (next >= NUM_STORE_TABLES && next_ix >= NUM_STORE_INDEXES) {
			kms_log(KMS_LOG_ERR, "store: the file's schema is not the KMS store's");
			goto out;
		}
		is_table = next_ix >= NUM_STORE_INDEXES ||
			   (next < NUM_STORE_TABLES &&
			    strcmp(store_tables[next].name, store_indexes[next_ix].name) < 0);
		if (is_table) {
			ok = type != NULL && name != NULL && tbl != NULL && text != NULL &&
			     strcmp(type, "table") == 0 &&
			     strcmp(name, store_tables[next].name) == 0 &&
			     strcmp(tbl, store_tables[next].name) == 0 &&
			     strcmp(text, store_tables[next].sql) == 0;
			next++;
		} else {
			/* An automatic index has no SQL text: one with text was made by someone. */
			ok = type != NULL && name != NULL && tbl != NULL &&
			     sqlite3_column_type(s, 3) == SQLITE_NULL &&
			     strcmp(type, "index") == 0 &&
			     strcmp(name, store_indexes[next_ix].name) == 0 &&
			     strcmp(tbl, store_indexes[next_ix].table) == 0;
			next_ix++;
		}
		if (!ok) {
			kms_log(KMS_LOG_ERR, "store: the file's schema is not the KMS store's");
			goto out;
		}
		seen++;
	}
	if (rc != SQLITE_DONE) {
		r = db_fail(st, rc, "schema");
		goto out;
	}
	if (seen != num_objects(want)) {
		kms_log(KMS_LOG_ERR, "store: the file's schema is not the KMS store's");
		goto out;
	}
	r = KMS_OK;
out:
	(void)sqlite3_finalize(s);
	return r;
}

/* What a migration from version added, for its log line. */
static const char *
migrate_what(int version)
{
	switch (version) {
	case 3:
		return "tables cert_info, client_keys, audit_checkpoints, audit_keys, "
		       "client_rotations and retired_keys added";
	case 4:
		return "tables audit_checkpoints, audit_keys, client_rotations and retired_keys "
		       "added";
	case 5:
		return "tables client_rotations and retired_keys added";
	default:
		return "table retired_keys added";
	}
}

/*
 * Migrate a store of an older version (3 to 6) to KMS_STORE_SCHEMA_VERSION (7), on a
 * read-write handle: the tables added after its version (and their automatic indexes, which
 * CREATE TABLE makes) and user_version, in one BEGIN IMMEDIATE transaction (all or nothing); no
 * row is changed. A file of any other version is left to verify_schema. The file is checked to
 * be exactly a store of its version first without a lock (a foreign file is never locked or
 * written), then again under the write lock, where another process may have migrated it
 * meanwhile (nothing to do then).
 */
static int
migrate(struct kms_store *st)
{
	size_t i;
	int r, version, again, migrated = 0;

	if ((r = pragma_int(st, "PRAGMA user_version", &version)) != KMS_OK) {
		return r;
	}
	if (version < STORE_OLDEST_VERSION || version >= KMS_STORE_SCHEMA_VERSION) {
		return KMS_OK;
	}
	if ((r = verify_schema(st, version)) != KMS_OK) {
		return r;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = pragma_int(st, "PRAGMA user_version", &again)) != KMS_OK || again != version ||
	    (r = verify_schema(st, version)) != KMS_OK) {
		goto out;
	}
	for (i = 0; i < NUM_STORE_TABLES && r == KMS_OK; i++) {
		if (store_tables[i].since > version) {
			r = exec(st, store_tables[i].sql, "migrate the schema");
		}
	}
	if (r == KMS_OK) {
		r = exec(st, "PRAGMA user_version = " STR(KMS_STORE_SCHEMA_VERSION),
			 "user_version");
	}
	migrated = r == KMS_OK;
out:
	r = write_end(st, r);
	if (r == KMS_OK && migrated) {
		kms_log(KMS_LOG_INFO, "store: migrated the store from schema version %d to %d (%s)",
			version, KMS_STORE_SCHEMA_VERSION, migrate_what(version));
	}
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
	if (!st->read_only && (r = migrate(st)) != KMS_OK) {
		goto out;
	}
	if ((r = verify_schema(st, KMS_STORE_SCHEMA_VERSION)) != KMS_OK) {
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

/* The cert_info columns of the row s is on (S_GET_CERT), checked, into out. */
static int
cert_info_get(struct kms_store *st, sqlite3_stmt *s, struct kms_store_cert *out)
{
	int r;

	if (sqlite3_column_type(s, CC_INFO_ID) != SQLITE_INTEGER ||
	    sqlite3_column_int64(s, CC_INFO_ID) != 1) {
		return bad_value("cert_info");
	}
	if ((r = col_checked_text(st, s, CC_ISSUER, KMS_STORE_MAX_ISSUER, 0, out->issuer)) !=
		    KMS_OK ||
	    (r = col_time_opt(s, CC_VALID_FROM, &out->has_valid_from, &out->valid_from)) !=
		    KMS_OK ||
	    (r = col_time_opt(s, CC_VALID_TO, &out->has_valid_to, &out->valid_to)) != KMS_OK ||
	    (r = col_checked_text(st, s, CC_DOMAINS, KMS_STORE_DOMAINS_LEN, 1, out->domains)) !=
		    KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("cert_info") : r;
	}
	/* The stricter checks of put (no control characters; from before to). */
	if (!cert_issuer_ok(out->issuer, strlen(out->issuer)) ||
	    !cert_domains_ok(out->domains, strlen(out->domains)) ||
	    (out->has_valid_from && out->has_valid_to && out->valid_from >= out->valid_to)) {
		return bad_value("cert_info");
	}
	return KMS_OK;
}

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
	if ((r = col_text(st, s, CC_KMS_URI, TEXT_URI, out->kms_uri, sizeof(out->kms_uri))) !=
		    KMS_OK ||
	    (r = col_text(st, s, CC_CERT_URI, TEXT_URI_OPT, out->cert_uri,
			  sizeof(out->cert_uri))) != KMS_OK ||
	    (r = col_u64(s, CC_PERIOD, 1, &out->user_key_period)) != KMS_OK ||
	    (r = col_u64(s, CC_OFFSET, 0, &out->user_key_offset)) != KMS_OK ||
	    (r = col_blob_exact(st, s, CC_KPAK, out->kpak, sizeof(out->kpak))) != KMS_OK ||
	    (r = col_blob_exact(st, s, CC_Z_T, out->z_t, sizeof(out->z_t))) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("certificate");
		}
		goto out;
	}
	/* No cert_info row (written before version 4): no issuer, validity or domains. */
	if (sqlite3_column_type(s, CC_INFO_ID) != SQLITE_NULL &&
	    (r = cert_info_get(st, s, out)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	/* One statement, one read: the two tables come from one snapshot. */
	stmt_done(s);
	if (r != KMS_OK) {
		kms_memzero(out, sizeof(*out));
	}
	return r;
}

int
kms_store_put_cert(struct kms_store *st, const struct kms_store_cert *cert)
{
	sqlite3_stmt *s = NULL, *si = NULL;
	size_t kms_uri_len, cert_uri_len, issuer_len, domains_len;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || cert == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	kms_uri_len = c_len(cert->kms_uri, sizeof(cert->kms_uri));
	cert_uri_len = c_len(cert->cert_uri, sizeof(cert->cert_uri));
	issuer_len = c_len(cert->issuer, sizeof(cert->issuer));
	domains_len = c_len(cert->domains, sizeof(cert->domains));
	if (!uri_ok(cert->kms_uri, kms_uri_len, 1) || !uri_ok(cert->cert_uri, cert_uri_len, 0) ||
	    !cert_issuer_ok(cert->issuer, issuer_len) ||
	    !cert_domains_ok(cert->domains, domains_len) ||
	    (cert->has_valid_from != 0 && cert->has_valid_from != 1) ||
	    (cert->has_valid_to != 0 && cert->has_valid_to != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cert->user_key_period == 0 || cert->user_key_period > INT64_MAX ||
	    cert->user_key_offset > INT64_MAX ||
	    !ext_time_ok(cert->has_valid_from, cert->valid_from) ||
	    !ext_time_ok(cert->has_valid_to, cert->valid_to)) {
		return KMS_ERR_RANGE;
	}
	if (cert->has_valid_from && cert->has_valid_to && cert->valid_from >= cert->valid_to) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/* The certificate row first: cert_info's id refers to it. */
	if ((r = stmt_get(st, S_PUT_CERT, &s)) != KMS_OK ||
	    (r = bind_text(st, s, 1, cert->kms_uri, kms_uri_len)) != KMS_OK ||
	    (r = bind_text(st, s, 2, cert->cert_uri, cert_uri_len)) != KMS_OK ||
	    (r = bind_u64(st, s, 3, cert->user_key_period)) != KMS_OK ||
	    (r = bind_u64(st, s, 4, cert->user_key_offset)) != KMS_OK ||
	    (r = bind_blob(st, s, 5, cert->kpak, sizeof(cert->kpak))) != KMS_OK ||
	    (r = bind_blob(st, s, 6, cert->z_t, sizeof(cert->z_t))) != KMS_OK ||
	    (r = step(st, s, "put certificate", &row)) != KMS_OK) {
		goto out;
	}
	if ((r = stmt_get(st, S_PUT_CERT_INFO, &si)) != KMS_OK ||
	    (r = bind_text(st, si, 1, cert->issuer, issuer_len)) != KMS_OK ||
	    (r = bind_time_opt(st, si, 2, cert->has_valid_from, cert->valid_from)) != KMS_OK ||
	    (r = bind_time_opt(st, si, 3, cert->has_valid_to, cert->valid_to)) != KMS_OK ||
	    (r = bind_text(st, si, 4, cert->domains, domains_len)) != KMS_OK) {
		goto out;
	}
	r = step(st, si, "put cert_info", &row);
out:
	stmt_done(s);
	stmt_done(si);
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

/*
 * The columns class, trk_label, ink_label, revoked (0..3) of the current row of s into out
 * (client_id untouched): KMS_OK, KMS_ERR_PARSE (logged), or a read failure.
 */
static int
client_row_get(struct kms_store *st, sqlite3_stmt *s, struct kms_store_client *out)
{
	const unsigned char *cls;
	int r;

	if (sqlite3_column_type(s, 0) != SQLITE_TEXT) {
		return bad_value("clients");
	}
	if ((cls = sqlite3_column_text(s, 0)) == NULL) {
		return db_fail(st, sqlite3_errcode(st->db), "read");
	}
	/* The CHECK constraint says no NUL; strcmp stopping at one would still be safe. */
	if (strcmp((const char *)cls, "ue") == 0 && sqlite3_column_bytes(s, 0) == 2) {
		out->cls = KMS_CLIENT_UE;
	} else if (strcmp((const char *)cls, "server") == 0 && sqlite3_column_bytes(s, 0) == 6) {
		out->cls = KMS_CLIENT_SERVER;
	} else {
		return bad_value("clients");
	}
	if ((r = col_text(st, s, 1, TEXT_ID, out->trk_label, sizeof(out->trk_label))) != KMS_OK ||
	    (r = col_text(st, s, 2, TEXT_ID, out->ink_label, sizeof(out->ink_label))) != KMS_OK ||
	    (r = col_flag(s, 3, &out->revoked)) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("clients");
		}
		return r;
	}
	return KMS_OK;
}

int
kms_store_get_client(struct kms_store *st, const char *client_id, struct kms_store_client *out)
{
	sqlite3_stmt *s = NULL;
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
	if ((r = client_row_get(st, s, out)) != KMS_OK) {
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

/* The checks of kms_store_put_client's argument: KMS_OK or KMS_ERR_INVALID_ARG. */
static int
arg_client(const struct kms_store_client *client)
{
	if (client == NULL ||
	    !kms_store_id_ok(client->client_id,
			     c_len(client->client_id, sizeof(client->client_id))) ||
	    !kms_store_id_ok(client->trk_label,
			     c_len(client->trk_label, sizeof(client->trk_label))) ||
	    !kms_store_id_ok(client->ink_label,
			     c_len(client->ink_label, sizeof(client->ink_label))) ||
	    (client->cls != KMS_CLIENT_UE && client->cls != KMS_CLIENT_SERVER) ||
	    (client->revoked != 0 && client->revoked != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	return KMS_OK;
}

static int run_texts(struct kms_store *st, enum stmt_id id, const char *what, const char *p1,
		     const char *p2, const char *p3, int *out_changes);

/*
 * Insert or replace the client row, inside a transaction the caller began; arg_client held. Its
 * labels are no longer retired (a client enrolled again under a label used before).
 */
static int
client_put_in(struct kms_store *st, const struct kms_store_client *client)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(st, S_PUT_CLIENT, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client->client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, client->cls == KMS_CLIENT_UE ? "ue" : "server")) != KMS_OK ||
	    (r = bind_str(st, s, 3, client->trk_label)) != KMS_OK ||
	    (r = bind_str(st, s, 4, client->ink_label)) != KMS_OK ||
	    (r = bind_u64(st, s, 5, (uint64_t)client->revoked)) != KMS_OK) {
		goto out;
	}
	if ((r = step(st, s, "put client", &row)) != KMS_OK) {
		goto out;
	}
	r = run_texts(st, S_UNRETIRE, "put client", client->trk_label, client->ink_label, NULL,
		      &row);
out:
	stmt_done(s);
	return r;
}

int
kms_store_put_client(struct kms_store *st, const struct kms_store_client *client)
{
	int r;

	if (st == NULL || arg_client(client) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	return write_end(st, client_put_in(st, client));
}

/* ---------------------------------------------------------------------------------------- */
/* Identities and entitlements                                                                */

/*
 * The writes of the roster, each inside a transaction the caller began (write_begin) and ends.
 * Arguments are checked by the callers.
 */

/* Add uri (not revoked) unless it is there: *out_added 1 if it was new, 0 if it was there. */
static int
identity_add_in(struct kms_store *st, const char *uri, int *out_added)
{
	sqlite3_stmt *s = NULL;
	int row, r;

	*out_added = 0;
	if ((r = stmt_get(st, S_ADD_IDENTITY, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK ||
	    (r = step(st, s, "add identity", &row)) != KMS_OK) {
		goto out;
	}
	/* ON CONFLICT DO NOTHING: no row changed if the identity was there. */
	*out_added = sqlite3_changes(st->db) > 0;
out:
	stmt_done(s);
	return r;
}

/* Set the revoked flag of the row of key (?1) that statement id updates: FORBIDDEN if none. */
static int
set_revoked_in(struct kms_store *st, enum stmt_id id, const char *key, int revoked,
	       const char *what)
{
	sqlite3_stmt *s = NULL;
	int row, r;

	if ((r = stmt_get(st, id, &s)) != KMS_OK || (r = bind_str(st, s, 1, key)) != KMS_OK ||
	    (r = bind_u64(st, s, 2, (uint64_t)revoked)) != KMS_OK ||
	    (r = step(st, s, what, &row)) != KMS_OK) {
		goto out;
	}
	/* The row count of this UPDATE: rows matched, whether or not the flag changed. */
	if (sqlite3_changes(st->db) == 0) {
		r = KMS_ERR_FORBIDDEN;
	}
out:
	stmt_done(s);
	return r;
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

/*
 * Entitle client_id to uri: FORBIDDEN (*out_why "client" or "identity") if either is unknown;
 * *out_new 1 if the entitlement is new, 0 if it was there.
 */
static int
entitle_in(struct kms_store *st, const char *client_id, const char *uri, int *out_new,
	   const char **out_why)
{
	sqlite3_stmt *s = NULL;
	int row, r;

	*out_new = 0;
	*out_why = "";
	/* Checked here rather than left to the foreign keys, for a precise answer. */
	if ((r = row_exists(st, S_HAS_CLIENT, client_id, "client")) != KMS_OK) {
		*out_why = "client";
		goto out;
	}
	if ((r = row_exists(st, S_HAS_IDENTITY, uri, "identity")) != KMS_OK) {
		*out_why = "identity";
		goto out;
	}
	if ((r = stmt_get(st, S_ENTITLE, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, uri)) != KMS_OK ||
	    (r = step(st, s, "entitle", &row)) != KMS_OK) {
		goto out;
	}
	*out_new = sqlite3_changes(st->db) > 0;
out:
	stmt_done(s);
	return r;
}

/* Withdraw the entitlement of client_id to uri: FORBIDDEN if there is none. */
static int
withdraw_in(struct kms_store *st, const char *client_id, const char *uri)
{
	sqlite3_stmt *s = NULL;
	int row, r;

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
	return r;
}

int
kms_store_add_identity(struct kms_store *st, const char *uri)
{
	int added, r;

	if (st == NULL || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = identity_add_in(st, uri, &added);
	return write_end(st, r);
}

int
kms_store_set_identity_revoked(struct kms_store *st, const char *uri, int revoked)
{
	int r;

	if (st == NULL || arg_uri(uri, 1) != KMS_OK || (revoked != 0 && revoked != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = set_revoked_in(st, S_SET_IDENTITY_REVOKED, uri, revoked, "revoke identity");
	return write_end(st, r);
}

int
kms_store_set_client_revoked(struct kms_store *st, const char *client_id, int revoked)
{
	int r;

	if (st == NULL || arg_id(client_id) != KMS_OK || (revoked != 0 && revoked != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = set_revoked_in(st, S_SET_CLIENT_REVOKED, client_id, revoked, "revoke client");
	return write_end(st, r);
}

int
kms_store_entitle(struct kms_store *st, const char *client_id, const char *uri)
{
	const char *why;
	int added, r;

	if (st == NULL || arg_id(client_id) != KMS_OK || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = entitle_in(st, client_id, uri, &added, &why);
	return write_end(st, r);
}

int
kms_store_withdraw(struct kms_store *st, const char *client_id, const char *uri)
{
	int r;

	if (st == NULL || arg_id(client_id) != KMS_OK || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = withdraw_in(st, client_id, uri);
	return write_end(st, r);
}

/* A reason for the operator (kms_roster_apply's *out_why): a constant string. */
static const char *
roster_why(const struct kms_roster_op *op, int r, const char *entitle_why)
{
	if (r == KMS_ERR_INVALID_ARG) {
		return "a malformed client id or identity URI";
	}
	if (r != KMS_ERR_FORBIDDEN) {
		return "the store failed";
	}
	switch (op->kind) {
	case KMS_ROSTER_ENTITLE:
		return strcmp(entitle_why, "client") == 0 ? "no such client" : "no such identity";
	case KMS_ROSTER_REVOKE_IDENTITY:
		return "no such identity";
	case KMS_ROSTER_WITHDRAW:
		return "no such entitlement";
	default:
		return "refused";
	}
}

int
kms_store_roster_apply(struct kms_store *st, const struct kms_roster_op *ops, size_t num_ops,
		       int dry_run, struct kms_roster_summary *out_sum, size_t *out_failed,
		       const char **out_why)
{
	struct kms_roster_summary sum;
	const char *ewhy = "";
	size_t i = 0;
	int n, r = KMS_ERR_INTERNAL;

	if (out_sum != NULL) {
		memset(out_sum, 0, sizeof(*out_sum));
	}
	if (out_failed != NULL) {
		*out_failed = 0;
	}
	if (out_why != NULL) {
		*out_why = "";
	}
	if (st == NULL || (ops == NULL && num_ops > 0) || num_ops > KMS_STORE_MAX_ROSTER_OPS ||
	    (dry_run != 0 && dry_run != 1) || out_sum == NULL || out_failed == NULL ||
	    out_why == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(&sum, 0, sizeof(sum));
	/* Every argument first: a malformed one is found before the write lock is taken. */
	for (i = 0; i < num_ops; i++) {
		const struct kms_roster_op *op = &ops[i];
		int need_client = op->kind == KMS_ROSTER_ENTITLE || op->kind == KMS_ROSTER_WITHDRAW;

		if ((op->kind != KMS_ROSTER_ADD_IDENTITY && op->kind != KMS_ROSTER_ENTITLE &&
		     op->kind != KMS_ROSTER_REVOKE_IDENTITY && op->kind != KMS_ROSTER_WITHDRAW) ||
		    (need_client && arg_id(op->client_id) != KMS_OK) ||
		    arg_uri(op->uri, 1) != KMS_OK) {
			*out_failed = i;
			*out_why = roster_why(op, KMS_ERR_INVALID_ARG, "");
			return KMS_ERR_INVALID_ARG;
		}
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/* In order, in one transaction: a later line sees what an earlier one did. */
	for (i = 0; i < num_ops; i++) {
		const struct kms_roster_op *op = &ops[i];

		switch (op->kind) {
		case KMS_ROSTER_ADD_IDENTITY:
			r = identity_add_in(st, op->uri, &n);
			if (r == KMS_OK) {
				*(n ? &sum.added : &sum.existed) += 1;
			}
			break;
		case KMS_ROSTER_ENTITLE:
			r = entitle_in(st, op->client_id, op->uri, &n, &ewhy);
			if (r == KMS_OK) {
				*(n ? &sum.entitled : &sum.already_entitled) += 1;
			}
			break;
		case KMS_ROSTER_REVOKE_IDENTITY:
			r = set_revoked_in(st, S_SET_IDENTITY_REVOKED, op->uri, 1,
					   "revoke identity");
			sum.revoked += r == KMS_OK;
			break;
		case KMS_ROSTER_WITHDRAW:
		default:
			r = withdraw_in(st, op->client_id, op->uri);
			sum.withdrawn += r == KMS_OK;
			break;
		}
		if (r != KMS_OK) {
			*out_failed = i;
			*out_why = roster_why(op, r, ewhy);
			goto out;
		}
	}
	r = KMS_OK;
out:
	if (r == KMS_OK && dry_run) {
		/* Everything was checked against the store; nothing is kept. */
		(void)write_end(st, KMS_ERR_INTERNAL);
	} else {
		r = write_end(st, r);
	}
	if (r == KMS_OK) {
		*out_sum = sum;
	}
	return r;
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
/* Listing the roster                                                                         */

/* The end of a read transaction begun with BEGIN (a snapshot): never fails. */
static void
read_end(struct kms_store *st)
{
	(void)sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	if (!sqlite3_get_autocommit(st->db)) {
		(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	}
}

/* What a list walks: the statement and how a row becomes the value passed to the callback. */
struct list_walk {
	enum stmt_id id;
	const char *what;
	int (*row)(struct kms_store *st, sqlite3_stmt *s, void *item);
	void *item; /* owned by the caller: the row's value, passed to cb */
	int (*cb)(void *arg, const void *item);
	void *arg;
};

/*
 * Walk the rows of w->id, with p1 and p2 (if not NULL) bound to ?1 and ?2, in one read snapshot:
 * KMS_OK, the callback's value, or a store error.
 */
static int
list_walk(struct kms_store *st, const struct list_walk *w, const char *p1, const char *p2)
{
	sqlite3_stmt *s = NULL;
	int have_row, in_txn = 0, r = KMS_ERR_INTERNAL;

	if ((r = exec(st, "BEGIN", "begin")) != KMS_OK) {
		return r;
	}
	in_txn = 1;
	if ((r = stmt_get(st, w->id, &s)) != KMS_OK ||
	    (p1 != NULL && (r = bind_str(st, s, 1, p1)) != KMS_OK) ||
	    (p2 != NULL && (r = bind_str(st, s, 2, p2)) != KMS_OK)) {
		goto out;
	}
	st->in_audit_walk = 1;
	for (;;) {
		if ((r = step(st, s, w->what, &have_row)) != KMS_OK || !have_row) {
			goto out;
		}
		if ((r = w->row(st, s, w->item)) != KMS_OK) {
			goto out;
		}
		if ((r = w->cb(w->arg, w->item)) != KMS_OK) {
			goto out;
		}
	}
out:
	st->in_audit_walk = 0;
	stmt_done(s);
	if (in_txn) {
		read_end(st);
	}
	return r;
}

static int
client_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct kms_store_client *c = item;
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = client_row_get(st, s, c)) != KMS_OK) {
		return r;
	}
	if ((r = col_text(st, s, 4, TEXT_ID, c->client_id, sizeof(c->client_id))) != KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("clients") : r;
	}
	return KMS_OK;
}

static int
identity_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct kms_store_identity *id = item;
	int r;

	memset(id, 0, sizeof(*id));
	if ((r = col_text(st, s, 0, TEXT_URI, id->uri, sizeof(id->uri))) != KMS_OK ||
	    (r = col_flag(s, 1, &id->revoked)) != KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("identities") : r;
	}
	return KMS_OK;
}

static int
entitlement_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct kms_store_entitlement *e = item;
	int r;

	memset(e, 0, sizeof(*e));
	/* The table has no CHECK constraints of its own: these checks are the only ones. */
	if ((r = col_text(st, s, 0, TEXT_ID, e->client_id, sizeof(e->client_id))) != KMS_OK ||
	    (r = col_text(st, s, 1, TEXT_URI, e->uri, sizeof(e->uri))) != KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("entitlements") : r;
	}
	return KMS_OK;
}

/* The callbacks of the public lists, typed; list_walk passes items as const void *. */
struct typed_cb {
	int (*client)(void *arg, const struct kms_store_client *c);
	int (*identity)(void *arg, const struct kms_store_identity *id);
	int (*entitlement)(void *arg, const struct kms_store_entitlement *e);
	void *arg;
};

static int
client_cb(void *arg, const void *item)
{
	const struct typed_cb *t = arg;

	return t->client(t->arg, item);
}

static int
identity_cb(void *arg, const void *item)
{
	const struct typed_cb *t = arg;

	return t->identity(t->arg, item);
}

static int
entitlement_cb(void *arg, const void *item)
{
	const struct typed_cb *t = arg;

	return t->entitlement(t->arg, item);
}

int
kms_store_client_list(struct kms_store *st,
		      int (*cb)(void *arg, const struct kms_store_client *client), void *arg)
{
	struct typed_cb t = {cb, NULL, NULL, arg};
	struct kms_store_client *c;
	struct list_walk w = {S_LIST_CLIENTS, "clients: list", client_list_row,
			      NULL,           client_cb,       &t};
	int r;

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w.item = c;
	r = list_walk(st, &w, NULL, NULL);
	free(c);
	return r;
}

int
kms_store_identity_list(struct kms_store *st,
			int (*cb)(void *arg, const struct kms_store_identity *identity), void *arg)
{
	struct typed_cb t = {NULL, cb, NULL, arg};
	struct kms_store_identity *id;
	struct list_walk w = {
		S_LIST_IDENTITIES, "identities: list", identity_list_row, NULL, identity_cb, &t};
	int r;

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((id = calloc(1, sizeof(*id))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w.item = id;
	r = list_walk(st, &w, NULL, NULL);
	free(id);
	return r;
}

int
kms_store_entitlement_list(struct kms_store *st, const char *client_id, const char *uri,
			   int (*cb)(void *arg, const struct kms_store_entitlement *entitlement),
			   void *arg)
{
	struct typed_cb t = {NULL, NULL, cb, arg};
	struct kms_store_entitlement *e;
	struct list_walk w = {S_LIST_ENTITLEMENTS,  "entitlements: list",
			      entitlement_list_row, NULL,
			      entitlement_cb,       &t};
	int r;

	if (st == NULL || cb == NULL || st->in_audit_walk ||
	    (client_id != NULL && arg_id(client_id) != KMS_OK) ||
	    (uri != NULL && arg_uri(uri, 1) != KMS_OK)) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w.item = e;
	r = list_walk(st, &w, client_id, uri);
	free(e);
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

int
kms_store_has_keyset(struct kms_store *st, const char *uri, uint64_t period, int *out_has)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (out_has == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_has = 0;
	if (st == NULL || arg_uri(uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if (period > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = stmt_get(st, S_HAS_KEYSET, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, uri)) != KMS_OK || (r = bind_u64(st, s, 2, period)) != KMS_OK ||
	    (r = step(st, s, "key set", &row)) != KMS_OK) {
		goto out;
	}
	*out_has = row;
	r = KMS_OK;
out:
	stmt_done(s);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Client keys                                                                                */

/* The role column's values, by the API's ink flag. */
static const char *const client_key_role[2] = {"trk", "ink"};

/* Insert or replace a client key, inside a transaction the caller began; arguments checked. */
static int
client_key_put_in(struct kms_store *st, const char *label, int ink,
		  const struct kms_store_blob *wrapped)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(st, S_PUT_CLIENT_KEY, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, label)) != KMS_OK ||
	    (r = bind_str(st, s, 2, client_key_role[ink])) != KMS_OK ||
	    (r = bind_blob(st, s, 3, wrapped->data, wrapped->len)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put client key", &row);
out:
	stmt_done(s);
	return r;
}

int
kms_store_put_client_key(struct kms_store *st, const char *label, int ink,
			 const struct kms_store_blob *wrapped)
{
	int r;

	if (st == NULL || arg_id(label) != KMS_OK || (ink != 0 && ink != 1) ||
	    arg_blob(wrapped) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	return write_end(st, client_key_put_in(st, label, ink, wrapped));
}

static int rotation_get_in(struct kms_store *st, const char *client_id,
			   struct kms_store_rotation *out, int *out_found);
static int retire_in(struct kms_store *st, const char *label);

/*
 * In a write transaction: a pending rotation of client made under another TrK than the one its
 * row now names (it was re-enrolled) is dropped, with its keys' client_keys rows unless a
 * client's row names them: its keys are wrapped under a TrK the client no longer has.
 */
static int
rotation_drop_stale_in(struct kms_store *st, const struct kms_store_client *client)
{
	struct kms_store_rotation rot;
	int found = 0, n = 0, r;

	if ((r = rotation_get_in(st, client->client_id, &rot, &found)) != KMS_OK || !found ||
	    strcmp(rot.from_trk_label, client->trk_label) == 0) {
		goto out;
	}
	if ((r = run_texts(st, S_DEL_ROTATION_KEYS, "drop a stale rotation", rot.new_trk_label,
			   rot.new_ink_label, NULL, &n)) == KMS_OK &&
	    (r = run_texts(st, S_DEL_ROTATION, "drop a stale rotation", client->client_id, NULL,
			   NULL, &n)) == KMS_OK &&
	    (r = retire_in(st, rot.new_trk_label)) == KMS_OK) {
		r = retire_in(st, rot.new_ink_label);
	}
	if (r == KMS_OK) {
		kms_log(KMS_LOG_INFO,
			"store: client %s re-enrolled: its pending rotation (new TrK %s) is "
			"dropped",
			client->client_id, rot.new_trk_label);
	}
out:
	kms_memzero(&rot, sizeof(rot));
	return r;
}

int
kms_store_put_client_with_keys(struct kms_store *st, const struct kms_store_client *client,
			       const struct kms_store_blob *trk_wrapped,
			       const struct kms_store_blob *ink_wrapped)
{
	struct kms_store_client old;
	int r, had = 0;

	/* Two roles under one label would leave one of the keys without a row. */
	if (st == NULL || st->in_audit_walk || arg_client(client) != KMS_OK ||
	    arg_blob(trk_wrapped) != KMS_OK || arg_blob(ink_wrapped) != KMS_OK ||
	    strcmp(client->trk_label, client->ink_label) == 0) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/*
	 * The client's keys until now, if it was enrolled before. A malformed row (logged) names
	 * no label to retire, and the enrolment replaces it.
	 */
	if ((r = kms_store_get_client(st, client->client_id, &old)) == KMS_OK) {
		had = 1;
	} else if (r != KMS_ERR_FORBIDDEN && r != KMS_ERR_PARSE) {
		return write_end(st, r);
	}
	/* The keys first: the row names them only once the store can also restore them. */
	if ((r = client_key_put_in(st, client->trk_label, 0, trk_wrapped)) == KMS_OK &&
	    (r = client_key_put_in(st, client->ink_label, 1, ink_wrapped)) == KMS_OK &&
	    (r = client_put_in(st, client)) == KMS_OK) {
		r = rotation_drop_stale_in(st, client);
	}
	/* The keys it replaces are retired (a label it keeps is not: retire_in checks). */
	if (r == KMS_OK && had && (r = retire_in(st, old.trk_label)) == KMS_OK) {
		r = retire_in(st, old.ink_label);
	}
	return write_end(st, r);
}

/* A client key as the list passes it on. */
struct client_key_item {
	char label[KMS_STORE_MAX_ID + 1];
	int ink;
	struct kms_store_blob wrapped;
};

static int
client_key_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct client_key_item *k = item;
	const unsigned char *role;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = col_text(st, s, 0, TEXT_ID, k->label, sizeof(k->label))) != KMS_OK ||
	    (r = col_blob(st, s, 2, k->wrapped.data, 1, sizeof(k->wrapped.data),
			  &k->wrapped.len)) != KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("client_keys") : r;
	}
	if (sqlite3_column_type(s, 1) != SQLITE_TEXT) {
		return bad_value("client_keys");
	}
	if ((role = sqlite3_column_text(s, 1)) == NULL) {
		return db_fail(st, sqlite3_errcode(st->db), "read");
	}
	/* The byte count as well: strcmp would stop at a NUL inside the value. */
	if (sqlite3_column_bytes(s, 1) != 3) {
		return bad_value("client_keys");
	}
	if (strcmp((const char *)role, client_key_role[0]) == 0) {
		k->ink = 0;
	} else if (strcmp((const char *)role, client_key_role[1]) == 0) {
		k->ink = 1;
	} else {
		return bad_value("client_keys");
	}
	return KMS_OK;
}

/* list_walk's callback for the client keys: the public callback, typed. */
struct client_key_cb {
	int (*cb)(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped);
	void *ctx;
};

static int
client_key_cb(void *arg, const void *item)
{
	const struct client_key_cb *t = arg;
	const struct client_key_item *k = item;

	return t->cb(t->ctx, k->label, k->ink, &k->wrapped);
}

int
kms_store_client_key_list(struct kms_store *st,
			  int (*cb)(void *ctx, const char *label, int ink,
				    const struct kms_store_blob *wrapped),
			  void *ctx)
{
	struct client_key_cb t = {cb, ctx};
	struct client_key_item *k;
	struct list_walk w = {S_LIST_CLIENT_KEYS,  "client_keys: list",
			      client_key_list_row, NULL,
			      client_key_cb,       &t};
	int r;

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w.item = k;
	r = list_walk(st, &w, NULL, NULL);
	kms_memzero(k, sizeof(*k));
	free(k);
	return r;
}

/* list_walk's callback for the one row of kms_store_get_client_key: a copy of it. */
static int
client_key_copy(void *arg, const void *item)
{
	struct client_key_item *out = arg;

	*out = *(const struct client_key_item *)item;
	return KMS_OK;
}

int
kms_store_get_client_key(struct kms_store *st, const char *label, int *ink,
			 struct kms_store_blob *wrapped)
{
	struct client_key_item *k = NULL, *got = NULL;
	struct list_walk w = {S_GET_CLIENT_KEY,    "client_keys: get",
			      client_key_list_row, NULL,
			      client_key_copy,     NULL};
	int r;

	if (st == NULL || ink == NULL || wrapped == NULL || st->in_audit_walk ||
	    arg_id(label) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL || (got = calloc(1, sizeof(*got))) == NULL) {
		free(k);
		return KMS_ERR_NOMEM;
	}
	w.item = k;
	w.arg = got;
	r = list_walk(st, &w, label, NULL);
	if (r == KMS_OK && got->label[0] == '\0') {
		r = KMS_ERR_FORBIDDEN;
	}
	if (r == KMS_OK) {
		*ink = got->ink;
		*wrapped = got->wrapped;
	}
	kms_memzero(k, sizeof(*k));
	kms_memzero(got, sizeof(*got));
	free(k);
	free(got);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Pending rotations                                                                          */

/*
 * A rotation's labels: the client's TrK when it was made and the two new keys, pairwise
 * distinct (with the client's InK, the fourth, checked against the client's row in the write).
 * Each is NUL-terminated (id_ok held).
 */
static int
rotation_labels_distinct(const struct kms_store_rotation *rot)
{
	return strcmp(rot->from_trk_label, rot->new_trk_label) != 0 &&
	       strcmp(rot->from_trk_label, rot->new_ink_label) != 0 &&
	       strcmp(rot->new_trk_label, rot->new_ink_label) != 0;
}

/* The checks of kms_store_put_rotation's rot: KMS_OK, KMS_ERR_INVALID_ARG or KMS_ERR_RANGE. */
static int
arg_rotation(const struct kms_store_rotation *rot)
{
	if (rot == NULL ||
	    !kms_store_id_ok(rot->client_id, c_len(rot->client_id, sizeof(rot->client_id))) ||
	    !kms_store_id_ok(rot->from_trk_label,
			     c_len(rot->from_trk_label, sizeof(rot->from_trk_label))) ||
	    !kms_store_id_ok(rot->new_trk_label,
			     c_len(rot->new_trk_label, sizeof(rot->new_trk_label))) ||
	    !kms_store_id_ok(rot->new_ink_label,
			     c_len(rot->new_ink_label, sizeof(rot->new_ink_label))) ||
	    arg_blob(&rot->new_trk) != KMS_OK || arg_blob(&rot->new_ink) != KMS_OK ||
	    !rotation_labels_distinct(rot)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (rot->created < 0) {
		return KMS_ERR_RANGE;
	}
	return KMS_OK;
}

/* The row s is on (the columns of enum rot_col), checked, into out (all zero on failure). */
static int
rotation_row_get(struct kms_store *st, sqlite3_stmt *s, struct kms_store_rotation *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = col_text(st, s, RC_CLIENT_ID, TEXT_ID, out->client_id, sizeof(out->client_id))) !=
		    KMS_OK ||
	    (r = col_text(st, s, RC_FROM_TRK, TEXT_ID, out->from_trk_label,
			  sizeof(out->from_trk_label))) != KMS_OK ||
	    (r = col_text(st, s, RC_NEW_TRK_LABEL, TEXT_ID, out->new_trk_label,
			  sizeof(out->new_trk_label))) != KMS_OK ||
	    (r = col_text(st, s, RC_NEW_INK_LABEL, TEXT_ID, out->new_ink_label,
			  sizeof(out->new_ink_label))) != KMS_OK ||
	    (r = col_blob(st, s, RC_NEW_TRK, out->new_trk.data, 1, sizeof(out->new_trk.data),
			  &out->new_trk.len)) != KMS_OK ||
	    (r = col_blob(st, s, RC_NEW_INK, out->new_ink.data, 1, sizeof(out->new_ink.data),
			  &out->new_ink.len)) != KMS_OK ||
	    (r = col_int_range(s, RC_CREATED, 0, INT64_MAX, &out->created)) != KMS_OK) {
		kms_memzero(out, sizeof(*out));
		return r == KMS_ERR_PARSE ? bad_value("client_rotations") : r;
	}
	/* The table's CHECK says so too; a hostile writer may have switched it off. */
	if (!rotation_labels_distinct(out)) {
		kms_memzero(out, sizeof(*out));
		return bad_value("client_rotations");
	}
	return KMS_OK;
}

/* The pending rotation of client_id (checked) into out and *out_found 1, or *out_found 0. */
static int
rotation_get_in(struct kms_store *st, const char *client_id, struct kms_store_rotation *out,
		int *out_found)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	*out_found = 0;
	memset(out, 0, sizeof(*out));
	if ((r = stmt_get(st, S_GET_ROTATION, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, client_id)) != KMS_OK ||
	    (r = step(st, s, "client_rotations", &row)) != KMS_OK || !row) {
		goto out;
	}
	if ((r = rotation_row_get(st, s, out)) != KMS_OK) {
		goto out;
	}
	*out_found = 1;
out:
	stmt_done(s);
	return r;
}

/*
 * Run the write id with the texts p1..p3 (NULL: not bound) as ?1..?3, inside a transaction the
 * caller began; *out_changes is the number of rows it changed.
 */
static int
run_texts(struct kms_store *st, enum stmt_id id, const char *what, const char *p1, const char *p2,
	  const char *p3, int *out_changes)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	*out_changes = 0;
	if ((r = stmt_get(st, id, &s)) != KMS_OK ||
	    (p1 != NULL && (r = bind_str(st, s, 1, p1)) != KMS_OK) ||
	    (p2 != NULL && (r = bind_str(st, s, 2, p2)) != KMS_OK) ||
	    (p3 != NULL && (r = bind_str(st, s, 3, p3)) != KMS_OK) ||
	    (r = step(st, s, what, &row)) != KMS_OK) {
		goto out;
	}
	*out_changes = sqlite3_changes(st->db);
out:
	stmt_done(s);
	return r;
}

/*
 * Inside a write: retire the client key label (retired_keys), unless a client's row or a
 * pending rotation names it, and then delete its copy under the KEK (client_keys): kms-hsmd
 * destroys its token objects, and `kms-ceremony restore` no longer brings it back.
 */
static int
retire_in(struct kms_store *st, const char *label)
{
	int n, r;

	if ((r = run_texts(st, S_RETIRE, "retire a client key", label, NULL, NULL, &n)) != KMS_OK) {
		return r;
	}
	return run_texts(st, S_DEL_RETIRED_KEY, "retire a client key", label, NULL, NULL, &n);
}

int
kms_store_is_retired(struct kms_store *st, const char *label, int *out_retired)
{
	int r;

	if (out_retired != NULL) {
		*out_retired = 0;
	}
	if (st == NULL || out_retired == NULL || st->in_audit_walk || arg_id(label) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	r = row_exists(st, S_IS_RETIRED, label, "retired_keys");
	if (r == KMS_OK) {
		*out_retired = 1;
	}
	return r == KMS_ERR_FORBIDDEN ? KMS_OK : r;
}

/* A retired key as the list passes it on. */
struct retired_item {
	char label[KMS_STORE_MAX_ID + 1];
	int64_t retired;
};

static int
retired_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct retired_item *k = item;
	int r;

	memset(k, 0, sizeof(*k));
	if ((r = col_text(st, s, 0, TEXT_ID, k->label, sizeof(k->label))) != KMS_OK ||
	    (r = col_int_range(s, 1, 0, INT64_MAX, &k->retired)) != KMS_OK) {
		return r == KMS_ERR_PARSE ? bad_value("retired_keys") : r;
	}
	return KMS_OK;
}

/* list_walk's callback for the retired keys: the public callback, typed. */
struct retired_cb {
	int (*cb)(void *ctx, const char *label, int64_t retired);
	void *ctx;
};

static int
retired_cb(void *arg, const void *item)
{
	const struct retired_cb *t = arg;
	const struct retired_item *k = item;

	return t->cb(t->ctx, k->label, k->retired);
}

int
kms_store_retired_list(struct kms_store *st,
		       int (*cb)(void *ctx, const char *label, int64_t retired), void *ctx)
{
	struct retired_cb t = {cb, ctx};
	struct retired_item k;
	struct list_walk w = {
		S_LIST_RETIRED, "retired_keys: list", retired_list_row, &k, retired_cb, &t};

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	return list_walk(st, &w, NULL, NULL);
}

/*
 * Insert a new client key, inside a transaction the caller began; arguments checked. Never
 * replaces: a label that is there (another key's backup) is KMS_ERR_AUTH.
 */
static int
client_key_insert_in(struct kms_store *st, const char *label, int ink,
		     const struct kms_store_blob *wrapped)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = row_exists(st, S_HAS_CLIENT_KEY, label, "client_keys")) != KMS_ERR_FORBIDDEN) {
		return r == KMS_OK ? KMS_ERR_AUTH : r;
	}
	if ((r = stmt_get(st, S_INSERT_CLIENT_KEY, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, label)) != KMS_OK ||
	    (r = bind_str(st, s, 2, client_key_role[ink])) != KMS_OK ||
	    (r = bind_blob(st, s, 3, wrapped->data, wrapped->len)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "insert client key", &row);
out:
	stmt_done(s);
	return r;
}

/* Insert the rotation row, inside a transaction the caller began; arg_rotation held. */
static int
rotation_insert_in(struct kms_store *st, const struct kms_store_rotation *rot)
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(st, S_PUT_ROTATION, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, rot->client_id)) != KMS_OK ||
	    (r = bind_str(st, s, 2, rot->from_trk_label)) != KMS_OK ||
	    (r = bind_str(st, s, 3, rot->new_trk_label)) != KMS_OK ||
	    (r = bind_str(st, s, 4, rot->new_ink_label)) != KMS_OK ||
	    (r = bind_blob(st, s, 5, rot->new_trk.data, rot->new_trk.len)) != KMS_OK ||
	    (r = bind_blob(st, s, 6, rot->new_ink.data, rot->new_ink.len)) != KMS_OK ||
	    (r = bind_u64(st, s, 7, (uint64_t)rot->created)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put client_rotations", &row);
out:
	stmt_done(s);
	return r;
}

int
kms_store_put_rotation(struct kms_store *st, const struct kms_store_rotation *rot,
		       const struct kms_store_blob *trk_kek, const struct kms_store_blob *ink_kek)
{
	struct kms_store_client client;
	int r = KMS_ERR_INTERNAL;

	if (st == NULL || st->in_audit_walk || arg_blob(trk_kek) != KMS_OK ||
	    arg_blob(ink_kek) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = arg_rotation(rot)) != KMS_OK) {
		return r;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/* Under the write lock: the client's row cannot change until COMMIT. */
	if ((r = kms_store_get_client(st, rot->client_id, &client)) != KMS_OK) {
		goto out; /* KMS_ERR_FORBIDDEN: no such client */
	}
	if (client.revoked) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if (strcmp(client.trk_label, rot->from_trk_label) != 0) {
		r = KMS_ERR_AUTH; /* its TrK changed since the new keys were wrapped */
		goto out;
	}
	/* The fourth label: the InK the client keeps until the rotation is finished. */
	if (strcmp(client.ink_label, rot->new_trk_label) == 0 ||
	    strcmp(client.ink_label, rot->new_ink_label) == 0) {
		r = KMS_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = row_exists(st, S_HAS_ROTATION, rot->client_id, "client_rotations")) !=
	    KMS_ERR_FORBIDDEN) {
		r = r == KMS_OK ? KMS_ERR_AUTH : r; /* one is pending already */
		goto out;
	}
	/* The keys' backups first, then the row that names them: all in this transaction. */
	if ((r = client_key_insert_in(st, rot->new_trk_label, 0, trk_kek)) != KMS_OK ||
	    (r = client_key_insert_in(st, rot->new_ink_label, 1, ink_kek)) != KMS_OK) {
		goto out;
	}
	r = rotation_insert_in(st, rot);
out:
	return write_end(st, r);
}

int
kms_store_get_rotation(struct kms_store *st, const char *client_id, struct kms_store_rotation *out,
		       int *found)
{
	if (found != NULL) {
		*found = 0;
	}
	if (out != NULL) {
		memset(out, 0, sizeof(*out));
	}
	if (st == NULL || out == NULL || found == NULL || st->in_audit_walk ||
	    arg_id(client_id) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	/* One statement: one read snapshot. */
	return rotation_get_in(st, client_id, out, found);
}

int
kms_store_finish_rotation(struct kms_store *st, const char *client_id, const char *new_ink_label)
{
	struct kms_store_rotation rot;
	struct kms_store_client client;
	int found, n, r = KMS_ERR_INTERNAL;

	if (st == NULL || st->in_audit_walk || arg_id(client_id) != KMS_OK ||
	    arg_id(new_ink_label) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = rotation_get_in(st, client_id, &rot, &found)) != KMS_OK) {
		goto out;
	}
	/* Nothing pending (finished or cancelled meanwhile), or a proof of another rotation. */
	if (!found || strcmp(rot.new_ink_label, new_ink_label) != 0) {
		r = KMS_ERR_AUTH;
		goto out;
	}
	if ((r = kms_store_get_client(st, client_id, &client)) != KMS_OK) {
		goto out;
	}
	/* Re-enrolled meanwhile: the new keys are wrapped under a TrK it no longer has. */
	if (strcmp(client.trk_label, rot.from_trk_label) != 0) {
		r = KMS_ERR_AUTH;
		goto out;
	}
	/* Under the write lock both rows are as just read: one change each. */
	if ((r = run_texts(st, S_SET_CLIENT_LABELS, "finish rotation", client_id, rot.new_trk_label,
			   rot.new_ink_label, &n)) != KMS_OK) {
		goto out;
	}
	if (n != 1) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	if ((r = run_texts(st, S_DEL_ROTATION, "finish rotation", client_id, NULL, NULL, &n)) !=
	    KMS_OK) {
		goto out;
	}
	if (n != 1) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	/* The keys the client used until now: retired, their copies under the KEK deleted. */
	if ((r = retire_in(st, rot.from_trk_label)) == KMS_OK) {
		r = retire_in(st, client.ink_label);
	}
out:
	kms_memzero(&rot, sizeof(rot));
	return write_end(st, r);
}

int
kms_store_cancel_rotation(struct kms_store *st, const char *client_id)
{
	struct kms_store_rotation rot;
	int found, n, r = KMS_ERR_INTERNAL;

	if (st == NULL || st->in_audit_walk || arg_id(client_id) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = rotation_get_in(st, client_id, &rot, &found)) != KMS_OK) {
		goto out;
	}
	if (!found) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if ((r = run_texts(st, S_DEL_ROTATION_KEYS, "cancel rotation", rot.new_trk_label,
			   rot.new_ink_label, NULL, &n)) != KMS_OK ||
	    (r = run_texts(st, S_DEL_ROTATION, "cancel rotation", client_id, NULL, NULL, &n)) !=
		    KMS_OK) {
		goto out;
	}
	if (n != 1) {
		r = KMS_ERR_INTERNAL;
		goto out;
	}
	if ((r = retire_in(st, rot.new_trk_label)) == KMS_OK) {
		r = retire_in(st, rot.new_ink_label);
	}
out:
	kms_memzero(&rot, sizeof(rot));
	return write_end(st, r);
}

static int
rotation_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	return rotation_row_get(st, s, item);
}

/* list_walk's callback for the rotations: the public callback, typed. */
struct rotation_cb {
	int (*cb)(void *ctx, const struct kms_store_rotation *rot);
	void *ctx;
};

static int
rotation_cb(void *arg, const void *item)
{
	const struct rotation_cb *t = arg;

	return t->cb(t->ctx, item);
}

int
kms_store_rotation_list(struct kms_store *st,
			int (*cb)(void *ctx, const struct kms_store_rotation *rot), void *ctx)
{
	struct rotation_cb t = {cb, ctx};
	struct kms_store_rotation *rot;
	struct list_walk w = {S_LIST_ROTATIONS,  "client_rotations: list",
			      rotation_list_row, NULL,
			      rotation_cb,       &t};
	int r;

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((rot = calloc(1, sizeof(*rot))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	w.item = rot;
	r = list_walk(st, &w, NULL, NULL);
	kms_memzero(rot, sizeof(*rot));
	free(rot);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* The audit log                                                                              */

/*
 * Appends of this process, one at a time (all handles): SQLite lets one writer in at a time
 * anyway. A child forked while another thread held it would wait for it in vain, then fail
 * closed (KMS_ERR_IO): fork before the threads start, as kmsd does.
 */
static pthread_mutex_t audit_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The domain separator of the record hash (docs/store.md): 11 bytes, no terminator. */
static const char audit_domain[] = "KMS-AUDIT-1";

#define AUDIT_NS_PER_S 1000000000u

/*
 * 1 if s[0..len) is at most max bytes of UTF-8 without control characters: no C0 (0x00..0x1F,
 * so no NUL, tab or newline), no DEL, no C1 (U+0080..U+009F, which some terminals obey). What
 * kms-admin prints from the log cannot then move the cursor, forge a line or a table column.
 */
static int
audit_text_ok(const char *s, size_t len, size_t max)
{
	if (len > max) {
		return 0;
	}
	return kms_mp_text_check((const uint8_t *)s, len) == KMS_OK;
}

/* 1 if s[0..len) is an outcome word: 1..KMS_AUDIT_MAX_OUTCOME bytes of [a-z0-9_-]. */
static int
audit_outcome_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > KMS_AUDIT_MAX_OUTCOME) {
		return 0;
	}
	for (i = 0; i < len; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-')) {
			return 0;
		}
	}
	return 1;
}

static int
audit_status_ok(int64_t v)
{
	return v == 0 || (v >= 100 && v <= 599);
}

/*
 * An argument text (NULL: the empty text): its length in *out_len, KMS_OK or
 * KMS_ERR_INVALID_ARG. strnlen stops one byte past max, so an unterminated or huge string
 * costs at most max + 1 bytes of reading.
 */
static int
audit_arg_text(const char *s, size_t max, size_t *out_len)
{
	size_t len;

	*out_len = 0;
	if (s == NULL) {
		return KMS_OK;
	}
	len = strnlen(s, max + 1);
	if (!audit_text_ok(s, len, max)) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_len = len;
	return KMS_OK;
}

/* The text fields of a record, in the order the hash and the table hold them. */
struct audit_texts {
	const char *p[7];
	size_t len[7];
};

enum {
	AT_REQUEST_ID,
	AT_CLIENT,
	AT_IDENTITY,
	AT_RESOURCE,
	AT_OUTCOME,
	AT_DETAIL,
	AT_KEY_IDS,
};

/* Check rec's fields for append: KMS_OK, KMS_ERR_INVALID_ARG or KMS_ERR_RANGE. */
static int
audit_arg_rec(const struct kms_audit_rec *rec, struct audit_texts *t)
{
	static const size_t max[7] = {
		[AT_REQUEST_ID] = KMS_AUDIT_MAX_REQUEST_ID, [AT_CLIENT] = KMS_AUDIT_MAX_CLIENT,
		[AT_IDENTITY] = KMS_AUDIT_MAX_IDENTITY,     [AT_RESOURCE] = KMS_AUDIT_MAX_RESOURCE,
		[AT_OUTCOME] = KMS_AUDIT_MAX_OUTCOME,       [AT_DETAIL] = KMS_AUDIT_MAX_DETAIL,
		[AT_KEY_IDS] = KMS_AUDIT_MAX_KEY_IDS,
	};
	size_t i;

	t->p[AT_REQUEST_ID] = rec->request_id;
	t->p[AT_CLIENT] = rec->client;
	t->p[AT_IDENTITY] = rec->identity;
	t->p[AT_RESOURCE] = rec->resource;
	t->p[AT_OUTCOME] = rec->outcome;
	t->p[AT_DETAIL] = rec->detail;
	t->p[AT_KEY_IDS] = rec->key_ids;
	for (i = 0; i < 7; i++) {
		if (audit_arg_text(t->p[i], max[i], &t->len[i]) != KMS_OK) {
			return KMS_ERR_INVALID_ARG;
		}
		if (t->p[i] == NULL) {
			t->p[i] = "";
		}
	}
	if (!audit_outcome_ok(t->p[AT_OUTCOME], t->len[AT_OUTCOME]) ||
	    !audit_status_ok(rec->http_status) || rec->time_ns >= AUDIT_NS_PER_S) {
		return KMS_ERR_INVALID_ARG;
	}
	if (rec->time_s > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	return KMS_OK;
}

static void
put_be(uint8_t *out, uint64_t v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	}
}

/* One length-prefixed field: its length as 4 bytes big-endian, then its bytes. */
static int
hash_field(EVP_MD_CTX *ctx, const void *p, size_t len)
{
	uint8_t pre[4];

	/* Every field is at most KMS_AUDIT_MAX_IDENTITY bytes: the length fits in 32 bits. */
	put_be(pre, len, sizeof(pre));
	return EVP_DigestUpdate(ctx, pre, sizeof(pre)) == 1 &&
	       (len == 0 || EVP_DigestUpdate(ctx, p, len) == 1);
}

/*
 * The record hash (docs/store.md): SHA-256 of "KMS-AUDIT-1" || seq (8 bytes BE) || prev_hash
 * || then, each as a 4-byte big-endian length and its bytes: time_s (8 bytes BE), time_ns (4
 * bytes BE), request_id, client, identity, resource, http_status (4 bytes BE), outcome, detail,
 * key_ids. The prefixes fix the field boundaries: no shift of bytes from one text to the next
 * keeps the hash. KMS_OK or KMS_ERR_CRYPTO.
 */
static int
audit_hash(EVP_MD_CTX *ctx, uint64_t seq, const uint8_t prev[KMS_AUDIT_HASH_LEN], uint64_t time_s,
	   uint32_t time_ns, int http_status, const struct audit_texts *t,
	   uint8_t out[KMS_AUDIT_HASH_LEN])
{
	uint8_t seq_be[8], ts[8], tns[4], status[4];
	unsigned int out_len = 0;
	int ok;

	put_be(seq_be, seq, sizeof(seq_be));
	put_be(ts, time_s, sizeof(ts));
	put_be(tns, time_ns, sizeof(tns));
	put_be(status, (uint32_t)http_status, sizeof(status)); /* 0..599 */
	ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     EVP_DigestUpdate(ctx, audit_domain, sizeof(audit_domain) - 1) == 1 &&
	     EVP_DigestUpdate(ctx, seq_be, sizeof(seq_be)) == 1 &&
	     EVP_DigestUpdate(ctx, prev, KMS_AUDIT_HASH_LEN) == 1 &&
	     hash_field(ctx, ts, sizeof(ts)) && hash_field(ctx, tns, sizeof(tns)) &&
	     hash_field(ctx, t->p[AT_REQUEST_ID], t->len[AT_REQUEST_ID]) &&
	     hash_field(ctx, t->p[AT_CLIENT], t->len[AT_CLIENT]) &&
	     hash_field(ctx, t->p[AT_IDENTITY], t->len[AT_IDENTITY]) &&
	     hash_field(ctx, t->p[AT_RESOURCE], t->len[AT_RESOURCE]) &&
	     hash_field(ctx, status, sizeof(status)) &&
	     hash_field(ctx, t->p[AT_OUTCOME], t->len[AT_OUTCOME]) &&
	     hash_field(ctx, t->p[AT_DETAIL], t->len[AT_DETAIL]) &&
	     hash_field(ctx, t->p[AT_KEY_IDS], t->len[AT_KEY_IDS]) &&
	     EVP_DigestFinal_ex(ctx, out, &out_len) == 1 && out_len == KMS_AUDIT_HASH_LEN;
	if (!ok) {
		kms_log(KMS_LOG_ERR, "store: audit: SHA-256 failed");
		return KMS_ERR_CRYPTO;
	}
	return KMS_OK;
}

/* The last record's seq and hash (0 and zeros for an empty log), inside the write lock. */
static int
audit_last(struct kms_store *st, uint64_t *out_seq, uint8_t out_hash[KMS_AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	sqlite3_int64 v;
	int row, r = KMS_ERR_INTERNAL;

	*out_seq = 0;
	memset(out_hash, 0, KMS_AUDIT_HASH_LEN);
	if ((r = stmt_get(st, S_AUDIT_LAST, &s)) != KMS_OK ||
	    (r = step(st, s, "audit: last record", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_OK;
		goto out;
	}
	/* seq is the rowid: always an integer. Nothing follows INT64_MAX. */
	v = sqlite3_column_int64(s, 0);
	r = v < 1 || v == INT64_MAX ? KMS_ERR_PARSE
				    : col_blob_exact(st, s, 1, out_hash, KMS_AUDIT_HASH_LEN);
	if (r != KMS_OK) {
		memset(out_hash, 0, KMS_AUDIT_HASH_LEN);
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("audit (the last record)");
		}
		goto out;
	}
	*out_seq = (uint64_t)v;
	r = KMS_OK;
out:
	stmt_done(s);
	return r;
}

/* One append transaction. */
static int
audit_append_once(struct kms_store *st, EVP_MD_CTX *ctx, const struct kms_audit_rec *rec,
		  const struct audit_texts *t, uint64_t *out_seq)
{
	uint8_t prev[KMS_AUDIT_HASH_LEN], hash[KMS_AUDIT_HASH_LEN];
	sqlite3_stmt *s = NULL;
	uint64_t last;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = audit_last(st, &last, prev)) != KMS_OK ||
	    (r = audit_hash(ctx, last + 1, prev, rec->time_s, rec->time_ns, rec->http_status, t,
			    hash)) != KMS_OK) {
		goto out;
	}
	if ((r = stmt_get(st, S_AUDIT_INSERT, &s)) != KMS_OK ||
	    (r = bind_u64(st, s, 1, last + 1)) != KMS_OK ||
	    (r = bind_u64(st, s, 2, rec->time_s)) != KMS_OK ||
	    (r = bind_u64(st, s, 3, rec->time_ns)) != KMS_OK ||
	    (r = bind_text(st, s, 4, t->p[AT_REQUEST_ID], t->len[AT_REQUEST_ID])) != KMS_OK ||
	    (r = bind_text(st, s, 5, t->p[AT_CLIENT], t->len[AT_CLIENT])) != KMS_OK ||
	    (r = bind_text(st, s, 6, t->p[AT_IDENTITY], t->len[AT_IDENTITY])) != KMS_OK ||
	    (r = bind_text(st, s, 7, t->p[AT_RESOURCE], t->len[AT_RESOURCE])) != KMS_OK ||
	    (r = bind_u64(st, s, 8, (uint64_t)rec->http_status)) != KMS_OK ||
	    (r = bind_text(st, s, 9, t->p[AT_OUTCOME], t->len[AT_OUTCOME])) != KMS_OK ||
	    (r = bind_text(st, s, 10, t->p[AT_DETAIL], t->len[AT_DETAIL])) != KMS_OK ||
	    (r = bind_text(st, s, 11, t->p[AT_KEY_IDS], t->len[AT_KEY_IDS])) != KMS_OK ||
	    (r = bind_blob(st, s, 12, prev, sizeof(prev))) != KMS_OK ||
	    (r = bind_blob(st, s, 13, hash, sizeof(hash))) != KMS_OK ||
	    (r = step(st, s, "audit: append", &row)) != KMS_OK) {
		goto out;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	/* COMMIT returns once the WAL is synced (synchronous = FULL, set at open). */
	if ((r = write_end(st, r)) == KMS_OK) {
		*out_seq = last + 1;
	}
	return r;
}

int
kms_store_audit_append(struct kms_store *st, const struct kms_audit_rec *rec, uint64_t *out_seq)
{
	struct audit_texts t;
	struct timespec deadline;
	EVP_MD_CTX *ctx = NULL;
	int attempt, rc, r = KMS_ERR_INTERNAL;

	if (out_seq == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_seq = 0;
	if (st == NULL || rec == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = audit_arg_rec(rec, &t)) != KMS_OK) {
		return r;
	}
	/* Not KMS_ERR_INVALID_ARG as for the other writes: to kmsd, "cannot record" is I/O. */
	if (st->read_only) {
		kms_log(KMS_LOG_ERR, "store: audit: cannot append: the store is open read-only");
		return KMS_ERR_IO;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		return KMS_ERR_NOMEM;
	}
	/*
	 * The threads of one process queue here, asleep, for their turn at the file's write lock,
	 * rather than poll it through the busy handler (which would leave it idle between polls).
	 * Bounded, like the tries below.
	 */
	(void)clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += (time_t)(KMS_AUDIT_ATTEMPTS * STORE_BUSY_TIMEOUT_MS / 1000);
	if ((rc = pthread_mutex_timedlock(&audit_mutex, &deadline)) != 0) {
		kms_log(KMS_LOG_ERR, "store: audit: other threads held the log too long (%s)",
			strerror(rc));
		EVP_MD_CTX_free(ctx);
		return KMS_ERR_IO;
	}
	/*
	 * Each try waits up to the busy timeout for the write lock. Another writer holding it
	 * longer (a long checkpoint, a tool's big transaction) gets a few more chances before the
	 * caller fails closed. Only a busy lock is worth another try.
	 */
	for (attempt = 1; attempt <= KMS_AUDIT_ATTEMPTS; attempt++) {
		st->last_rc = SQLITE_OK;
		r = audit_append_once(st, ctx, rec, &t, out_seq);
		if (r == KMS_OK || (st->last_rc & 0xff) != SQLITE_BUSY) {
			break;
		}
		if (attempt < KMS_AUDIT_ATTEMPTS) {
			kms_log(KMS_LOG_WARN, "store: audit: the log is locked; try %d of %d",
				attempt + 1, KMS_AUDIT_ATTEMPTS);
		}
	}
	(void)pthread_mutex_unlock(&audit_mutex);
	EVP_MD_CTX_free(ctx);
	return r;
}

const char *
kms_audit_fault_str(enum kms_audit_fault fault)
{
	switch (fault) {
	case KMS_AUDIT_FAULT_NONE:
		return "no fault";
	case KMS_AUDIT_FAULT_SEQ:
		return "its sequence number does not follow the previous record's (records deleted "
		       "or reordered)";
	case KMS_AUDIT_FAULT_VALUE:
		return "a field has the wrong type, length or characters";
	case KMS_AUDIT_FAULT_PREV:
		return "its prev_hash is not the previous record's hash (records deleted, "
		       "reordered "
		       "or edited)";
	case KMS_AUDIT_FAULT_HASH:
		return "its hash does not match its content (record edited)";
	case KMS_AUDIT_FAULT_UNREAD:
		return "it cannot be read (a value too large, or the file is corrupt)";
	case KMS_AUDIT_FAULT_CP_SIG:
		return "its signature does not verify under its audit key";
	case KMS_AUDIT_FAULT_CP_CUT:
		return "it covers a record beyond the end of the log (records removed from the "
		       "end)";
	case KMS_AUDIT_FAULT_CP_HASH:
		return "its hash is not the record's (the chain was rewritten)";
	case KMS_AUDIT_FAULT_CP_VALUE:
		return "the checkpoint has the wrong type, length or range of a value";
	case KMS_AUDIT_FAULT_CP_KEY:
		return "a registered audit key is malformed, or a pinned key is not registered";
	case KMS_AUDIT_FAULT_CP_KEY_UNKNOWN:
		return "it names an audit key that is not registered";
	case KMS_AUDIT_FAULT_CP_KEY_UNPINNED:
		return "signed by a key that is not pinned";
	default:
		return "unknown fault";
	}
}

/* A record read back: the fields' own copies, which rec's text pointers point to. */
struct audit_row {
	struct kms_audit_rec rec;
	struct audit_texts t;
	char request_id[KMS_AUDIT_MAX_REQUEST_ID + 1];
	char client[KMS_AUDIT_MAX_CLIENT + 1];
	char identity[KMS_AUDIT_MAX_IDENTITY + 1];
	char resource[KMS_AUDIT_MAX_RESOURCE + 1];
	char outcome[KMS_AUDIT_MAX_OUTCOME + 1];
	char detail[KMS_AUDIT_MAX_DETAIL + 1];
	char key_ids[KMS_AUDIT_MAX_KEY_IDS + 1];
};

/*
 * Column i as audit text of at most max bytes (an outcome word if outcome), copied
 * NUL-terminated to out (max + 1 bytes). KMS_ERR_PARSE for a value that fails.
 */
static int
col_audit_text(struct kms_store *st, sqlite3_stmt *s, int i, size_t max, int outcome, char *out,
	       size_t *out_len)
{
	const unsigned char *p;
	size_t len;
	int n;

	*out_len = 0;
	out[0] = '\0';
	if (sqlite3_column_type(s, i) != SQLITE_TEXT) {
		return KMS_ERR_PARSE;
	}
	p = sqlite3_column_text(s, i);
	n = sqlite3_column_bytes(s, i);
	if (n < 0) {
		return KMS_ERR_PARSE;
	}
	len = (size_t)n;
	if (p == NULL) {
		/* The empty text may come back as NULL; anything else NULL is out of memory. */
		if (len == 0 && (sqlite3_errcode(st->db) & 0xff) != SQLITE_NOMEM) {
			return KMS_OK;
		}
		return db_fail(st, sqlite3_errcode(st->db), "read");
	}
	if (outcome ? !audit_outcome_ok((const char *)p, len)
		    : !audit_text_ok((const char *)p, len, max)) {
		return KMS_ERR_PARSE;
	}
	memcpy(out, p, len);
	out[len] = '\0';
	*out_len = len;
	return KMS_OK;
}

/*
 * The current row of S_AUDIT_READ or S_AUDIT_WALK into row, every field checked: KMS_OK,
 * KMS_ERR_PARSE (a malformed field), KMS_ERR_NOMEM or KMS_ERR_IO.
 */
static int
audit_row_get(struct kms_store *st, sqlite3_stmt *s, struct audit_row *row)
{
	struct kms_audit_rec *rec = &row->rec;
	struct audit_texts *t = &row->t;
	int64_t seq, time_s, time_ns, status;
	int r;

	memset(rec, 0, sizeof(*rec));
	if ((r = col_int_range(s, AC_SEQ, 1, INT64_MAX, &seq)) != KMS_OK ||
	    (r = col_int_range(s, AC_TIME_S, 0, INT64_MAX, &time_s)) != KMS_OK ||
	    (r = col_int_range(s, AC_TIME_NS, 0, AUDIT_NS_PER_S - 1, &time_ns)) != KMS_OK ||
	    (r = col_int_range(s, AC_HTTP_STATUS, 0, 599, &status)) != KMS_OK ||
	    !audit_status_ok(status) ||
	    (r = col_audit_text(st, s, AC_REQUEST_ID, KMS_AUDIT_MAX_REQUEST_ID, 0, row->request_id,
				&t->len[AT_REQUEST_ID])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_CLIENT, KMS_AUDIT_MAX_CLIENT, 0, row->client,
				&t->len[AT_CLIENT])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_IDENTITY, KMS_AUDIT_MAX_IDENTITY, 0, row->identity,
				&t->len[AT_IDENTITY])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_RESOURCE, KMS_AUDIT_MAX_RESOURCE, 0, row->resource,
				&t->len[AT_RESOURCE])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_OUTCOME, KMS_AUDIT_MAX_OUTCOME, 1, row->outcome,
				&t->len[AT_OUTCOME])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_DETAIL, KMS_AUDIT_MAX_DETAIL, 0, row->detail,
				&t->len[AT_DETAIL])) != KMS_OK ||
	    (r = col_audit_text(st, s, AC_KEY_IDS, KMS_AUDIT_MAX_KEY_IDS, 0, row->key_ids,
				&t->len[AT_KEY_IDS])) != KMS_OK ||
	    (r = col_blob_exact(st, s, AC_PREV_HASH, rec->prev_hash, KMS_AUDIT_HASH_LEN)) !=
		    KMS_OK ||
	    (r = col_blob_exact(st, s, AC_HASH, rec->hash, KMS_AUDIT_HASH_LEN)) != KMS_OK) {
		return r != KMS_OK ? r : KMS_ERR_PARSE;
	}
	rec->seq = (uint64_t)seq;
	rec->time_s = (uint64_t)time_s;
	rec->time_ns = (uint32_t)time_ns;
	rec->http_status = (int)status;
	rec->request_id = t->p[AT_REQUEST_ID] = row->request_id;
	rec->client = t->p[AT_CLIENT] = row->client;
	rec->identity = t->p[AT_IDENTITY] = row->identity;
	rec->resource = t->p[AT_RESOURCE] = row->resource;
	rec->outcome = t->p[AT_OUTCOME] = row->outcome;
	rec->detail = t->p[AT_DETAIL] = row->detail;
	rec->key_ids = t->p[AT_KEY_IDS] = row->key_ids;
	return KMS_OK;
}

int
kms_store_audit_verify(struct kms_store *st, uint64_t *out_count, uint64_t *out_first_bad,
		       enum kms_audit_fault *out_fault)
{
	uint8_t prev[KMS_AUDIT_HASH_LEN], hash[KMS_AUDIT_HASH_LEN];
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_NONE;
	struct audit_row *row = NULL;
	EVP_MD_CTX *ctx = NULL;
	sqlite3_stmt *s = NULL;
	uint64_t count = 0, bad = 0;
	sqlite3_int64 seq;
	int rc, r = KMS_ERR_INTERNAL;

	if (out_count == NULL || out_first_bad == NULL || out_fault == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_count = 0;
	*out_first_bad = 0;
	*out_fault = KMS_AUDIT_FAULT_NONE;
	if (st == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((row = calloc(1, sizeof(*row))) == NULL || (ctx = EVP_MD_CTX_new()) == NULL) {
		r = KMS_ERR_NOMEM;
		goto out;
	}
	if ((r = stmt_get(st, S_AUDIT_WALK, &s)) != KMS_OK) {
		goto out;
	}
	st->in_audit_walk = 1;
	memset(prev, 0, sizeof(prev));
	/* One statement: one read snapshot, whatever writers append meanwhile. */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* seq is the rowid, an integer; count < INT64_MAX, since seq is. */
		seq = sqlite3_column_int64(s, AC_SEQ);
		if (seq < 1 || (uint64_t)seq != count + 1) {
			fault = KMS_AUDIT_FAULT_SEQ;
			bad = seq >= 1 ? (uint64_t)seq : count + 1;
			break;
		}
		if ((r = audit_row_get(st, s, row)) != KMS_OK) {
			if (r != KMS_ERR_PARSE) {
				goto out;
			}
			fault = KMS_AUDIT_FAULT_VALUE;
			break;
		}
		if (memcmp(row->rec.prev_hash, prev, sizeof(prev)) != 0) {
			fault = KMS_AUDIT_FAULT_PREV;
			break;
		}
		if ((r = audit_hash(ctx, row->rec.seq, prev, row->rec.time_s, row->rec.time_ns,
				    row->rec.http_status, &row->t, hash)) != KMS_OK) {
			goto out;
		}
		if (memcmp(hash, row->rec.hash, sizeof(hash)) != 0) {
			fault = KMS_AUDIT_FAULT_HASH;
			break;
		}
		memcpy(prev, hash, sizeof(prev));
		count++;
	}
	if (fault == KMS_AUDIT_FAULT_NONE && rc != SQLITE_DONE) {
		r = db_fail(st, rc, "audit: verify");
		if (r != KMS_ERR_PARSE) {
			goto out;
		}
		fault = KMS_AUDIT_FAULT_UNREAD; /* the next record, whatever its seq */
	}
	if (fault != KMS_AUDIT_FAULT_NONE) {
		*out_first_bad = bad != 0 ? bad : count + 1;
		*out_fault = fault;
		r = KMS_ERR_AUTH;
	} else {
		r = KMS_OK;
	}
	*out_count = count;
out:
	st->in_audit_walk = 0;
	stmt_done(s);
	EVP_MD_CTX_free(ctx);
	free(row);
	return r;
}

int
kms_store_audit_read(struct kms_store *st, const struct kms_audit_filter *filter,
		     int (*cb)(void *arg, const struct kms_audit_rec *rec), void *arg)
{
	static const struct kms_audit_filter all = {NULL, NULL, NULL, 0, 0};
	struct audit_row *row = NULL;
	sqlite3_stmt *s = NULL;
	size_t client_len, identity_len, outcome_len;
	int have_row, r = KMS_ERR_INTERNAL;

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if (filter == NULL) {
		filter = &all;
	}
	if (audit_arg_text(filter->client, KMS_AUDIT_MAX_CLIENT, &client_len) != KMS_OK ||
	    audit_arg_text(filter->identity, KMS_AUDIT_MAX_IDENTITY, &identity_len) != KMS_OK ||
	    audit_arg_text(filter->outcome, KMS_AUDIT_MAX_OUTCOME, &outcome_len) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if (filter->since > INT64_MAX || filter->until > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if (filter->since != 0 && filter->until != 0 && filter->since >= filter->until) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((row = calloc(1, sizeof(*row))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	/* Unbound parameters are NULL: no condition. */
	if ((r = stmt_get(st, S_AUDIT_READ, &s)) != KMS_OK ||
	    (filter->client != NULL &&
	     (r = bind_text(st, s, 1, filter->client, client_len)) != KMS_OK) ||
	    (filter->identity != NULL &&
	     (r = bind_text(st, s, 2, filter->identity, identity_len)) != KMS_OK) ||
	    (filter->outcome != NULL &&
	     (r = bind_text(st, s, 3, filter->outcome, outcome_len)) != KMS_OK) ||
	    (filter->since != 0 && (r = bind_u64(st, s, 4, filter->since)) != KMS_OK) ||
	    (filter->until != 0 && (r = bind_u64(st, s, 5, filter->until)) != KMS_OK)) {
		goto out;
	}
	st->in_audit_walk = 1;
	for (;;) {
		if ((r = step(st, s, "audit: read", &have_row)) != KMS_OK || !have_row) {
			goto out;
		}
		if ((r = audit_row_get(st, s, row)) != KMS_OK) {
			if (r == KMS_ERR_PARSE) {
				(void)bad_value("audit");
			}
			goto out;
		}
		if ((r = cb(arg, &row->rec)) != KMS_OK) {
			goto out;
		}
	}
out:
	st->in_audit_walk = 0;
	stmt_done(s);
	free(row);
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* Signed checkpoints of the audit log                                                        */

/* The domain separator of the checkpoint digest (docs/store.md): 22 bytes, no terminator. */
static const char checkpoint_domain[] = "KMS-AUDIT-CHECKPOINT-1";

int
kms_store_checkpoint_digest(uint64_t seq, const uint8_t hash[KMS_AUDIT_HASH_LEN], uint64_t time_s,
			    uint8_t out[KMS_AUDIT_HASH_LEN])
{
	uint8_t seq_be[8], time_be[8];
	unsigned int out_len = 0;
	EVP_MD_CTX *ctx = NULL;
	int r = KMS_ERR_CRYPTO;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, KMS_AUDIT_HASH_LEN);
	if (hash == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (seq == 0 || seq > INT64_MAX || time_s > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		return KMS_ERR_NOMEM;
	}
	put_be(seq_be, seq, sizeof(seq_be));
	put_be(time_be, time_s, sizeof(time_be)); /* 0..INT64_MAX: i64be and u64be agree */
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, checkpoint_domain, sizeof(checkpoint_domain) - 1) == 1 &&
	    EVP_DigestUpdate(ctx, seq_be, sizeof(seq_be)) == 1 &&
	    EVP_DigestUpdate(ctx, hash, KMS_AUDIT_HASH_LEN) == 1 &&
	    EVP_DigestUpdate(ctx, time_be, sizeof(time_be)) == 1 &&
	    EVP_DigestFinal_ex(ctx, out, &out_len) == 1 && out_len == KMS_AUDIT_HASH_LEN) {
		r = KMS_OK;
	} else {
		memset(out, 0, KMS_AUDIT_HASH_LEN);
	}
	EVP_MD_CTX_free(ctx);
	return r;
}

int
kms_store_audit_key_fingerprint(const uint8_t point[KMS_AUDIT_POINT_LEN],
				uint8_t out[KMS_AUDIT_HASH_LEN])
{
	unsigned int out_len = 0;

	if (point == NULL || out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	if (EVP_Digest(point, KMS_AUDIT_POINT_LEN, out, &out_len, EVP_sha256(), NULL) != 1 ||
	    out_len != KMS_AUDIT_HASH_LEN) {
		memset(out, 0, KMS_AUDIT_HASH_LEN);
		return KMS_ERR_CRYPTO;
	}
	return KMS_OK;
}

/*
 * An audit key row (S_AK_GET, S_AK_LIST, S_AK_COUNTS: fp, point, label), checked: the lengths,
 * the point's form, fp = SHA-256 of the point, the label. KMS_OK, KMS_ERR_PARSE (logged), or
 * KMS_ERR_CRYPTO; the outputs are zero on failure.
 */
static int
audit_key_row(struct kms_store *st, sqlite3_stmt *s, uint8_t fp[KMS_AUDIT_HASH_LEN],
	      uint8_t point[KMS_AUDIT_POINT_LEN], char label[KMS_STORE_MAX_ID + 1])
{
	uint8_t want[KMS_AUDIT_HASH_LEN];
	int r;

	if ((r = col_blob_exact(st, s, 0, fp, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = col_blob_exact(st, s, 1, point, KMS_AUDIT_POINT_LEN)) != KMS_OK ||
	    (r = col_text(st, s, 2, TEXT_ID, label, KMS_STORE_MAX_ID + 1)) != KMS_OK) {
		r = r == KMS_ERR_PARSE ? bad_value("audit_keys") : r;
		goto out;
	}
	if (point[0] != 0x04) {
		r = bad_value("audit_keys");
		goto out;
	}
	if ((r = kms_store_audit_key_fingerprint(point, want)) != KMS_OK) {
		goto out;
	}
	/* A row whose key is not its fingerprint's would let checkpoints name one key and be
	 * checked under another. */
	if (memcmp(want, fp, sizeof(want)) != 0) {
		kms_log(KMS_LOG_ERR, "store: audit_keys: a fingerprint is not its point's");
		r = KMS_ERR_PARSE;
	}
out:
	if (r != KMS_OK) {
		memset(fp, 0, KMS_AUDIT_HASH_LEN);
		memset(point, 0, KMS_AUDIT_POINT_LEN);
		memset(label, 0, KMS_STORE_MAX_ID + 1);
	}
	return r;
}

/*
 * The registered audit key of fingerprint fp, in the caller's transaction or autocommit: its
 * point and label. KMS_OK, KMS_ERR_FORBIDDEN (not registered), KMS_ERR_PARSE (its row is
 * malformed), or a store error; the outputs are zero on failure.
 */
static int
audit_key_get(struct kms_store *st, const uint8_t fp[KMS_AUDIT_HASH_LEN],
	      uint8_t point[KMS_AUDIT_POINT_LEN], char label[KMS_STORE_MAX_ID + 1])
{
	uint8_t got_fp[KMS_AUDIT_HASH_LEN];
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	memset(point, 0, KMS_AUDIT_POINT_LEN);
	memset(label, 0, KMS_STORE_MAX_ID + 1);
	if ((r = stmt_get(st, S_AK_GET, &s)) != KMS_OK ||
	    (r = bind_blob(st, s, 1, fp, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = step(st, s, "audit_keys: get", &row)) != KMS_OK) {
		goto out;
	}
	r = row ? audit_key_row(st, s, got_fp, point, label) : KMS_ERR_FORBIDDEN;
out:
	stmt_done(s);
	return r;
}

int
kms_store_put_audit_key(struct kms_store *st, const uint8_t point[KMS_AUDIT_POINT_LEN],
			const char *label)
{
	uint8_t fp[KMS_AUDIT_HASH_LEN], have_point[KMS_AUDIT_POINT_LEN];
	char have_label[KMS_STORE_MAX_ID + 1];
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || point == NULL || point[0] != 0x04 || arg_id(label) != KMS_OK ||
	    st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_store_audit_key_fingerprint(point, fp)) != KMS_OK) {
		return r;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	r = audit_key_get(st, fp, have_point, have_label);
	if (r == KMS_OK) {
		/* Registered already (the row's point is its fingerprint's: this point). */
		if (strcmp(have_label, label) != 0) {
			kms_log(KMS_LOG_ERR, "store: audit_keys: the key is registered already, "
					     "under another label");
			r = KMS_ERR_FORBIDDEN;
		}
		goto out;
	}
	if (r != KMS_ERR_FORBIDDEN) {
		goto out;
	}
	if ((r = stmt_get(st, S_AK_PUT, &s)) != KMS_OK ||
	    (r = bind_blob(st, s, 1, fp, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = bind_blob(st, s, 2, point, KMS_AUDIT_POINT_LEN)) != KMS_OK ||
	    (r = bind_str(st, s, 3, label)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "audit_keys: put", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

int
kms_store_has_audit_key(struct kms_store *st, const uint8_t point[KMS_AUDIT_POINT_LEN],
			int *out_has)
{
	uint8_t fp[KMS_AUDIT_HASH_LEN], have_point[KMS_AUDIT_POINT_LEN];
	char have_label[KMS_STORE_MAX_ID + 1];
	int r;

	if (out_has == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_has = 0;
	if (st == NULL || point == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_store_audit_key_fingerprint(point, fp)) != KMS_OK) {
		return r;
	}
	r = audit_key_get(st, fp, have_point, have_label);
	if (r == KMS_OK) {
		*out_has = 1;
	} else if (r == KMS_ERR_FORBIDDEN) {
		r = KMS_OK;
	}
	return r;
}

/* list_walk's item and callback for the audit keys. */
struct audit_key_item {
	uint8_t fp[KMS_AUDIT_HASH_LEN];
	uint8_t point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
};

struct audit_key_cb {
	int (*cb)(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN],
		  const uint8_t point[KMS_AUDIT_POINT_LEN], const char *label);
	void *ctx;
};

static int
audit_key_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	struct audit_key_item *k = item;

	return audit_key_row(st, s, k->fp, k->point, k->label);
}

static int
audit_key_list_cb(void *arg, const void *item)
{
	const struct audit_key_cb *t = arg;
	const struct audit_key_item *k = item;

	return t->cb(t->ctx, k->fp, k->point, k->label);
}

int
kms_store_audit_key_list(struct kms_store *st,
			 int (*cb)(void *ctx, const uint8_t fp[KMS_AUDIT_HASH_LEN],
				   const uint8_t point[KMS_AUDIT_POINT_LEN], const char *label),
			 void *ctx)
{
	struct audit_key_cb t = {cb, ctx};
	struct audit_key_item k;
	struct list_walk w = {S_AK_LIST, "audit_keys: list", audit_key_list_row,
			      &k,        audit_key_list_cb,  &t};

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	return list_walk(st, &w, NULL, NULL);
}

int
kms_store_checkpoint_put(struct kms_store *st, const struct kms_audit_checkpoint *cp)
{
	uint8_t point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (st == NULL || cp == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cp->seq == 0 || cp->seq > INT64_MAX || cp->time_s > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	/* Checked here rather than left to the foreign key: a clear code and message. */
	if ((r = audit_key_get(st, cp->key_fp, point, label)) != KMS_OK) {
		if (r == KMS_ERR_FORBIDDEN) {
			kms_log(KMS_LOG_ERR,
				"store: audit_checkpoints: signed by a key that is not "
				"a registered audit key: refused");
		}
		goto out;
	}
	if ((r = stmt_get(st, S_CP_PUT, &s)) != KMS_OK ||
	    (r = bind_u64(st, s, 1, cp->seq)) != KMS_OK ||
	    (r = bind_blob(st, s, 2, cp->hash, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = bind_u64(st, s, 3, cp->time_s)) != KMS_OK ||
	    (r = bind_blob(st, s, 4, cp->key_fp, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = bind_blob(st, s, 5, cp->sig, KMS_AUDIT_SIG_LEN)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "audit_checkpoints: put", &row);
out:
	stmt_done(s);
	return write_end(st, r);
}

/* S_CP_WALK's current row into cp, checked: KMS_OK or KMS_ERR_PARSE (not logged here). */
static int
checkpoint_row(struct kms_store *st, sqlite3_stmt *s, struct kms_audit_checkpoint *cp)
{
	int64_t seq, time_s;
	int r;

	memset(cp, 0, sizeof(*cp));
	if ((r = col_int_range(s, 0, 1, INT64_MAX, &seq)) != KMS_OK ||
	    (r = col_blob_exact(st, s, 1, cp->hash, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = col_int_range(s, 2, 0, INT64_MAX, &time_s)) != KMS_OK ||
	    (r = col_blob_exact(st, s, 3, cp->key_fp, KMS_AUDIT_HASH_LEN)) != KMS_OK ||
	    (r = col_blob_exact(st, s, 4, cp->sig, KMS_AUDIT_SIG_LEN)) != KMS_OK) {
		memset(cp, 0, sizeof(*cp));
		return r;
	}
	cp->seq = (uint64_t)seq;
	cp->time_s = (uint64_t)time_s;
	return KMS_OK;
}

static int
checkpoint_list_row(struct kms_store *st, sqlite3_stmt *s, void *item)
{
	int r = checkpoint_row(st, s, item);

	return r == KMS_ERR_PARSE ? bad_value("audit_checkpoints") : r;
}

/* list_walk's callback for the checkpoints: the public callback, typed. */
struct checkpoint_cb {
	int (*cb)(void *arg, const struct kms_audit_checkpoint *cp);
	void *arg;
};

static int
checkpoint_cb(void *arg, const void *item)
{
	const struct checkpoint_cb *t = arg;

	return t->cb(t->arg, item);
}

int
kms_store_checkpoint_walk(struct kms_store *st,
			  int (*cb)(void *arg, const struct kms_audit_checkpoint *cp), void *arg)
{
	struct checkpoint_cb t = {cb, arg};
	struct kms_audit_checkpoint cp;
	struct list_walk w = {
		S_CP_WALK, "audit_checkpoints: walk", checkpoint_list_row, &cp, checkpoint_cb, &t};

	if (st == NULL || cb == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	return list_walk(st, &w, NULL, NULL);
}

int
kms_store_checkpoint_last(struct kms_store *st, uint64_t *out_seq)
{
	sqlite3_stmt *s = NULL;
	int64_t v;
	int row, r = KMS_ERR_INTERNAL;

	if (out_seq == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_seq = 0;
	if (st == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = stmt_get(st, S_CP_LAST, &s)) != KMS_OK ||
	    (r = step(st, s, "audit_checkpoints: last", &row)) != KMS_OK || !row) {
		goto out;
	}
	if ((r = col_int_range(s, 0, 1, INT64_MAX, &v)) != KMS_OK) {
		r = bad_value("audit_checkpoints");
		goto out;
	}
	*out_seq = (uint64_t)v;
out:
	stmt_done(s);
	return r;
}

int
kms_store_audit_head(struct kms_store *st, uint64_t *out_seq, uint8_t out_hash[KMS_AUDIT_HASH_LEN])
{
	if (out_seq == NULL || out_hash == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out_seq = 0;
	memset(out_hash, 0, KMS_AUDIT_HASH_LEN);
	if (st == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	/* One statement in autocommit: one snapshot. */
	return audit_last(st, out_seq, out_hash);
}

int
kms_store_audit_hash_at(struct kms_store *st, uint64_t seq, uint8_t out_hash[KMS_AUDIT_HASH_LEN])
{
	sqlite3_stmt *s = NULL;
	int row, r = KMS_ERR_INTERNAL;

	if (out_hash == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out_hash, 0, KMS_AUDIT_HASH_LEN);
	if (st == NULL || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	if (seq == 0 || seq > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((r = stmt_get(st, S_AUDIT_HASH_AT, &s)) != KMS_OK ||
	    (r = bind_u64(st, s, 1, seq)) != KMS_OK ||
	    (r = step(st, s, "audit: hash", &row)) != KMS_OK) {
		goto out;
	}
	if (!row) {
		r = KMS_ERR_FORBIDDEN;
		goto out;
	}
	if ((r = col_blob_exact(st, s, 0, out_hash, KMS_AUDIT_HASH_LEN)) != KMS_OK) {
		memset(out_hash, 0, KMS_AUDIT_HASH_LEN);
		r = r == KMS_ERR_PARSE ? bad_value("audit") : r;
	}
out:
	stmt_done(s);
	return r;
}

/* The walk of the checkpoints in kms_store_audit_verify_checkpoints: its state. */
struct cp_check {
	struct kms_store *st;
	kms_audit_verify_fn verify;
	const uint8_t (*pins)[KMS_AUDIT_HASH_LEN]; /* borrowed; num_pins of them */
	size_t num_pins;
	struct kms_audit_report *rep;
	int keys_ok; /* every key row is well formed */
};

/* 1 if fp is one of the pinned fingerprints (or nothing is pinned), else 0. */
static int
cp_pinned(const struct cp_check *c, const uint8_t fp[KMS_AUDIT_HASH_LEN])
{
	size_t i;

	if (c->num_pins == 0) {
		return 1;
	}
	for (i = 0; i < c->num_pins; i++) {
		if (memcmp(c->pins[i], fp, KMS_AUDIT_HASH_LEN) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * The registered keys, before any checkpoint: every row well formed (counted in rep->num_keys;
 * then keys_ok is set), every pinned key registered. KMS_OK, KMS_ERR_AUTH (rep->cp_fault is
 * CP_KEY), or a store error.
 */
static int
cp_check_keys(struct cp_check *c)
{
	uint8_t fp[KMS_AUDIT_HASH_LEN], point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	sqlite3_stmt *s = NULL;
	size_t i;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(c->st, S_AK_LIST, &s)) != KMS_OK) {
		return r;
	}
	for (;;) {
		if ((r = step(c->st, s, "audit_keys: verify", &row)) != KMS_OK || !row) {
			break;
		}
		if ((r = audit_key_row(c->st, s, fp, point, label)) != KMS_OK) {
			if (r == KMS_ERR_PARSE) {
				c->rep->cp_fault = KMS_AUDIT_FAULT_CP_KEY;
				r = KMS_ERR_AUTH;
			}
			break;
		}
		c->rep->num_keys++;
	}
	stmt_done(s);
	if (r != KMS_OK) {
		return r;
	}
	c->keys_ok = 1;
	for (i = 0; i < c->num_pins; i++) {
		if ((r = audit_key_get(c->st, c->pins[i], point, label)) != KMS_OK) {
			if (r != KMS_ERR_FORBIDDEN) {
				return r;
			}
			c->rep->cp_fault = KMS_AUDIT_FAULT_CP_KEY;
			return KMS_ERR_AUTH;
		}
	}
	return KMS_OK;
}

/* One checkpoint: KMS_OK (verified), KMS_ERR_AUTH (rep says why), or a store error. */
static int
cp_check_one(struct cp_check *c, const struct kms_audit_checkpoint *cp)
{
	uint8_t hash[KMS_AUDIT_HASH_LEN], digest[KMS_AUDIT_HASH_LEN];
	uint8_t point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	enum kms_audit_fault fault = KMS_AUDIT_FAULT_NONE;
	int r;

	if ((r = kms_store_audit_hash_at(c->st, cp->seq, hash)) != KMS_OK) {
		if (r == KMS_ERR_FORBIDDEN) {
			fault = KMS_AUDIT_FAULT_CP_CUT;
		} else if (r == KMS_ERR_PARSE) {
			fault = KMS_AUDIT_FAULT_CP_HASH; /* the record's hash is malformed */
		} else {
			return r;
		}
	} else if (memcmp(hash, cp->hash, sizeof(hash)) != 0) {
		fault = KMS_AUDIT_FAULT_CP_HASH;
	} else if ((r = audit_key_get(c->st, cp->key_fp, point, label)) != KMS_OK) {
		if (r != KMS_ERR_FORBIDDEN && r != KMS_ERR_PARSE) {
			return r;
		}
		fault = KMS_AUDIT_FAULT_CP_KEY_UNKNOWN;
	} else if (!cp_pinned(c, cp->key_fp)) {
		fault = KMS_AUDIT_FAULT_CP_KEY_UNPINNED;
	} else if ((r = kms_store_checkpoint_digest(cp->seq, cp->hash, cp->time_s, digest)) !=
		   KMS_OK) {
		return r;
	} else if (c->verify(point, digest, sizeof(digest), cp->sig) != KMS_OK) {
		fault = KMS_AUDIT_FAULT_CP_SIG;
	}
	if (fault != KMS_AUDIT_FAULT_NONE) {
		c->rep->cp_first_bad = cp->seq;
		c->rep->cp_fault = fault;
		return KMS_ERR_AUTH;
	}
	c->rep->num_checkpoints++;
	c->rep->last_cp_seq = cp->seq;
	return KMS_OK;
}

/* Every checkpoint in seq order, until the first that fails: KMS_OK (rep says) or an error. */
static int
cp_check_all(struct cp_check *c)
{
	struct kms_audit_checkpoint cp;
	sqlite3_stmt *s = NULL;
	sqlite3_int64 seq_v;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(c->st, S_CP_WALK, &s)) != KMS_OK) {
		return r;
	}
	for (;;) {
		if ((r = step(c->st, s, "audit_checkpoints: verify", &row)) != KMS_OK || !row) {
			break;
		}
		if ((r = checkpoint_row(c->st, s, &cp)) != KMS_OK) {
			if (r != KMS_ERR_PARSE) {
				break;
			}
			/* Its seq, the rowid, if that is usable; else the next one. */
			seq_v = sqlite3_column_int64(s, 0);
			c->rep->cp_first_bad =
				seq_v >= 1 ? (uint64_t)seq_v : c->rep->last_cp_seq + 1;
			c->rep->cp_fault = KMS_AUDIT_FAULT_CP_VALUE;
			r = KMS_OK;
			break;
		}
		if ((r = cp_check_one(c, &cp)) != KMS_OK) {
			r = r == KMS_ERR_AUTH ? KMS_OK : r;
			break;
		}
	}
	stmt_done(s);
	return r;
}

/* key_cb for every registered key, with the number of checkpoints naming it. */
static int
cp_report_keys(struct kms_store *st, kms_audit_key_fn key_cb, void *key_ctx)
{
	uint8_t fp[KMS_AUDIT_HASH_LEN], point[KMS_AUDIT_POINT_LEN];
	char label[KMS_STORE_MAX_ID + 1];
	sqlite3_stmt *s = NULL;
	int64_t n;
	int row, r = KMS_ERR_INTERNAL;

	if ((r = stmt_get(st, S_AK_COUNTS, &s)) != KMS_OK) {
		return r;
	}
	for (;;) {
		if ((r = step(st, s, "audit_keys: count", &row)) != KMS_OK || !row) {
			break;
		}
		if ((r = audit_key_row(st, s, fp, point, label)) != KMS_OK) {
			break;
		}
		if ((r = col_int_range(s, 3, 0, INT64_MAX, &n)) != KMS_OK) {
			r = bad_value("audit_checkpoints");
			break;
		}
		key_cb(key_ctx, fp, label, (uint64_t)n);
	}
	stmt_done(s);
	return r;
}

int
kms_store_audit_verify_checkpoints(struct kms_store *st, kms_audit_verify_fn verify,
				   const uint8_t (*pins)[KMS_AUDIT_HASH_LEN], size_t num_pins,
				   kms_audit_key_fn key_cb, void *key_ctx,
				   struct kms_audit_report *out)
{
	struct cp_check c;
	int chain_r, r = KMS_ERR_INTERNAL;

	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	memset(out, 0, sizeof(*out));
	if (st == NULL || verify == NULL || (pins == NULL && num_pins > 0) || st->in_audit_walk) {
		return KMS_ERR_INVALID_ARG;
	}
	/* One read transaction: the chain, the keys and the checkpoints of one snapshot. */
	if ((r = exec(st, "BEGIN", "begin")) != KMS_OK) {
		return r;
	}
	chain_r = kms_store_audit_verify(st, &out->chain_count, &out->chain_first_bad,
					 &out->chain_fault);
	if (chain_r != KMS_OK && chain_r != KMS_ERR_AUTH) {
		r = chain_r;
		goto out;
	}
	c.st = st;
	c.verify = verify;
	c.pins = pins;
	c.num_pins = num_pins;
	c.rep = out;
	c.keys_ok = 0;
	r = cp_check_keys(&c);
	if (r == KMS_OK) {
		r = cp_check_all(&c);
	} else if (r == KMS_ERR_AUTH) {
		r = KMS_OK; /* the report says why; no checkpoint is checked */
	}
	if (r != KMS_OK) {
		goto out;
	}
	/* Malformed key rows (the report's CP_KEY) cannot be listed either. */
	if (key_cb != NULL && c.keys_ok && (r = cp_report_keys(st, key_cb, key_ctx)) != KMS_OK) {
		goto out;
	}
	r = chain_r == KMS_OK && out->cp_fault == KMS_AUDIT_FAULT_NONE ? KMS_OK : KMS_ERR_AUTH;
out:
	read_end(st);
	if (r != KMS_OK && r != KMS_ERR_AUTH) {
		memset(out, 0, sizeof(*out));
	}
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* The certificate cache of external KMSs                                                     */

/* The next change number (inside a write transaction): the maximum + 1. */
static int
ext_max(struct kms_store *st, uint64_t *out)
{
	sqlite3_stmt *s = NULL;
	sqlite3_int64 v;
	int row, r = KMS_ERR_INTERNAL;

	*out = 0;
	if ((r = stmt_get(st, S_EXT_MAX, &s)) != KMS_OK ||
	    (r = step(st, s, "ext_certs: cache number", &row)) != KMS_OK) {
		goto out;
	}
	/* max() of no rows is NULL: no change yet. */
	if (row && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		if (sqlite3_column_type(s, 0) != SQLITE_INTEGER) {
			r = bad_value("ext_certs");
			goto out;
		}
		v = sqlite3_column_int64(s, 0);
		if (v < 1 || v == INT64_MAX) { /* INT64_MAX: no next number */
			r = bad_value("ext_certs");
			goto out;
		}
		*out = (uint64_t)v;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	return r;
}

int
kms_store_ext_cert_put(struct kms_store *st, const struct kms_store_ext_cert *cert,
		       uint64_t *out_change_num)
{
	sqlite3_stmt *s = NULL;
	size_t kms_uri_len, cert_uri_len, issuer_len, domains_len;
	uint64_t num = 0;
	int row, r = KMS_ERR_INTERNAL;

	if (out_change_num != NULL) {
		*out_change_num = 0;
	}
	if (st == NULL || cert == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	kms_uri_len = c_len(cert->kms_uri, sizeof(cert->kms_uri));
	cert_uri_len = c_len(cert->cert_uri, sizeof(cert->cert_uri));
	issuer_len = c_len(cert->issuer, sizeof(cert->issuer));
	domains_len = c_len(cert->domains, sizeof(cert->domains));
	if (!uri_ok(cert->kms_uri, kms_uri_len, 1) || !uri_ok(cert->cert_uri, cert_uri_len, 0) ||
	    !text_ok(cert->issuer, issuer_len, KMS_STORE_MAX_ISSUER) ||
	    !domains_ok(cert->domains, domains_len) || (cert->revoked != 0 && cert->revoked != 1) ||
	    (cert->has_valid_from != 0 && cert->has_valid_from != 1) ||
	    (cert->has_valid_to != 0 && cert->has_valid_to != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (cert->user_key_period == 0 || cert->user_key_period > INT64_MAX ||
	    cert->user_key_offset > INT64_MAX ||
	    !ext_time_ok(cert->has_valid_from, cert->valid_from) ||
	    !ext_time_ok(cert->has_valid_to, cert->valid_to)) {
		return KMS_ERR_RANGE;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = ext_max(st, &num)) != KMS_OK) {
		goto out;
	}
	num++;
	if ((r = stmt_get(st, S_EXT_PUT, &s)) != KMS_OK ||
	    (r = bind_text(st, s, 1, cert->kms_uri, kms_uri_len)) != KMS_OK ||
	    (r = bind_text(st, s, 2, cert->cert_uri, cert_uri_len)) != KMS_OK ||
	    (r = bind_text(st, s, 3, cert->issuer, issuer_len)) != KMS_OK ||
	    (r = bind_time_opt(st, s, 4, cert->has_valid_from, cert->valid_from)) != KMS_OK ||
	    (r = bind_time_opt(st, s, 5, cert->has_valid_to, cert->valid_to)) != KMS_OK ||
	    (r = bind_u64(st, s, 6, (uint64_t)cert->revoked)) != KMS_OK ||
	    (r = bind_u64(st, s, 7, cert->user_key_period)) != KMS_OK ||
	    (r = bind_u64(st, s, 8, cert->user_key_offset)) != KMS_OK ||
	    (r = bind_blob(st, s, 9, cert->z_t, sizeof(cert->z_t))) != KMS_OK ||
	    (r = bind_blob(st, s, 10, cert->kpak, sizeof(cert->kpak))) != KMS_OK ||
	    (r = bind_text(st, s, 11, cert->domains, domains_len)) != KMS_OK ||
	    (r = bind_u64(st, s, 12, num)) != KMS_OK) {
		goto out;
	}
	r = step(st, s, "put ext_certs", &row);
out:
	stmt_done(s);
	r = write_end(st, r);
	if (r == KMS_OK && out_change_num != NULL) {
		*out_change_num = num;
	}
	return r;
}

int
kms_store_ext_cert_withdraw(struct kms_store *st, const char *kms_uri, uint64_t *out_change_num)
{
	sqlite3_stmt *s = NULL;
	uint64_t num = 0;
	int row, r = KMS_ERR_INTERNAL;

	if (out_change_num != NULL) {
		*out_change_num = 0;
	}
	if (st == NULL || arg_uri(kms_uri, 1) != KMS_OK) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = write_begin(st)) != KMS_OK) {
		return r;
	}
	if ((r = ext_max(st, &num)) != KMS_OK) {
		goto out;
	}
	num++;
	if ((r = stmt_get(st, S_EXT_WITHDRAW, &s)) != KMS_OK ||
	    (r = bind_str(st, s, 1, kms_uri)) != KMS_OK ||
	    (r = bind_u64(st, s, 2, num)) != KMS_OK ||
	    (r = step(st, s, "withdraw ext_certs", &row)) != KMS_OK) {
		goto out;
	}
	if (sqlite3_changes(st->db) != 1) {
		r = KMS_ERR_FORBIDDEN; /* unknown, or withdrawn already: rolled back */
		goto out;
	}
	r = KMS_OK;
out:
	stmt_done(s);
	r = write_end(st, r);
	if (r == KMS_OK && out_change_num != NULL) {
		*out_change_num = num;
	}
	return r;
}

int
kms_store_ext_cache_num(struct kms_store *st, uint64_t *out)
{
	if (out == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	*out = 0;
	if (st == NULL) {
		return KMS_ERR_INVALID_ARG;
	}
	return ext_max(st, out);
}

/* The row s is on, checked, into c. */
static int
ext_row_get(struct kms_store *st, sqlite3_stmt *s, struct kms_store_ext_cert *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	if ((r = col_text(st, s, EC_KMS_URI, TEXT_URI, c->kms_uri, sizeof(c->kms_uri))) != KMS_OK ||
	    (r = col_text(st, s, EC_CERT_URI, TEXT_URI_OPT, c->cert_uri, sizeof(c->cert_uri))) !=
		    KMS_OK ||
	    (r = col_checked_text(st, s, EC_ISSUER, KMS_STORE_MAX_ISSUER, 0, c->issuer)) !=
		    KMS_OK ||
	    (r = col_time_opt(s, EC_VALID_FROM, &c->has_valid_from, &c->valid_from)) != KMS_OK ||
	    (r = col_time_opt(s, EC_VALID_TO, &c->has_valid_to, &c->valid_to)) != KMS_OK ||
	    (r = col_flag(s, EC_REVOKED, &c->revoked)) != KMS_OK ||
	    (r = col_u64(s, EC_PERIOD, 1, &c->user_key_period)) != KMS_OK ||
	    (r = col_u64(s, EC_OFFSET, 0, &c->user_key_offset)) != KMS_OK ||
	    (r = col_blob_exact(st, s, EC_Z_T, c->z_t, sizeof(c->z_t))) != KMS_OK ||
	    (r = col_blob_exact(st, s, EC_KPAK, c->kpak, sizeof(c->kpak))) != KMS_OK ||
	    (r = col_checked_text(st, s, EC_DOMAINS, KMS_STORE_DOMAINS_LEN, 1, c->domains)) !=
		    KMS_OK ||
	    (r = col_flag(s, EC_WITHDRAWN, &c->withdrawn)) != KMS_OK ||
	    (r = col_u64(s, EC_CHANGE_NUM, 1, &c->change_num)) != KMS_OK) {
		if (r == KMS_ERR_PARSE) {
			(void)bad_value("ext_certs");
		}
		memset(c, 0, sizeof(*c));
		return r;
	}
	return KMS_OK;
}

int
kms_store_ext_cert_read(struct kms_store *st, uint64_t since, int skip_withdrawn, size_t max,
			int (*cb)(void *arg, const struct kms_store_ext_cert *cert), void *arg,
			uint64_t *out_cache_num, int *out_more)
{
	struct kms_store_ext_cert *c = NULL;
	sqlite3_stmt *s = NULL;
	uint64_t cache_num = 0;
	size_t n = 0;
	int have_row, more = 0, in_txn = 0, r = KMS_ERR_INTERNAL;

	if (out_cache_num != NULL) {
		*out_cache_num = 0;
	}
	if (out_more != NULL) {
		*out_more = 0;
	}
	if (st == NULL || cb == NULL || st->in_audit_walk || max == 0 ||
	    max > KMS_STORE_MAX_EXT_READ || (skip_withdrawn != 0 && skip_withdrawn != 1)) {
		return KMS_ERR_INVALID_ARG;
	}
	if (since > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	/* One read transaction: the cache number and the rows come from one snapshot. */
	if ((r = exec(st, "BEGIN", "begin")) != KMS_OK) {
		goto out;
	}
	in_txn = 1;
	if ((r = ext_max(st, &cache_num)) != KMS_OK) {
		goto out;
	}
	/* One row more than max tells whether there are more. */
	if ((r = stmt_get(st, S_EXT_READ, &s)) != KMS_OK ||
	    (r = bind_u64(st, s, 1, since)) != KMS_OK ||
	    (r = bind_u64(st, s, 2, (uint64_t)skip_withdrawn)) != KMS_OK ||
	    (r = bind_u64(st, s, 3, (uint64_t)max + 1)) != KMS_OK) {
		goto out;
	}
	st->in_audit_walk = 1;
	for (;;) {
		if ((r = step(st, s, "ext_certs: read", &have_row)) != KMS_OK || !have_row) {
			goto out;
		}
		if (n == max) {
			more = 1;
			goto out;
		}
		if ((r = ext_row_get(st, s, c)) != KMS_OK) {
			goto out;
		}
		/* The order and bound of the query, checked: the file is outside input. */
		if (c->change_num <= since || c->change_num > cache_num ||
		    (skip_withdrawn && c->withdrawn)) {
			r = bad_value("ext_certs");
			goto out;
		}
		n++;
		if ((r = cb(arg, c)) != KMS_OK) {
			goto out;
		}
	}
out:
	st->in_audit_walk = 0;
	stmt_done(s);
	if (in_txn) {
		(void)sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
		if (!sqlite3_get_autocommit(st->db)) {
			(void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	if (r == KMS_OK) {
		if (out_cache_num != NULL) {
			*out_cache_num = cache_num;
		}
		if (out_more != NULL) {
			*out_more = more;
		}
	}
	kms_memzero(c, sizeof(*c));
	free(c);
	return r;
}
