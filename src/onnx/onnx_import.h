/*
 * onnx_import.h - the private interface of the ONNX importer's files.
 *
 * graft_onnx_import() is spread over one file per family of operators,
 * between the graph walk on top and the helpers they share below:
 *  - onnx_import.c: the families and the lookup of a node's operator, the
 *    graph walk and the public entry points;
 *  - onnx_import_helpers.c: errors, the arena and the value table,
 *    constants, the node's inputs and attributes, and the layer emission
 *    helpers;
 *  - onnx_fold.c: constant folding, and the operators graft evaluates on
 *    constants only (Constant, ConstantOfShape, Range, Expand, Where,
 *    Mod, ScatterND);
 *  - onnx_ops_nn.c: Conv, Gemm, MatMul, pooling, ReduceMean, BatchNorm, Pad,
 *    Softmax, LayerNormalization (and PyTorch's decomposition of it) and the
 *    activations (LeakyRelu, PRelu, Clip, HardSigmoid, ...);
 *  - onnx_ops_shape.c: Shape, Size, Reshape, Flatten, (Un)Squeeze,
 *    Transpose, Concat, Slice, Split, Gather, Identity, Dropout and Cast;
 *  - onnx_ops_elementwise.c: the binary and unary operators, Sum, and the
 *    scale_shift layers they become; the chains of them that write out one
 *    activation (silu, hard_sigmoid, hard_swish, gelu) become that layer.
 *
 * Each file calls only the files below it: onnx_import.c, then the
 * operator files onnx_ops_*.c (which do not call each other), then
 * onnx_fold.c, then onnx_import_helpers.c, which calls none of them.
 *
 * The file is decoded by onnx_pb.c into borrowed views of the buffer. The
 * graph is then read in two passes, in file order (ONNX requires a
 * topological order). Every ONNX value becomes one of:
 *  - a constant (initializers, Constant nodes, and anything computed only
 *    from constants: the shape arithmetic exporters emit is evaluated here);
 *  - an activation: the output of a graft layer, or the model input, with its
 *    ONNX shape;
 *  - unavailable (an output graft does not compute, such as MaxPool's
 *    indices), with the reason, reported if something reads it.
 * The first pass folds every node whose inputs are all constants (Constant
 * nodes, arithmetic on initializers), so that every constant is known before
 * any layer is made: a fusion that asks whether a later node's operand is a
 * constant (MatMul then Add of a bias) gets the same answer wherever the
 * operand's Constant node sits in the file. A node that fails in this pass
 * is left as it was, and the walk tries it again in its place (and reports
 * it). The second pass, the walk, maps the other nodes to one or more graft
 * layers appended with graft_model_add(), whose parameters are then
 * overwritten with the file's weights. Fusions look only at the graph's
 * structure (who reads a value) and at constants, never at which nodes the
 * walk has reached.
 *
 * Nothing is skipped: a node graft cannot compute is refused with
 * GRAFT_E_UNSUPPORTED. The walk then goes on, to report every such node at
 * once: the refused node's outputs become unavailable values marked as gaps
 * (val.gap), a node that reads one is not tried (its inputs' shapes are not
 * known) but is still reported when graft has no handler for its operator,
 * and its outputs are gaps in turn. At the end one message lists them
 * (list_gaps() in onnx_import.c). Any other failure stops the walk.
 *
 * Batch axis. With batch_axis 1 (the default) axis 0 of the graph input is
 * graft's batch axis and an activation's ONNX shape equals its graft shape;
 * the batch size is unknown at import, so a folded shape value that holds it
 * carries the marker SYM_BATCH, which may be moved around (Gather, Concat,
 * Unsqueeze, ...) but not computed with. With batch_axis 0 the graph works
 * on one sample: an ONNX shape (d0, ..., dk) is graft's (1, d0, ..., dk), so
 * ONNX axis a is graft axis a + 1.
 *
 * Bounds. All memory comes from the decoded model's arena, freed at the end.
 * Initializers are converted only after the element count their dims declare
 * has been checked against the count their data holds; folded constants
 * share a budget of elements proportional to the file's size.
 *
 * Operators. Each operator file exports one table, graftOnnxOps<Family>,
 * mapping op types to handlers (see graftOnnxOp); the walk looks a node's
 * op type up in every family's table, and refuses to import anything when
 * an op type is registered twice. Adding an operator is one handler and one
 * table line in its family's file.
 *
 * Errors. The functions returning a status return GRAFT_OK or the status
 * of an error they have recorded through graftOnnxImpFail() (in the name of the
 * public function, naming the node being imported); handlers forward them.
 * Nothing here is exported from the shared library.
 */
#ifndef GRAFT_ONNX_IMPORT_H
#define GRAFT_ONNX_IMPORT_H

#include "model/model.h"
#include "onnx_pb.h"

#include <stddef.h>
#include <stdint.h>

#define SYM_BATCH INT64_MIN /* a folded shape value: the batch size */

/* ---- values ------------------------------------------------------------------ */

/* A constant: an initializer, a bound input or a folded value. Its storage
 * is in the arena. */
typedef struct cval {
    int is_int;    /* 1: values in i (integer and bool types); 0: in f */
    int dtype;     /* ONNX element type */
    int ndim;
    int64_t dims[ONNX_MAX_RANK];
    size_t numel;
    float *f;
    int64_t *i;
} cval;

/* What a value is (val.kind). */
enum {
    V_NONE,  /* not defined (yet): only consumers have named it */
    V_CONST, /* a constant, in val.c */
    V_ACT,   /* an activation: the output of val.layer */
    V_DEAD   /* defined but not computed by graft: reading it fails with val.why */
};

/* An entry of the value table: one ONNX value name. */
typedef struct val {
    const char *name;
    int kind;
    cval c;               /* V_CONST */
    const char *layer;    /* V_ACT: the graft layer it is the output of, or GRAFT_MODEL_INPUT */
    int ndim;             /* V_ACT: ONNX rank */
    int64_t dims[ONNX_MAX_RANK]; /* V_ACT: ONNX shape; dims[0] is SYM_BATCH when batched */
    int pads[4];          /* V_ACT: zero padding waiting for the conv that reads it
                             (top, left, bottom, right) */
    const char *why;      /* V_DEAD: why it cannot be read */
    int gap;              /* V_DEAD: 1 when it is an output of a node graft could not
                             import, or of a node that reads one (see the walk) */
    int consumers;        /* node inputs that read it, plus graph outputs */
    int last_consumer;    /* index of the last node that reads it, or -1 */
    int is_output;        /* a graph output */
} val;

/* The importer's state, for one call of graft_onnx_import(_buffer). */
typedef struct imp {
    graft_ctx *ctx;
    const char *func;
    onnxModel om;          /* the decoded file; its arena holds everything */
    const onnxGraph *g;
    int64_t opset;
    int batched;
    int64_t static_batch;  /* the graph input's fixed batch size, or -1 */
    int keep_softmax;
    graft_model *m;
    val *vals;
    size_t cap;            /* hash table size, a power of 2 */
    size_t fold_budget;    /* elements folded constants may still take */
    const onnxNode *node;  /* the node being imported, for messages */
    int node_index;
    unsigned char *done;   /* per node: folded before the walk, or handled by a
                              fusion with an earlier node */
    const char **gaps;     /* per unsupported node: "node "x" (Op): reason" */
    const char **gap_ops;  /* its op type */
    int n_gaps;            /* nodes refused with GRAFT_E_UNSUPPORTED */
    int n_unchecked;       /* nodes not tried because they read a gap's output */
    int outputs_defined;   /* outputs the handler defined (1, or more for Split) */
    const char **names;    /* hash set of the layer names in use */
    size_t names_cap, names_used;
} imp;

/* ---- operators --------------------------------------------------------------- */

/* Imports the current node (im->node, im->node_index) into out, the entry
 * of its first output (still V_NONE): the handler makes out a constant or an
 * activation, or marks it V_DEAD with the reason. Before the call every
 * present input of the node has been checked to be defined and readable, and
 * the node to have a first output. A handler that computes more outputs
 * defines them itself (graftOnnxImpDefine) and sets im->outputs_defined to
 * their count; the node's other outputs are made unavailable after the
 * call. A handler may fuse a later node into the
 * layers it emits: it then defines that node's output itself and sets
 * im->done[index] so that the walk skips the node. */
typedef int (*graftOnnxHandler)(imp *im, val *out);

/* One operator of a family's table: the handler of op type op_type (of the
 * default domain, every opset graft reads). A table ends with an entry whose
 * op_type is NULL. */
typedef struct graftOnnxOp {
    const char *op_type;
    graftOnnxHandler handler;
} graftOnnxOp;

/* The families, each defined in its file. */
extern const graftOnnxOp graftOnnxOpsNn[];          /* onnx_ops_nn.c */
extern const graftOnnxOp graftOnnxOpsShape[];       /* onnx_ops_shape.c */
extern const graftOnnxOp graftOnnxOpsElementwise[]; /* onnx_ops_elementwise.c */
extern const graftOnnxOp graftOnnxOpsFold[];        /* onnx_fold.c */

/* ---- errors, the arena and the value table (onnx_import_helpers.c) ------------ */

/* Records "func(): node "name" (Op): message" (without the node part outside
 * nodes) and returns st. */
int graftOnnxImpFail(imp *im, int st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* graftOnnxImpFail() with GRAFT_E_NOMEM, "out of memory". */
int graftOnnxImpNomem(imp *im);

/* n bytes of the arena (freed with the decoded model), or NULL. */
void *graftOnnxImpAlloc(imp *im, size_t n);

/* A copy of s in the arena, or NULL. */
const char *graftOnnxImpStrdup(imp *im, const char *s);

/* Writes "node \"name\" (Op)", or "node #index (Op)" for a node without a
 * name, for the current node into buf (size bytes); returns buf. */
const char *graftOnnxImpNodeLabel(const imp *im, char *buf, size_t size);

/* The entry of name; created (V_NONE) when create is set and it is absent.
 * NULL when absent (or out of room, which the sizing prevents). */
val *graftOnnxImpLookup(imp *im, const char *name, int create);

/* Defines value name (an output of the current node, an initializer or an
 * input); a second definition is a malformed file. */
int graftOnnxImpDefine(imp *im, const char *name, val **out);

/* ---- constants (onnx_import_helpers.c) ---------------------------------------- */

/* 1 for the ONNX floating-point element types (held as float), 0 for the
 * others (held as int64_t). */
int graftOnnxImpIsFloatType(int t);

/* The element count of the shape (ndim, dims); GRAFT_E_FORMAT for a negative
 * size or more than GRAFT_MAX_NUMEL elements. */
int graftOnnxImpShapeNumel(imp *im, int ndim, const int64_t *dims, size_t *numel);

/* Allocates a folded constant's storage, charged to the fold budget:
 * c gets the type and shape, its values are left to the caller. */
int graftOnnxImpCvalAlloc(imp *im, cval *c, int is_int, int dtype, int ndim, const int64_t *dims);

/* A constant from a TensorProto: the stored count must match the dims
 * before anything is allocated. */
int graftOnnxImpCvalFromTensor(imp *im, const onnxTensor *t, cval *c);

/* Value k of a constant as a double, whatever its storage. */
static inline double graftOnnxImpCget(const cval *c, size_t k)
{
    return c->is_int ? (double)c->i[k] : c->f[k];
}

/* 1 when the constant holds SYM_BATCH (the unknown batch size). */
int graftOnnxImpHasSym(const cval *c);

/* Fails (GRAFT_E_UNSUPPORTED): the node computes with the batch size. */
int graftOnnxImpSymFail(imp *im);

/* Reads a constant's values as integers into out (room for max; *n gets the
 * count): floats must be whole. SYM_BATCH passes only with allow_sym. what
 * names the constant in messages. */
int graftOnnxImpCvalInts(imp *im, const cval *c, const char *what, int allow_sym, int64_t *out,
                         size_t max, size_t *n);

/* ---- the current node's inputs and attributes (onnx_import_helpers.c) ---------- */

/* Input k of the current node, or NULL when it is absent or empty; reading
 * an undefined or unavailable value fails. */
int graftOnnxImpOptInput(imp *im, int k, val **out);

/* graftOnnxImpOptInput() where the input is required. */
int graftOnnxImpReqInput(imp *im, int k, val **out);

/* Input k as an activation (a computed tensor). */
int graftOnnxImpActInput(imp *im, int k, val **out);

/* Input k as a constant; what names it in messages. *out is NULL when an
 * optional (required 0) input is absent. */
int graftOnnxImpConstInput(imp *im, int k, const char *what, int required, cval **out);

/* 1 when the node's present inputs are all constants. */
int graftOnnxImpAllConst(imp *im);

/* Fails (GRAFT_E_UNSUPPORTED): graft evaluates the operator on constants
 * only, and an input is computed. */
int graftOnnxImpOnlyConstantsFail(imp *im);

/* 1 when the current node's op type is op (for handlers of several). */
int graftOnnxImpOpIs(const imp *im, const char *op);

/* The current node's attribute called name, or NULL. */
const onnxAttr *graftOnnxImpAttr(const imp *im, const char *name);

/* Fails (GRAFT_E_FORMAT): attribute a is not of type want ("int", ...). */
int graftOnnxImpAttrTypeFail(imp *im, const onnxAttr *a, const char *want);

/* The attribute called name as an int, a float: def when absent; an
 * attribute of another type fails. */
int graftOnnxImpAttrInt(imp *im, const char *name, int64_t def, int64_t *out);
int graftOnnxImpAttrFloat(imp *im, const char *name, float def, float *out);

/* An ints attribute (borrowed from the node): *n is -1 when absent. */
int graftOnnxImpAttrInts(imp *im, const char *name, const int64_t **vals, int *n);

/* A string attribute, copied into buf (size bytes; truncated, NULs made
 * '?'); absent attributes read as def. */
int graftOnnxImpAttrString(imp *im, const char *name, const char *def, char *buf, size_t size);

/* Axis attribute or value a normalised for rank r: -r <= a < r (what names
 * it in messages). */
int graftOnnxImpNormAxis(imp *im, int64_t a, int r, const char *what, int *out);

/* Reads Unsqueeze's, Squeeze's or ReduceMean's axes (attribute before opset
 * 13, input 1 after) into axes (ONNX_MAX_RANK); *n is -1 when none are
 * given. */
int graftOnnxImpSqueezeAxes(imp *im, int64_t *axes, int *n);

/* ---- activations and the layers they come from (onnx_import_helpers.c) -------- */

/* graft axis of ONNX axis a of an activation. */
int graftOnnxImpGraftAxis(const imp *im, int a);

/* The per-sample graft shape of an ONNX activation shape, into out; returns
 * its rank. */
int graftOnnxImpSampleDims(const imp *im, int ndim, const int64_t *dims, int64_t *out);

/* Writes "(d0, d1, ...)" (SYM_BATCH as N) into buf, for messages. */
void graftOnnxImpShapeText(int ndim, const int64_t *dims, char *buf, size_t size);

/* Appends layer l (st is its constructor's status: on failure l is not
 * used) reading the layers in_names, names it after the current node (plus
 * "/suffix" when suffix is not NULL), and makes dst an activation of its
 * output. *added (may be NULL) receives the layer. The failures of the
 * constructor or of graft_model_add() become the node's, with invalid
 * arguments and shapes reported as GRAFT_E_UNSUPPORTED. */
int graftOnnxImpAddLayerN(imp *im, int st, graft_layer *l, const char *suffix, int n_in,
                          const char *const *in_names, val *dst, graft_layer **added);

/* The same for a layer reading up to 4 activations. */
int graftOnnxImpAddLayer(imp *im, int st, graft_layer *l, const char *suffix, int n_in,
                         val *const *ins, val *dst, graft_layer **added);

/* Copies a layer parameter's values from data (n floats). */
int graftOnnxImpSetParam(imp *im, graft_layer *l, const char *name, const float *data, size_t n);

/* dst becomes src under another name (Identity, Dropout, no-op reshapes). */
void graftOnnxImpAlias(val *dst, const val *src);

/* Makes dst the activation src reshaped to the ONNX shape (ndim, dims) (same
 * element count; dims[0] is SYM_BATCH when batched): an alias when graft's
 * per-sample shape does not change, else a reshape layer (named with
 * suffix). */
int graftOnnxImpEmitReshape(imp *im, val *src, int ndim, const int64_t *dims, const char *suffix,
                            val *dst);

/* Makes the graft layer behind activation x output x's ONNX shape (as its
 * graft shape): *out is x when it does, else tmp, made the output of a
 * reshape layer (named with suffix). For layers that address axes. */
int graftOnnxImpAsShaped(imp *im, val *x, const char *suffix, val *tmp, val **out);

/* A node's single consumer: the node index when the value is read exactly
 * once by a node (not as a graph output), else -1. For fusions. */
int graftOnnxImpSingleConsumer(const val *v);

/* ---- constant folding (onnx_fold.c) ------------------------------------------- */
/* Each makes dst the constant the current node computes from the given
 * constants (dst->c is allocated from the fold budget, or shares src's
 * values when they do not change). */

/* dst holds src's values (Identity, Dropout, one-input Max and Min). */
int graftOnnxImpFoldCopy(imp *im, val *dst, const cval *src);

/* Same values, other dims (Reshape, Squeeze, Unsqueeze, Flatten). */
int graftOnnxImpFoldRedim(imp *im, val *dst, const cval *src, int ndim, const int64_t *dims);

/* Add, Sub, Mul, Div, Pow, Max, Min, Equal, Less, Greater, Mod (by the
 * node's fmod): by op type, with NumPy broadcasting. */
int graftOnnxImpFoldBinary(imp *im, val *dst, const cval *a, const cval *b);

/* Neg, Abs, Sqrt, Exp, Log, Reciprocal, Floor, Ceil, Relu, Sigmoid, Tanh,
 * Not: by op type. */
int graftOnnxImpFoldUnary(imp *im, val *dst, const cval *a);

/* Cast to the node's "to" type. */
int graftOnnxImpFoldCast(imp *im, val *dst, const cval *a);

/* Gather of data's entries along the node's axis at indices. */
int graftOnnxImpFoldGather(imp *im, val *dst, const cval *data, const cval *ind);

/* Concat of the node's inputs, all constants. */
int graftOnnxImpFoldConcat(imp *im, val *dst);

/* Transpose by the node's perm. */
int graftOnnxImpFoldTranspose(imp *im, val *dst, const cval *a);

/* Slice on constants: the node's starts, ends, axes and steps. */
int graftOnnxImpFoldSlice(imp *im, val *dst, const cval *a);

/* dst = entries first to first + count - 1 of a's axis (Split). */
int graftOnnxImpFoldAxisRange(imp *im, val *dst, const cval *a, int axis, int64_t first,
                              int64_t count);

/* One axis of a Slice node, as given (start, end, step) when set. */
typedef struct graftOnnxSliceArg {
    int set;
    int64_t start, end, step;
} graftOnnxSliceArg;

/* Reads the Slice node's starts, ends, axes and steps (inputs from opset
 * 10, constants; attributes before) for an input of rank ndim into sl
 * (ndim entries): every axis once, steps not 0. */
int graftOnnxImpSliceArgs(imp *im, int ndim, graftOnnxSliceArg *sl);

/* ONNX Slice's resolution of one axis of dim entries: the first index and
 * the count (clamping as the operator defines; step not 0). */
int graftOnnxImpSliceAxis(imp *im, int64_t dim, int64_t start, int64_t end, int64_t step,
                          int64_t *first, int64_t *count);

/* Shape of a value of shape (ndim, dims), with the node's start and end. */
int graftOnnxImpFoldShapeOf(imp *im, val *dst, int ndim, const int64_t *dims);

#endif /* GRAFT_ONNX_IMPORT_H */
