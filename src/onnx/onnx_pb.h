/*
 * onnx_pb.h - reading and writing the protobuf messages of ONNX files.
 *
 * Only the messages graft needs are decoded: ModelProto, OperatorSetIdProto,
 * GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto with
 * its TypeProto.Tensor and TensorShapeProto. Field numbers are those of
 * onnx.proto (ONNX 1.12). Unknown fields are skipped by their wire type.
 *
 * Decoding is bounded:
 *  - every length, varint and fixed-size value is checked against the bytes
 *    that remain in the enclosing message before it is used;
 *  - message nesting is fixed by the schema (model > graph > node >
 *    attribute > tensor, at most ONNX_PB_MAX_DEPTH levels): nothing recurses,
 *    and sub-graphs inside attributes (If, Loop, Scan) are counted, not
 *    decoded, since graft supports no operator that has them;
 *  - repeated fields are counted in a first pass over their message and
 *    their arrays allocated at that count, which the message's bytes bound;
 *  - tensor contents are not copied at decoding time: graftOnnxTensorRead*()
 *    convert them on demand, after checking that the element count the dims
 *    declare is the count the data holds (so a tensor declaring 2^40
 *    elements with a few bytes of data is refused before any allocation).
 * Every allocation comes from one arena freed with the decoded model, and
 * its total is a small multiple of the input's size.
 *
 * Writing is core/protobuf.h's; the nodes a layer kind becomes are
 * written by the kind (layers/onnx_node.h).
 */
#ifndef GRAFT_ONNX_PB_H
#define GRAFT_ONNX_PB_H

#include "core/internal.h"
#include "core/protobuf.h"
#include "layers/onnx_node.h" /* the ONNX enums */

#define ONNX_PB_MAX_DEPTH 8   /* the deepest decoded nesting (TypeProto shape dims) */
#define ONNX_MAX_RANK 8       /* tensors and value shapes of higher rank are refused */

/* A run of bytes inside the decoded buffer (borrowed from it). */
typedef struct onnxBytes {
    const unsigned char *p;
    size_t n;
} onnxBytes;

typedef struct onnxTensor {
    const char *name;   /* "" when absent */
    int data_type;      /* ONNX_*; ONNX_UNDEFINED when absent */
    int ndim;           /* 0 for a scalar */
    int64_t dims[ONNX_MAX_RANK];
    int external;       /* 1: the data lives in another file (data_location EXTERNAL) */
    int has_raw;        /* 1: raw_data present (the typed repeated fields are then ignored) */
    onnxBytes raw;      /* raw_data, little-endian */
    onnxBytes body;     /* the whole message, re-read for the typed fields */
    size_t offset;      /* of the message in the buffer, for messages */
} onnxTensor;

typedef struct onnxAttr {
    const char *name;
    int type;           /* ONNX_ATTR_*, inferred from the fields when not stored */
    float f;
    int64_t i;
    onnxBytes s;
    onnxTensor *t;      /* NULL when absent */
    int n_floats;
    float *floats;
    int n_ints;
    int64_t *ints;
    int n_undecoded;    /* strings, tensors, graphs, sparse tensors, type protos */
} onnxAttr;

typedef struct onnxNode {
    const char *name;    /* "" when absent */
    const char *op_type;
    const char *domain;  /* "" for the default domain */
    int n_inputs;
    const char **inputs; /* "" marks an omitted optional input */
    int n_outputs;
    const char **outputs;
    int n_attrs;
    onnxAttr *attrs;
    size_t offset;       /* of the message in the buffer */
} onnxNode;

/* A graph input or output: name, element type and shape when stored. */
typedef struct onnxValueInfo {
    const char *name;
    int is_tensor;      /* 1: the type is a tensor type */
    int elem_type;      /* ONNX_* */
    int has_shape;      /* 1: a shape is stored (ndim and dims are meaningful) */
    int ndim;
    int64_t dims[ONNX_MAX_RANK]; /* -1 for a symbolic or unknown dimension */
    const char *dim_names[ONNX_MAX_RANK]; /* a symbolic dimension's dim_param (in the
                                             arena), or NULL */
} onnxValueInfo;

typedef struct onnxGraph {
    const char *name;
    int n_nodes;
    onnxNode *nodes;
    int n_inits;
    onnxTensor *inits;
    int n_sparse_inits;
    int n_inputs;
    onnxValueInfo *inputs;
    int n_outputs;
    onnxValueInfo *outputs;
} onnxGraph;

typedef struct onnxOpset {
    const char *domain;
    int64_t version;
} onnxOpset;

typedef struct onnxArenaBlock onnxArenaBlock;

typedef struct onnxModel {
    graft_ctx *ctx;
    onnxArenaBlock *arena;
    int64_t ir_version;
    const char *producer_name;
    int n_opsets;
    onnxOpset *opsets;
    int has_graph;
    onnxGraph graph;
    int n_functions;    /* model-local functions (not decoded) */
    int n_meta;         /* metadata_props entries, in file order */
    const char **meta_keys;   /* their keys and values (in the arena) */
    const char **meta_values;
} onnxModel;

/* Decodes a ModelProto from size bytes at data, which must stay valid and
 * unchanged while *model is used (tensor data and strings point into it).
 * Errors (recorded under func's name): GRAFT_E_FORMAT (malformed protobuf,
 * with the offset), GRAFT_E_UNSUPPORTED (a tensor or shape of rank above
 * ONNX_MAX_RANK), GRAFT_E_NOMEM. On failure *model holds nothing to free. */
int graftOnnxModelDecode(graft_ctx *ctx, const char *func, const void *data, size_t size,
                    onnxModel *model);

/* Frees everything graftOnnxModelDecode() allocated. Accepts a zeroed model. */
void graftOnnxModelDispose(onnxModel *model);

/* Decodes one TensorProto (for instance a test's input_0.pb) into *t; the
 * arena of model (a zeroed onnxModel with ctx set will do) holds the
 * allocations. */
int graftOnnxTensorDecode(onnxModel *arena_owner, const char *func, const void *data, size_t size,
                     onnxTensor *t);

/* Allocates n bytes, zeroed, in the model's arena; NULL when out of memory. */
void *graftOnnxArenaAlloc(onnxModel *model, size_t n);

/* The element count of t (1 for a scalar) in *numel. GRAFT_E_FORMAT for a
 * negative dim or a count above 2^40. */
int graftOnnxTensorNumel(graft_ctx *ctx, const char *func, const onnxTensor *t, size_t *numel);

/* The number of elements t stores (in raw_data or its typed field), counted
 * without converting or allocating anything, so a caller can compare it
 * with the dims before allocating. GRAFT_E_UNSUPPORTED for external data
 * and types graft does not read; GRAFT_E_FORMAT for malformed data. */
int graftOnnxTensorStoredCount(graft_ctx *ctx, const char *func, const onnxTensor *t,
                          size_t *count);

/* Converts t's numel elements (numel from graftOnnxTensorNumel) to float or
 * int64 into out. Every numeric type converts (integers to float exactly up
 * to 2^24, float16 and bfloat16 exactly); bool is 0 or 1; strings and
 * complex numbers are GRAFT_E_UNSUPPORTED, external data too. The count
 * stored must equal numel: GRAFT_E_FORMAT otherwise. Floats converted to
 * int64 must be whole numbers within range. */
int graftOnnxTensorReadF32(graft_ctx *ctx, const char *func, const onnxTensor *t, float *out,
                      size_t numel);
int graftOnnxTensorReadI64(graft_ctx *ctx, const char *func, const onnxTensor *t, int64_t *out,
                      size_t numel);

/* Returns the attribute called name, or NULL. */
const onnxAttr *graftOnnxNodeAttr(const onnxNode *node, const char *name);

/* A readable name for a data type ("float", "int64", ...). */
const char *graftOnnxTypeName(int data_type);

#endif /* GRAFT_ONNX_PB_H */
