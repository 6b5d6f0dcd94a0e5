// The seed experiment's load, one script for the three strategies (bench/run-experiment drives it):
//
//   ALLOT_STRATEGY = v1 | v2 | v3     v1: POST /api/v1/events/E/claims (MySQL SELECT ... FOR UPDATE), synchronous
//                                     v2: POST /api/v2/events/E/claims (Redis Lua + MySQL insert), synchronous
//                                     v3: POST /api/events/E/claims?wait_ms=W: 200 with the decision when it
//                                         comes within W, else 202 (the broker has it) and then the long poll
//                                         GET /api/claims/ID?wait_ms=N until the status is no longer pending
//   ALLOT_SCENARIO = seed | many | sustained | soak
//     seed       ALLOT_CLAIMS distinct users (default 10000), one claim each, on ALLOT_EVENTS (one event),
//                as simultaneous as the machine allows: shared-iterations over ALLOT_VUS VUs (default 500).
//     many       the same executor over several events: claim i goes to event i mod len(ALLOT_EVENTS).
//     sustained  open model: ramping-arrival-rate, stepped per ALLOT_STAGES ("rate:seconds,..."), each step
//                reached in 1 s then held; up to ALLOT_MAX_VUS VUs (default 1500).
//     soak       open model at a constant ALLOT_RATE claims/s for ALLOT_DURATION_S seconds (bench/soak), claim i
//                to event i mod len(ALLOT_EVENTS).
//
// Every iteration is a distinct user (user id from exec.scenario.iterationInTest), so k6 needs far fewer VUs
// than users (~3 MB per VU: 10,000 VUs would not fit). Each claim is written as one line to the console output
// ("R,..." see record()), from which run-experiment computes throughput and latency over time and checks
// integrity; k6's own summary (custom metrics below) gives the headline percentiles.
//
// Every user is signed in: each iteration signs its user's HS256 token (README "Who is the user") with the
// stack's secret, ALLOT_JWT_HS256_SECRET (bench/experiment.py passes it; never written to the results),
// issuer ALLOT_JWT_ISSUER and audience ALLOT_JWT_AUDIENCE ("allot"), before the claim's clock starts, and sends
// it as Authorization: Bearer on the claim and on its long polls.
//
// Other variables: ALLOT_BASE_URL (http://127.0.0.1:8080), ALLOT_RUN_TAG (user id prefix),
// ALLOT_CLAIM_WAIT_MS (wait_ms of the v3 POST, 5000; 0 = answer 202 at once, as a client without the wait),
// ALLOT_LONG_POLL_MS (wait_ms of each long poll, 20000), ALLOT_POLL_MAX_MS (pause after a failed poll, 250),
// ALLOT_ANSWER_TIMEOUT_MS (a v3 claim still pending after this is an error, 30000),
// ALLOT_MAX_DURATION (seed/many executor bound, 10m).
import http from 'k6/http';
import exec from 'k6/execution';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';
import { sleep } from 'k6';
import { Counter, Rate, Trend } from 'k6/metrics';

const strategy = __ENV.ALLOT_STRATEGY || 'v3';
const scenario = __ENV.ALLOT_SCENARIO || 'seed';
const base = __ENV.ALLOT_BASE_URL || 'http://127.0.0.1:8080';
const events = (__ENV.ALLOT_EVENTS || '').split(',').filter((e) => e.length > 0);
const runTag = __ENV.ALLOT_RUN_TAG || `k6${Date.now()}`;
const num = (name, dflt) => (__ENV[name] !== undefined && __ENV[name] !== '' ? Number(__ENV[name]) : dflt);
const claimsTotal = num('ALLOT_CLAIMS', 10000);
const vus = num('ALLOT_VUS', 500);
const maxVUs = num('ALLOT_MAX_VUS', 1500);
const claimWaitMs = num('ALLOT_CLAIM_WAIT_MS', 5000);
const longPollMs = num('ALLOT_LONG_POLL_MS', 20000);
const pollMaxMs = num('ALLOT_POLL_MAX_MS', 250);
const answerTimeoutMs = num('ALLOT_ANSWER_TIMEOUT_MS', 30000);
const maxDuration = __ENV.ALLOT_MAX_DURATION || '10m';
const stages = (__ENV.ALLOT_STAGES || '250:10,500:10,1000:10,2000:10,3000:10,4000:10')
  .split(',')
  .map((s) => s.split(':').map(Number));

const jwtSecret = __ENV.ALLOT_JWT_HS256_SECRET || '';
const jwtIssuer = __ENV.ALLOT_JWT_ISSUER || 'allot';
const jwtAudience = __ENV.ALLOT_JWT_AUDIENCE || 'allot';

if (!['v1', 'v2', 'v3'].includes(strategy)) throw new Error(`ALLOT_STRATEGY must be v1, v2 or v3, not ${strategy}`);
if (events.length === 0) throw new Error('ALLOT_EVENTS: give the event id(s) to claim from (run-experiment creates them)');
if (!jwtSecret) throw new Error('ALLOT_JWT_HS256_SECRET: give the secret the users\' tokens are signed with (.run/jwt-secret)');

// An HS256 JWT for `user` (sub, iss, aud, iat, nbf, exp: an hour), as the operator's sign-in would issue it.
const jwtHeader = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');
function userToken(user) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user, iss: jwtIssuer, aud: jwtAudience, iat: now, nbf: now, exp: now + 3600 };
  const input = `${jwtHeader}.${encoding.b64encode(JSON.stringify(claims), 'rawurl')}`;
  return `${input}.${crypto.hmac('sha256', jwtSecret, input, 'base64rawurl')}`;
}

function scenarios() {
  if (scenario === 'seed' || scenario === 'many') {
    return {
      [scenario]: {
        executor: 'shared-iterations',
        vus: Math.min(vus, claimsTotal),
        iterations: claimsTotal,
        maxDuration,
      },
    };
  }
  if (scenario === 'sustained') {
    const st = [];
    for (const [rate, secs] of stages) {
      st.push({ target: rate, duration: '1s' });
      if (secs > 1) st.push({ target: rate, duration: `${secs - 1}s` });
    }
    return {
      sustained: {
        executor: 'ramping-arrival-rate',
        startRate: stages[0][0],
        timeUnit: '1s',
        preAllocatedVUs: Math.min(vus, maxVUs),
        maxVUs,
        stages: st,
        gracefulStop: '30s',
      },
    };
  }
  if (scenario === 'soak') {
    return {
      soak: {
        executor: 'constant-arrival-rate',
        rate: num('ALLOT_RATE', 200),
        timeUnit: '1s',
        duration: `${num('ALLOT_DURATION_S', 600)}s`,
        preAllocatedVUs: Math.min(vus, maxVUs),
        maxVUs,
        gracefulStop: '30s',
      },
    };
  }
  throw new Error(`ALLOT_SCENARIO must be seed, many, sustained or soak, not ${scenario}`);
}

export const options = {
  scenarios: scenarios(),
  discardResponseBodies: false,
  // Keep-alive connections, one per VU; no DNS (127.0.0.1).
  noConnectionReuse: false,
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(50)', 'p(95)', 'p(99)'],
  // The sustained run stops early once it has clearly blown up (cumulative figures, so this is late and safe);
  // its knee is computed per step by run-experiment, not by these thresholds.
  thresholds:
    scenario === 'sustained'
      ? {
          claim_errors: [{ threshold: 'rate<0.2', abortOnFail: true, delayAbortEval: '5s' }],
          answer_ms: [{ threshold: 'p(99)<15000', abortOnFail: true, delayAbortEval: '5s' }],
        }
      : {},
};

// Custom metrics: what the report is made of.
const acceptMs = new Trend('accept_ms', true); // until the request is taken: 202 (v3) or the synchronous answer (v1, v2)
const answerMs = new Trend('answer_ms', true); // until the final answer: v3 includes polling; v1/v2 = accept
const accepted = new Counter('claims_accepted');
const answered = new Counter('claims_answered');
const claimErrors = new Rate('claim_errors'); // 1 per claim that got no final answer
const polls = new Counter('polls');
const outcome = {
  issued: new Counter('outcome_issued'),
  sold_out: new Counter('outcome_sold_out'),
  duplicate: new Counter('outcome_duplicate'),
  other: new Counter('outcome_other'),
};
const errKind = {
  conn: new Counter('err_conn'), // no HTTP answer: refused, reset, timeout (k6 status 0)
  http_429: new Counter('err_http_429'),
  http_4xx: new Counter('err_http_4xx'),
  http_503: new Counter('err_http_503'),
  http_5xx: new Counter('err_http_5xx'),
  poll_timeout: new Counter('err_poll_timeout'), // v3: still pending after ALLOT_ANSWER_TIMEOUT_MS
  poll_failed: new Counter('err_poll_failed'), // v3: the status endpoint answered neither 200 nor pending
};
const pollErrors = new Counter('poll_request_errors'); // single poll requests that failed (retried)


function claimUrl(event) {
  if (strategy === 'v3') return `${base}/api/events/${event}/claims${claimWaitMs > 0 ? `?wait_ms=${claimWaitMs}` : ''}`;
  return `${base}/api/${strategy}/events/${event}/claims`;
}

function kindOf(res) {
  if (res.status === 0) return 'conn';
  if (res.status === 429) return 'http_429';
  if (res.status === 503) return 'http_503';
  if (res.status >= 500) return 'http_5xx';
  return 'http_4xx';
}

function field(res, name) {
  try {
    const v = res.json(name);
    return v === undefined || v === null ? '' : String(v);
  } catch (e) {
    return '';
  }
}

// One line per claim: R,t0_ms,event_index,user,claim_http_status,accept_ms,answer_ms,result,coupon_seq,request_id,polls,error_code
// result is the final status (issued, sold_out, ...) or the error kind (conn, http_503, poll_timeout, ...).
function record(t0, ei, user, status, acc, ans, result, seq, rid, n, code) {
  console.log(`R,${t0},${ei},${user},${status},${acc.toFixed(2)},${ans.toFixed(2)},${result},${seq},${rid},${n},${code}`);
}

function finish(result) {
  (outcome[result] || outcome.other).add(1);
}

// A claim whose final answer came in the claim's own response (v1, v2; v3 when decided within the wait).
function answeredAtOnce(res, acc, t0, ei, user) {
  const st = field(res, 'status');
  accepted.add(1);
  answered.add(1);
  acceptMs.add(acc);
  answerMs.add(acc);
  claimErrors.add(0);
  finish(st);
  record(t0, ei, user, res.status, acc, acc, st, field(res, 'coupon_seq'), field(res, 'request_id'), 0, '');
}

export default function () {
  const it = exec.scenario.iterationInTest;
  if (it === 0) console.log(`S,${exec.scenario.startTime},${strategy},${scenario}`);
  const ei = it % events.length;
  const event = events[ei];
  const user = `${runTag}-u${it}`;
  const auth = `Bearer ${userToken(user)}`; // signed before the clock starts
  const t0 = Date.now();
  const res = http.post(claimUrl(event), JSON.stringify({ user_id: user }),
    { headers: { 'Content-Type': 'application/json', Authorization: auth }, tags: { name: 'claim' }, timeout: '30s' });
  const acc = res.timings.duration + res.timings.blocked + res.timings.connecting;

  if (strategy !== 'v3') {
    if (res.status === 200 || res.status === 409) {
      answeredAtOnce(res, acc, t0, ei, user);
    } else {
      const k = kindOf(res);
      errKind[k].add(1);
      claimErrors.add(1);
      record(t0, ei, user, res.status, acc, -1, k, '', field(res, 'request_id'), 0, res.error_code || '');
    }
    return;
  }

  if (res.status === 200) {
    // Decided within the POST's wait: one request from claim to final answer (the broker had it first).
    answeredAtOnce(res, acc, t0, ei, user);
    return;
  }
  if (res.status !== 202) {
    const k = kindOf(res);
    errKind[k].add(1);
    claimErrors.add(1);
    record(t0, ei, user, res.status, acc, -1, k, '', '', 0, res.error_code || '');
    return;
  }
  accepted.add(1);
  acceptMs.add(acc);
  const rid = field(res, 'request_id');
  // Long poll the claim until decided: the ingress answers the moment the processors decide it (or with the
  // pending status after wait_ms), so the measured time to answer is the system's, not a poll interval's.
  let n = 0;
  const deadline = t0 + answerTimeoutMs;
  while (Date.now() < deadline) {
    const waitMs = Math.max(1, Math.min(longPollMs, deadline - Date.now()));
    const p = http.get(`${base}/api/claims/${rid}?wait_ms=${waitMs}`,
      { headers: { Authorization: auth }, tags: { name: 'poll' }, timeout: `${waitMs + 10000}ms` });
    n += 1;
    polls.add(1);
    if (p.status === 200) {
      const st = field(p, 'status');
      if (st !== 'pending' && st !== '') {
        const ans = Date.now() - t0;
        answered.add(1);
        answerMs.add(ans);
        claimErrors.add(0);
        finish(st);
        record(t0, ei, user, res.status, acc, ans, st, field(p, 'coupon_seq'), rid, n, '');
        return;
      }
    } else {
      pollErrors.add(1);
      if (p.status !== 0 && p.status !== 503 && p.status !== 429) {
        errKind.poll_failed.add(1);
        claimErrors.add(1);
        record(t0, ei, user, res.status, acc, -1, 'poll_failed', '', rid, n, String(p.status));
        return;
      }
      sleep(pollMaxMs / 1000);  // an error answers at once: do not hammer the ingress
    }
  }
  errKind.poll_timeout.add(1);
  claimErrors.add(1);
  record(t0, ei, user, res.status, acc, -1, 'poll_timeout', '', rid, n, '');
}
