// Reference OpenID provider (panva/node-oidc-provider) for lanyard-conformance and the load bench.
//
// It exists to show the runner is provider-independent: the same binary that certifies Lanyard is
// pointed at a well-known third-party OP. Everything is in memory; restart to reset.
//
// Environment:
//   PORT      listen port (default 3000)
//   ISSUER    issuer URL (default http://127.0.0.1:$PORT)
//   TLS_CERT, TLS_KEY  PEM files: serve https instead of http (ISSUER then defaults to https://)
//   RP_BASE   base URL of the runner's listener, used for the registered redirect and logout URIs
//             (default http://127.0.0.1:8765, i.e. run the runner with --listen 127.0.0.1:8765)
//   BENCH_ES256=1  also publish a P-256 key and have the `bench` client's ID tokens signed with
//             ES256, as Lanyard's are in bench-compare.sh (the conformance clients keep RS256)
//
// Clients (secrets are fixed, this is a local test fixture):
//   conformance-1 / conformance-1-secret  client_secret_basic, code + refresh, back-channel logout
//   conformance-2 / conformance-2-secret  client_secret_post,  code + refresh
//   bench         / bench-secret          client_secret_basic, client_credentials + code + refresh
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT ?? 3000);
const TLS = process.env.TLS_CERT && process.env.TLS_KEY
  ? { cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }
  : undefined;
const ISSUER = process.env.ISSUER ?? `${TLS ? 'https' : 'http'}://127.0.0.1:${PORT}`;
const RP_BASE = (process.env.RP_BASE ?? 'http://127.0.0.1:8765').replace(/\/$/, '');

const uris = {
  redirect_uris: [`${RP_BASE}/callback`],
  post_logout_redirect_uris: [`${RP_BASE}/post-logout`],
};

const clients = [
  {
    client_id: 'conformance-1',
    client_secret: 'conformance-1-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...uris,
    backchannel_logout_uri: `${RP_BASE}/backchannel-logout`,
    backchannel_logout_session_required: true,
  },
  {
    client_id: 'conformance-2',
    client_secret: 'conformance-2-secret',
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...uris,
  },
  {
    client_id: 'bench',
    client_secret: 'bench-secret',
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...(process.env.BENCH_ES256 ? { id_token_signed_response_alg: 'ES256' } : {}),
    ...uris,
  },
];

// BENCH_PUBLIC_CLIENT=1 adds a public client (auth method none, PKCE) for
// `lanyard-load --public-client-id bench-public`; off by default so the conformance fixture is unchanged.
if (process.env.BENCH_PUBLIC_CLIENT) {
  clients.push({
    client_id: 'bench-public',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...uris,
  });
}

// One RS256 signing key per process; dev keys would work too but log a warning on every start.
const signingKey = {
  ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'RS256',
  use: 'sig',
};

// Any login is accepted by devInteractions; every account carries the standard claims so the
// scope modules (profile/email/address/phone) have something to return.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        name: `Test User ${id}`,
        given_name: 'Test',
        family_name: 'User',
        preferred_username: id,
        updated_at: 1700000000,
        email: `${id}@example.test`,
        email_verified: true,
        address: { country: 'NZ', locality: 'Wellington' },
        phone_number: '+64 4 000 0000',
        phone_number_verified: false,
      };
    },
  };
}

const ecKey = {
  ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }),
  kid: randomUUID(),
  alg: 'ES256',
  use: 'sig',
};

const configuration = {
  clients,
  // RS256 first: it stays the default for every client that names no algorithm.
  jwks: { keys: process.env.BENCH_ES256 ? [signingKey, ecKey] : [signingKey] },
  cookies: { keys: ['lanyard-conformance-fixture-cookie-key'] },
  findAccount,
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'updated_at'],
    email: ['email', 'email_verified'],
    address: ['address'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
    backchannelLogout: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    requestObjects: { enabled: true, requireSignedRequestObject: false },
  },
  // A refresh token for every code flow of a client allowed the refresh_token grant (the default
  // needs scope offline_access), and rotation on every use so reuse detection can be exercised.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  // oidc-provider refuses outgoing requests to special-use addresses (SSRF protection), which
  // includes loopback; this fixture's RP listener is on 127.0.0.1, so the guard is dropped here.
  fetch: (url, options) => {
    const { dispatcher: _ssrfGuard, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 60,
    ClientCredentials: 600,
    IdToken: 3600,
    Interaction: 3600,
    RefreshToken: 24 * 3600,
    Session: 24 * 3600,
    Grant: 24 * 3600,
  },
};

const provider = new Provider(ISSUER, configuration);

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('backchannel.error', (client, err) => {
  console.error(`backchannel logout to ${client.clientId} failed: ${err.message}`);
});

const ready = () => {
  console.log(`oidc-provider listening on ${ISSUER} (RP_BASE ${RP_BASE})`);
  console.log(`discovery: ${ISSUER}/.well-known/openid-configuration`);
};
if (TLS) {
  createServer(TLS, provider.callback()).listen(PORT, '127.0.0.1', ready);
} else {
  provider.listen(PORT, '127.0.0.1', ready);
}
