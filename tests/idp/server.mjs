// A real OpenID provider (panva/oidc-provider, OpenID Certified) for the test suite and the compose stack.
//
//   node server.mjs [--config FILE] [--issuer URL] [--audience AUD] [--jwks-file FILE] ...   serve
//   node server.mjs keygen --out FILE [--alg RS256 --alg ES256 ...]                          write a private JWKS
//
// Every serve option comes, in this order of precedence, from the command line, from the environment (IDP_ plus
// the option's name in upper case with underscores: --jwks-file -> IDP_JWKS_FILE) or from the JSON file named by
// --config / IDP_CONFIG (keys with underscores: "jwks_file"). `node server.mjs --help` lists them.
//
// What it serves:
// - issuer = --issuer (http://127.0.0.1:PORT in the tests), listening on --host:--port (the port defaults to the
//   issuer's); discovery at /.well-known/openid-configuration, the public keys at /jwks;
// - the keys of --jwks-file (a private JWKS): a test restarts the provider on the same port with another file to
//   rotate keys; with --generate-keys a missing file is created first (the compose service keeps it in a volume);
// - a public client (--public-client-id, redirect URIs --redirect-uri, repeatable or comma-separated) for the
//   authorization code flow with PKCE S256 (required for public clients), the buyer page's flow;
// - a confidential client (--confidential-client-id / --confidential-client-secret) for client_credentials, only
//   when a secret is given;
// - access tokens as JWTs (typ at+jwt, RFC 9068) whose aud is --audience, through Resource Indicators (RFC 8707):
//   the resource indicator --resource (default: the audience when it is an absolute URI) is every client's
//   default resource, so a client need not send `resource`;
// - devInteractions: the library's own login and consent pages; any login name is accepted and becomes the
//   account id, i.e. `sub`;
// - accounts from --accounts-file (read again whenever the file changes), see `claimsOf` below.
//
// Test-only knobs (--allow-token-overrides, off by default and in compose): a token request may carry
// `flashsale_ttl_s` (1-86400) and `flashsale_alg` (one of the key set's algorithms) to shape that one token.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const SIGNING_ALGS = ['RS256', 'PS256', 'ES256', 'EdDSA'];

const OPTIONS = {
  config: { type: 'string', help: 'JSON file with any of the options below (underscores: jwks_file)' },
  issuer: { type: 'string', help: 'issuer URL, e.g. http://127.0.0.1:9000 (required)' },
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  port: { type: 'string', help: "port to listen on (default: the issuer URL's port)" },
  audience: { type: 'string', help: 'aud of every access token (required)' },
  resource: { type: 'string', help: 'resource indicator of the API (default: the audience if it is an absolute URI, else urn:flashsale:api)' },
  'jwks-file': { type: 'string', help: 'private JWKS (required); `keygen` writes one' },
  'generate-keys': { type: 'boolean', default: false, help: 'create --jwks-file (RS256, PS256, ES256, EdDSA keys) when it does not exist' },
  'accounts-file': { type: 'string', help: 'JSON {"defaults": {claims}, "accounts": {"alice": {claims}}}; optional' },
  'public-client-id': { type: 'string', default: 'flashsale-buyer', help: 'client_id of the public (PKCE) client' },
  'redirect-uri': { type: 'string', multiple: true, help: 'redirect URI of the public client (repeatable, or comma-separated)' },
  'confidential-client-id': { type: 'string', default: 'flashsale-service', help: 'client_id of the client_credentials client' },
  'confidential-client-secret': { type: 'string', help: 'its secret; no secret, no confidential client' },
  'access-token-ttl-s': { type: 'string', default: '900', help: 'lifetime of an access token in seconds' },
  'access-token-alg': { type: 'string', default: 'RS256', help: `algorithm of access and ID tokens (${SIGNING_ALGS.join(', ')})` },
  'allow-token-overrides': { type: 'boolean', default: false, help: 'TESTS ONLY: honour flashsale_ttl_s / flashsale_alg in token requests' },
  help: { type: 'boolean', default: false, help: 'print this help' },
};

// Claims of an account the accounts file does not name, or does not fully describe. `created_at` is the
// account's creation instant as a NumericDate (seconds, like iat, exp and OIDC's updated_at): there is no standard
// claim for an account's age, so eligibility rules name this custom one.
const DEFAULT_CLAIMS = {
  email_verified: true,
  phone_number_verified: false,
  groups: [],
  created_at: 1735689600, // 2025-01-01T00:00:00Z
};

function fail(message) {
  console.error(`idp: ${message}`);
  process.exit(2);
}

function settingsFrom(argv) {
  const parseOptions = Object.fromEntries(
    Object.entries(OPTIONS).map(([name, { type, multiple }]) => [name, multiple ? { type, multiple } : { type }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: parseOptions, strict: true, allowPositionals: false }).values;
  } catch (error) {
    fail(error.message);
  }
  const configFile = parsed.config ?? process.env.IDP_CONFIG;
  let fileValues = {};
  if (configFile) {
    try {
      fileValues = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    } catch (error) {
      fail(`cannot read --config ${configFile}: ${error.message}`);
    }
  }
  const settings = {};
  for (const [name, option] of Object.entries(OPTIONS)) {
    if (name === 'config') continue;
    const envName = `IDP_${name.toUpperCase().replaceAll('-', '_')}`;
    const fileName = name.replaceAll('-', '_');
    let value = parsed[name];
    if (value === undefined) {
      if (process.env[envName] !== undefined && process.env[envName] !== '') {
        value = option.type === 'boolean' ? ['1', 'true', 'yes'].includes(process.env[envName].toLowerCase()) : process.env[envName];
      } else if (fileValues[fileName] !== undefined) {
        value = fileValues[fileName];
      } else {
        value = option.default;
      }
    }
    if (option.multiple && value !== undefined) {
      value = [value].flat().flatMap((v) => String(v).split(',')).map((v) => v.trim()).filter(Boolean);
    }
    settings[fileName] = value;
  }
  return settings;
}

function usage() {
  const lines = Object.entries(OPTIONS).map(([name, { help, default: d }]) => (
    `  --${name.padEnd(28)} ${help}${d !== undefined && d !== false ? ` (default ${d})` : ''}`
  ));
  return `usage: node server.mjs [options]\n       node server.mjs keygen --out FILE [--alg ALG ...]\n${lines.join('\n')}\n`;
}

// RFC 7638 thumbprint: SHA-256 of the key's required public members in lexicographic order.
function thumbprint(jwk) {
  const members = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] }[jwk.kty];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

function generateKey(alg) {
  let pair;
  switch (alg) {
    case 'RS256':
    case 'PS256':
      pair = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'ES256':
      pair = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
      break;
    case 'EdDSA':
      pair = crypto.generateKeyPairSync('ed25519');
      break;
    default:
      fail(`cannot generate a key for ${alg}: one of ${SIGNING_ALGS.join(', ')}`);
  }
  const jwk = pair.privateKey.export({ format: 'jwk' });
  // One key per algorithm, its alg named: a verifier never has to guess whether an RSA key is for RS256 or PS256.
  return { ...jwk, kid: thumbprint(jwk), alg, use: 'sig' };
}

function writeJwks(file, algs) {
  const jwks = { keys: algs.map(generateKey) };
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
  return jwks;
}

function keygen(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, alg: { type: 'string', multiple: true } },
    strict: true,
  });
  if (!values.out) fail('keygen needs --out FILE');
  const jwks = writeJwks(values.out, values.alg ?? SIGNING_ALGS);
  console.log(JSON.stringify({ kids: jwks.keys.map((k) => k.kid) }));
}

function loadJwks(settings) {
  const file = settings.jwks_file;
  if (!file) fail('--jwks-file (IDP_JWKS_FILE) is required');
  if (!fs.existsSync(file)) {
    if (!settings.generate_keys) fail(`--jwks-file ${file} does not exist (--generate-keys creates it)`);
    writeJwks(file, SIGNING_ALGS);
    console.log(`idp: generated ${SIGNING_ALGS.join(', ')} keys in ${file}`);
  }
  let jwks;
  try {
    jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    fail(`cannot read --jwks-file ${file}: ${error.message}`);
  }
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) fail(`--jwks-file ${file} holds no keys`);
  for (const key of jwks.keys) {
    if (!key.d) fail(`--jwks-file ${file}: key ${key.kid ?? '(no kid)'} is not a private key`);
    if (!SIGNING_ALGS.includes(key.alg)) fail(`--jwks-file ${file}: key ${key.kid ?? '(no kid)'} needs alg, one of ${SIGNING_ALGS.join(', ')}`);
  }
  return jwks;
}

// The accounts file is read again when it changes (a new inode, size or mtime), so a test sets an account's
// claims by rewriting the file (atomically: write a temporary file, rename) while the provider runs.
function accountStore(file) {
  let cached = { stamp: null, data: { defaults: {}, accounts: {} } };
  return function claimsOf(sub) {
    if (file) {
      let stat;
      try {
        stat = fs.statSync(file);
      } catch {
        stat = null;
      }
      const stamp = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'missing';
      if (stamp !== cached.stamp) {
        const data = stat ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
        cached = { stamp, data: { defaults: data.defaults ?? {}, accounts: data.accounts ?? {} } };
      }
    }
    const { defaults, accounts } = cached.data;
    const own = Object.hasOwn(accounts, sub) ? accounts[sub] : {};
    // `sub` is the login name, whatever the file says.
    const claims = { email: `${sub}@example.test`, ...DEFAULT_CLAIMS, ...defaults, ...own };
    delete claims.sub;
    return claims;
  };
}

async function main(argv) {
  if (argv[0] === 'keygen') {
    keygen(argv.slice(1));
    return;
  }
  const settings = settingsFrom(argv);
  if (settings.help) {
    process.stdout.write(usage());
    return;
  }
  if (!settings.issuer) fail('--issuer (IDP_ISSUER) is required');
  if (!settings.audience) fail('--audience (IDP_AUDIENCE) is required');
  const issuer = URL.parse(settings.issuer);
  if (!issuer || !['http:', 'https:'].includes(issuer.protocol) || issuer.search || issuer.hash) {
    fail(`--issuer ${settings.issuer} is not an http(s) URL without query or fragment`);
  }
  const port = Number(settings.port ?? (issuer.port || (issuer.protocol === 'https:' ? 443 : 80)));
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`--port ${settings.port} is not a port`);
  const audience = settings.audience;
  const resource = settings.resource ?? (URL.parse(audience) ? audience : 'urn:flashsale:api');
  const defaultTtl = Number(settings.access_token_ttl_s);
  if (!Number.isInteger(defaultTtl) || defaultTtl < 1) fail('--access-token-ttl-s must be a whole number of seconds');
  const jwks = loadJwks(settings);
  const algs = [...new Set(jwks.keys.map((k) => k.alg))];
  const defaultAlg = settings.access_token_alg;
  if (!algs.includes(defaultAlg)) fail(`--access-token-alg ${defaultAlg}: no key of that algorithm in ${settings.jwks_file}`);
  const claimsOf = accountStore(settings.accounts_file);
  // Imported here, not at the top: `keygen` does not need the library (nor its start-up warning).
  const { default: Provider } = await import('oidc-provider');
  const overrides = settings.allow_token_overrides;

  const clients = [{
    client_id: settings.public_client_id,
    client_name: 'flash-sale buyer page',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: settings.redirect_uri ?? [],
  }];
  if (clients[0].redirect_uris.length === 0) fail('--redirect-uri (IDP_REDIRECT_URI) is required: at least one');
  if (settings.confidential_client_secret) {
    clients.push({
      client_id: settings.confidential_client_id,
      client_secret: settings.confidential_client_secret,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
  }

  // The per-token knobs of the tests, read from the token request's form body.
  function tokenOverrides(ctx) {
    const body = overrides ? ctx.oidc?.body ?? {} : {};
    const ttl = body.flashsale_ttl_s === undefined ? defaultTtl : Number(body.flashsale_ttl_s);
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 86400) throw new Error('flashsale_ttl_s must be 1-86400');
    const alg = body.flashsale_alg ?? defaultAlg;
    if (!algs.includes(alg)) throw new Error(`flashsale_alg must be one of ${algs.join(', ')}`);
    return { ttl, alg };
  }

  const provider = new Provider(settings.issuer, {
    clients,
    jwks,
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    clientDefaults: { id_token_signed_response_alg: defaultAlg },
    enabledJWA: { idTokenSigningAlgValues: algs },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
      groups: ['groups'],
    },
    // PKCE S256 for every authorization code request (the library requires it of public clients already).
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => resource,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, indicator) => {
          if (indicator !== resource) throw new Provider.errors.InvalidTarget();
          const { ttl, alg } = tokenOverrides(ctx);
          return {
            audience,
            scope: '',
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
    // The API verifies only the access token: it never calls userinfo (a round trip to the IdP per request would
    // cost more than the purchase) and never sees the ID token (that is the client's). Eligibility rules (verified
    // e-mail or phone, a presale group, the account's age) therefore read claims the IdP puts into the access
    // token itself, as a shop's IdP does with its token mappers or actions.
    extraTokenClaims: async (ctx, token) => (token.accountId ? claimsOf(token.accountId) : undefined),
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, ...claimsOf(sub) }),
    }),
    clientBasedCORS: (ctx, origin, client) => (
      origin !== 'null' && client.redirectUris.some((uri) => URL.parse(uri)?.origin === origin)
    ),
    renderError: async (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });
  // Behind a reverse proxy that terminates TLS, X-Forwarded-Proto must be believed.
  provider.proxy = issuer.protocol === 'https:';

  const server = provider.listen(port, settings.host, () => {
    console.log(`idp: ${settings.issuer} listening on ${settings.host}:${port} (keys ${jwks.keys.map((k) => `${k.alg}:${k.kid}`).join(' ')})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

await main(process.argv.slice(2));
