// k6 load for the docker-compose stack (profile "load"): one flash sale, ALLOT_USERS distinct users
// (default 10000) each claiming once from an event of ALLOT_STOCK coupons (default 100).
//
//   docker compose -f compose/docker-compose.yml --profile load run --rm k6
//
// Fewer VUs than users on purpose: k6 needs ~3 MB per VU, so 10,000 VUs would not fit a small machine.
// A shared-iterations executor gives every iteration its own user id (exec.scenario.iterationInTest),
// so ALLOT_USERS distinct users claim, ALLOT_VUS (default 100) at a time.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

const base = __ENV.ALLOT_BASE_URL || 'http://ingress:8080';
const token = __ENV.ALLOT_ADMIN_TOKEN || '';
const users = parseInt(__ENV.ALLOT_USERS || '10000', 10);
const stock = parseInt(__ENV.ALLOT_STOCK || '100', 10);
const vus = parseInt(__ENV.ALLOT_VUS || '100', 10);

export const options = {
  scenarios: {
    flash_sale: { executor: 'shared-iterations', vus: Math.min(vus, users), iterations: users, maxDuration: '5m' },
  },
  thresholds: { 'checks{check:accepted}': ['rate>0.99'] },
};

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
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'claim' } });
  check(res, { accepted: (r) => r.status === 202 });
}
