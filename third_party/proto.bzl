"""Protocol Buffers without rules_proto: the system protoc as a genrule."""

def fwota_cc_proto(name, src, deps = [], visibility = None):
    """A cc_library over `protoc --cpp_out` of one .proto file.

    The generated header is included as "<package path>/<base>.pb.h", e.g.
    "proto/fwota/v1/fwota.pb.h" is reachable as "fwota/v1/fwota.pb.h".
    """
    base = src[:-len(".proto")]
    native.genrule(
        name = name + "_gen",
        srcs = [src],
        outs = [base + ".pb.h", base + ".pb.cc"],
        cmd = ("protoc --proto_path=proto --cpp_out=$(GENDIR)/proto " +
               "$(location " + src + ")"),
    )
    native.cc_library(
        name = name,
        srcs = [base + ".pb.cc"],
        hdrs = [base + ".pb.h"],
        strip_include_prefix = "/proto",
        deps = deps + ["@system//:protobuf"],
        visibility = visibility,
    )
