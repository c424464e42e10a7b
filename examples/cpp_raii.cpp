/*
 * cpp_raii.cpp - graft from C++: RAII wrappers, exceptions, a callback.
 *
 *   cpp_raii
 *
 * graft.h is plain C with extern "C" guards; this file wraps the handles it
 * needs in small C++ classes (defined here, not in the header) so that:
 *   - every handle is freed exactly once, by a destructor, also when an
 *     exception unwinds the stack;
 *   - every object shares ownership of its context, so the context is freed
 *     after the last object made in it, whatever the declaration order;
 *   - a failed call throws graft::error carrying the status code and
 *     graft_errmsg()'s message;
 *   - a C++ callable is the fit progress callback, and an exception it
 *     throws never crosses the C library: it stops the fit and is rethrown
 *     after graft_model_fit() returns.
 *
 * The program builds a small network, trains it on three synthetic clusters
 * of points, saves it, loads it back, checks that the loaded model predicts
 * exactly what the trained one does, and exits 0 only if the held-out
 * accuracy is at least 90%. Build:
 *
 *   g++ -std=c++11 -Wall -Wextra -Iinclude examples/cpp_raii.cpp -Llib -lgraft
 */
#include <graft.h>

#include <cmath>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace graft {

/* A failed graft call: the status code and graft's message. */
class error : public std::runtime_error {
public:
    error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const { return code_; }

private:
    int code_;
};

/* Throws for a status other than GRAFT_OK, with the calling thread's last
 * message (which every failure sets, also those without a usable handle). */
inline void check(int status)
{
    if (status != GRAFT_OK) {
        const char *msg = graft_errmsg(NULL);
        throw error(status, msg && *msg ? msg : graft_strerror(status));
    }
}

/* unique_ptr with a graft destructor (they all accept NULL). */
template <typename T, void (*Free)(T *)>
struct deleter {
    void operator()(T *p) const { Free(p); }
};
template <typename T, void (*Free)(T *)>
using owned = std::unique_ptr<T, deleter<T, Free>>;

/* The context, shared by every object made in it. */
class context {
public:
    context()
    {
        graft_ctx *c = NULL;
        check(graft_ctx_create(&c));
        ptr_ = std::shared_ptr<graft_ctx>(c, graft_ctx_free);
    }
    graft_ctx *get() const { return ptr_.get(); }
    std::shared_ptr<graft_ctx> share() const { return ptr_; }

private:
    std::shared_ptr<graft_ctx> ptr_;
};

/* A layer until a model takes it over (graft_model_add() always consumes
 * the layer, so the wrapper lets go before the call). */
class layer {
public:
    static layer dense(const context &ctx, int units)
    {
        graft_layer *l = NULL;
        check(graft_layer_dense(ctx.get(), units, 1, &l));
        return layer(ctx, l);
    }
    static layer relu(const context &ctx)
    {
        graft_layer *l = NULL;
        check(graft_layer_relu(ctx.get(), &l));
        return layer(ctx, l);
    }
    graft_layer *release() { return ptr_.release(); }

private:
    layer(const context &ctx, graft_layer *l) : ctx_(ctx.share()), ptr_(l) {}
    std::shared_ptr<graft_ctx> ctx_; /* declared first: destroyed last */
    owned<graft_layer, graft_layer_free> ptr_;
};

class optimizer {
public:
    optimizer(const context &ctx, int kind) : ctx_(ctx.share())
    {
        graft_optim *o = NULL;
        check(graft_optim_create(ctx.get(), kind, &o));
        ptr_.reset(o);
    }
    optimizer &set(int key, double value)
    {
        check(graft_optim_set(ptr_.get(), key, value));
        return *this;
    }
    graft_optim *get() const { return ptr_.get(); }

private:
    std::shared_ptr<graft_ctx> ctx_;
    owned<graft_optim, graft_optim_free> ptr_;
};

class dataset {
public:
    /* Copies features (count x features_per_sample) and labels. */
    dataset(const context &ctx, const std::vector<float> &features,
            const std::vector<int32_t> &labels, int64_t features_per_sample, int n_classes)
        : ctx_(ctx.share())
    {
        graft_dataset *d = NULL;
        int64_t dims[1] = {features_per_sample};
        check(graft_dataset_from_memory(ctx.get(), (int64_t)labels.size(), 1, dims,
                                        features.data(), labels.data(), n_classes, 1, &d));
        ptr_.reset(d);
    }
    graft_dataset *get() const { return ptr_.get(); }

private:
    std::shared_ptr<graft_ctx> ctx_;
    owned<graft_dataset, graft_dataset_free> ptr_;
};

/* Evaluation figures, copied out of a graft_eval (freed at once). */
struct evaluation {
    double loss, accuracy;
    std::vector<double> recall;
};

class model {
public:
    model(const context &ctx, std::vector<int64_t> input_shape, uint64_t seed)
        : ctx_(ctx.share())
    {
        graft_model *m = NULL;
        check(graft_model_create(ctx.get(), (int)input_shape.size(), input_shape.data(), seed,
                                 &m));
        ptr_.reset(m);
    }
    static model load(const context &ctx, const std::string &path)
    {
        graft_model *m = NULL;
        check(graft_model_load(ctx.get(), path.c_str(), &m));
        return model(ctx, m);
    }

    model &add(const std::string &name, layer l)
    {
        check(graft_model_add(ptr_.get(), name.c_str(), l.release(), 0, NULL));
        return *this;
    }
    void save(const std::string &path) const { check(graft_model_save(ptr_.get(), path.c_str())); }

    std::string summary() const
    {
        size_t needed = 0;
        check(graft_model_summary(ptr_.get(), NULL, 0, &needed));
        std::vector<char> buf(needed + 1);
        check(graft_model_summary(ptr_.get(), buf.data(), buf.size(), NULL));
        return std::string(buf.data());
    }

    /* progress(epoch, loss, accuracy) is called at the end of every epoch;
     * returning true stops training. */
    typedef std::function<bool(int, double, double)> progress_fn;

    void fit(optimizer &opt, dataset &train, int epochs, int batch_size, progress_fn progress)
    {
        struct state {
            progress_fn *fn;
            std::exception_ptr thrown;
        } st = {&progress, std::exception_ptr()};
        graft_fit_opts opts = GRAFT_FIT_OPTS_INIT;
        opts.epochs = epochs;
        opts.batch_size = batch_size;
        opts.seed = 1;
        opts.user_data = &st;
        opts.progress = [](void *user, const graft_progress *p) -> int {
            state *s = static_cast<state *>(user);
            if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) != GRAFT_EVENT_EPOCH_END) return 0;
            try { /* never let an exception into the C library */
                return (*s->fn)((int)graft_progress_get(p, GRAFT_PROGRESS_EPOCH),
                                graft_progress_get(p, GRAFT_PROGRESS_LOSS),
                                graft_progress_get(p, GRAFT_PROGRESS_ACCURACY)) ? 1 : 0;
            } catch (...) {
                s->thrown = std::current_exception();
                return 1;
            }
        };
        int status = graft_model_fit(ptr_.get(), opt.get(), train.get(), NULL, &opts);
        if (st.thrown) std::rethrow_exception(st.thrown);
        check(status);
    }

    evaluation evaluate(dataset &data) const
    {
        graft_eval *raw = NULL;
        check(graft_model_evaluate(ptr_.get(), data.get(), 64, 1, &raw));
        owned<graft_eval, graft_eval_free> e(raw);
        evaluation r;
        r.loss = graft_eval_get(e.get(), GRAFT_EVAL_LOSS);
        r.accuracy = graft_eval_get(e.get(), GRAFT_EVAL_ACCURACY);
        for (int c = 0; c < graft_eval_class_count(e.get()); c++)
            r.recall.push_back(graft_eval_recall(e.get(), c));
        return r;
    }

    /* Class probabilities of n samples of features_per_sample values. */
    std::vector<float> predict(std::vector<float> x, int64_t n, int64_t features_per_sample)
    {
        int64_t in_dims[2] = {n, features_per_sample};
        int64_t out_dims[2] = {n, graft_model_class_count(ptr_.get())};
        std::vector<float> probs((size_t)(out_dims[0] * out_dims[1]));
        graft_tensor *in = NULL, *out = NULL;
        check(graft_tensor_create_view(ctx_.get(), 2, in_dims, x.data(), &in));
        owned<graft_tensor, graft_tensor_free> in_owned(in);
        check(graft_tensor_create_view(ctx_.get(), 2, out_dims, probs.data(), &out));
        owned<graft_tensor, graft_tensor_free> out_owned(out);
        check(graft_model_predict(ptr_.get(), in, out));
        return probs;
    }

private:
    model(const context &ctx, graft_model *m) : ctx_(ctx.share()), ptr_(m) {}
    std::shared_ptr<graft_ctx> ctx_;
    owned<graft_model, graft_model_free> ptr_;
};

} /* namespace graft */

namespace {

const int kClasses = 3;

/* n points around three centres (class c at angle 2*pi*c/3, radius 2),
 * with Gaussian noise of standard deviation 0.8, so the clusters overlap a
 * little. */
void clusters(int n, unsigned seed, std::vector<float> &x, std::vector<int32_t> &y)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> noise(0.0f, 0.8f);
    x.clear();
    y.clear();
    for (int i = 0; i < n; i++) {
        int c = i % kClasses;
        double a = 2.0 * 3.14159265358979 * c / kClasses;
        x.push_back((float)(2.0 * std::cos(a)) + noise(rng));
        x.push_back((float)(2.0 * std::sin(a)) + noise(rng));
        y.push_back(c);
    }
}

int argmax(const float *row, int n)
{
    int best = 0;
    for (int j = 1; j < n; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

} /* namespace */

int main()
{
    try {
        graft::context ctx;
        std::vector<float> xs, xt;
        std::vector<int32_t> ys, yt;
        clusters(600, 1, xs, ys);
        clusters(300, 2, xt, yt);
        graft::dataset train(ctx, xs, ys, 2, kClasses), test(ctx, xt, yt, 2, kClasses);

        graft::model m(ctx, {2}, 7);
        m.add("hidden", graft::layer::dense(ctx, 16))
            .add("relu", graft::layer::relu(ctx))
            .add("fc", graft::layer::dense(ctx, kClasses));
        std::printf("%s\n", m.summary().c_str());

        graft::optimizer adam(ctx, GRAFT_OPTIM_ADAM);
        adam.set(GRAFT_OPT_LR, 0.02);
        /* Early stopping: stop when the training loss has not improved by
         * 0.001 for 3 epochs. */
        int last_epoch = 0, stale = 0;
        double best = HUGE_VAL;
        m.fit(adam, train, 100, 32, [&](int epoch, double loss, double acc) {
            last_epoch = epoch;
            if (epoch % 5 == 0)
                std::printf("epoch %2d: loss %.4f, accuracy %.3f\n", epoch, loss, acc);
            stale = loss < best - 0.001 ? 0 : stale + 1;
            best = loss < best ? loss : best;
            return stale >= 3;
        });

        /* A throwing callback stops the fit; the exception arrives here. */
        try {
            m.fit(adam, train, 1, 32, [](int, double, double) -> bool {
                throw std::runtime_error("stop from the callback");
            });
            std::fprintf(stderr, "the callback's exception was lost\n");
            return 1;
        } catch (const std::runtime_error &e) {
            std::printf("caught from the callback: %s\n", e.what());
        }

        graft::evaluation ev = m.evaluate(test);
        m.save("cpp_raii.graft");
        graft::model loaded = graft::model::load(ctx, "cpp_raii.graft");
        std::vector<float> a = m.predict(xt, (int64_t)yt.size(), 2);
        std::vector<float> b = loaded.predict(xt, (int64_t)yt.size(), 2);
        int same = 0, correct = 0;
        for (size_t i = 0; i < yt.size(); i++) {
            bool equal = true;
            for (int c = 0; c < kClasses; c++)
                equal = equal && a[i * kClasses + c] == b[i * kClasses + c];
            same += equal;
            correct += argmax(&b[i * kClasses], kClasses) == yt[i];
        }

        /* Errors are exceptions with graft's code and message. */
        try {
            graft::model::load(ctx, "no-such-file.graft");
            return 1;
        } catch (const graft::error &e) {
            std::printf("expected failure (%d): %s\n", e.code(), e.what());
            if (e.code() != GRAFT_E_IO) return 1;
        }

        double acc = (double)correct / (double)yt.size();
        std::printf("stopped after %d epochs; held-out accuracy %.1f%% (loss %.4f, evaluate "
                    "%.1f%%); the reloaded model agrees on %d of %d samples\n",
                    last_epoch, 100 * acc, ev.loss, 100 * ev.accuracy, same, (int)yt.size());
        return acc >= 0.9 && same == (int)yt.size() && std::fabs(acc - ev.accuracy) < 1e-9 ? 0
                                                                                          : 1;
    } catch (const graft::error &e) {
        std::fprintf(stderr, "graft error %d: %s\n", e.code(), e.what());
        return 2;
    }
}
