// The commerce benchmark's load (bench/run-orders drives it; README "Orders"), shaped like the e-commerce
// system's seed 002: many users charge their wallets, win a coupon, then order one hot product with it.
//
//   ALLOT_PHASE = charge | coupon | order
//     charge  each user's wallet is credited ALLOT_AMOUNT cents by the admin (POST /api/wallet/charge?wait_ms)
//     coupon  each user claims a coupon of ALLOT_COUPONS (POST /api/events/C/claims?wait_ms)
//     order   each user orders ALLOT_QTY units of ALLOT_PRODUCT with the coupon they won (POST /api/orders?wait_ms):
//             the answer is the order's end, paid or failed (the saga across the three partitions is done)
//   ALLOT_USERS users (default 2000), shared-iterations over ALLOT_VUS VUs (default 200): user i is iteration i.
//
// Every request's time is its answer's: decided, not merely accepted (a 202 after the wait is counted an
// error). The coupon phase prints one line per user, "C,<user>,<claim request id>", which the driver hands
// the order phase in ALLOT_COUPON_FILE (one "user claim_request_id" a line).
// Other variables: ALLOT_BASE_URL, ALLOT_RUN_TAG (user id prefix), ALLOT_ADMIN_TOKEN, ALLOT_JWT_HS256_SECRET,
// ALLOT_JWT_ISSUER, ALLOT_JWT_AUDIENCE, ALLOT_WAIT_MS (wait_ms of each request, 20000).
import http from 'k6/http';
import exec from 'k6/execution';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { Counter, Rate, Trend } from 'k6/metrics';

const phase = __ENV.ALLOT_PHASE || 'order';
const base = __ENV.ALLOT_BASE_URL || 'http://127.0.0.1:8080';
const runTag = __ENV.ALLOT_RUN_TAG || `o${Date.now()}`;
const num = (name, dflt) => (__ENV[name] !== undefined && __ENV[name] !== '' ? Number(__ENV[name]) : dflt);
const users = num('ALLOT_USERS', 2000);
const vus = num('ALLOT_VUS', 200);
const waitMs = num('ALLOT_WAIT_MS', 20000);
const amount = num('ALLOT_AMOUNT', 1000);
const qty = num('ALLOT_QTY', 1);
const product = __ENV.ALLOT_PRODUCT || '';
const coupons = __ENV.ALLOT_COUPONS || '';
const admin = __ENV.ALLOT_ADMIN_TOKEN || '';
const jwtSecret = __ENV.ALLOT_JWT_HS256_SECRET || '';
const jwtIssuer = __ENV.ALLOT_JWT_ISSUER || 'allot';
const jwtAudience = __ENV.ALLOT_JWT_AUDIENCE || 'allot';

if (!['charge', 'coupon', 'order'].includes(phase)) throw new Error(`ALLOT_PHASE must be charge, coupon or order, not ${phase}`);
if (!admin || !jwtSecret) throw new Error('ALLOT_ADMIN_TOKEN and ALLOT_JWT_HS256_SECRET are needed');
if (phase !== 'charge' && !coupons) throw new Error('ALLOT_COUPONS: the coupon event');
if (phase === 'order' && !product) throw new Error('ALLOT_PRODUCT: the product to order');

// The coupon each user won (the coupon phase's output), for the order phase.
const won = {};
if (phase === 'order') {
  for (const line of open(__ENV.ALLOT_COUPON_FILE).split('\n')) {
    const [user, claim] = line.trim().split(' ');
    if (user && claim) won[user] = claim;
  }
}

export const options = {
  scenarios: { [phase]: { executor: 'shared-iterations', vus: Math.min(vus, users), iterations: users, maxDuration: '10m' } },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

const answerMs = new Trend('answer_ms', true);
const errors = new Rate('errors');
const outcome = { paid: new Counter('outcome_paid'), failed: new Counter('outcome_failed'), other: new Counter('outcome_other') };

const jwtHeader = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');
function userToken(user) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user, iss: jwtIssuer, aud: jwtAudience, iat: now, nbf: now, exp: now + 3600 };
  const input = `${jwtHeader}.${encoding.b64encode(JSON.stringify(claims), 'rawurl')}`;
  return `${input}.${crypto.hmac('sha256', jwtSecret, input, 'base64rawurl')}`;
}

function post(path, body, token) {
  const headers = { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` };
  const t0 = Date.now();
  const res = http.post(`${base}${path}?wait_ms=${waitMs}`, JSON.stringify(body), { headers, timeout: `${waitMs + 10000}ms` });
  answerMs.add(Date.now() - t0);
  errors.add(res.status !== 200);  // 202: not decided within the wait
  return res;
}

export default function () {
  const user = `${runTag}-u${exec.scenario.iterationInTest}`;
  if (phase === 'charge') {
    post('/api/wallet/charge', { user_id: user, amount }, admin);
    return;
  }
  const token = userToken(user);
  if (phase === 'coupon') {
    const res = post(`/api/events/${coupons}/claims`, {}, token);
    if (res.status === 200 && res.json('status') === 'issued') console.log(`C,${user},${res.json('request_id')}`);
    return;
  }
  const order = { items: [{ event_id: product, qty }] };
  if (won[user]) order.coupon = { event_id: coupons, claim_request_id: won[user] };
  const res = post('/api/orders', order, token);
  const status = res.status === 200 ? res.json('status') : '';
  (outcome[status] || outcome.other).add(1);
}
