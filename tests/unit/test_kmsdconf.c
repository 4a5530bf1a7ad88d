/* SPDX-License-Identifier: Apache-2.0 */
/* kmsd.conf (kms/config.c): what kmsd makes of the file, and every refusal with FILE:LINE. */
#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "kms/internal.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

static char dir[256];
static char path[320];

/* The keys every file needs; extra lines are appended. */
#define BASE                                                                                       \
	"public_url = https://kms.example.org:8443\n"                                              \
	"tls_cert = /etc/kms/server.pem\n"                                                         \
	"tls_key = /etc/kms/server-key.pem\n"                                                      \
	"client_ca = /etc/kms/ca.pem\n"                                                            \
	"store = /var/lib/kms/kms.db\n"                                                            \
	"hsmd = /usr/libexec/kms/kms-hsmd\n"                                                       \
	"hsmd_conf = /etc/kms/kms-hsmd.conf\n"

static int
load(struct kmsd_config *cfg, char *err, size_t err_len, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		return -100;
	}
	return kmsd_config_load(cfg, path, err, err_len);
}

static int
suite_init(void)
{
	if (kms_test_tmpdir(dir, sizeof(dir), "kmsdconf") != 0) {
		return 1;
	}
	snprintf(path, sizeof(path), "%s/kmsd.conf", dir);
	return 0;
}

static int
suite_cleanup(void)
{
	kms_test_rmdir(dir);
	return 0;
}

static void
test_defaults(void)
{
	struct kmsd_config cfg;
	char err[KMS_CONF_ERR_LEN];

	CU_ASSERT_EQUAL_FATAL(load(&cfg, err, sizeof(err), BASE), KMS_OK);
	CU_ASSERT_STRING_EQUAL(cfg.listen_host, "127.0.0.1");
	CU_ASSERT_EQUAL(cfg.listen_port, 8443);
	CU_ASSERT(cfg.threads >= 1);
	CU_ASSERT_STRING_EQUAL(cfg.root, "/keymanagement/identity/v1");
	CU_ASSERT_EQUAL(cfg.auth_ue, KMSD_AUTH_MTLS);
	CU_ASSERT_EQUAL(cfg.auth_server, KMSD_AUTH_MTLS);
	CU_ASSERT_EQUAL(cfg.num_idms_claims, 3);
	CU_ASSERT_STRING_EQUAL(cfg.idms_claims[0], "mcptt_id");
	CU_ASSERT_STRING_EQUAL(cfg.idms_claims[2], "mcvideo_id");
	CU_ASSERT_EQUAL(cfg.rate_limit, 10);
	CU_ASSERT_FALSE(cfg.has_metrics);
	CU_ASSERT_TRUE(cfg.sandbox);
	CU_ASSERT_FALSE(cfg.tls_key_token);
	kmsd_config_free(&cfg);
}

static void
test_values(void)
{
	struct kmsd_config cfg;
	char err[KMS_CONF_ERR_LEN];

	CU_ASSERT_EQUAL_FATAL(
		load(&cfg, err, sizeof(err),
		     BASE "listen = [::1]:9000\n"
			  "metrics_listen = 127.0.0.1:9443\n"
			  "threads = 3\n"
			  "idms_claims =  mcdata_id   mcptt_id \n"
			  "client_spki = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c"
			  "15b0f00a08 sip:gw1@example.org\n"),
		KMS_OK);
	CU_ASSERT_STRING_EQUAL(cfg.listen_host, "::1");
	CU_ASSERT_EQUAL(cfg.listen_port, 9000);
	CU_ASSERT_TRUE(cfg.has_metrics);
	CU_ASSERT_EQUAL(cfg.metrics_port, 9443);
	CU_ASSERT_EQUAL(cfg.threads, 3);
	CU_ASSERT_EQUAL(cfg.num_idms_claims, 2);
	CU_ASSERT_STRING_EQUAL(cfg.idms_claims[0], "mcdata_id");
	CU_ASSERT_STRING_EQUAL(cfg.idms_claims[1], "mcptt_id");
	CU_ASSERT_EQUAL_FATAL(cfg.num_spki_map, 1);
	CU_ASSERT_STRING_EQUAL(cfg.spki_map[0].client_id, "sip:gw1@example.org");
	CU_ASSERT_EQUAL(cfg.spki_map[0].spki_sha256[0], 0x9f);
	CU_ASSERT_EQUAL(cfg.spki_map[0].spki_sha256[31], 0x08);
	kmsd_config_free(&cfg);
}

/* Each bad file is refused with FILE:LINE (or FILE: for a missing key) and a reason. */
static void
test_refusals(void)
{
	static const struct {
		const char *extra;
		const char *want; /* in the message */
	} cases[] = {
		{"listen = 127.0.0.1\n", "kmsd.conf:8: listen"},
		{"listen = 127.0.0.1:0\n", "kmsd.conf:8: listen"},
		{"listen = 127.0.0.1:65536\n", "kmsd.conf:8: listen"},
		{"listen = 127.0.0.1:08443\n", "kmsd.conf:8: listen"},
		{"listen = ::1:8443\n", "kmsd.conf:8: listen"},
		{"listen = [::1]8443\n", "kmsd.conf:8: listen"},
		{"metrics_listen = :9443\n", "kmsd.conf:8: metrics_listen"},
		{"root = keymanagement\n", "kmsd.conf:8: root"},
		{"root = /keymanagement/\n", "kmsd.conf:8: root"},
		{"client_spki = 9f86 sip:gw1@example.org\n", "kmsd.conf:8: client_spki"},
		{"client_spki = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0g "
		 "sip:gw1@example.org\n",
		 "kmsd.conf:8: client_spki"},
		{"client_spki = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
		 "kmsd.conf:8: client_spki"},
		{"client_spki = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 a "
		 "b\n",
		 "kmsd.conf:8: client_spki"},
		{"idms_claims = a b c d e f g h i\n", "kmsd.conf:8: idms_claims"},
		{"idms_claims =    \n", "kmsd.conf:8: 'idms_claims' has no value"},
		{"auth_ue = token\n", "idms_keys"},
		{"client_cert = optional\n", "kmsd.conf:8: client_cert"},
		{"tls_key_token = yes\n", "tls_key"},
		{"idms_leeway = 601\n", "kmsd.conf:8:"},
		{"sandbox = maybe\n", "kmsd.conf:8:"},
		{"threads = 65\n", "kmsd.conf:8:"},
		{"lisen = 127.0.0.1:8443\n", "kmsd.conf:8:"},
	};
	struct kmsd_config cfg;
	char err[KMS_CONF_ERR_LEN], text[2048];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		snprintf(text, sizeof(text), "%s%s", BASE, cases[i].extra);
		err[0] = '\0';
		r = load(&cfg, err, sizeof(err), text);
		if (r == KMS_OK || strstr(err, cases[i].want) == NULL) {
			fprintf(stderr, "case %zu: %d '%s'\n", i, r, err);
		}
		CU_ASSERT_NOT_EQUAL(r, KMS_OK);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
		kmsd_config_free(&cfg); /* a failed load may hold the parsed file */
	}
	/* a file without the required keys */
	CU_ASSERT_NOT_EQUAL(load(&cfg, err, sizeof(err), "listen = 127.0.0.1:1\n"), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing"));
	kmsd_config_free(&cfg);
	/* public_url without https or with a trailing / */
	CU_ASSERT_NOT_EQUAL(load(&cfg, err, sizeof(err),
				 "public_url = http://kms.example.org\n"
				 "tls_cert = /a\ntls_key = /b\nclient_ca = /c\nstore = /d\n"
				 "hsmd = /e\nhsmd_conf = /f\n"),
			    KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "kmsd.conf:1: public_url"));
	kmsd_config_free(&cfg);
}

/* hsmd_socket in the place of hsmd_conf and hsmd; never together with them. */
static void
test_hsmd_socket(void)
{
	static const char base_sock[] = "public_url = https://kms.example.org:8443\n"
					"tls_cert = /a\ntls_key = /b\nclient_ca = /c\nstore = /d\n";
	static const struct {
		const char *extra;
		const char *want;
	} bad[] = {
		{"hsmd_socket = /run/kms-hsmd/hsmd.sock\nhsmd_conf = /f\n",
		 "kmsd.conf:7: hsmd_conf: set, but hsmd_socket is set too"},
		{"hsmd_socket = /run/kms-hsmd/hsmd.sock\nhsmd = /e\n",
		 "kmsd.conf:7: hsmd: set, but hsmd_socket is set too"},
		{"hsmd_socket = relative.sock\n", "absolute"},
		{"", "kmsd.conf: hsmd_conf: missing"},
	};
	struct kmsd_config cfg;
	char text[2048], err[KMS_CONF_ERR_LEN];
	size_t i;

	snprintf(text, sizeof(text), "%shsmd_socket = /run/kms-hsmd/hsmd.sock\n", base_sock);
	CU_ASSERT_EQUAL_FATAL(load(&cfg, err, sizeof(err), text), KMS_OK);
	CU_ASSERT_STRING_EQUAL(cfg.hsmd_socket, "/run/kms-hsmd/hsmd.sock");
	CU_ASSERT_PTR_NULL(cfg.hsmd_conf);
	CU_ASSERT_PTR_NULL(cfg.hsmd);
	kmsd_config_free(&cfg);
	/* 107 octets fit sun_path with its NUL; 108 do not */
	snprintf(text, sizeof(text), "%shsmd_socket = /%0106d\n", base_sock, 0);
	CU_ASSERT_EQUAL(load(&cfg, err, sizeof(err), text), KMS_OK);
	kmsd_config_free(&cfg);
	snprintf(text, sizeof(text), "%shsmd_socket = /%0107d\n", base_sock, 0);
	CU_ASSERT_NOT_EQUAL(load(&cfg, err, sizeof(err), text), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "kmsd.conf:6: hsmd_socket: want the absolute path"));
	kmsd_config_free(&cfg);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "%s%s", base_sock, bad[i].extra);
		err[0] = '\0';
		CU_ASSERT_NOT_EQUAL(load(&cfg, err, sizeof(err), text), KMS_OK);
		if (strstr(err, bad[i].want) == NULL) {
			fprintf(stderr, "case %zu: '%s'\n", i, err);
		}
		CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].want));
		kmsd_config_free(&cfg);
	}
}

static CU_TestInfo kmsdconf_tests[] = {
	{"hsmd_socket", test_hsmd_socket},
	{"defaults", test_defaults},
	{"values", test_values},
	{"refusals name the line", test_refusals},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"kmsd.conf", suite_init, suite_cleanup, NULL, NULL, kmsdconf_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
