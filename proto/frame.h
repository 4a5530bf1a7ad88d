/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_PROTO_FRAME_H
#define KMS_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/*
 * Frames between kmsd and kms-hsmd (docs/protocol.md): a 4-byte big-endian length, then
 * exactly that many bytes of payload (one msgpack message, proto/msg.h). The length is at
 * least 1 and at most KMS_MAX_IPC, and is checked before anything is read into or reserved
 * for the payload. A length outside that range means the stream is out of step or hostile:
 * the reader must close the connection.
 */

/* The largest payload of one frame. */
#define KMS_MAX_IPC          (64u * 1024u)
/* The bytes of the length prefix. */
#define KMS_FRAME_HEADER_LEN 4

/* What kms_proto_frame_check() found at the start of a buffer. */
enum kms_frame_state {
	KMS_FRAME_NEED_MORE, /* no complete frame yet: read more bytes */
	KMS_FRAME_COMPLETE,  /* a complete frame starts the buffer */
};

/*
 * kms_proto_frame_check - for a non-blocking reader: classify the bytes received so far,
 * buf[0..len), without reading or copying anything.
 * KMS_FRAME_NEED_MORE: *out_frame_len is the total the frame needs as far as known
 * (KMS_FRAME_HEADER_LEN until the header is in, then the header plus the payload length).
 * KMS_FRAME_COMPLETE: the frame is buf[0..*out_frame_len) (header included; its payload starts
 * at buf + KMS_FRAME_HEADER_LEN); bytes after it belong to the next frame.
 * Returns KMS_OK with *out_state and *out_frame_len set; or KMS_ERR_RANGE (the header claims a
 * zero length) or KMS_ERR_TOO_LARGE (more than KMS_MAX_IPC): the stream is invalid, close it.
 * Outputs are untouched on error. buf is borrowed and may be NULL when len is 0.
 */
int kms_proto_frame_check(enum kms_frame_state *out_state, size_t *out_frame_len,
			  const uint8_t *buf, size_t len) KMS_WUR;

/*
 * kms_proto_frame_header - write the length prefix of a payload of payload_len bytes into out.
 * Returns KMS_OK, or KMS_ERR_INVALID_ARG (payload_len is 0 or above KMS_MAX_IPC; out is then
 * untouched).
 */
int kms_proto_frame_header(uint8_t out[static KMS_FRAME_HEADER_LEN], size_t payload_len) KMS_WUR;

/*
 * kms_proto_frame_read - read one whole frame from the blocking fd: its payload goes to
 * out[0..*out_len). Retries after EINTR and short reads. The length is checked against
 * KMS_MAX_IPC and out_cap before any payload byte is read.
 * Returns KMS_OK; KMS_ERR_CLOSED (end of file before the first byte of a frame: the peer is
 * gone, cleanly); KMS_ERR_TRUNCATED (end of file inside a frame); KMS_ERR_RANGE (a zero
 * length); KMS_ERR_TOO_LARGE (a length above KMS_MAX_IPC or out_cap); KMS_ERR_IO (read()
 * failed, EAGAIN included; errno is read()'s). After any error the stream is out of step: close fd.
 * On failure *out_len is untouched and out[] may hold part of a payload.
 */
int kms_proto_frame_read(int fd, uint8_t *out, size_t out_cap, size_t *out_len) KMS_WUR;

/*
 * kms_proto_frame_write - write one frame (the header, then payload[0..payload_len)) to the
 * blocking stream socket fd, retrying after EINTR and short writes. Sends with MSG_NOSIGNAL,
 * so a peer that has gone away is KMS_ERR_IO, not SIGPIPE; fd must therefore be a socket (a
 * socketpair end), not a pipe.
 * Returns KMS_OK; KMS_ERR_INVALID_ARG (payload_len is 0 or above KMS_MAX_IPC: nothing
 * written); KMS_ERR_IO (errno is sendmsg()'s; the stream is then out of step: close fd).
 * payload is borrowed.
 */
int kms_proto_frame_write(int fd, const uint8_t *payload, size_t payload_len) KMS_WUR;

#endif /* KMS_PROTO_FRAME_H */
