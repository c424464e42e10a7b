/*
 * protobuf.h - writing protocol buffer fields (the wire format only).
 *
 * Fields are appended to a graftWriter. A nested message is written in
 * place and its length prefix inserted before it when it ends, so a message
 * of any size is written in one pass. The schema (field numbers) is the
 * caller's: ONNX's is in layers/onnx_node.h and onnx/onnx_pb.h. Decoding is
 * onnx/onnx_pb.c's, bounded by the ONNX schema it knows.
 */
#ifndef GRAFT_PROTOBUF_H
#define GRAFT_PROTOBUF_H

#include "internal.h"

/* Wire types. */
#define PB_VARINT 0
#define PB_FIXED64 1
#define PB_LEN 2
#define PB_FIXED32 5

void graftPbWriteVarint(graftWriter *w, uint64_t v);
void graftPbWriteTag(graftWriter *w, uint32_t field, int wire);
/* A varint field (int32, int64 and enum values; negative numbers take ten
 * bytes, as protobuf encodes them). */
void graftPbWriteInt(graftWriter *w, uint32_t field, int64_t v);
/* A float field (wire type 5). */
void graftPbWriteFloat(graftWriter *w, uint32_t field, float v);
/* A bytes or string field. */
void graftPbWriteBytes(graftWriter *w, uint32_t field, const void *p, size_t n);
void graftPbWriteString(graftWriter *w, uint32_t field, const char *s);
/* Starts a nested message field; returns the position to pass to
 * graftPbEndMessage() once the message's fields are written. */
size_t graftPbBeginMessage(graftWriter *w, uint32_t field);
void graftPbEndMessage(graftWriter *w, size_t start);

#endif /* GRAFT_PROTOBUF_H */
