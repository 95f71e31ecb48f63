// The OpenID Connect provider the single sign-on tests start: node-oidc-provider (OpenID Certified),
// on the loopback port given, with one confidential client and the users in a JSON file that the
// tests may rewrite between sign-ins (a group removed at the IdP).
//
//   node oidc.mjs <port> <config.json>
//   config: {"client_id", "client_secret", "redirect_uri", "users_file"}
//   users file: {"<login>": {"email": "...", "groups": ["..."]}}
import { readFileSync } from 'node:fs';

import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

function users() {
  return JSON.parse(readFileSync(config.users_file, 'utf8'));
}

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
    groups: ['groups'],
  },
  // Sign-in and consent pages for development: any login name; the tests' users have groups.
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['guardwatch-test-idp'] },
  async findAccount(ctx, sub) {
    const user = users()[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        const current = users()[sub] || { groups: [] };  // read at each sign-in: groups change at the IdP
        return {
          sub, preferred_username: sub, name: sub, email: current.email, email_verified: true,
          groups: current.groups,
        };
      },
    };
  },
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
