// Drives Debian's /usr/bin/chromium headless through playwright-core for tests/html.rs: opens each
// page and image of a job (JSON file, argv[2]) from disk, clicks what the job says, and prints one
// JSON object with what it saw. Every step has a timeout, and the whole run is bounded.
import { chromium } from "playwright-core";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const LIMIT_MS = 180_000;
const STEP_MS = 30_000;
setTimeout(() => {
  console.error(`check.mjs: gave up after ${LIMIT_MS} ms`);
  process.exit(3);
}, LIMIT_MS).unref();

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const profile = mkdtempSync(join(tmpdir(), "encap-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
context.setDefaultTimeout(STEP_MS);

// Every request a page makes other than the file it was opened from.
function watch(page, own) {
  const seen = { requests: [], dialogs: 0, errors: [] };
  page.on("request", (r) => {
    const url = r.url().split("#")[0];
    if (url !== own) seen.requests.push(r.url());
  });
  page.on("dialog", (d) => { seen.dialogs += 1; d.dismiss().catch(() => {}); });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  return seen;
}

async function lit(page, scope) {
  return page.evaluate((scope) => {
    const s = document.querySelector(scope);
    const out = { rows: [], bytes: {}, text: s?.querySelector(".sel")?.textContent ?? "" };
    if (!s) return out;
    s.querySelectorAll("tr.f.hl").forEach((r) => out.rows.push(r.dataset.key));
    s.querySelectorAll(".hex").forEach((h) => {
      out.bytes[h.dataset.role] = Array.from(h.querySelectorAll(".b.hl"), (b) => Number(b.dataset.i));
    });
    return out;
  }, scope);
}

async function open(page, scope) {
  await page.evaluate((scope) => {
    const d = document.querySelector(scope)?.closest("details");
    if (d) d.open = true;
  }, scope);
}

async function checkPage(p) {
  const url = pathToFileURL(p.file).href;
  const page = await context.newPage();
  const seen = watch(page, url);
  if (p.viewport) await page.setViewportSize(p.viewport);
  await page.goto(url, { waitUntil: "load" });
  const result = { ...seen };
  result.frames = await page.$$eval("details.frame", (ds) => ds.map((d) => d.id));
  result.ladderFrames = await page.$$eval(".ladder-frame", (as) => as.map((a) => Number(a.dataset.frame)));
  result.scripts = await page.$$eval("script", (s) => s.length);
  result.rows = [];
  for (const r of p.rows ?? []) {
    await open(page, r.scope);
    const row = page.locator(`${r.scope} tr.f[data-key="${r.key}"]`).nth(r.nth ?? 0);
    if ((await row.count()) === 0) { result.rows.push({ missing: true, ...r }); continue; }
    await row.click();
    result.rows.push({ ...r, ...(await lit(page, r.scope)) });
  }
  result.bytes = [];
  for (const b of p.bytes ?? []) {
    await open(page, b.scope);
    await page.locator(`${b.scope} .hex[data-role="${b.dump}"] .b[data-i="${b.i}"]`).click();
    result.bytes.push({ ...b, ...(await lit(page, b.scope)) });
  }
  if (p.ladder) {
    await page.evaluate(() => document.querySelectorAll("details").forEach((d) => { d.open = false; }));
    await page.locator(`.ladder-frame[data-frame="${p.ladder}"]`).click();
    result.ladderOpened = await page.evaluate((n) => document.getElementById(`frame-${n}`)?.open === true, p.ladder);
  }
  if (p.print) {
    // As on paper: how many frames' field tables would not be printed.
    await page.emulateMedia({ media: "print" });
    result.unprinted = await page.$$eval("details.frame table", (ts) => ts.filter((t) => !t.checkVisibility()).length);
    result.printed = await page.$$eval("details.frame table", (ts) => ts.length);
    await page.emulateMedia({ media: "screen" });
  }
  if (p.scrollTo) {
    // Out of the way first: a pointer that a scroll moves over a field would select it.
    await page.mouse.move(1, 1);
    await open(page, p.scrollTo);
    await page.locator(p.scrollTo).first().scrollIntoViewIfNeeded();
    // A click event without the scroll a pointer click makes: the screenshot keeps its place.
    if (p.thenClick) await page.locator(p.thenClick).first().dispatchEvent("click");
  }
  if (p.screenshot) await page.screenshot({ path: p.screenshot, fullPage: p.fullPage ?? false });
  result.requests = seen.requests;
  result.dialogs = seen.dialogs;
  result.errors = seen.errors;
  await page.close();
  return result;
}

async function checkImage(i) {
  const url = pathToFileURL(i.file).href;
  const page = await context.newPage();
  const seen = watch(page, url);
  await page.goto(url, { waitUntil: "load" });
  await page.screenshot({ path: i.screenshot });
  await page.close();
  return { file: i.file, requests: seen.requests, errors: seen.errors };
}

let failed = null;
const out = { pages: [], images: [] };
try {
  for (const p of job.pages ?? []) out.pages.push(await checkPage(p));
  for (const i of job.images ?? []) out.images.push(await checkImage(i));
} catch (e) {
  failed = e;
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
if (failed) {
  console.error(`check.mjs: ${failed.stack || failed}`);
  process.exit(2);
}
console.log(JSON.stringify(out));
