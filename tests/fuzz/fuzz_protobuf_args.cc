// Fuzz target: request bodies in binary protobuf
// (tern/serialization/protobuf_codec.h), the default of generated stubs;
// decoded for every method of the fuzz contracts through the provider's
// handler path (see fuzz_args.h).
#include "fuzz_args.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  fuzzh::fuzz_service<fuzzsvc::Service, fuzzsvc::ServiceImpl>(1, body);
  fuzzh::fuzz_service<fuzzsvc::ProtoService, fuzzsvc::ProtoServiceImpl>(1, body);
  return 0;
}
