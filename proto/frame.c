/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/frame.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/cbs.h"

#include "common/banned.h"

/*
 * The length prefix of a frame whose header is complete in hdr: KMS_OK with the payload
 * length, or the verdict on an invalid one. The one place the bound is checked, shared by the
 * blocking reader and kms_proto_frame_check().
 */
static int
parse_header(const uint8_t hdr[static KMS_FRAME_HEADER_LEN], size_t *out_payload_len)
{
	struct kms_cbs cbs;
	uint32_t len;
	int r;

	kms_cbs_init(&cbs, hdr, KMS_FRAME_HEADER_LEN);
	if ((r = kms_cbs_get_u32be(&cbs, &len)) != KMS_OK) {
		return r;
	}
	if (len == 0) {
		return KMS_ERR_RANGE;
	}
	if (len > KMS_MAX_IPC) {
		return KMS_ERR_TOO_LARGE;
	}
	*out_payload_len = len;
	return KMS_OK;
}

int
kms_proto_frame_check(enum kms_frame_state *out_state, size_t *out_frame_len, const uint8_t *buf,
		      size_t len)
{
	size_t payload_len;
	int r;

	if (len < KMS_FRAME_HEADER_LEN) {
		*out_state = KMS_FRAME_NEED_MORE;
		*out_frame_len = KMS_FRAME_HEADER_LEN;
		return KMS_OK;
	}
	if ((r = parse_header(buf, &payload_len)) != KMS_OK) {
		return r;
	}
	*out_state = len - KMS_FRAME_HEADER_LEN >= payload_len ? KMS_FRAME_COMPLETE
							       : KMS_FRAME_NEED_MORE;
	*out_frame_len = KMS_FRAME_HEADER_LEN + payload_len;
	return KMS_OK;
}

int
kms_proto_frame_header(uint8_t out[static KMS_FRAME_HEADER_LEN], size_t payload_len)
{
	if (payload_len == 0 || payload_len > KMS_MAX_IPC) {
		return KMS_ERR_INVALID_ARG;
	}
	out[0] = (uint8_t)(payload_len >> 24);
	out[1] = (uint8_t)(payload_len >> 16);
	out[2] = (uint8_t)(payload_len >> 8);
	out[3] = (uint8_t)payload_len;
	return KMS_OK;
}

/*
 * Read up to n bytes into p, until n or end of file: *out_got says how many came. Short
 * reads and EINTR are retried; any other error is KMS_ERR_IO.
 */
static int
read_full(int fd, uint8_t *p, size_t n, size_t *out_got)
{
	size_t got = 0;
	ssize_t k;

	while (got < n) {
		k = read(fd, p + got, n - got);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			return KMS_ERR_IO;
		}
		if (k == 0) {
			break;
		}
		got += (size_t)k;
	}
	*out_got = got;
	return KMS_OK;
}

int
kms_proto_frame_read(int fd, uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t hdr[KMS_FRAME_HEADER_LEN];
	size_t payload_len = 0;
	size_t got = 0;
	int r;

	if ((r = read_full(fd, hdr, sizeof(hdr), &got)) != KMS_OK) {
		return r;
	}
	if (got == 0) {
		return KMS_ERR_CLOSED;
	}
	if (got < sizeof(hdr)) {
		return KMS_ERR_TRUNCATED;
	}
	if ((r = parse_header(hdr, &payload_len)) != KMS_OK) {
		return r;
	}
	if (payload_len > out_cap) {
		return KMS_ERR_TOO_LARGE;
	}
	if ((r = read_full(fd, out, payload_len, &got)) != KMS_OK) {
		return r;
	}
	if (got < payload_len) {
		return KMS_ERR_TRUNCATED;
	}
	*out_len = payload_len;
	return KMS_OK;
}

int
kms_proto_frame_write(int fd, const uint8_t *payload, size_t payload_len)
{
	uint8_t hdr[KMS_FRAME_HEADER_LEN];
	struct iovec iov[2];
	struct msghdr msg;
	size_t first = 0; /* iov[first..1] are still (partly) to send */
	size_t sent;
	ssize_t k;
	int r;

	if ((r = kms_proto_frame_header(hdr, payload_len)) != KMS_OK) {
		return r;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	/* sendmsg() does not write through iov_base; the cast only drops const. */
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = payload_len;
	while (first < 2) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov[first];
		msg.msg_iovlen = 2 - first;
		k = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR) {
				continue;
			}
			return KMS_ERR_IO;
		}
		if (k == 0) {
			return KMS_ERR_IO; /* cannot happen with bytes left; never spin on it */
		}
		/* Drop what went out: whole iovecs first, then the front of a partial one. */
		sent = (size_t)k;
		while (first < 2 && sent >= iov[first].iov_len) {
			sent -= iov[first].iov_len;
			first++;
		}
		if (first < 2) {
			iov[first].iov_base = (uint8_t *)iov[first].iov_base + sent;
			iov[first].iov_len -= sent;
		}
	}
	return KMS_OK;
}
