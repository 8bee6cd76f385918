// A real OpenID provider for the tests: panva's oidc-provider, certified by
// the OpenID Foundation, on a free loopback port.
//
// It prints `port N` once listening, then reads one line of JSON on stdin:
//   {"client_id", "client_secret", "redirect_uri",
//    "accounts": {"<login>": {"email", "email_verified", "groups"}}}
// (the test learns tocsin's address only after starting it), and prints
// `ready` once it serves. Each later line {"accounts": {...}} replaces the
// accounts (a person moved to another group), and is answered `ok`. Its sign-in page is a form asking for a login, as
// an organisation's provider would; no password, it is a test.
import http from 'node:http';
import readline from 'node:readline';
import Provider from 'oidc-provider';

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`port ${server.address().port}\n`);
});

const escape = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><title>Test provider</title>${body}`);
}

async function formBody(req) {
  let text = '';
  for await (const chunk of req) text += chunk;
  return new URLSearchParams(text);
}

function start(config) {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: config.client_id,
      client_secret: config.client_secret,
      redirect_uris: [config.redirect_uri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    // Every client must use PKCE, as tocsin does.
    pkce: { required: () => true },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    // The claims of the scopes asked for go in the ID token itself.
    conformIdTokenClaims: false,
    findAccount: async (_ctx, id) => {
      const account = config.accounts[id];
      return account && { accountId: id, claims: async () => ({ sub: id, ...account }) };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ['test-only-cookie-signing-key'] },
  });

  server.on('request', async (req, res) => {
    const match = /^\/interaction\/([\w-]+)$/.exec(new URL(req.url, issuer).pathname);
    if (!match) {
      provider.callback()(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (req.method === 'GET') {
        page(res, 200, `<form method="post"><label>Login <input name="login"></label>
          <button type="submit">Sign in</button></form>`);
        return;
      }
      const login = (await formBody(req)).get('login') ?? '';
      if (!Object.hasOwn(config.accounts, login)) {
        page(res, 403, `<p>No account ${escape(login)}.</p>`);
        return;
      }
      const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
      grant.addOIDCScope(details.params.scope);
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: login }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
    } catch (error) {
      page(res, 500, `<p>${escape(error.message)}</p>`);
    }
  });
  process.stdout.write('ready\n');
}

let config = null;
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const message = JSON.parse(line);
  if (config === null) {
    config = message;
    start(config);
  } else {
    config.accounts = message.accounts;
    process.stdout.write('ok\n');
  }
});
