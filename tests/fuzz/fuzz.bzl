"""fwota_fuzz_test: one libFuzzer target that is also an ordinary test.

In a normal build (gcc, with or without --config=asan) the target links
standalone_main.cc and the test runs every input of its seed corpus once: a regression
test of the corpus. Under --config=fuzz (clang, -fsanitize=fuzzer) it links libFuzzer
instead; the test still runs the corpus once ("-runs=0"), and tests/fuzz/run_fuzzers.sh
runs the same binary as a fuzzer for a bounded time.
"""

load("@rules_cc//cc:defs.bzl", "cc_test")

def fwota_fuzz_test(name, srcs, deps = [], **kwargs):
    corpus = "corpus/" + name
    cc_test(
        name = name,
        srcs = srcs,
        args = ["-runs=0", native.package_name() + "/" + corpus],
        data = native.glob([corpus + "/**"]),
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:standalone_main"],
        }),
        tags = ["fuzz_target"],
        **kwargs
    )
