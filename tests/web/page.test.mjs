// The web page in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core):
// creates an event through the API, claims through the page as a person would, checks what the page
// shows, and saves a screenshot. Against the running stack; every wait is bounded.
//   node tests/web/page.test.mjs [screenshot.png]
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const port = process.env.ALLOT_HTTP_PORT || "8080";
const runDir = process.env.ALLOT_RUN_DIR || `${root}/.run`;
const token = process.env.ALLOT_ADMIN_TOKEN || readFileSync(`${runDir}/admin-token`, "utf8").trim();
const shot = resolve(process.argv[2] || `${root}/artifacts/page.png`);
const base = `http://127.0.0.1:${port}`;

function check(cond, message) {
  if (!cond) throw new Error("FAILED: " + message);
  console.log("ok:", message);
}

const eventId = `page-${Date.now()}`;
const created = await fetch(`${base}/api/events`, {
  method: "POST",
  headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
  body: JSON.stringify({ event_id: eventId, title: "Browser test coupons", stock: 3 }),
});
check(created.status === 202, `event ${eventId} accepted (HTTP ${created.status})`);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
let failed = null;
const page = await browser.newPage({ viewport: { width: 1100, height: 520 } });
try {
  await page.goto(base + "/", { timeout: 15000 });
  const row = `#event-${eventId}`;
  await page.waitForSelector(row, { timeout: 30000 });
  check(true, "the new event is listed");
  check((await page.textContent(`${row} .remaining`)).includes("3 of 3"), "it shows 3 of 3 remaining");

  await page.fill("#user-id", "not valid!");
  await page.click(`${row} button.claim`);
  check((await page.textContent("#user-error")).includes("Enter a user id"), "a bad user id gets a clear message");

  await page.fill("#user-id", "browser_user");
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
    const j = await fetch(`${base}/api/events/${roomId}/queue?wait_ms=5000`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user_id: other }),
    });
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
