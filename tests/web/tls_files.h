// A self-signed certificate and its key (P-256), written as PEM files in a
// directory of their own, for TLS tests. Made with OpenSSL's libcrypto.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace chorus::web::testing {

class TlsFiles {
 public:
  TlsFiles() {
    char tmpl[] = "/tmp/chorus-tls-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir_ = tmpl;
    cert = dir_ + "/cert.pem";
    key = dir_ + "/key.pem";
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    X509* x = X509_new();
    bool ok = pkey && x;
    if (ok) {
      ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
      X509_gmtime_adj(X509_getm_notBefore(x), -60);
      X509_gmtime_adj(X509_getm_notAfter(x), 3600);
      X509_set_pubkey(x, pkey);
      X509_NAME* n = X509_get_subject_name(x);
      X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
      X509_set_issuer_name(x, n);
      ok = X509_sign(x, pkey, EVP_sha256()) > 0;
    }
    if (ok)
      ok = write(cert, [&](FILE* f) { return PEM_write_X509(f, x) == 1; }) &&
           write(key, [&](FILE* f) {
             return PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
           });
    X509_free(x);
    EVP_PKEY_free(pkey);
    valid = ok;
  }
  ~TlsFiles() {
    if (dir_.empty()) return;
    std::remove(cert.c_str());
    std::remove(key.c_str());
    std::remove(dir_.c_str());
  }
  TlsFiles(const TlsFiles&) = delete;
  TlsFiles& operator=(const TlsFiles&) = delete;

  bool valid = false;
  std::string cert, key;

 private:
  template <typename F>
  static bool write(const std::string& path, F body) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    const bool ok = body(f);
    return std::fclose(f) == 0 && ok;
  }
  std::string dir_;
};

}  // namespace chorus::web::testing
