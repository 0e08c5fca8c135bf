// Test OpenID Connect provider for Haven's end-to-end tests.
//
// oauth2-mock-server (a third-party provider: discovery, JWKS, authorize, token, end-session)
// behind a small front that adds what tests need:
//   * the issuer pinned to http://<host>:<actual port> before anything is served;
//   * an RS256 and an ES256 signing key;
//   * control endpoints under /__control/ (token minting with any header or claim, key rotation,
//     request counters, simulated outages, claims for the next login's access token).
//
// Usage: node server.mjs [--port 0] [--host 127.0.0.1] [--client-id haven-test] [--watch-stdin]
// (or PORT / HOST / CLIENT_ID in the environment). When ready it prints ONE line of JSON to
// stdout: {"issuer": "...", "port": N}. Everything else goes to stderr. With --watch-stdin it exits
// when its stdin closes, so a test harness that dies never leaves it running.
//
// Control API (JSON in, JSON out):
//   POST /__control/token       {claims?, header?, alg?: "RS256"|"ES256", kid?, expiresIn?,
//                                signer?: "current"|"attacker", payload_raw?}
//                               -> {token, kid, alg}. Claims/header given as null are removed
//                               from the defaults. payload_raw (a string) is signed verbatim.
//   GET  /__control/attacker    -> {keys: [public JWKs of the attacker keys (not in the JWKS)]}
//   POST /__control/rotate      -> new RS256 + ES256 keys; the old ones leave the JWKS. -> {kids}
//   GET  /__control/keys        -> {keys: [current public JWKs]}
//   GET  /__control/stats       -> {jwks_requests, discovery_requests, token_requests,
//                                   authorize_requests}
//   POST /__control/stats/reset -> zeroes the counters
//   POST /__control/jwks-cache  {max_age?: N|null, etag?: bool} -> /jwks sends
//                               `Cache-Control: max-age=N` and an `ETag`, answering a matching
//                               `If-None-Match` with 304 (counted as jwks_not_modified)
//   GET  /__control/token-clients -> {clients: [{method, client_id, client_secret}]}: how each
//                               token request that got tokens authenticated, oldest first
//                               (method "client_secret_basic", "client_secret_post" or "none";
//                               basic credentials decoded per RFC 6749 §2.3.1)
//   POST /__control/fail        {jwks?: bool, discovery?: bool, token?: bool} -> those answer 503;
//                               {jwks_huge?: bool} -> /jwks answers 200 with a 2 MiB body;
//                               {jwks_delay_ms?: N} -> /jwks answers after N ms
//   POST /__control/next-claims {claims?, header?, sticky?: bool} -> merged into the access token
//                               of the next authorization_code/refresh_token grant (every one
//                               while sticky).

import { createServer } from 'node:http';
import { createHash, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { JWKStore, OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

import { privateJwk } from './keys.mjs';

function parseArgs(argv) {
  const opts = {
    port: Number(process.env.PORT ?? 0),
    host: process.env.HOST ?? '127.0.0.1',
    clientId: process.env.CLIENT_ID ?? 'haven-test',
    watchStdin: false,
  };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    const [name, inline] = arg.split('=', 2);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (name === '--port') opts.port = Number(value());
    else if (name === '--host') opts.host = value();
    else if (name === '--client-id') opts.clientId = value();
    else if (name === '--watch-stdin') opts.watchStdin = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new Error('--port must be an integer in 0..65535');
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

// ---- keys ---------------------------------------------------------------------------------

async function newStore() {
  const store = new JWKStore();
  await store.generate('RS256');
  await store.generate('ES256');
  return store;
}

let store = await newStore();
const issuer = new OAuth2Issuer();
// oauth2-mock-server's keystore cannot remove keys: shadow the issuer's `keys` getter so that
// rotation swaps the whole store (the mock's /jwks and token endpoint read it through `keys`).
Object.defineProperty(issuer, 'keys', { get: () => store, configurable: true });
const service = new OAuth2Service(issuer);

function attackerKeys() {
  return [
    { ...privateJwk('rsa', { modulusLength: 2048 }), alg: 'RS256', kid: 'attacker-rsa' },
    { ...privateJwk('ec', { namedCurve: 'P-256' }), alg: 'ES256', kid: 'attacker-ec' },
  ];
}
const attacker = attackerKeys();

function publicJwk(jwk) {
  const { d, p, q, dp, dq, qi, ...pub } = jwk;
  return pub;
}

// ---- state --------------------------------------------------------------------------------

const stats = {
  jwks_requests: 0,
  jwks_not_modified: 0,
  discovery_requests: 0,
  token_requests: 0,
  authorize_requests: 0,
};
const jwksCache = { max_age: null, etag: false };
const failing = { jwks: false, discovery: false, token: false, jwks_huge: false, jwks_delay_ms: 0 };
let nextClaims = null; // {claims, header, sticky}
const tokenClients = []; // {method, client_id, client_secret} per answered token request

// ---- signing ------------------------------------------------------------------------------

const b64url = (input) => Buffer.from(input).toString('base64url');

function merge(target, overrides) {
  for (const [k, v] of Object.entries(overrides ?? {})) {
    if (v === null) delete target[k];
    else target[k] = v;
  }
  return target;
}

function signCompact(header, payloadJson, jwk) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(payloadJson)}`;
  const key = createPrivateKey({ key: jwk, format: 'jwk' });
  const hash = { RS256: 'sha256', ES256: 'sha256' }[jwk.alg];
  if (hash === undefined) throw new Error(`unsupported signing alg ${jwk.alg}`);
  const options = jwk.kty === 'EC' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  const signature = sign(hash, Buffer.from(input), options);
  return `${input}.${signature.toString('base64url')}`;
}

function mintToken(body) {
  const alg = body.alg ?? 'RS256';
  const keys = body.signer === 'attacker' ? attacker : store.toJSON(true);
  const jwk = keys.find((k) => k.alg === alg);
  if (jwk === undefined) throw new Error(`no ${alg} key`);
  const now = Math.floor(Date.now() / 1000);
  const payload = merge(
    { iss: issuer.url, sub: 'test-user', aud: opts.clientId, iat: now, exp: now + (body.expiresIn ?? 300) },
    body.claims,
  );
  const header = merge({ alg, typ: 'JWT', kid: body.kid ?? jwk.kid }, body.header);
  const payloadJson = typeof body.payload_raw === 'string' ? body.payload_raw : JSON.stringify(payload);
  return { token: signCompact(header, payloadJson, jwk), kid: jwk.kid, alg };
}

// Login flow: the first token built for a token request is the access token, the second the ID
// token (oauth2-mock-server builds them in that order and gives the ID token aud and nonce).
const tokensPerRequest = new WeakMap();
service.on('beforeTokenSigning', (token, req) => {
  const n = tokensPerRequest.get(req) ?? 0;
  tokensPerRequest.set(req, n + 1);
  if (n !== 0) return;
  token.header.typ = 'at+jwt';
  token.payload.aud = opts.clientId;
  token.payload.client_id = opts.clientId;
  token.payload.jti = randomUUID();
  if (nextClaims !== null) {
    merge(token.payload, nextClaims.claims);
    merge(token.header, nextClaims.header);
    if (!nextClaims.sticky) nextClaims = null;
  }
});

// Records how the client authenticated (the mock itself accepts any secret), so a test can see
// which client secret the service sent. Fires only for token requests answered with tokens.
function formDecode(text) {
  return decodeURIComponent(text.replace(/\+/g, ' '));
}

service.on('beforeResponse', (_response, req) => {
  const header = req.headers.authorization ?? '';
  const match = /^Basic\s+(\S+)$/i.exec(header);
  if (match !== null) {
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    tokenClients.push({
      method: 'client_secret_basic',
      client_id: formDecode(colon < 0 ? decoded : decoded.slice(0, colon)),
      client_secret: colon < 0 ? null : formDecode(decoded.slice(colon + 1)),
    });
    return;
  }
  const body = req.body ?? {};
  tokenClients.push({
    method: typeof body.client_secret === 'string' ? 'client_secret_post' : 'none',
    client_id: body.client_id ?? null,
    client_secret: body.client_secret ?? null,
  });
});

// ---- HTTP ---------------------------------------------------------------------------------

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new Error('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.length === 0 ? {} : JSON.parse(text);
}

async function control(req, res, path) {
  const route = `${req.method} ${path}`;
  switch (route) {
    case 'POST /__control/token':
      return sendJson(res, 200, mintToken(await readJson(req)));
    case 'GET /__control/attacker':
      return sendJson(res, 200, { keys: attacker.map(publicJwk) });
    case 'POST /__control/rotate': {
      store = await newStore();
      return sendJson(res, 200, { kids: store.toJSON().map((k) => k.kid) });
    }
    case 'GET /__control/keys':
      return sendJson(res, 200, { keys: store.toJSON() });
    case 'GET /__control/stats':
      return sendJson(res, 200, stats);
    case 'GET /__control/token-clients':
      return sendJson(res, 200, { clients: tokenClients });
    case 'POST /__control/jwks-cache': {
      const body = await readJson(req);
      jwksCache.max_age = Number.isInteger(body.max_age) ? body.max_age : null;
      jwksCache.etag = Boolean(body.etag);
      return sendJson(res, 200, jwksCache);
    }
    case 'POST /__control/stats/reset':
      for (const k of Object.keys(stats)) stats[k] = 0;
      return sendJson(res, 200, stats);
    case 'POST /__control/fail': {
      const body = await readJson(req);
      for (const k of Object.keys(failing)) {
        if (k in body) failing[k] = k === 'jwks_delay_ms' ? Number(body[k]) || 0 : Boolean(body[k]);
      }
      return sendJson(res, 200, failing);
    }
    case 'POST /__control/next-claims': {
      const body = await readJson(req);
      nextClaims = { claims: body.claims ?? {}, header: body.header ?? {}, sticky: Boolean(body.sticky) };
      return sendJson(res, 200, { ok: true });
    }
    default:
      return sendJson(res, 404, { error: 'unknown control endpoint' });
  }
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://placeholder').pathname;
  if (path.startsWith('/__control/')) {
    control(req, res, path).catch((err) => sendJson(res, 400, { error: String(err?.message ?? err) }));
    return;
  }
  const counted = {
    '/jwks': ['jwks_requests', 'jwks'],
    '/.well-known/openid-configuration': ['discovery_requests', 'discovery'],
    '/token': ['token_requests', 'token'],
    '/authorize': ['authorize_requests', null],
  }[path];
  if (counted !== undefined) {
    stats[counted[0]] += 1;
    if (counted[1] !== null && failing[counted[1]]) {
      sendJson(res, 503, { error: 'temporarily_unavailable' });
      return;
    }
  }
  if (path === '/jwks' && failing.jwks_huge) {
    // Chunked, without content-length: the client must cap while streaming.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(`{"keys":${JSON.stringify(store.toJSON())},"pad":"`);
    const chunk = 'x'.repeat(64 * 1024);
    for (let i = 0; i < 32; i += 1) res.write(chunk);
    res.end('"}');
    return;
  }
  if (path === '/jwks' && (jwksCache.etag || jwksCache.max_age !== null)) {
    const body = JSON.stringify({ keys: store.toJSON() });
    const headers = { 'content-type': 'application/json' };
    if (jwksCache.max_age !== null) headers['cache-control'] = `public, max-age=${jwksCache.max_age}`;
    if (jwksCache.etag) {
      headers.etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
      if (req.headers['if-none-match'] === headers.etag) {
        stats.jwks_not_modified += 1;
        res.writeHead(304, headers);
        res.end();
        return;
      }
    }
    res.writeHead(200, headers);
    res.end(body);
    return;
  }
  if (path === '/jwks' && failing.jwks_delay_ms > 0) {
    setTimeout(() => service.requestHandler(req, res), failing.jwks_delay_ms);
    return;
  }
  service.requestHandler(req, res);
});

server.on('error', (err) => {
  process.stderr.write(`test OIDC provider: ${err.message}\n`);
  process.exit(1);
});

server.listen(opts.port, opts.host, () => {
  const { port } = server.address();
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  issuer.url = `http://${host}:${port}`;
  process.stdout.write(`${JSON.stringify({ issuer: issuer.url, port })}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
if (opts.watchStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
