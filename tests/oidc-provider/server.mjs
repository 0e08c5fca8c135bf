// A certified OpenID provider (panva oidc-provider) for Haven's end-to-end login tests.
//
// What it does as a real IdP would: authorization code + PKCE with a login and a consent page
// (oidc-provider's development interactions: any login name and password are accepted),
// confidential client authentication, RFC 8707 resource indicators issuing JWT access tokens
// (`typ: at+jwt`, `aud` = the resource), refresh tokens for `offline_access`, RP-initiated
// logout. The account id typed into the login form is the subject; the access token carries
// the `tenant_id` and `roles` given on the command line.
//
// Usage: node server.mjs --port 0 --client-id ID --client-secret SECRET
//          --redirect-uri URI [--redirect-uri URI2] --resource URI --tenant T --roles "a b"
//          [--refresh-ttl SECONDS] [--watch-stdin]
// A second client, `other-client`, is registered with the same redirect URIs.
// Prints one JSON line when ready: {"issuer": "http://127.0.0.1:PORT", "port": PORT}.

import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

import { privateJwk } from '../oidc/keys.mjs';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    resource: { type: 'string' },
    tenant: { type: 'string', default: 'org-1' },
    roles: { type: 'string', default: 'admin' },
    'refresh-ttl': { type: 'string', default: '3600' },
    'watch-stdin': { type: 'boolean', default: false },
  },
});

const signingKey = {
  ...privateJwk('rsa', { modulusLength: 2048 }),
  kid: 'op-rs256',
  alg: 'RS256',
  use: 'sig',
};

function configuration() {
  return {
    clients: [{
      client_id: args['client-id'],
      client_secret: args['client-secret'],
      redirect_uris: args['redirect-uri'],
      post_logout_redirect_uris: args['redirect-uri'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }, {
      // Another application at the same provider: its refresh tokens must not work for Haven.
      client_id: 'other-client',
      client_secret: 'other-client-secret-0123456789abcdef',
      redirect_uris: args['redirect-uri'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      rpInitiatedLogout: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => {
          if (resourceIndicator !== args.resource) {
            throw new Error(`unknown resource ${resourceIndicator}`);
          }
          return {
            scope: 'api',
            audience: resourceIndicator,
            accessTokenTTL: 600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (ctx, token) => (token.kind === 'AccessToken'
      ? { tenant_id: args.tenant, roles: args.roles.split(' ') }
      : undefined),
    findAccount: (ctx, id) => ({
      accountId: id,
      claims: () => ({ sub: id, name: id, email: `${id}@example.test` }),
    }),
    ttl: {
      AccessToken: 600,
      IdToken: 600,
      RefreshToken: Number(args['refresh-ttl']),
      Grant: 3600,
      Session: 3600,
    },
    // Plain http on loopback: cookies must not demand https.
    cookies: { keys: ['haven-test-cookie-key'], long: { secure: false }, short: { secure: false } },
  };
}

// The issuer must name the real port, which is known only once listening: listen first, then
// hand the provider's request handler to that same server, so that the port is never free for
// another process in between (as it was when a throwaway server was closed and the port bound
// again).
let handle = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handle(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(args.port), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, configuration());
provider.on('server_error', (ctx, error) => { console.error('server_error', error); });
handle = provider.callback();
process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);

if (args['watch-stdin']) {
  // The test harness holds stdin open: when it dies, so does the provider.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}
