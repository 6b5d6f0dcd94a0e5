// The web page in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
// First the page's own rules on a fixed list of events (which buttons it offers, disables, and what they
// say) and its sign-in (POST /api/dev/login, or a pasted token when dev login is off; the token goes as
// Authorization: Bearer on the user's requests), against a stub of the API that this script serves with
// ingress/web/index.html on a free loopback port: no stack needed. Then, against the running stack: creates
// events through the API, signs in and claims through the page as a person would (when the stack's dev
// login is off, it pastes a token it signed with the stack's secret, as the identity provider would issue
// it), checks what the page shows, and saves a screenshot. Every wait is bounded.
//   node tests/web/page.test.mjs [screenshot.png]     both parts
//   node tests/web/page.test.mjs --stub-only          only the first (no stack, no admin token)
import { chromium } from "playwright-core";
import { createHash, createHmac } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const stubOnly = args.includes("--stub-only");
const port = process.env.ALLOT_HTTP_PORT || "8080";
const runDir = process.env.ALLOT_RUN_DIR || `${root}/.run`;
const token = stubOnly ? "" : process.env.ALLOT_ADMIN_TOKEN || readFileSync(`${runDir}/admin-token`, "utf8").trim();
const shot = resolve(args.find((a) => !a.startsWith("--")) || `${root}/artifacts/page.png`);
const base = `http://127.0.0.1:${port}`;

// An HS256 JWT (sub, iss, aud, iat, nbf, exp) for `user` signed with `secret`, as the operator's sign-in issues them.
const b64url = (text) => Buffer.from(text).toString("base64url");
function jwt(user, secret, { issuer = "allot", audience = "allot", ttl = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const input = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" })) + "." +
    b64url(JSON.stringify({ sub: user, iss: issuer, aud: audience, iat: now, nbf: now, exp: now + ttl }));
  return input + "." + createHmac("sha256", secret).update(input).digest("base64url");
}
// The stack's: ALLOT_JWT_HS256_SECRET, else the file ALLOT_JWT_HS256_SECRET_FILE names, else .run/jwt-secret.
const jwtSecret = stubOnly ? "" : process.env.ALLOT_JWT_HS256_SECRET ||
  readFileSync(process.env.ALLOT_JWT_HS256_SECRET_FILE || `${runDir}/jwt-secret`, "utf8").replace(/[\r\n]+$/, "");
const userToken = (user) => jwt(user, jwtSecret, { issuer: process.env.ALLOT_JWT_ISSUER || "allot",
                                                 audience: process.env.ALLOT_JWT_AUDIENCE || "allot" });

function check(cond, message) {
  if (!cond) throw new Error("FAILED: " + message);
  console.log("ok:", message);
}

const launch = () => chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});

// The events as GET /api/events answers them (ingress/server.cc event_json), one per rule.
function stubEvents() {
  const ev = (id, fields) => Object.assign({ event_id: id, title: id, stock: 3, issued: 0, remaining: 3, per_user_limit: 1,
                                             claims: 0, mode: "fcfs", closed: false, partitions: 1 }, fields);
  return [
    ev("stub-open", { issued: 1, remaining: 2, claims: 1 }),
    ev("stub-sold", { issued: 3, remaining: 0, claims: 9 }),
    ev("stub-hold-held", { mode: "hold", hold_ms: 60000, stock: 2, held: 2, remaining: 0, claims: 2 }),
    ev("stub-hold-sold", { mode: "hold", hold_ms: 60000, stock: 2, issued: 2, held: 0, remaining: 0, claims: 2 }),
    ev("stub-raffle", { mode: "raffle", stock: 0, remaining: 0, entries: 4, closes_at: Date.now() + 3600000 }),
    ev("stub-raffle-drawn", { mode: "raffle", stock: 2, issued: 2, remaining: 0, entries: 4, closed: true, closes_at: Date.now() - 1000 }),
    ev("stub-closed", { issued: 1, remaining: 2, closed: true }),
    ev("stub-deleted", { issued: 1, remaining: 2, deleted: true }),
    ev("stub-room-sold", { issued: 3, remaining: 0, admit_per_s: 5, admitted: 4, waiting: 0 }),
    ev("stub-pow", { issued: 0, remaining: 3, pow_bits: 10 }),
    ev("stub-sale", { mode: "sale", price: 1500, stock: 5, remaining: 5 }),
    ev("stub-seats", { mode: "hold", hold_ms: 60000, price: 2500, seats: 4, stock: 4, remaining: 2, held: 1, issued: 1 }),
  ];
}

async function stubChecks(browser) {
  const html = readFileSync(`${root}/ingress/web/index.html`);
  const events = stubEvents();
  const posts = [];  // every POST but the sign-in's: {path, auth, body}
  const reads = [];  // GETs of claims: {path, auth}
  const logins = [];  // bodies of POST /api/dev/login
  const wallets = [];  // Authorization of each GET /api/wallet
  let devLogin = true;  // the operator's switch (ALLOT_DEV_LOGIN)
  let seatOrderFailures = 1;  // the first order of a seat fails balance_short
  const stubSecret = "stub-secret";
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://stub").pathname;
    const auth = req.headers.authorization || "";
    let body = "";
    for await (const chunk of req) body += chunk;
    const send = (status, type, text) => { res.writeHead(status, { "Content-Type": type }); res.end(text); };
    const json = (status, doc) => send(status, "application/json", JSON.stringify(doc));
    if (req.method === "POST" && path === "/api/dev/login") {
      logins.push(body);
      if (!devLogin) return json(404, { error: { code: "dev_login_off", message: "dev login is off" } });
      const user = JSON.parse(body).user_id;
      return json(200, { token: jwt(user, stubSecret), user_id: user, expires_at: Math.floor(Date.now() / 1000) + 3600 });
    }
    if (req.method === "POST") posts.push({ path, auth, body, pow: req.headers["proof-of-work"] || "" });
    if (req.method === "GET" && path === "/") return send(200, "text/html; charset=utf-8", html);
    if (req.method === "GET" && path === "/api/events") return json(200, events);
    if (req.method === "GET" && path.endsWith("/ranking")) return json(200, []);
    if (req.method === "POST" && path === "/api/events/stub-open/claims") {
      return json(202, { request_id: `stub-r${posts.length}`, event_id: "stub-open", status: "pending", queue_position: 1 });
    }
    // Proof of work: the stub's challenge, and a claim only with a solution of it (10 leading zero bits).
    if (req.method === "GET" && path === "/api/events/stub-pow/challenge") {
      return json(200, { challenge: "stub-challenge", bits: 10, expires_at: Date.now() + 300000 });
    }
    if (req.method === "POST" && path === "/api/events/stub-pow/claims") {
      const proof = req.headers["proof-of-work"] || "";
      const digest = createHash("sha256").update(proof).digest();
      const solved = proof.startsWith("stub-challenge:") && digest[0] === 0 && digest[1] < 0x40;
      if (!solved) return json(403, { error: { code: "pow_invalid", message: "stub: no solution" } });
      return json(202, { request_id: `stub-r${posts.length}`, event_id: "stub-open", status: "pending", queue_position: 1 });
    }
    // Seats and orders (README "Seats", "Orders").
    if (req.method === "GET" && path === "/api/events/stub-seats/seats") {
      const seat = (name, status) => ({ seat: name, status });
      return json(200, { event_id: "stub-seats", price: 2500, counts: { free: 2, sold: 1, held: 1 },
                         seats: [seat("A-1", "free"), seat("A-2", "free"), seat("A-3", "sold"), seat("A-4", "held")] });
    }
    if (req.method === "POST" && path === "/api/events/stub-seats/claims") {
      return json(200, { request_id: "stub-seat-r", event_id: "stub-seats", status: "held", seat: JSON.parse(body).seat,
                         hold_expires_at: Date.now() + 60000 });
    }
    if (req.method === "GET" && path === "/api/claims/stub-seat-r") {
      return json(200, { request_id: "stub-seat-r", event_id: "stub-seats", status: "held", seat: "A-2",
                         hold_expires_at: Date.now() + 60000 });
    }
    if (req.method === "POST" && path === "/api/orders") {
      const items = JSON.parse(body).items;
      const amount = items[0].seat ? 2500 : 1500;
      if (items[0].seat && seatOrderFailures-- > 0) {
        return json(200, { request_id: `stub-o${posts.length}`, type: "order", status: "failed", reason: "balance_short",
                           amount, balance: 0 });
      }
      return json(200, { request_id: `stub-o${posts.length}`, type: "order", status: "paid", amount, balance: 10000 - amount });
    }
    if (req.method === "GET" && path === "/api/wallet") {
      wallets.push(req.headers.authorization || "");
      return json(200, { user_id: "stub_user", balance: 1250, ledger: [] });
    }
    if (req.method === "GET" && path.startsWith("/api/claims/")) {
      reads.push({ path, auth });
      return json(200, { request_id: path.split("/").pop(), event_id: "stub-open", status: "issued", coupon_seq: 1 });
    }
    json(404, { error: { code: "not_found", message: "stub: " + path } });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  try {
    await page.goto(`http://127.0.0.1:${server.address().port}/`, { timeout: 15000 });
    await page.waitForSelector("#event-stub-room-sold", { timeout: 15000 });
    const button = (id) => page.$eval(`#event-${id} td button`, (b) => ({ disabled: b.disabled, text: b.textContent, cls: b.className, title: b.title }));
    const expect = async (id, disabled, text, why) => {
      const b = await button(id);
      check(b.disabled === disabled && b.text === text, `${why} (${id}: ${b.disabled ? "disabled" : "enabled"} "${b.text}")`);
    };
    const signedInAs = () => page.$eval("#signed-in", (p) => (p.hidden ? "" : p.querySelector("#signed-in-user").textContent));

    // Nobody signed in: Claim and Enter are there but disabled, with the hint; clicking sends nothing.
    check(await signedInAs() === "", "the page starts signed out, with the sign-in box");
    await expect("stub-open", true, "Claim", "signed out, an open event's Claim is disabled");
    await expect("stub-raffle", true, "Enter", "signed out, a raffle's Enter is disabled");
    check((await button("stub-open")).title === "Sign in first" &&
          (await page.textContent("#event-stub-open .hint")) === "sign in first", "the disabled Claim says: sign in first");
    await page.$eval("#event-stub-open td button", (b) => b.click());
    await page.waitForTimeout(300);
    check(posts.length === 0, `a claim without a sign-in sends nothing (${posts.length} requests)`);

    // Sign in: a bad user id is refused by the page; a good one gets the ingress's dev-login token.
    await page.fill("#user-id", "not valid!");
    await page.click("#sign-in");
    check((await page.textContent("#user-error")).includes("Enter a user id"), "a bad user id gets a clear message");
    check(logins.length === 0, "and is not sent");
    await page.fill("#user-id", "stub_user");
    await page.click("#sign-in");
    await page.waitForFunction(() => !document.querySelector("#signed-in").hidden, null, { timeout: 10000 });
    check(await signedInAs() === "stub_user" && JSON.parse(logins[0]).user_id === "stub_user",
          "signing in asks POST /api/dev/login {user_id} and shows who is signed in");
    const stored = await page.evaluate(() => JSON.parse(sessionStorage.getItem("allot.session") || "null"));
    check(stored && stored.user_id === "stub_user" && stored.token.split(".").length === 3, "the token is kept in sessionStorage");
    await page.waitForFunction(() => document.querySelector("#wallet").textContent.includes("12.50"), null, { timeout: 10000 });
    check(wallets.length > 0 && wallets.every((a) => a === `Bearer ${stored.token}`),
          "the signed-in user's wallet is shown (12.50), read with their token");

    await expect("stub-open", false, "Claim", "an event with units left offers Claim");
    await expect("stub-sold", true, "Sold out", "a sold-out fcfs event's Claim is disabled and says sold out");
    await expect("stub-hold-held", true, "Sold out", "a hold event with every unit held is sold out");
    await expect("stub-hold-sold", true, "Sold out", "a hold event with every unit confirmed is sold out");
    await expect("stub-raffle", false, "Enter", "a raffle takes entries with nothing remaining (entries go on until the close)");
    await expect("stub-raffle-drawn", true, "Closed", "a drawn raffle takes no more entries");
    await expect("stub-closed", true, "Closed", "a closed event with units left takes no claims");
    await expect("stub-deleted", true, "Deleted", "a deleted event takes no claims");
    await expect("stub-room-sold", true, "Sold out", "a sold-out event with a waiting room offers no place in line");
    check((await page.textContent("#event-stub-closed .remaining")).includes("closed"), "a closed event says so");
    check((await page.textContent("#event-stub-deleted .remaining")).includes("deleted"), "a deleted event says so");

    for (const id of ["stub-sold", "stub-closed", "stub-deleted", "stub-room-sold"]) {
      await page.$eval(`#event-${id} td button`, (b) => b.click());
    }
    await page.waitForTimeout(300);
    check(posts.length === 0, `clicking a disabled button sends nothing (${posts.length} requests)`);

    // A claim carries the user's token, and so does the reading of its answer.
    await page.click("#event-stub-open button.claim");
    await page.waitForFunction(() => document.querySelector("#event-stub-open .status")?.textContent.includes("coupon #1"),
                               null, { timeout: 10000 });
    const bearer = `Bearer ${stored.token}`;
    check(posts.length === 1 && posts[0].auth === bearer && JSON.parse(posts[0].body).user_id === "stub_user",
          "the claim is sent with Authorization: Bearer <the user's token> and the user's id");
    check(reads.length > 0 && reads.every((r) => r.auth === bearer), "reading the claim's answer carries the token too");

    // The sign-in lasts the tab's session (a reload keeps it); signing out disables the claims again.
    await page.reload({ timeout: 15000 });
    await page.waitForSelector("#event-stub-open", { timeout: 15000 });
    check(await signedInAs() === "stub_user", "a reload keeps the sign-in");
    await expect("stub-open", false, "Claim", "and the Claim");
    await page.click("#sign-out");
    await expect("stub-open", true, "Claim", "after signing out, Claim is disabled again");
    check(await page.evaluate(() => sessionStorage.getItem("allot.session")) === null, "and the token is forgotten");

    // Dev login off (the operator did not switch it on): the page asks for the identity provider's token.
    devLogin = false;
    await page.fill("#user-id", "paste_user");
    await page.click("#sign-in");
    await page.waitForFunction(() => !document.querySelector("#paste-form").hidden, null, { timeout: 10000 });
    check((await page.textContent("#paste-form")).includes("paste a token"), "with dev login off, the page asks to paste a token");
    await page.fill("#token-input", "not-a-token");
    await page.click("#use-token");
    check((await page.textContent("#user-error")).includes("not a token"), "a pasted non-token is refused");
    const pasted = jwt("paste_user", stubSecret);
    await page.fill("#token-input", pasted);
    await page.click("#use-token");
    await page.waitForFunction(() => !document.querySelector("#signed-in").hidden, null, { timeout: 10000 });
    check(await signedInAs() === "paste_user", "a pasted token signs in its user (the token's sub)");
    await page.click("#event-stub-open button.claim");
    await page.waitForFunction(() => document.querySelector("#event-stub-open .status")?.textContent.includes("coupon #1"),
                               null, { timeout: 10000 });
    check(posts.length === 2 && posts[1].auth === `Bearer ${pasted}` && JSON.parse(posts[1].body).user_id === "paste_user",
          "the pasted token goes with the claim");

    // An event that asks a proof of work: the page asks a challenge, solves it with WebCrypto, and claims with it.
    check((await page.textContent("#event-stub-pow .remaining")).includes("proof of work: 10 bits"), "the page says the event asks a proof of work");
    await page.click("#event-stub-pow button.claim");
    await page.waitForFunction(() => document.querySelector("#event-stub-pow .status")?.textContent.includes("coupon #1"),
                               null, { timeout: 30000 });
    const powClaim = posts.find((p) => p.path === "/api/events/stub-pow/claims");
    check(powClaim && powClaim.pow.startsWith("stub-challenge:") && powClaim.auth === `Bearer ${pasted}`,
          "the claim carries Proof-Of-Work: <challenge>:<solution> the stub accepted");

    // A product: Buy 1 sends an order of one unit with the user's token, and the row shows it paid.
    check((await page.textContent("#event-stub-sale")).includes("15.00 each"), "a product shows its price");
    await page.click("#event-stub-sale button.buy");
    await page.waitForFunction(() => document.querySelector("#event-stub-sale .status")?.textContent.includes("Paid 15.00"),
                               null, { timeout: 10000 });
    const bought = posts.find((p) => p.path === "/api/orders");
    check(bought && bought.auth === `Bearer ${pasted}` &&
          JSON.stringify(JSON.parse(bought.body).items) === JSON.stringify([{ event_id: "stub-sale", qty: 1 }]),
          "Buy 1 orders one unit as the signed-in user, and the row says paid 15.00");

    // A seated event: its map, a free seat claimed by name, the hold paid for by an order of that seat.
    await page.click("#event-stub-seats button.seats");
    await page.waitForSelector("#event-stub-seats .seatmap button", { timeout: 10000 });
    const seats = await page.$$eval("#event-stub-seats .seatmap button", (bs) => bs.map((b) => b.textContent + ":" + b.className + ":" + b.disabled));
    check(JSON.stringify(seats) === JSON.stringify(["A-1:seat free:false", "A-2:seat free:false", "A-3:seat sold:true", "A-4:seat held:true"]),
          `the seat map shows each seat, only free ones clickable (${seats.join(", ")})`);
    await page.click("#event-stub-seats .seatmap button:has-text('A-2')");
    await page.waitForSelector("#event-stub-seats button.pay", { timeout: 10000 });
    const seatClaim = posts.find((p) => p.path === "/api/events/stub-seats/claims");
    check(seatClaim && JSON.parse(seatClaim.body).seat === "A-2", "clicking seat A-2 claims it by name");
    check((await page.textContent("#event-stub-seats .status")).includes("Seat A-2 held for you") &&
          (await page.textContent("#event-stub-seats button.pay")) === "Pay 25.00", "the held seat offers Pay 25.00");
    await page.click("#event-stub-seats button.pay");
    await page.waitForFunction(() => document.querySelector("#event-stub-seats .status")?.textContent.includes("balance short"),
                               null, { timeout: 10000 });
    check((await page.textContent("#event-stub-seats .status")).includes("Seat A-2 held for you") &&
          (await page.$("#event-stub-seats button.pay")) !== null && (await page.$("#event-stub-seats button.cancel")) !== null,
          "a failed order says why and gives the hold back, with Pay and Cancel");
    check(await page.$$eval("#event-stub-seats .seatmap button", (bs) => bs.every((b) => b.disabled)),
          "while the user holds a seat, the map offers no other");
    await page.click("#event-stub-seats button.pay");
    await page.waitForFunction(() => document.querySelector("#event-stub-seats .status")?.textContent.includes("Paid 25.00"),
                               null, { timeout: 10000 });
    const seatOrder = posts.filter((p) => p.path === "/api/orders").pop();
    check(JSON.stringify(JSON.parse(seatOrder.body).items) === JSON.stringify([{ event_id: "stub-seats", seat: "A-2" }]),
          "Pay orders the held seat, and the row says paid 25.00");

    // A unit comes back (a hold ended, say): the next refresh (every 2 s) offers the button again.
    Object.assign(events[2], { held: 1, remaining: 1 });
    await page.waitForFunction(() => !document.querySelector("#event-stub-hold-held td button").disabled, null, { timeout: 10000 });
    await expect("stub-hold-held", false, "Claim", "the button comes back once a unit is free again");
  } finally {
    await page.close();
    await new Promise((ok) => server.close(ok));
  }
}

{
  const browser = await launch();
  try {
    await stubChecks(browser);
  } catch (e) {
    console.error(e.message);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
  if (stubOnly || process.exitCode) process.exit(process.exitCode || 0);
}

// Signs the page in as `user`: by the ingress's dev login when the stack has it on, else by pasting a token
// signed with the stack's secret (what the identity provider would have issued).
async function signIn(page, user) {
  await page.fill("#user-id", user);
  await page.click("#sign-in");
  await page.waitForFunction(() => !document.querySelector("#signed-in").hidden || !document.querySelector("#paste-form").hidden,
                             null, { timeout: 15000 });
  const how = await page.$eval("#signed-in", (p) => (p.hidden ? "pasted token" : "dev login"));
  if (how === "pasted token") {
    await page.fill("#token-input", userToken(user));
    await page.click("#use-token");
    await page.waitForFunction(() => !document.querySelector("#signed-in").hidden, null, { timeout: 15000 });
  }
  check(await page.textContent("#signed-in-user") === user, `signed in as ${user} (${how})`);
}

// A user's request straight to the API, with the user's token.
const asUser = (user, body) => ({
  method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${userToken(user)}` },
  body: JSON.stringify(body),
});

const eventId = `page-${Date.now()}`;
const created = await fetch(`${base}/api/events`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
  body: JSON.stringify({ event_id: eventId, title: "Browser test coupons", stock: 3 }),
});
check(created.status === 202, `event ${eventId} accepted (HTTP ${created.status})`);

const browser = await launch();
let failed = null;
const page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
try {
  await page.goto(base + "/", { timeout: 15000 });
  const row = `#event-${eventId}`;
  await page.waitForSelector(row, { timeout: 30000 });
  check(true, "the new event is listed");
  check((await page.textContent(`${row} .remaining`)).includes("3 of 3"), "it shows 3 of 3 remaining");

  check(await page.$eval(`${row} button.claim`, (b) => b.disabled), "signed out, its Claim is disabled");
  await page.fill("#user-id", "not valid!");
  await page.click("#sign-in");
  check((await page.textContent("#user-error")).includes("Enter a user id"), "a bad user id gets a clear message");

  await signIn(page, "browser_user");
  await page.click(`${row} button.claim`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("coupon #1"),
                             row, { timeout: 30000 });
  check(true, "the page shows the issued coupon #1");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .ranking`)?.textContent.includes("browser_user"),
                             row, { timeout: 30000 });
  check(true, "the ranking lists the user");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .remaining`)?.textContent.includes("2 of 3"),
                             row, { timeout: 30000 });
  check(true, "remaining stock drops to 2 of 3");
  mkdirSync(dirname(shot), { recursive: true });
  // The stack keeps the events of earlier tests: show the screen around this event's row, not the whole list.
  await page.$eval(row, (el) => el.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: shot });
  console.log("screenshot:", shot);

  await page.click(`${row} button.claim`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("already have"),
                             row, { timeout: 30000 });
  check(true, "a second claim by the same user is answered as a duplicate");

  // The other two units go to other users: the page then says sold out and offers no claim.
  for (const other of ["page_other_1", "page_other_2"]) {
    const c = await fetch(`${base}/api/events/${eventId}/claims?wait_ms=5000`, asUser(other, { user_id: other }));
    check(c.status === 200 || c.status === 202, `${other} claimed (HTTP ${c.status})`);
  }
  await page.waitForFunction((sel) => {
    const b = document.querySelector(`${sel} button.claim`);
    return b && b.disabled && b.textContent === "Sold out";
  }, row, { timeout: 30000 });
  check((await page.textContent(`${row} .remaining`)).includes("0 of 3"), "a sold-out event shows 0 of 3 and a disabled Sold out button");

  // A hold event: the claim is held with a countdown and a confirm button; confirming issues the unit.
  const holdId = `page-hold-${Date.now()}`;
  const held = await fetch(`${base}/api/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ event_id: holdId, title: "Browser test seats", stock: 2, mode: "hold", hold_ms: 120000 }),
  });
  check(held.status === 202, `hold event ${holdId} accepted (HTTP ${held.status})`);
  const holdRow = `#event-${holdId}`;
  await page.waitForSelector(holdRow, { timeout: 30000 });
  await page.click(`${holdRow} button.claim`);
  await page.waitForSelector(`${holdRow} button.confirm`, { timeout: 30000 });
  check((await page.textContent(`${holdRow} .countdown`)).match(/^\d+ s$/) !== null, "a held claim shows a countdown");
  await page.$eval(holdRow, (el) => el.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: shot.replace(/\.png$/, "-hold.png") });
  await page.click(`${holdRow} button.confirm`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("Confirmed: unit #1"),
                             holdRow, { timeout: 30000 });
  check(true, "confirming the hold issues unit #1");
  const closed = await fetch(`${base}/api/events/${holdId}/close?wait_ms=5000`, {
    method: "POST", headers: { Authorization: `Bearer ${token}` },
  });
  check(closed.status === 200 || closed.status === 202, `hold event closed (HTTP ${closed.status})`);
  await page.waitForFunction((sel) => {
    const b = document.querySelector(`${sel} button.claim`);
    return b && b.disabled && b.textContent === "Closed";
  }, holdRow, { timeout: 30000 });
  check(true, "a closed event's Claim is disabled and says Closed, though a unit is left");

  // A waiting room letting 1 user in per second, with 3 others in line first: the page shows its place,
  // then the admission, and the claim (with the admission token) gets coupon #1.
  const roomId = `page-room-${Date.now()}`;
  const room = await fetch(`${base}/api/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ event_id: roomId, title: "Browser test room", stock: 5, admit_per_s: 1 }),
  });
  check(room.status === 202, `waiting-room event ${roomId} accepted (HTTP ${room.status})`);
  const roomRow = `#event-${roomId}`;
  await page.waitForSelector(`${roomRow} button.join`, { timeout: 30000 });
  for (const other of ["ahead-1", "ahead-2", "ahead-3"]) {
    const j = await fetch(`${base}/api/events/${roomId}/queue?wait_ms=5000`, asUser(other, { user_id: other }));
    check(j.status === 200 || j.status === 202, `${other} joined the line (HTTP ${j.status})`);
  }
  await page.click(`${roomRow} button.join`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("In line: place"),
                             roomRow, { timeout: 30000 });
  await page.$eval(roomRow, (el) => el.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: shot.replace(/\.png$/, "-queue.png") });
  check(true, "the page shows the user's place in line");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("Admitted"),
                             roomRow, { timeout: 60000 });
  check(true, "the line moves and admits the user");
  await page.click(`${roomRow} button.claim`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("You got coupon #1"),
                             roomRow, { timeout: 30000 });
  check(true, "the admitted user's claim (with its admission token) gets coupon #1");

  // A seated event with a price (README "Seats"): the user, charged 50.00, picks seat A-2 on the map, pays
  // for the hold with an order, and the map shows the seat sold.
  const hallId = `page-hall-${Date.now()}`;
  const hall = await fetch(`${base}/api/events`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ event_id: hallId, title: "Browser test hall", mode: "hold", hold_ms: 120000, price: 2500,
                           seats: { rows: ["A"], per_row: 4 } }),
  });
  check(hall.status === 202, `seated event ${hallId} accepted (HTTP ${hall.status})`);
  const charged = await fetch(`${base}/api/wallet/charge?wait_ms=10000`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: JSON.stringify({ user_id: "browser_user", amount: 5000 }),
  });
  check(charged.status === 200, `browser_user charged 50.00 (HTTP ${charged.status})`);
  const hallRow = `#event-${hallId}`;
  await page.waitForSelector(`${hallRow} button.seats`, { timeout: 30000 });
  await page.click(`${hallRow} button.seats`);
  await page.waitForSelector(`${hallRow} .seatmap button.free`, { timeout: 30000 });
  await page.click(`${hallRow} .seatmap button:has-text('A-2')`);
  await page.waitForSelector(`${hallRow} button.pay`, { timeout: 30000 });
  check((await page.textContent(`${hallRow} .status`)).includes("Seat A-2 held for you"), "the page holds seat A-2 for the user");
  await page.$eval(hallRow, (el) => el.scrollIntoView({ block: "center" }));
  await page.screenshot({ path: shot.replace(/\.png$/, "-seats.png") });
  await page.click(`${hallRow} button.pay`);
  await page.waitForFunction((sel) => document.querySelector(`${sel} .status`)?.textContent.includes("Paid 25.00"),
                             hallRow, { timeout: 30000 });
  check(true, "paying the held seat through an order: paid 25.00");
  await page.waitForFunction((sel) => document.querySelector(`${sel} .seatmap button.sold`)?.textContent === "A-2",
                             hallRow, { timeout: 30000 });
  check(true, "the seat map shows A-2 sold");
} catch (e) {
  failed = e;
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot.replace(/\.png$/, "-failed.png"), fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
if (failed) {
  console.error(failed.message);
  process.exit(1);
}
