// Signing keys for the test providers (tests/oidc/server.mjs, tests/oidc-provider/server.mjs).

import { createPrivateKey, generateKeyPairSync } from 'node:crypto';

// A new private key of `type` as a JWK. Node 20 can deadlock exporting a JWK from a key that
// generateKeyPairSync returned, when the garbage collector frees the key-generation job at that
// moment (seen here: a provider hung before its ready line, waiting on the key's mutex). A key
// re-imported from PEM has no such job.
export function privateJwk(type, options) {
  const { privateKey } = generateKeyPairSync(type, {
    ...options,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return createPrivateKey(privateKey).export({ format: 'jwk' });
}
