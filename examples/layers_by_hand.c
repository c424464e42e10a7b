/*
 * layers_by_hand.c - a small CNN trained with graft's layer API alone:
 * conv -> batch norm -> relu -> max pool -> flatten -> dense, softmax
 * cross-entropy, plain SGD written out here.
 *
 * The task is synthetic: 12x12 grey images holding a bright 3x3 square,
 * labelled by the quadrant the square is in (4 classes). The program prints
 * the loss per epoch and exits with status 1 unless the held-out accuracy
 * reaches 90%.
 *
 * Build: cc layers_by_hand.c -lgraft (or `make test`, which runs it).
 */
#include <graft.h>

#include <stdio.h>
#include <stdlib.h>

#define SIDE 12
#define N_TRAIN 256
#define N_TEST 128
#define BATCH 32
#define N_LAYERS 6

/* Draws image i of a deterministic set: a 3x3 square of 1.0 on noise. */
static int make_image(unsigned seed, float *pixels)
{
    srand(seed);
    for (int p = 0; p < SIDE * SIDE; p++) pixels[p] = 0.2f * (float)rand() / (float)RAND_MAX;
    int y = rand() % (SIDE - 2), x = rand() % (SIDE - 2);
    for (int dy = 0; dy < 3; dy++)
        for (int dx = 0; dx < 3; dx++) pixels[(y + dy) * SIDE + x + dx] = 1.0f;
    return (y + 1 >= SIDE / 2) * 2 + (x + 1 >= SIDE / 2);
}

static int fail(graft_ctx *ctx, const char *what)
{
    fprintf(stderr, "%s failed: %s\n", what, graft_errmsg(ctx));
    return 1;
}

int main(void)
{
    graft_ctx *ctx = NULL;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return fail(NULL, "graft_ctx_create");
    printf("graft %s\n", graft_version_string());

    graft_layer *layers[N_LAYERS] = {NULL};
    graft_conv2d_spec conv = GRAFT_CONV2D_SPEC_INIT;
    conv.out_channels = 8;
    conv.kernel_h = conv.kernel_w = 3;
    conv.pad_top = conv.pad_left = conv.pad_bottom = conv.pad_right = 1;
    graft_pool2d_spec pool = GRAFT_POOL2D_SPEC_INIT;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
    if (graft_layer_conv2d(ctx, &conv, &layers[0]) || graft_layer_batch_norm(ctx, 1e-5f, 0.1f, &layers[1]) ||
        graft_layer_relu(ctx, &layers[2]) || graft_layer_max_pool2d(ctx, &pool, &layers[3]) ||
        graft_layer_flatten(ctx, &layers[4]) || graft_layer_dense(ctx, 4, 1, &layers[5]))
        return fail(ctx, "creating the layers");

    int64_t xdims[4] = {BATCH, 1, SIDE, SIDE}, gdims[2] = {BATCH, 4};
    graft_tensor *x = NULL, *grad = NULL;
    if (graft_tensor_create(ctx, 4, xdims, &x) || graft_tensor_create(ctx, 2, gdims, &grad))
        return fail(ctx, "graft_tensor_create");
    int32_t labels[BATCH];
    const graft_tensor *acts[N_LAYERS + 1];
    float lr = 0.05f;

    for (int epoch = 0; epoch < 8; epoch++) {
        double total = 0;
        for (int b = 0; b < N_TRAIN / BATCH; b++) {
            for (int i = 0; i < BATCH; i++)
                labels[i] = make_image(1000u + (unsigned)(b * BATCH + i),
                                       graft_tensor_data(x) + i * SIDE * SIDE);
            acts[0] = x;
            for (int k = 0; k < N_LAYERS; k++)
                if (graft_layer_forward(layers[k], 1, &acts[k], &acts[k + 1]))
                    return fail(ctx, "graft_layer_forward");
            float loss;
            if (graft_loss_softmax_cross_entropy(acts[N_LAYERS], labels, &loss, grad))
                return fail(ctx, "graft_loss_softmax_cross_entropy");
            total += loss;
            const graft_tensor *g = grad, *dx[1];
            for (int k = N_LAYERS - 1; k >= 0; k--) {
                if (graft_layer_backward(layers[k], 1, &acts[k], g, k > 0 ? dx : NULL))
                    return fail(ctx, "graft_layer_backward");
                g = dx[0];
            }
            for (int k = 0; k < N_LAYERS; k++)
                for (int p = 0; p < graft_layer_param_count(layers[k]); p++) {
                    graft_tensor *w;
                    const graft_tensor *gw;
                    int trainable;
                    graft_layer_param(layers[k], p, NULL, &w, &gw, &trainable);
                    if (!trainable) continue;
                    float *wd = graft_tensor_data(w);
                    const float *gd = graft_tensor_data_const(gw);
                    for (size_t e = 0; e < graft_tensor_numel(w); e++) wd[e] -= lr * gd[e];
                }
        }
        printf("epoch %d: mean training loss %.4f\n", epoch + 1, total / (N_TRAIN / BATCH));
    }

    for (int k = 0; k < N_LAYERS; k++) graft_layer_set_training(layers[k], 0);
    int correct = 0;
    for (int b = 0; b < N_TEST / BATCH; b++) {
        for (int i = 0; i < BATCH; i++)
            labels[i] = make_image(90000u + (unsigned)(b * BATCH + i),
                                   graft_tensor_data(x) + i * SIDE * SIDE);
        acts[0] = x;
        for (int k = 0; k < N_LAYERS; k++)
            if (graft_layer_forward(layers[k], 1, &acts[k], &acts[k + 1]))
                return fail(ctx, "graft_layer_forward");
        const float *logits = graft_tensor_data_const(acts[N_LAYERS]);
        for (int i = 0; i < BATCH; i++) {
            int best = 0;
            for (int c = 1; c < 4; c++)
                if (logits[i * 4 + c] > logits[i * 4 + best]) best = c;
            correct += best == labels[i];
        }
    }
    double accuracy = (double)correct / N_TEST;
    printf("held-out accuracy: %.1f%% (%d of %d)\n", 100 * accuracy, correct, N_TEST);

    for (int k = 0; k < N_LAYERS; k++) graft_layer_free(layers[k]);
    graft_tensor_free(x);
    graft_tensor_free(grad);
    graft_ctx_free(ctx);
    return accuracy >= 0.9 ? 0 : 1;
}
