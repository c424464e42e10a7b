/*
 * onnx_node.h - how a layer kind writes itself as ONNX nodes.
 *
 * Every kind owns its ONNX mapping: its vtable's onnx_export slot
 * (layer.h) writes the node or nodes the layer becomes, with their
 * attributes and the initializers holding its parameters, through the
 * functions below. onnx/onnx_export.c walks the model, names the values
 * and calls the slot once per layer; it knows no kind by name.
 *
 * Names: the main node is named after the layer (o->name), so a file
 * imported back gives the same layer names; helper nodes are named
 * "<layer>/<what>", helper values and initializers "<layer>#<what>"
 * (graftOnnxSubName, graftOnnxAuxName).
 *
 * Field numbers are onnx.proto's (ONNX 1.12): GraphProto node 1,
 * initializer 5; NodeProto input 1, output 2, name 3, op_type 4,
 * attribute 5; AttributeProto name 1, f 2, i 3, s 4, ints 8, type 20;
 * TensorProto dims 1, data_type 2, name 8, raw_data 9.
 */
#ifndef GRAFT_ONNX_NODE_H
#define GRAFT_ONNX_NODE_H

#include "core/internal.h"

/* TensorProto.DataType */
enum {
    ONNX_UNDEFINED = 0,
    ONNX_FLOAT = 1,
    ONNX_UINT8 = 2,
    ONNX_INT8 = 3,
    ONNX_UINT16 = 4,
    ONNX_INT16 = 5,
    ONNX_INT32 = 6,
    ONNX_INT64 = 7,
    ONNX_STRING = 8,
    ONNX_BOOL = 9,
    ONNX_FLOAT16 = 10,
    ONNX_DOUBLE = 11,
    ONNX_UINT32 = 12,
    ONNX_UINT64 = 13,
    ONNX_COMPLEX64 = 14,
    ONNX_COMPLEX128 = 15,
    ONNX_BFLOAT16 = 16
};

/* AttributeProto.AttributeType */
enum {
    ONNX_ATTR_UNDEFINED = 0,
    ONNX_ATTR_FLOAT = 1,
    ONNX_ATTR_INT = 2,
    ONNX_ATTR_STRING = 3,
    ONNX_ATTR_TENSOR = 4,
    ONNX_ATTR_GRAPH = 5,
    ONNX_ATTR_FLOATS = 6,
    ONNX_ATTR_INTS = 7,
    ONNX_ATTR_STRINGS = 8,
    ONNX_ATTR_TENSORS = 9,
    ONNX_ATTR_GRAPHS = 10,
    ONNX_ATTR_SPARSE_TENSOR = 11,
    ONNX_ATTR_SPARSE_TENSORS = 12,
    ONNX_ATTR_TYPE_PROTO = 13,
    ONNX_ATTR_TYPE_PROTOS = 14
};

/* Longest value or node name written (longer ones are cut). */
#define GRAFT_ONNX_NAME_MAX 160

/* What a kind's onnx_export slot is given. */
typedef struct graftOnnxOut {
    graft_ctx *ctx;
    const char *func;          /* the public function running, for messages */
    graftWriter *w;            /* the GraphProto being written */
    int opset;                 /* the file's opset version (13 to 17) */
    const char *name;          /* the layer's name: its main node's name */
    int n_inputs;
    const char *const *inputs; /* the value names of the layer's inputs */
    const char *output;        /* the value name its output must get */
    /* A layer whose work the main node takes on, or NULL: a batch_norm that
     * reads only this layer, folded into it (kinds whose vtable sets
     * onnx_folds_batch_norm only). */
    const graft_layer *absorbed;
} graftOnnxOut;

/* "<layer>#<what>": a helper value or initializer. */
void graftOnnxAuxName(const graftOnnxOut *o, const char *what, char buf[GRAFT_ONNX_NAME_MAX]);
/* "<layer>/<what>": a helper node. */
void graftOnnxSubName(const graftOnnxOut *o, const char *what, char buf[GRAFT_ONNX_NAME_MAX]);

/* Starts a node; its attributes follow, then graftOnnxNodeEnd(). node_name
 * NULL: o->name. */
size_t graftOnnxNodeBegin(graftOnnxOut *o, const char *op, const char *node_name, int n_in,
                          const char *const *ins, const char *out);
void graftOnnxNodeEnd(graftOnnxOut *o, size_t node);
/* A node without attributes. */
void graftOnnxNode(graftOnnxOut *o, const char *op, const char *node_name, int n_in,
                   const char *const *ins, const char *out);
/* The layer's one node without attributes: op over all its inputs into its
 * output. */
void graftOnnxNodeSame(graftOnnxOut *o, const char *op);

/* Attributes of the node begun last. */
void graftOnnxAttrInt(graftOnnxOut *o, const char *name, int64_t v);
void graftOnnxAttrFloat(graftOnnxOut *o, const char *name, float v);
void graftOnnxAttrInts(graftOnnxOut *o, const char *name, int n, const int64_t *v);
void graftOnnxAttrString(graftOnnxOut *o, const char *name, const char *s);

/* Initializers (float32 or int64, raw little-endian data). */
void graftOnnxInitF32(graftOnnxOut *o, const char *name, int ndim, const int64_t *dims,
                      const float *v);
void graftOnnxInitI64(graftOnnxOut *o, const char *name, int ndim, const int64_t *dims,
                      const int64_t *v);
/* The layer's parameter `param` as the initializer "<layer>#<param>",
 * whose name is put in buf. GRAFT_E_INTERNAL when the layer has no such
 * parameter. */
int graftOnnxInitParam(graftOnnxOut *o, const graft_layer *l, const char *param,
                       char buf[GRAFT_ONNX_NAME_MAX]);

/* Records GRAFT_E_INTERNAL naming the layer and what went wrong. */
int graftOnnxInternal(graftOnnxOut *o, const char *what);

#endif /* GRAFT_ONNX_NODE_H */
