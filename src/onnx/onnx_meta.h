/*
 * onnx_meta.h - graft's own keys in an ONNX file's metadata_props: the
 * model's input preprocessing as "graft.preprocess.*" (docs/ONNX.md,
 * section "Metadata").
 */
#ifndef GRAFT_ONNX_META_H
#define GRAFT_ONNX_META_H

#include "core/internal.h"
#include "onnx_pb.h"

/* Writes the model's preprocessing, when it has one, as metadata_props
 * entries (ModelProto field 14) into w. */
void graftOnnxWritePreprocess(graftWriter *w, const graft_model *m);

/* Reads the "graft.preprocess.*" entries of om into *out (a complete
 * current struct): *found is 0 when the file has none, 1 when it has them
 * all and they parse. Keys that are missing, repeated, unknown under the
 * prefix, or values that do not parse are GRAFT_E_FORMAT (named func,
 * naming the key). The values' ranges are checked by whoever sets them. */
int graftOnnxReadPreprocess(graft_ctx *ctx, const char *func, const onnxModel *om,
                            graft_preprocess *out, int *found);

#endif /* GRAFT_ONNX_META_H */
