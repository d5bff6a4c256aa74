// Fuzz target: request bodies in JSON (tern/serialization/json_codec.h), the
// serialization of generic invocation and tools;
// decoded for every method of the fuzz contracts through the provider's
// handler path (see fuzz_args.h).
#include "fuzz_args.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  fuzzh::fuzz_service<fuzzsvc::Service, fuzzsvc::ServiceImpl>(2, body);
  fuzzh::fuzz_service<fuzzsvc::ProtoService, fuzzsvc::ProtoServiceImpl>(2, body);
  return 0;
}
