// The command-line flags of fwota (defined in flags.cc). Every flag may appear anywhere
// on the line, before or after the command words.
#ifndef FWOTA_TOOLS_FWOTA_FLAGS_H_
#define FWOTA_TOOLS_FWOTA_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"

// Global.
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, tenant);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(int64_t, max_package_size);

// Remote mode: fwotad's REST API instead of a data directory.
ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, api_key);
ABSL_DECLARE_FLAG(std::string, api_key_file);
ABSL_DECLARE_FLAG(bool, insecure);
ABSL_DECLARE_FLAG(int32_t, timeout);

// Entity fields.
ABSL_DECLARE_FLAG(std::string, name);
ABSL_DECLARE_FLAG(std::string, description);
ABSL_DECLARE_FLAG(std::string, profile);
ABSL_DECLARE_FLAG(std::string, device);
ABSL_DECLARE_FLAG(std::string, package);
ABSL_DECLARE_FLAG(std::string, token);
ABSL_DECLARE_FLAG(std::string, title);
ABSL_DECLARE_FLAG(std::string, version);
ABSL_DECLARE_FLAG(std::string, type);
ABSL_DECLARE_FLAG(std::string, tag);
ABSL_DECLARE_FLAG(std::string, url);

// Package data.
ABSL_DECLARE_FLAG(std::string, file);
ABSL_DECLARE_FLAG(std::string, file_name);
ABSL_DECLARE_FLAG(std::string, content_type);
ABSL_DECLARE_FLAG(std::string, checksum_algorithm);
ABSL_DECLARE_FLAG(std::string, checksum);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::vector<std::string>, algorithm);

// Listing.
ABSL_DECLARE_FLAG(std::string, search);
ABSL_DECLARE_FLAG(std::string, state);
ABSL_DECLARE_FLAG(int32_t, page_size);
ABSL_DECLARE_FLAG(int32_t, page);
ABSL_DECLARE_FLAG(std::string, sort);
ABSL_DECLARE_FLAG(std::string, order);

#endif  // FWOTA_TOOLS_FWOTA_FLAGS_H_
