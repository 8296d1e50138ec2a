// The device HTTP API: firmware / software downloads (whole, ThingsBoard chunks, RFC 7233
// ranges), shared attributes and telemetry.
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "adapters/common/device_payloads.h"
#include "adapters/http/internal/ota_http_util.h"
#include "adapters/http/internal/ota_range.h"
#include "adapters/http/internal/ota_routes.h"

namespace fwota::http::internal {
namespace {

absl::StatusOr<std::string> RequiredParam(const HttpRequest& request, absl::string_view name) {
  const std::string* value = request.Query(name);
  if (value == nullptr || value->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Required request parameter '", name, "' is not present"));
  }
  return *value;
}

HttpResponse GetDevicePackage(const ApiContext& api, const RouteCall& call,
                              OtaPackageType type) {
  const HttpRequest& request = call.request;
  absl::StatusOr<std::string> title = RequiredParam(request, "title");
  if (!title.ok()) return ErrorResponse(title.status());
  absl::StatusOr<std::string> version = RequiredParam(request, "version");
  if (!version.ok()) return ErrorResponse(version.status());
  absl::StatusOr<int64_t> size = NonNegativeParam(request, "size", 0);
  if (!size.ok()) return ErrorResponse(size.status());
  absl::StatusOr<int64_t> chunk = NonNegativeParam(request, "chunk", 0);
  if (!chunk.ok()) return ErrorResponse(chunk.status());
  if (*size > api.options.max_chunk_size) {
    return ErrorResponse(absl::InvalidArgumentError(
        absl::StrCat("Requested chunk size ", *size, " exceeds the limit of ",
                     api.options.max_chunk_size, " bytes")));
  }
  absl::StatusOr<DevicePackage> found =
      api.service.OpenDevicePackage(call.params[0], type, *title, *version);
  if (!found.ok()) return ErrorResponse(found.status());
  return ServePackageBytes(request, std::move(found->data), found->package,
                           "application/octet-stream", *size, *chunk);
}

}  // namespace

HttpResponse ServePackageBytes(const HttpRequest& request, std::shared_ptr<BlobReader> reader,
                               const OtaPackage& package, absl::string_view content_type,
                               int64_t chunk_size, int64_t chunk) {
  const int64_t total = reader->size();
  const std::string etag = absl::StrCat("\"", package.sha256(), "\"");
  HttpResponse response;
  response.headers.reserve(8);
  response.SetHeader("ETag", etag);
  response.SetHeader("Accept-Ranges", "bytes");

  if (const std::string* none_match = request.Header("if-none-match")) {
    if (EntityTagListMatches(*none_match, etag, /*weak=*/true)) {
      response.status = 304;
      return response;
    }
  }

  ByteSpan span{0, total};
  response.status = 200;
  if (chunk_size > 0) {
    span = ChunkSpan(chunk_size, chunk, total);
  } else if (const std::string* range = request.Header("range")) {
    const std::string* if_range = request.Header("if-range");
    const bool honour =
        if_range == nullptr || EntityTagListMatches(*if_range, etag, /*weak=*/false);
    if (honour) {
      RangeDecision decision = EvaluateRange(*range, total);
      if (decision.kind == RangeDecision::kUnsatisfiable) {
        HttpResponse unsatisfiable = HttpError(
            416, absl::StrCat("Requested range not satisfiable: the file has ", total, " bytes"),
            adapters::TbErrorCode::kBadRequestParams);
        unsatisfiable.SetHeader("Content-Range", absl::StrCat("bytes */", total));
        unsatisfiable.SetHeader("ETag", etag);
        unsatisfiable.SetHeader("Accept-Ranges", "bytes");
        return unsatisfiable;
      }
      if (decision.kind == RangeDecision::kPartial) {
        span = decision.span;
        response.status = 206;
        response.SetHeader("Content-Range",
                           absl::StrCat("bytes ", span.offset, "-", span.offset + span.length - 1,
                                        "/", total));
      }
    }
  }

  response.SetHeader("Content-Type", std::string(content_type));
  response.SetHeader("Content-Disposition", absl::StrCat("attachment;filename=\"",
                                                         HeaderSafe(package.file_name(), true),
                                                         "\""));
  response.SetHeader("x-filename", HeaderSafe(package.file_name(), false));
  if (span.length > 0) {
    response.blob.reader = std::move(reader);
    response.blob.offset = span.offset;
    response.blob.length = span.length;
  }
  return response;
}

HttpResponse GetDeviceFirmware(const ApiContext& api, const RouteCall& call) {
  return GetDevicePackage(api, call, ::fwota::v1::FIRMWARE);
}

HttpResponse GetDeviceSoftware(const ApiContext& api, const RouteCall& call) {
  return GetDevicePackage(api, call, ::fwota::v1::SOFTWARE);
}

HttpResponse GetDeviceAttributes(const ApiContext& api, const RouteCall& call) {
  const std::string& token = call.params[0];
  const std::string* shared = call.request.Query("sharedKeys");
  const std::string* client = call.request.Query("clientKeys");
  if (shared == nullptr && client != nullptr) {
    // Only client attributes were asked for, and fwota keeps none: nothing to answer,
    // but the token still has to be a device's.
    absl::StatusOr<Device> device = api.service.AuthenticateDevice(token);
    if (!device.ok()) return ErrorResponse(device.status());
    return JsonResponse(adapters::SharedAttributesResponseJson({}));
  }
  std::vector<std::string> keys =
      shared == nullptr ? std::vector<std::string>() : adapters::ParseAttributeKeys(*shared);
  absl::StatusOr<std::vector<SharedAttribute>> attributes =
      api.service.DeviceSharedAttributes(token, keys);
  if (!attributes.ok()) return ErrorResponse(attributes.status());
  return JsonResponse(adapters::SharedAttributesResponseJson(*attributes));
}

HttpResponse PostDeviceTelemetry(const ApiContext& api, const RouteCall& call) {
  const std::string& token = call.params[0];
  absl::StatusOr<std::string> json =
      ReadSmallBody(call.body, call.request.content_length, api.options.max_json_body);
  if (!json.ok()) return ErrorResponse(json.status());
  absl::Status recorded = adapters::RecordOtaTelemetry(api.service, token, *json);
  if (!recorded.ok()) return ErrorResponse(recorded);
  HttpResponse response;
  response.status = 200;
  return response;
}

HttpResponse WaitDeviceAttributeUpdates(const ApiContext& api, const RouteCall& call) {
  const std::string& token = call.params[0];
  absl::StatusOr<int64_t> timeout = NonNegativeParam(call.request, "timeout", 0);
  if (!timeout.ok()) return ErrorResponse(timeout.status());
  if (*timeout > api.options.max_long_poll_ms) {
    return ErrorResponse(absl::InvalidArgumentError(
        absl::StrCat("timeout ", *timeout, " exceeds the limit of ",
                     api.options.max_long_poll_ms, " ms")));
  }
  absl::StatusOr<Device> device = api.service.AuthenticateDevice(token);
  if (!device.ok()) return ErrorResponse(device.status());
  const int64_t wait_ms = *timeout > 0 ? *timeout : api.options.default_long_poll_ms;
  std::optional<AttributeNotice> notice;
  if (api.options.attribute_updates != nullptr) {
    notice = api.options.attribute_updates->Wait(device->access_token(),
                                                 absl::Milliseconds(wait_ms));
  } else {
    absl::SleepFor(absl::Milliseconds(wait_ms));
  }
  if (!notice.has_value()) {
    // ThingsBoard answers an expired subscription with 408 and no body.
    HttpResponse response;
    response.status = 408;
    return response;
  }
  return JsonResponse(adapters::AttributeUpdateJson(*notice));
}

}  // namespace fwota::http::internal
