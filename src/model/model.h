/*
 * model.h - private view of graft_model, shared by model.c (graph, running
 * it), freeze.c (trainable flags, unfreeze schedule), model_io.c (files),
 * train.c (fit, evaluate, predict) and transfer.c (the public transfer API).
 * The files call each other only downwards: model.c and freeze.c at the
 * bottom (model.c frees the schedule through freeze.c), model_io.c over
 * them, train.c and transfer.c on top; nothing calls into train.c or
 * transfer.c from within src/model.
 */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H

#include "layers/layer.h"

#define GRAFT_NAME_MAX 63       /* layer name length */
#define GRAFT_CLASS_NAME_MAX 255
#define GRAFT_INPUT_NODE (-1)   /* node index meaning the model input */

typedef struct graftNode {
    char *name;
    graft_layer *layer;
    int n_inputs;
    int *inputs;    /* node indices, or GRAFT_INPUT_NODE */
    int trainable;  /* 1: parameters are updated */
    float lr_scale; /* multiplier of the optimizer's learning rate (1) */
    int consumers;  /* how many inputs lists name this node */
    int upstream;   /* set by backward: this node or one it reads is trained */
    int fused;      /* set by every forward: 0, or how many following nodes (1:
                     * batch_norm; 2: batch_norm and relu/clip/hard_swish) ran folded into
                     * this conv2d node (see "Fused nodes" below) */
    int needs_grad; /* forward's scratch: as upstream, for planning fusion */
    int inplace;    /* set by every forward: 1 when this node's output is
                     * written over its input's (see "In-place nodes") */
    /* backward scratch (see "Backward buffers" below) */
    int grad_buf;   /* where this node's output gradient lives in the current
                     * pass: a pool buffer index, GRAFT_GRAD_DOUT (the caller's
                     * dout) or GRAFT_GRAD_NONE */
    const graft_tensor *grad; /* that gradient while the pass runs (borrowed;
                               * its buffer is reused once the node is done) */
} graftNode;

#define GRAFT_GRAD_DOUT (-1) /* grad_buf: the gradient is backward's dout */
#define GRAFT_GRAD_NONE (-2) /* grad_buf: no gradient reaches the node */

/* Backward buffers: the gradients of node outputs (dL/d(output), which the
 * consumers' backward calls write as their input gradients) live in a pool
 * owned by the model, not in the layers (a layer's input_grads stay unused
 * in a model). Each pass first plans (plan_grads() in model.c), walking the
 * nodes in backward order: every input gradient a node's backward writes
 * takes a buffer that is free at that point (the smallest that holds it,
 * else the largest free one, grown; else a new one); a node's first
 * incoming gradient is written straight into the buffer that then holds the
 * node's gradient, further ones (more consumers) go to a temporary buffer
 * that is added into it and freed at once; and a node's gradient buffer is
 * freed as soon as the node's own backward has run. Peak gradient memory is
 * so a few of the largest gradients live at once, not their sum. The plan is
 * a function of the graph, the upstream marks and the batch size only, so
 * every pass with the same ones makes the same choices and, once the
 * buffers have grown to their size, allocates nothing. Buffers are kept
 * until the model is freed (or a larger plan needs more). */
typedef struct graftGradPool {
    graft_tensor **bufs;  /* cap owned tensors; NULL until first used */
    size_t *need;         /* planning: floats buffer b must hold */
    unsigned char *busy;  /* planning: 1 while buffer b holds a live gradient */
    int *slot;            /* per node input (nodes in order, then inputs in order):
                           * the buffer receiving that input's gradient, or -1 */
    int n;                /* buffers the current plan uses (<= cap) */
    int cap;              /* entries in bufs, need, busy and slot */
} graftGradPool;

/* Executors: concurrent predictions on one model (graft_model_predict() and
 * graft_model_predict_topk(), see graftModelInferBegin()). A prediction
 * runs on the model's own layers when no other prediction does; each
 * further one at the same time takes a free executor: a second set of the
 * model's layers (shadows, graftLayerBuildShared()) that read the model's
 * parameter tensors and keep their own outputs, kind state, workspace and
 * fusion and in-place plan, wrapped in a model struct of its own (`view`,
 * whose nodes are the model's with the shadows as layers) so the forward
 * code runs on it unchanged. Executors are made when all are busy, kept
 * for the next calls (no allocation once there are enough), and freed with
 * the model. Before an executor runs, its record of the model (graph_rev,
 * node array, layers, parameter data) is compared with the model's; when
 * the model has changed since (layers added, cut or replaced, a rebuild)
 * its shadows are rebuilt. Parameter values changed in place (fit, loading weights) need
 * nothing: the shadows read them. */
typedef struct graftExec graftExec;
typedef struct graftExecPool {
    pthread_mutex_t lock; /* guards everything below, and the share counts of
                           * struct graft_model */
    int owner_busy;       /* 1 while a prediction runs on the model's own layers */
    graftExec *execs;     /* every executor made, busy or not */
} graftExecPool;

struct graft_model {
    graft_ctx *ctx;
    graftShape input_shape; /* per-sample, dims[0] = 1 */
    uint64_t seed;
    int n_nodes, cap_nodes;
    graftNode *nodes;
    int n_classes_named;    /* 0 or the count of class_names */
    char **class_names;
    int64_t epochs_done;
    int training;           /* mode the layers were last set to (-1 unknown) */
    /* options (graft_model_set_option) */
    int frozen_bn_trains;   /* 1: frozen batch norms still use batch statistics */
    int feature_cache;      /* 1: fit caches a frozen trunk's features when safe */
    int64_t feature_cache_mb;
    int task;               /* GRAFT_TASK_*: the loss fit uses, what predict returns */
    /* scheduled unfreezing, applied by fit at the start of an epoch */
    struct graftUnfreeze *unfreeze;
    int n_unfreeze;
    /* fit with cached features: the output of node override_node is taken
     * from override_tensor, and forward runs only the nodes marked upstream */
    int override_node;
    const graft_tensor *override_tensor;
    const graft_tensor **scratch_inputs; /* room for the widest node's inputs */
    graft_tensor **scratch_grads;        /* as many input-gradient slots */
    int scratch_cap;
    int fusion;             /* 1 (default): forward may fuse nodes; 0: never */
    int inplace;            /* 1 (default): forward may run nodes in place; 0: never */
    graftGradPool grads;    /* backward's gradient buffers (see below) */
    graftScratch scratch;   /* the layers' shared scratch (graft_layer.scratch
                             * points here): one call's workspace at a time */
    /* ---- concurrent inference and clones (model.c "Executors", clone.c) ----
     * pool: the executors (NULL in an executor's view). weights_owner: for a
     * clone made with GRAFT_CLONE_SHARE_WEIGHTS, the model whose parameter
     * tensors its layers read (the first model that owns them; NULL when
     * the model owns its own); such a model only runs inference. share_refs:
     * how many such clones read this model's parameters; free_pending: the
     * model was freed while share_refs > 0, and goes when the last clone
     * does. Both under pool->lock. graph_rev: counts nodes installed
     * (graftModelInstallNode()), so executors notice a changed graph even
     * when a new layer lands at a freed one's address. */
    graftExecPool *pool;
    uint64_t graph_rev;
    struct graft_model *weights_owner;
    int share_refs;
    int free_pending;
    /* input preprocessing (preprocess.c; saved as model_io.c's PREP section) */
    int has_preprocess;           /* 1: preprocess holds a checked description */
    graft_preprocess preprocess;  /* a complete current struct when has_preprocess */
};

/* Fused nodes. graftModelForward() and graftModelForwardTrunk() run
 * conv2d -> batch_norm [-> relu | clip | hard_swish] as one pass (graftConv2dForwardFused)
 * when, at that call:
 *  - the batch_norm node comes right after the conv2d node, reads only it,
 *    is in inference mode (layer->training == 0) and is the conv2d's only
 *    consumer (consumers == 1); the activation, when folded too, comes right
 *    after the batch_norm, reads only it and is its only consumer;
 *  - when the model is not in inference mode (m->training != 0, so a
 *    backward pass may follow), none of the folded nodes is upstream of a
 *    trained layer (needs_grad == 0): backward never visits them;
 *  - no feature cache overrides a node (override_node < 0), the whole group
 *    lies within the nodes being run, and m->fusion is 1.
 * The folded scale and shift are recomputed from the batch norm's parameters
 * at every call. The rule for intermediates: only the group's last layer's
 * output tensor is written; the conv2d's (and, with an activation, the
 * batch norm's) output tensors keep stale contents and their forward_done is
 * cleared, so graft_layer_backward() refuses them. Nothing else reads them:
 * by the conditions above no other node has them as input, and neither is
 * the model's output nor the trunk's last node. Every folded layer's
 * forward_calls still counts the call. Code that starts reading a layer's
 * output outside gather_inputs() (e.g. to expose intermediate activations)
 * must either check node->fused of the producing group or set m->fusion = 0. */

/* In-place nodes. graftModelForward() and graftModelForwardTrunk() run a
 * node a in place (graftLayerForwardInPlace: its output tensor becomes a view
 * of its input's, which it overwrites) when, at that call:
 *  - a's kind is inplace_ok (relu, clip, sigmoid, tanh), a has one input,
 *    node p, not the model input, and a is not inside a fused group;
 *  - p's kind is backward_ignores_output (conv2d, batch_norm, add, dense),
 *    a is p's only consumer (consumers == 1), and p runs in this forward
 *    (it is not the feature cache's override node, nor skipped by it);
 *  - m->inplace is 1.
 * So p's output tensor holds a's output after the call: nothing else reads
 * p's (no other consumer; p is not the model's output, being read by a; p's
 * backward reads only its inputs and dout), and a's backward gets its
 * derivative from its output (relu, sigmoid, tanh) or a mask it kept (clip).
 * This saves one activation-sized tensor per such pair (e.g. batch_norm ->
 * relu). Values are unchanged. A node run any other way (e.g. as a fused
 * group's last layer, or by graft_layer_forward()) gets an owned output
 * tensor again. Code that starts reading a layer's output outside
 * gather_inputs() must check the consumer's node->inplace or set
 * m->inplace = 0. */

typedef struct graftUnfreeze {
    char *from;      /* first layer to unfreeze; the rest of the model follows */
    int64_t epoch;   /* 0-based epoch at whose start it happens */
    float lr_scale;  /* learning-rate multiplier given to the unfrozen layers */
} graftUnfreeze;

/* Marks node->upstream: the node or one it reads has trained parameters. */
void graftModelMarkUpstream(graft_model *m);

/* Runs forward only the nodes up to `last` that are not marked upstream (a
 * frozen trunk); *out receives node last's output. */
int graftModelForwardTrunk(graft_model *m, const graft_tensor *x, int last,
                           const graft_tensor **out);

/* The output node's index (the last), or -1 for an empty model. */
int graftModelOutputNode(const graft_model *m);

/* Per-sample output size of the model (product of the output shape). */
int64_t graftModelOutputSize(const graft_model *m);

/* Puts every layer in training (1) or inference (0) mode. */
void graftModelSetMode(graft_model *m, int training);

/* Inference that may run concurrently with other inference on m (the rule
 * is above, "Executors"): *run receives the model to run forward in
 * inference mode (graftModelSetMode(*run, 0), graftModelForward(*run, ...)):
 * m itself or an executor's view, held until graftModelInferEnd(m, *run);
 * outputs read from it stay valid until then. Errors: GRAFT_E_NOMEM (named
 * func) when an executor cannot be made. */
/* GRAFT_E_STATE, named func, when clones made with GRAFT_CLONE_SHARE_WEIGHTS
 * read m's parameters: a call that would free some of m's layers (cut,
 * replace_head) must not run while they do. */
int graftModelCheckNotShared(graft_model *m, const char *func);

int graftModelInferBegin(graft_model *m, const char *func, graft_model **run);
void graftModelInferEnd(graft_model *m, graft_model *run);

/* Runs the graph forward on x (N, input shape...); *out: the output node's
 * tensor. Checks x's shape, not its values. */
int graftModelForward(graft_model *m, const graft_tensor *x, const graft_tensor **out);

/* What the public calls that take an input tensor check before running the
 * model (named func): a model with layers, x's shape, and, when the
 * context's GRAFT_CTX_CHECK_INPUTS is 1, that every element of x is finite
 * (GRAFT_E_NUMERIC naming the sample and the element). fit and evaluate
 * check their batches themselves, naming the dataset's samples. */
int graftModelCheckInput(graft_model *m, const graft_tensor *x, const char *func);

/* Back-propagates dout (the output's gradient) through the last forward:
 * parameter gradients of trainable layers are written; layers below every
 * trainable layer are not visited at all, and input gradients are computed
 * only toward nodes that are visited. Gradients of intermediate outputs live
 * in the model's pool (see "Backward buffers") and are not kept after the
 * call. */
int graftModelBackward(graft_model *m, const graft_tensor *x, const graft_tensor *dout);

/* Calls fn for every trainable-capable parameter (those with a gradient) of
 * every layer, in a fixed order (layer by layer, parameter by parameter),
 * with the layer's trainable flag. */
typedef void (*graftParamVisitor)(void *arg, int node, int param, graft_tensor *value,
                                  const graft_tensor *grad, int trainable);
void graftModelForEachParam(graft_model *m, graftParamVisitor fn, void *arg);

/* Appends an already built layer as a node (used by loading): no shape
 * inference beyond checking that the layer's build matches its inputs. Takes
 * the layer on success only. */
int graftModelAppendBuilt(graft_model *m, const char *name, graft_layer *layer, int n_inputs,
                          const int *inputs, int trainable);

/* Grows the node list to hold n_nodes nodes and the input slots to n_inputs
 * inputs; the nodes themselves are unchanged. Errors: GRAFT_E_NOMEM (named
 * func). */
int graftModelReserve(graft_model *m, int n_nodes, int n_inputs, const char *func);

/* Appends a node whose name and inputs (allocated with graftAlloc) and built
 * layer it takes over; never fails: graftModelReserve() made the room. New
 * nodes have lr_scale 1. */
void graftModelInstallNode(graft_model *m, char *name, graft_layer *layer, int n_inputs,
                           int *inputs, int trainable);

/* The seed a layer added as node index of a model seeded with seed is built
 * with (graft_model_add()). */
uint64_t graftModelLayerSeed(uint64_t seed, int index);

/* Creates an empty model (as graft_model_create, without the public checks'
 * messages naming that function). */
int graftModelNew(graft_ctx *ctx, const graftShape *input_shape, uint64_t seed,
                  graft_model **out);

/* Sets class names (copied), or clears them with n = 0. */
int graftModelSetClassNames(graft_model *m, int n, const char *const *names, const char *func);

/* Class names in two steps, so a caller can prepare them before changing
 * anything: copies n names (*out NULL for n = 0; errors: GRAFT_E_NOMEM named
 * func), then installs a copy in place of the model's (never fails). */
int graftModelCopyClassNames(graft_ctx *ctx, int n, const char *const *names, const char *func,
                             char ***out);
void graftModelInstallClassNames(graft_model *m, int n, char **names);
void graftModelFreeClassNames(graft_ctx *ctx, int n, char **names);

/* Checks a layer name: 1 to GRAFT_NAME_MAX chars of [A-Za-z0-9_.:/-]. */
int graftValidName(const char *name);

/* The index of the node named name, or -1 (no message recorded). */
int graftModelFindNode(const graft_model *m, const char *name);

/* ---- preprocess.c: the model's input preprocessing ---- */

/* Checks p (a complete current struct) against the rules of
 * graft_model_set_preprocess(), the model's input shape included; records
 * errors in func's name, naming fields as "<what>->field". */
int graftPreprocessCheck(const graft_model *m, const graft_preprocess *p, const char *what,
                         const char *func);

/* Reads a caller's graft_preprocess of any released size into *out, a
 * complete current struct (GRAFT_E_VERSION and the reserved words' check
 * recorded in func's name). */
int graftPreprocessRead(graft_ctx *ctx, const char *func, const graft_preprocess *given,
                        graft_preprocess *out);

/* ---- freeze.c: trainable flags and the unfreeze schedule (no checks) ---- */

/* Sets a range of nodes' trainable flag. */
void graftModelSetTrainableRange(graft_model *m, int first, int last, int trainable);

/* Appends an unfreeze event (from copied). Errors: GRAFT_E_NOMEM (named
 * func). */
int graftModelAddUnfreeze(graft_model *m, const char *from, int64_t epoch, float lr_scale,
                          const char *func);

/* Applies the unfreeze events due at the start of epoch (0-based). */
int graftModelApplyUnfreeze(graft_model *m, int64_t epoch);

/* Frees the unfreeze schedule. */
void graftModelClearUnfreeze(graft_model *m);

#endif /* GRAFT_MODEL_H */
