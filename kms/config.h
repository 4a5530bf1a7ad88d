/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_CONFIG_H
#define KMS_KMS_CONFIG_H

/*
 * kmsd's configuration file (kmsd.conf), loaded and checked as kmsd does (kms/config.c, the
 * library kms_config): kmsd itself, and kms-admin --config, which takes the store and the way to
 * kms-hsmd from it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "proto/msg.h"

/* kmsd's configuration (kmsd.conf; deploy/kmsd.conf.example explains every key). */

enum kmsd_auth {
	KMSD_AUTH_MTLS = 0,   /* a verified client certificate */
	KMSD_AUTH_TOKEN = 1,  /* a valid IdMS bearer token */
	KMSD_AUTH_BOTH = 2,   /* both */
	KMSD_AUTH_EITHER = 3, /* one of the two */
};

#define KMSD_MAX_SPKI_MAP 256
#define KMSD_MAX_THREADS  64

struct kmsd_spki_map {
	uint8_t spki_sha256[32];
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1];
};

struct kmsd_config {
	struct kms_conf *conf; /* owns the strings below */
	const char *listen_host;
	char listen_host_buf[256];
	uint16_t listen_port;
	unsigned int threads;
	const char *public_url;                     /* no trailing "/" */
	const char *root;                           /* "/keymanagement/identity/v1" */
	const char *tls_cert, *tls_key, *client_ca; /* tls_key: NULL with tls_key_token */
	bool tls_key_token; /* the private key is kms-hsmd's tls_key (kms/tlskey.h) */
	bool client_cert_optional;
	struct kmsd_spki_map *spki_map;
	size_t num_spki_map;
	const char *store;
	const char *hsmd, *hsmd_conf; /* NULL with hsmd_socket */
	const char *hsmd_socket;      /* kms-hsmd.socket (systemd starts kms-hsmd), or NULL */
	char hsmd_buf[4096];
	unsigned int hsmd_timeout_ms;
	const char *idms_keys, *idms_issuer, *idms_audience;
	const char *idms_claims[8];
	size_t num_idms_claims;
	char idms_claims_buf[512];
	uint64_t idms_leeway;
	enum kmsd_auth auth_ue, auth_server;
	const char *kms_id;
	bool cipher_value_hex, user_id_base64, wrap_alg_compat;
	uint64_t next_period_lead;
	uint64_t rate_limit, rate_burst;
	const char *metrics_host;
	char metrics_host_buf[256];
	uint16_t metrics_port;
	bool has_metrics;
	uint64_t request_timeout_ms;
	const char *user;
	bool sandbox; /* seccomp on the event-loop threads (kms/sandbox.c) */
	int log_level;
	uint64_t audit_checkpoint_every; /* a signed checkpoint every N records; 0: none */
};

/*
 * kmsd_config_load - load and check path. Returns KMS_OK; KMS_ERR_PARSE and friends with
 * err "FILE:LINE: why" or "FILE: why". cfg->conf is owned (kmsd_config_free).
 */
int kmsd_config_load(struct kmsd_config *cfg, const char *path, char *err, size_t err_len) KMS_WUR;
void kmsd_config_free(struct kmsd_config *cfg);

/* kmsd_parse_hostport - "HOST:PORT", "[v6]:PORT": host into host[0..cap), port 1..65535. */
int kmsd_parse_hostport(const char *s, char *host, size_t cap, uint16_t *port) KMS_WUR;

/*
 * kmsd_spki_set - replace the client_spki mappings that kmsd_spki_lookup uses by a copy of
 * map[0..num) (num <= KMSD_MAX_SPKI_MAP; num 0: none, which also frees them at exit). Returns
 * KMS_OK; KMS_ERR_NOMEM or KMS_ERR_TOO_LARGE, with the mappings in force unchanged. kms/config.c.
 */
int kmsd_spki_set(const struct kmsd_spki_map *map, size_t num) KMS_WUR;

/*
 * kmsd_spki_lookup - the client id that the client_spki mappings give the key whose
 * SubjectPublicKeyInfo hashes to spki_sha256, into out (cap bytes, NUL-terminated): true if one
 * does (out unchanged otherwise). The mappings are the last kmsd_spki_set's, or cfg's own
 * before any. Thread-safe (a read lock).
 */
bool kmsd_spki_lookup(const struct kmsd_config *cfg, const uint8_t spki_sha256[static 32],
		      char *out, size_t cap);

#endif /* KMS_KMS_CONFIG_H */
