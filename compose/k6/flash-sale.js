// k6 load for the docker-compose stack (profile "load"): one flash sale, ALLOT_USERS distinct users
// (default 10000) each claiming once from an event of ALLOT_STOCK coupons (default 100).
//
//   docker compose -f compose/docker-compose.yml --profile load run --rm k6
//
// Fewer VUs than users on purpose: k6 needs ~3 MB per VU, so 10,000 VUs would not fit a small machine.
// A shared-iterations executor gives every iteration its own user id (exec.scenario.iterationInTest),
// so ALLOT_USERS distinct users claim, ALLOT_VUS (default 100) at a time. Every user is signed in: the
// iteration signs its user's HS256 token (README "Who is the user") with ALLOT_JWT_HS256_SECRET, the secret
// the compose ingress verifies with (issuer ALLOT_JWT_ISSUER, audience ALLOT_JWT_AUDIENCE, default "allot").
import http from 'k6/http';
import exec from 'k6/execution';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { check } from 'k6';

const base = __ENV.ALLOT_BASE_URL || 'http://ingress:8080';
const token = __ENV.ALLOT_ADMIN_TOKEN || '';
const users = parseInt(__ENV.ALLOT_USERS || '10000', 10);
const stock = parseInt(__ENV.ALLOT_STOCK || '100', 10);
const vus = parseInt(__ENV.ALLOT_VUS || '100', 10);
const jwtSecret = __ENV.ALLOT_JWT_HS256_SECRET || '';
const jwtIssuer = __ENV.ALLOT_JWT_ISSUER || 'allot';
const jwtAudience = __ENV.ALLOT_JWT_AUDIENCE || 'allot';
if (!jwtSecret) throw new Error('ALLOT_JWT_HS256_SECRET: give the secret the users\' tokens are signed with');

export const options = {
  scenarios: {
    flash_sale: { executor: 'shared-iterations', vus: Math.min(vus, users), iterations: users, maxDuration: '5m' },
  },
  thresholds: { 'checks{check:accepted}': ['rate>0.99'] },
};

// An HS256 JWT for `user` (sub, iss, aud, iat, nbf, exp: an hour), as the operator's sign-in would issue it.
const jwtHeader = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');
function userToken(user) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user, iss: jwtIssuer, aud: jwtAudience, iat: now, nbf: now, exp: now + 3600 };
  const input = `${jwtHeader}.${encoding.b64encode(JSON.stringify(claims), 'rawurl')}`;
  return `${input}.${crypto.hmac('sha256', jwtSecret, input, 'base64rawurl')}`;
}

export function setup() {
  const event = `k6-${Date.now()}`;
  const res = http.post(`${base}/api/events`,
    JSON.stringify({ event_id: event, title: 'k6 flash sale', stock: stock }),
    { headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` } });
  if (res.status !== 202) throw new Error(`create event ${event}: ${res.status} ${res.body}`);
  return { event };
}

export default function (data) {
  const user = `k6-user-${exec.scenario.iterationInTest}`;
  const res = http.post(`${base}/api/events/${data.event}/claims`, JSON.stringify({ user_id: user }),
    { headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${userToken(user)}` }, tags: { name: 'claim' } });
  check(res, { accepted: (r) => r.status === 202 });
}
