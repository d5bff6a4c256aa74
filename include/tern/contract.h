// tern/contract.h - the contract check between consumer and provider: each
// method's argument and result types, as a short signature and a digest.
//
// The provider announces, in every registry URL it exposes, the contract of
// each typed method (from the same description tern/reflection.h renders):
//
//   tern://10.0.0.5:20880/Calculator?contract=add(int32,int32)->int32@5a0c3e91;midpoint(geo::Point,geo::Point)->geo::Point@0d2f...
//
// A consumer made with Client::refer<I>() knows its own contract from the
// interface I and compares it with every provider's, at refer() and on every
// provider-list push (ReferenceOptions::contract_check):
//   "warn" (default): a mismatch logs one warning per provider and method,
//       naming the method and both signatures; the provider stays in use;
//   "strict": a provider whose contract differs for any method the consumer
//       declares is left out of the directory (logged as an error); refer()
//       fails with FAILED_PRECONDITION when a provider known at refer() time
//       differs; calls while every provider is left out fail with
//       FAILED_PRECONDITION naming the mismatch;
//   "off": no check.
// Method names stay the identity of a call; the contract only checks.
// Methods only one side has, methods registered by hand (no types) and
// providers that announce no contract (older versions, other frameworks) are
// not checked.
//
// Signature grammar (the short form shown to people):
//   method "(" arg ("," arg)* ")" "->" result
//   scalar names as reflection's ("int32", "double", "string", "bytes", "void");
//   "[T]" array, "{K:V}" map, "T?" optional, "(T,U)" tuple; a struct, enum or
//   protobuf message by its name; a type reflection cannot describe as "?".
// The digest (8 hex digits, 32 bits of FNV-1a 64) covers the signature plus
// the definition of every named type it reaches (struct field names, types
// and order; protobuf field names, numbers and types; enum values), so a
// changed struct field is a mismatch even when the signature reads the same.
// C++ types reflection cannot describe ("unknown") are not compared.
//
// Thread safety: pure functions of their arguments; call from any thread.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tern {

// The URL parameter that carries a provider's contract.
inline constexpr std::string_view kContractUrlParam = "contract";

// One method's contract.
struct MethodContract {
  std::string method;     // "add"
  std::string signature;  // "add(int32,int32)->int32"
  std::string digest;     // 8 lower-case hex digits
  friend bool operator==(const MethodContract&, const MethodContract&) = default;
};

// The contracts of a service description ({"methods":[...],"types":{...}},
// tern/reflection.h), in its method order. Methods without types (args null)
// are left out; so is anything malformed (a description is never an error).
std::vector<MethodContract> method_contracts(const nlohmann::json& description);

// The URL parameter value: "sig@digest" entries joined by ';'. Empty for no
// methods.
std::string encode_contracts(const std::vector<MethodContract>& methods);

// Parses a URL parameter value; malformed entries are skipped (a provider's
// URL never makes a consumer fail).
std::vector<MethodContract> decode_contracts(std::string_view param);

// A method whose contract differs between the consumer and a provider.
struct ContractMismatch {
  std::string method;
  std::string consumer_signature;
  std::string provider_signature;
  // "add: consumer add(int32,int32)->int32, provider add(int32,int32)->double"
  // (and "(same signature, a type's definition differs)" when the
  // signatures read the same but the digests do not).
  std::string message() const;
};

// The methods both sides declare whose digests differ, in the consumer's order.
std::vector<ContractMismatch> compare_contracts(const std::vector<MethodContract>& consumer,
                              const std::vector<MethodContract>& provider);

}  // namespace tern
