/*
 * layer.h - the private interface every layer kind implements.
 *
 * Each kind lives in its own file (layer_conv2d.c, layer_pool.c, ...) and
 * exports exactly one `const graftLayerVtbl` plus nothing else but the public
 * constructor. The generic code in layer.c checks arguments and shapes, owns
 * the output and input-gradient tensors and the parameters, and calls the
 * kind's slots only with valid, correctly shaped data.
 */
#ifndef GRAFT_LAYER_H
#define GRAFT_LAYER_H

#include "core/internal.h"
#include "onnx_node.h"

/* The registry's index of every kind, from the one list in kinds.h. */
typedef enum graftLayerKind {
#define GRAFT_LAYER_KIND(ENUM, name, vtable) GRAFT_KIND_##ENUM,
#include "kinds.h"
#undef GRAFT_LAYER_KIND
    GRAFT_LAYER_KIND_COUNT
} graftLayerKind;

#define GRAFT_LAYER_MAX_PARAMS 4
#define GRAFT_LAYER_MAX_INPUTS 1024
/* Samples one forward or backward call takes (the batch, dims[0]): kinds
 * count them in int (dense, conv2d), so check_inputs() in layer.c and the
 * model's input check refuse more with GRAFT_E_SHAPE. */
#define GRAFT_LAYER_MAX_BATCH INT32_MAX

/* A parameter as a kind declares it (see declare_params). */
typedef struct graftParamDecl {
    const char *name; /* static string: "weight", "bias", "running_mean", ... */
    graftShape shape; /* full shape (no batch dimension) */
    int trainable;    /* 1: learned by gradient; 0: a buffer (no gradient) */
} graftParamDecl;

/* A parameter as the generic code holds it. */
typedef struct graftParam {
    const char *name;
    graft_tensor *value;
    graft_tensor *grad; /* NULL for buffers */
} graftParam;

typedef struct graftLayerVtbl graftLayerVtbl;

/* An attribute a kind lets others read by name (graftLayerAttr*): count
 * values of one type at offset bytes into the kind's state. */
typedef enum graftAttrType {
    GRAFT_ATTR_INT,   /* int */
    GRAFT_ATTR_FLOAT  /* float */
} graftAttrType;

typedef struct graftAttrDecl {
    const char *name;   /* ONNX's name where ONNX has the attribute */
    graftAttrType type;
    size_t offset;      /* offsetof(the kind's state, the first value) */
    int count;          /* values, contiguous in the state (1: a scalar) */
} graftAttrDecl;
#define GRAFT_ATTR_MAX_COUNT 8

/* Scratch memory a kind uses within one forward or backward call only
 * (conv2d's column matrices): nothing in it survives the call. */
typedef struct graftScratch {
    float *data; /* cap floats, owned by the scratch's holder */
    size_t cap;
} graftScratch;

struct graft_layer {
    const graftLayerVtbl *vtbl;
    graft_ctx *ctx;
    void *state; /* the kind's private struct: vtbl->state_size bytes, zeroed */

    int built;
    int n_inputs;           /* fixed by build */
    graftShape *in_shapes;  /* n_inputs per-sample input shapes (batch 1) */
    graftShape out_shape;   /* per-sample output shape (batch 1) */

    int n_params;
    graftParam params[GRAFT_LAYER_MAX_PARAMS];

    int training;          /* 1: training behaviour (the default) */
    int in_model;          /* 1: owned by a graft_model */
    int need_param_grad;   /* 0: backward skips parameter gradients */

    int64_t forward_calls, backward_calls; /* counts, for tests and profiling */
    int forward_done;      /* a forward ran since the last build */
    int64_t forward_batch; /* its batch size */
    graft_tensor *output;
    /* n_inputs input-gradient tensors owned by the layer, created on demand by
     * graft_layer_backward() only: a model runs its layers' backward through
     * graftLayerBackwardInto() with buffers of its own, so a layer in a model
     * keeps these NULL unless the caller runs it by hand. */
    graft_tensor **input_grads;
    graft_tensor **no_grads;    /* n_inputs NULLs: backward without input grads */
    /* The scratch the kind's calls use: &own_scratch for a standalone layer;
     * a model points it at its own, shared by all its layers (they run one
     * at a time), so the model holds one largest workspace, not one per
     * layer. Grown by graftLayerScratch(); own_scratch is freed with the
     * layer, the model's with the model. */
    graftScratch *scratch;
    graftScratch own_scratch;
    /* 1: params[] are another layer's (graftLayerBuildShared()): this layer
     * reads them, never frees them. */
    int shares_params;
};

/* The slots of a kind. Required slots are marked; optional ones say what
 * happens when they are NULL. Slots return GRAFT_OK or an error they have
 * recorded with graftError(l->ctx, ...). */
struct graftLayerVtbl {
    const char *kind;     /* stable name; the tag in model files (required) */
    uint32_t version;     /* version of the kind's saved attributes (required) */
    size_t state_size;    /* bytes of private state (0: none) */
    int min_inputs;       /* (required) */
    int max_inputs;       /* (required) <= GRAFT_LAYER_MAX_INPUTS */

    /* (required) Checks the per-sample input shapes (in[i].dims[0] == 1) and
     * sets the per-sample output shape. Called by build before anything else;
     * it may size the kind's shape-dependent attributes (e.g. input channels). */
    int (*infer_shape)(graft_layer *l, int n_inputs, const graftShape *in, graftShape *out);

    /* (optional; default: no parameters) Lists the parameters for the shapes
     * just inferred, in a fixed order: at most GRAFT_LAYER_MAX_PARAMS. Returns
     * the count (>= 0). */
    int (*declare_params)(const graft_layer *l, graftParamDecl *decl);

    /* (optional; default: parameters stay zero) Initialises freshly allocated
     * parameters from rng. */
    void (*init_params)(graft_layer *l, graftRng *rng);

    /* (required) Computes out (already shaped (batch, out_shape...)) from the
     * inputs (already checked against in_shapes, same batch). Must not
     * allocate unless the batch size grew. */
    int (*forward)(graft_layer *l, const graft_tensor *const *in, graft_tensor *out);

    /* (required) Given the last forward's inputs and output and dout (shaped
     * as out), writes the input gradients into din[i] where din[i] != NULL
     * (shaped as in[i]; overwrite, do not accumulate) and, when
     * l->need_param_grad, the parameter gradients into l->params[k].grad. */
    int (*backward)(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                    const graft_tensor *dout, graft_tensor *const *din);

    /* (optional; default: no attributes) Writes the kind's attributes. */
    int (*save)(const graft_layer *l, graftWriter *w);

    /* (optional; default: version) The record version save writes for this
     * layer. A kind that added an attribute returns the older version while
     * the attribute has the value the older records imply, and save then
     * writes the older record, so graft releases before the attribute keep
     * reading such layers and their bytes do not change. */
    uint32_t (*save_version)(const graft_layer *l);

    /* (optional; required when save is set) Reads and validates attributes
     * written by save at the given version (<= vtbl->version). */
    int (*load)(graft_layer *l, graftReader *r, uint32_t version);

    /* (optional) Frees memory the private state points to (not the state). */
    void (*destroy)(graft_layer *l);

    /* (optional) Told when training mode changes (after l->training is set). */
    void (*set_mode)(graft_layer *l, int training);

    /* (optional; for kinds that draw random numbers) Restarts the kind's
     * generator from seed, so training can make every step's randomness a
     * function of (seed, step) and resume exactly from a checkpoint. */
    void (*reseed)(graft_layer *l, uint64_t seed);

    /* (optional; default: one operation per output element) Forward
     * floating-point operations per sample of the built layer, a
     * multiply-add counting 2. */
    int64_t (*flops)(const graft_layer *l);

    /* (optional; NULL: none) The attributes readable by name, ending with
     * an entry whose name is NULL. Tests check that each survives
     * save/load unchanged. */
    const graftAttrDecl *attrs;

    /* (optional; NULL: graft_onnx_export() refuses the kind) Writes the
     * node or nodes the built layer becomes, see onnx_node.h. */
    int (*onnx_export)(const graft_layer *l, graftOnnxOut *o);

    /* (optional; default 0) 1: onnx_export folds a batch_norm that reads
     * only this layer into its own node when asked (o->absorbed). */
    int onnx_folds_batch_norm;

    /* (optional; default 0) 1: backward never reads `out`, so once forward
     * has run, a model may let the only consumer overwrite the output (see
     * "In-place nodes" in model.h). */
    int backward_ignores_output;

    /* (optional; default 0) 1: forward also works with out->data ==
     * in[0]->data (one input, out shaped as it), and after such a call
     * backward reads only out, dout and the kind's state, never in[0]'s
     * data (which then holds the output). */
    int inplace_ok;
};

/* Every kind's table, defined in its file. */
#define GRAFT_LAYER_KIND(ENUM, name, vtable) extern const graftLayerVtbl vtable;
#include "kinds.h"
#undef GRAFT_LAYER_KIND

/* The kind's table by registry index (NULL when out of range). */
const graftLayerVtbl *graftLayerKindAt(int index);

/* Returns the kind's table, or NULL for an unknown name. */
const graftLayerVtbl *graftLayerKindByName(const char *name);

/* Allocates an unbuilt layer of the given kind with zeroed state. Public
 * constructors call this, then fill the state. *out is set on success only. */
int graftLayerNew(graft_ctx *ctx, const graftLayerVtbl *vtbl, const char *func,
                  graft_layer **out);

/* Builds from per-sample shapes (dims[0] ignored). max_param_floats bounds
 * the parameters' total element count before anything is allocated (a file
 * being loaded cannot hold more than its remaining bytes / 4); SIZE_MAX for
 * no bound. Exceeding it is GRAFT_E_FORMAT. */
int graftLayerBuildShapes(graft_layer *l, int n_inputs, const graftShape *in, uint64_t seed,
                          size_t max_param_floats);

/* Builds l, an unbuilt layer of src's kind with src's attributes, for src's
 * input shapes, with src's parameter tensors instead of its own: l reads
 * and writes those (l->shares_params), and they must outlive l. The kind's
 * state of l is fresh (no cached forward results). Errors: GRAFT_E_NOMEM,
 * or the kind's shape error, named func. */
int graftLayerBuildShared(graft_layer *l, const graft_layer *src, const char *func);

/* A copy of src in its context (registry.c): same kind, attributes and
 * build, in the default mode (training; a model sets its layers' mode at
 * each run); with share 0 its own parameters holding src's values
 * (gradients zero), with share 1 src's parameters (graftLayerBuildShared()).
 * Reads of src only what a forward on src, or setting its mode, never
 * writes, so src may run meanwhile. Nothing the kind cached in a forward is
 * copied; a kind's random generator restarts from its seed, as after
 * loading. Errors: GRAFT_E_NOMEM (named func). */
int graftLayerCopy(const graft_layer *src, int share, const char *func, graft_layer **out);

/* Serialises a layer: kind name, kind version, attributes, then (when built)
 * the input shapes and every parameter (name, shape, float32 data). */
int graftLayerSave(const graft_layer *l, graftWriter *w);

/* Reads a layer written by graftLayerSave(), validating every field
 * (registry.c: the kind is found by its name). */
int graftLayerLoad(graft_ctx *ctx, graftReader *r, graft_layer **out);

/* The part of a saved layer after its kind's attributes: the built flag,
 * the input shapes and the parameters, read into l (made by graftLayerNew
 * and given its attributes). */
int graftLayerLoadBody(graft_layer *l, graftReader *r);

/* Longest kind or parameter name in a file. */
#define GRAFT_LAYER_MAX_NAME 64

/* graft_layer_backward() (its checks and messages) writing the input
 * gradients into din, n_inputs tensors shaped as the inputs and owned by the
 * caller; din[k] NULL (or din NULL) skips input k's gradient. The layer's own
 * input_grads are not touched. */
int graftLayerBackwardInto(graft_layer *l, int n_inputs, const graft_tensor *const *inputs,
                           const graft_tensor *out_grad, graft_tensor *const *din);

/* Makes l->scratch hold at least floats floats and returns its data, or
 * NULL after recording GRAFT_E_NOMEM in func's name (what: the workspace's
 * name in the message). Allocates only to grow; the contents are not kept. */
float *graftLayerScratch(graft_layer *l, size_t floats, const char *func, const char *what);

/* graft_layer_forward() (its checks and messages) for a one-input layer
 * whose kind is inplace_ok, writing the output over inputs[0]: l->output
 * becomes a view of inputs[0]'s data (the view's struct is the layer's; an
 * owned output tensor it had is freed). *out receives l->output. Allocates
 * only when l->output was not a view yet. Used by models only. */
int graftLayerForwardInPlace(graft_layer *l, const graft_tensor *const *inputs,
                             const graft_tensor **out);

/* Makes l->output an owned tensor of the given shape (a view left by an
 * in-place run is dropped first), as graft_layer_forward() does. */
int graftLayerOutputEnsure(graft_layer *l, int ndim, const int64_t *dims);

/* Makes l->output a view of target's data and shape (see
 * graftLayerForwardInPlace()). */
int graftLayerOutputAlias(graft_layer *l, const graft_tensor *target);

/* Reads the attribute called name (see graftAttrDecl) as up to max
 * integers or floats (converted from the declared type). Returns the number
 * of values, or 0 when the kind has no such attribute. */
int graftLayerAttrInts(const graft_layer *l, const char *name, int64_t *v, int max);
int graftLayerAttrFloats(const graft_layer *l, const char *name, float *v, int max);

/* Saving and loading a kind's attributes straight from its attribute table,
 * for kinds whose saved record is that table in order (each value an i32 or
 * an f32). graftLayerWriteAttrs() writes the layer's values;
 * graftLayerReadAttrs() reads them into state, a copy of the kind's state
 * that the kind checks before it keeps it. */
int graftLayerWriteAttrs(const graft_layer *l, graftWriter *w);
int graftLayerReadAttrs(const graft_layer *l, graftReader *r, void *state);

/* Forward operations per sample (the flops slot or its default). */
int64_t graftLayerFlops(const graft_layer *l);

/* Number of elements of a per-sample shape (dims[0], the batch, excluded). */
int64_t graftShapeSampleNumel(const graftShape *s);

/* The layer's parameter declared under name, or NULL. */
graftParam *graftLayerFindParam(graft_layer *l, const char *name);

/* Helpers for kinds. */
/* Checks a per-sample shape attribute given to a constructor: rank 1 to
 * GRAFT_MAX_DIMS - 1 (the message then says rank_note after the range, ""
 * for nothing), dims not NULL, sizes >= 1 with at most 2^40 elements in
 * all. GRAFT_E_INVALID_ARG under func otherwise. */
int graftCheckSampleDims(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims,
                         const char *rank_note);
/* Writes a per-sample shape attribute: u32 rank, then rank i64 sizes. */
void graftWriteSampleDims(graftWriter *w, int ndim, const int64_t *dims);
/* Reads one written by graftWriteSampleDims(): the rank must be 1 to
 * GRAFT_MAX_DIMS - 1, and check (the kind's own attribute check, called
 * with func "graft_load") must accept the sizes; else GRAFT_E_FORMAT naming
 * `what`. *ndim and dims are written only on success. */
typedef int (*graftDimsCheck)(graft_ctx *ctx, const char *func, int ndim, const int64_t *dims);
int graftReadSampleDims(graft_layer *l, graftReader *r, const char *what, graftDimsCheck check,
                        int *ndim, int64_t *dims);

/* forward and backward of kinds whose output is their input reshaped
 * (flatten, reshape): the elements are copied as they are. */
int graftCopyForward(graft_layer *l, const graft_tensor *const *in, graft_tensor *out);
int graftCopyBackward(graft_layer *l, const graft_tensor *const *in, const graft_tensor *out,
                      const graft_tensor *dout, graft_tensor *const *din);
/* Returns 1 when a float is finite. */
int graftIsFinite(float v);
/* Fills t with values uniform in [-bound, bound). */
void graftFillUniform(graft_tensor *t, graftRng *rng, float bound);

/* ---- fused inference: conv2d, then batch_norm, then relu, clip or hard_swish
 * Used by model.c only (see the rule in model.h). */

/* The activation ("clamp") that follows the affine step of a fused node. */
typedef enum graftEpilogueAct {
    GRAFT_EPI_NONE, /* y = v */
    GRAFT_EPI_RELU, /* y = v <= 0 ? 0 : v, relu's own expression (NaN stays NaN) */
    GRAFT_EPI_CLIP, /* y = min(max(v, lo), hi), clip's own expression */
    GRAFT_EPI_HARD_SWISH /* y = v * min(max(v + 3, 0), 6) / 6, hard_swish's own
                            expression */
} graftEpilogueAct;

/* Per output channel o of a convolution: v = scale[o] * conv + shift[o] in
 * float, then the clamp. */
typedef struct graftEpilogue {
    const float *scale, *shift; /* out_channels each */
    graftEpilogueAct act;
    float lo, hi;               /* GRAFT_EPI_CLIP only */
} graftEpilogue;

/* y[i] = clamp(scale[o] * y[i] + shift[o]), i < n: ep applied in place to n
 * values of output channel o. */
void graftEpiloguePlane(float *y, size_t n, const graftEpilogue *ep, int o);

/* d[i] = clamp(a * (s[i] + bias) + b), i < n, d and s not overlapping:
 * ep's clamp after the affine step a, b of one channel, the bias added
 * first in float as the unfused forward stores it. */
void graftEpilogueCopy(float *d, const float *s, size_t n, float bias, float a, float b,
                       const graftEpilogue *ep);

/* Runs a built conv2d layer on x (N, C, H, W) into y (N, O, OH, OW, already
 * shaped) and applies ep to every value while its plane is in cache. Each
 * value equals the conv2d forward's value passed through the same float
 * expressions as batch_norm's inference forward and the activation's. Does
 * not touch l->output nor the layer's counters. */
int graftConv2dForwardFused(graft_layer *l, const graft_tensor *x, graft_tensor *y,
                            const graftEpilogue *ep);

/* For a built batch_norm layer in inference mode: computes the per-channel
 * float scale gamma / sqrt(var + eps) and shift beta - scale * mean from the
 * current parameters, exactly as its forward does, into buffers of the
 * layer's state (*scale, *shift: C floats each, valid until the layer's next
 * call), and records the statistics as its forward would. Allocates only at
 * the first call. */
int graftBatchNormFold(graft_layer *l, const float **scale, const float **shift);

/* For a relu, clip or hard_swish layer: sets *act (and *lo, *hi for clip)
 * and returns 1; returns 0 for any other kind. */
int graftActivationClamp(const graft_layer *l, graftEpilogueAct *act, float *lo, float *hi);

#endif /* GRAFT_LAYER_H */
