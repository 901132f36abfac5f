// gbench.cc - the C interface of gbench.h over google-benchmark's C++ API.
//
// Registration goes through benchmark::RegisterBenchmark with a lambda that
// calls the C function.  Results are collected by a reporter that derives
// from the reporter google-benchmark would have chosen for
// --benchmark_format, records every run, and prints as usual: the output is
// byte for byte what google-benchmark prints on its own.

#include "gbench.h"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

// gbench_state_t and gbench_bench_t stay incomplete: a C handle is the
// benchmark::State or Benchmark itself, no allocation, no copy.
benchmark::State &S(gbench_state_t *st) { return *reinterpret_cast<benchmark::State *>(st); }
const benchmark::State &S(const gbench_state_t *st)
{
    return *reinterpret_cast<const benchmark::State *>(st);
}
benchmark::internal::Benchmark *B(gbench_bench_t *b)
{
    return reinterpret_cast<benchmark::internal::Benchmark *>(b);
}

// Real time per iteration of each repetition, in the order they ran, by
// registered name (the benchmark family name, without the "/threads:2" or
// "/real_time" suffixes google-benchmark appends).
std::map<std::string, std::vector<double>> results;
gbench_format_t format = GBENCH_FORMAT_CONSOLE;
bool color = false;
bool tabular = false;

template <class Base>
class Collecting : public Base {
public:
    using Base::Base;
    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run> &runs) override
    {
        for (const auto &r : runs) {
            if (r.run_type != benchmark::BenchmarkReporter::Run::RT_Iteration ||
                r.error_occurred || r.iterations == 0)
                continue;
            results[r.run_name.function_name].push_back(r.real_accumulated_time * 1e9 /
                                                        static_cast<double>(r.iterations));
        }
        Base::ReportRuns(runs);
    }
};

// google-benchmark's flags are parsed by Initialize, which does not expose
// the chosen format; read the few that choose the reporter beforehand.
const char *flag_value(const char *arg, const char *name)
{
    size_t n = std::strlen(name);
    if (std::strncmp(arg, name, n) != 0)
        return nullptr;
    if (arg[n] == '\0')
        return "true";
    return arg[n] == '=' ? arg + n + 1 : nullptr;
}

bool truthy(const char *v)
{
    return !std::strcmp(v, "true") || !std::strcmp(v, "yes") || !std::strcmp(v, "1") ||
           !std::strcmp(v, "on");
}

void read_output_flags(int argc, char **argv)
{
    const char *color_flag = "auto";
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = flag_value(argv[i], "--benchmark_format"))) {
            format = !std::strcmp(v, "json")  ? GBENCH_FORMAT_JSON
                     : !std::strcmp(v, "csv") ? GBENCH_FORMAT_CSV
                                              : GBENCH_FORMAT_CONSOLE;
        } else if ((v = flag_value(argv[i], "--benchmark_color"))) {
            color_flag = v;
        } else if ((v = flag_value(argv[i], "--benchmark_counters_tabular"))) {
            tabular = truthy(v);
        }
    }
    if (!std::strcmp(color_flag, "auto")) {
        const char *term = std::getenv("TERM");
        color = isatty(STDOUT_FILENO) && term && std::strcmp(term, "dumb") != 0;
    } else {
        color = truthy(color_flag);
    }
}

} // namespace

extern "C" {

int gbench_initialize(int *argc, char **argv)
{
    read_output_flags(*argc, argv);
    benchmark::Initialize(argc, argv);
    return benchmark::ReportUnrecognizedArguments(*argc, argv) ? -1 : 0;
}

gbench_bench_t *gbench_register(const char *name, gbench_fn_t fn, void *arg)
{
    auto *b = benchmark::RegisterBenchmark(name, [fn, arg](benchmark::State &st) {
        fn(reinterpret_cast<gbench_state_t *>(&st), arg);
    });
    return reinterpret_cast<gbench_bench_t *>(b);
}

void gbench_set_threads(gbench_bench_t *b, int n) { B(b)->Threads(n); }

void gbench_use_real_time(gbench_bench_t *b) { B(b)->UseRealTime(); }

void gbench_set_iterations(gbench_bench_t *b, int64_t n)
{
    B(b)->Iterations(static_cast<benchmark::IterationCount>(n));
}

size_t gbench_run(void)
{
    results.clear();
    switch (format) {
    case GBENCH_FORMAT_JSON: {
        Collecting<benchmark::JSONReporter> r;
        return benchmark::RunSpecifiedBenchmarks(&r);
    }
    case GBENCH_FORMAT_CSV: {
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#endif
        Collecting<benchmark::CSVReporter> r;
        return benchmark::RunSpecifiedBenchmarks(&r);
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
    }
    default: {
        int opts = (color ? benchmark::ConsoleReporter::OO_Color : 0) |
                   (tabular ? benchmark::ConsoleReporter::OO_Tabular : 0);
        Collecting<benchmark::ConsoleReporter> r(
            static_cast<benchmark::ConsoleReporter::OutputOptions>(opts));
        return benchmark::RunSpecifiedBenchmarks(&r);
    }
    }
}

gbench_format_t gbench_format(void) { return format; }

size_t gbench_result_runs(const char *name, double *ns, size_t max)
{
    auto it = results.find(name);
    if (it == results.end())
        return 0;
    const std::vector<double> &runs = it->second;
    for (size_t i = 0; i < runs.size() && i < max; i++)
        ns[i] = runs[i];
    return runs.size();
}

void gbench_shutdown(void) { benchmark::Shutdown(); }

int gbench_keep_running(gbench_state_t *st) { return S(st).KeepRunning(); }

int gbench_keep_running_batch(gbench_state_t *st, int64_t n)
{
    return S(st).KeepRunningBatch(static_cast<benchmark::IterationCount>(n));
}

void gbench_pause_timing(gbench_state_t *st) { S(st).PauseTiming(); }

void gbench_resume_timing(gbench_state_t *st) { S(st).ResumeTiming(); }

void gbench_set_counter(gbench_state_t *st, const char *name, double value,
                        gbench_counter_t flags)
{
    benchmark::Counter::Flags f = benchmark::Counter::kDefaults;
    if (flags & GBENCH_COUNTER_RATE)
        f = f | benchmark::Counter::kIsRate;
    if (flags & GBENCH_COUNTER_AVG_ITERATIONS)
        f = f | benchmark::Counter::kAvgIterations;
    S(st).counters[name] = benchmark::Counter(value, f);
}

void gbench_set_items_processed(gbench_state_t *st, int64_t items)
{
    S(st).SetItemsProcessed(items);
}

int gbench_thread_index(const gbench_state_t *st) { return S(st).thread_index(); }

int gbench_threads(const gbench_state_t *st) { return S(st).threads(); }

int64_t gbench_iterations(const gbench_state_t *st)
{
    return static_cast<int64_t>(S(st).iterations());
}

void gbench_skip_with_error(gbench_state_t *st, const char *message)
{
    S(st).SkipWithError(message);
}

} // extern "C"
