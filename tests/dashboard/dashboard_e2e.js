// The dashboard end to end, in Debian's headless Chromium driven by playwright-core:
// a real fwotad on a free port with a temporary data directory; sign-in (a wrong key
// refused, the right one kept in sessionStorage); upload and assignment through the page;
// a fleet of devices (made through the REST API) that, once the server has notified
// them, report states through the device HTTP API while the page, never reloaded,
// follows the counts and the table; the state filter, the name search, the history
// dialog (by keyboard); deleting an unassigned package, and the server's refusal for an
// assigned one. Saves a screenshot.
//
// Run by dashboard_e2e_test.sh, which finds node_modules and Chromium and sets:
//   FWOTAD                 the fwotad binary
//   FWOTA_NODE_MODULES     tests/dashboard/node_modules (from `npm ci`)
//   FWOTA_CHROMIUM         the browser (/usr/bin/chromium)
//   FWOTA_E2E_OUT          where screenshots go (Bazel's undeclared outputs, or
//                          /tmp/fwota-dashboard-e2e by hand)
//   FWOTA_DASHBOARD_SCREENSHOT  the main screenshot's path (default: FWOTA_E2E_OUT/dashboard.png)
// Every wait is a condition with a timeout; nothing sleeps a fixed time.
'use strict';

const { spawn } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const { chromium } = require(path.join(process.env.FWOTA_NODE_MODULES, 'playwright-core'));

const FWOTAD = process.env.FWOTAD;
const CHROMIUM = process.env.FWOTA_CHROMIUM || '/usr/bin/chromium';
const TMP = process.env.TEST_TMPDIR || fs.mkdtempSync('/tmp/fwota-dashboard-');
const OUT = process.env.FWOTA_E2E_OUT || process.env.TEST_UNDECLARED_OUTPUTS_DIR || TMP;
const SCREENSHOT = process.env.FWOTA_DASHBOARD_SCREENSHOT || path.join(OUT, 'dashboard.png');
const DEVICES = 20;
const WAIT_MS = 15000;

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${msg}`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `probe` until it returns true; anything else it returns (or throws) is kept as
// the last observation for the failure message.
async function eventually(what, probe, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last === true) return;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last seen: ` +
        (typeof last === 'string' ? last : JSON.stringify(last)));
    }
    await sleep(100);
  }
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

// ---- fwotad ----

async function startFwotad() {
  const dataDir = path.join(TMP, 'data');
  const portFile = path.join(TMP, 'fwotad.port');
  const logPath = path.join(TMP, 'fwotad.log');
  const logFd = fs.openSync(logPath, 'a');
  const proc = spawn(FWOTAD, [`--data_dir=${dataDir}`, '--http_port=0', '--coap_port=0', `--port_file=${portFile}`],
    { stdio: ['ignore', logFd, logFd] });
  let exited = null;
  proc.on('exit', (code, signal) => { exited = signal || code; });
  const readLog = () => fs.readFileSync(logPath, 'utf8');
  await eventually('fwotad to write its port file', () => {
    if (exited !== null) throw new Error(`fwotad exited (${exited}): ${readLog()}`);
    return fs.existsSync(portFile) && fs.existsSync(path.join(dataDir, 'admin-api-key'));
  }, 30000);
  const port = parseInt(fs.readFileSync(portFile, 'utf8'), 10);
  const key = fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
  return {
    base: `http://127.0.0.1:${port}`,
    key,
    readLog,
    async stop() {
      if (exited !== null) return exited;
      const done = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(signal || code)));
      proc.kill('SIGTERM');
      return done;
    },
  };
}

// ---- The REST API and the device API, from the test (not the page) ----

function restClient(server) {
  async function call(method, p, body, headers = {}) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(server.base + p, init);
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
  return {
    admin: (method, p, body) => call(method, p, body, { 'X-Authorization': `Bearer ${server.key}` }),
    telemetry: (token, values) => call('POST', `/api/v1/${token}/telemetry`, values),
  };
}

// ---- The page ----

const deviceName = (i) => `dev-${String(i).padStart(2, '0')}`;

async function counts(page) {
  return page.evaluate(() => Object.fromEntries(['waiting', 'updating', 'updated', 'failed']
    .map((n) => [n, Number(document.getElementById(`count-${n}`).textContent)])));
}

// The device table as the user sees it: [{name, state, current, target, progress, error}].
async function deviceRows(page) {
  return page.$$eval('#devices tbody tr', (rows) => rows.map((tr) => ({
    name: tr.cells[0].textContent,
    current: tr.cells[1].textContent,
    target: tr.cells[2].textContent,
    progress: tr.cells[4].querySelector('progress').value,
    progressText: tr.cells[4].textContent,
    state: tr.cells[5].textContent,
    error: tr.cells[6].textContent,
  })));
}

async function uploadThroughPage(page, title, version, bytes) {
  await page.fill('#up-title', title);
  await page.fill('#up-version', version);
  await page.selectOption('#up-type', 'FIRMWARE');
  await page.selectOption('#up-profile', { label: 'thermostats' });
  await page.setInputFiles('#up-file',
    { name: `${title}-${version}.bin`, mimeType: 'application/octet-stream', buffer: bytes });
  await page.click('#up-submit');
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  await eventually(`the upload of ${title} ${version}`, async () => {
    const msg = await page.textContent('#packages-message');
    return msg.includes(`Uploaded ${title} ${version}`) && msg.includes(`SHA256 ${sha256}`) ? true : msg;
  });
  await eventually(`${title} ${version} in the package table`, async () => {
    const rows = await page.$$eval('#packages tbody tr', (trs) => trs.map((tr) =>
      [...tr.cells].slice(0, 5).map((c) => c.textContent).join('|')));
    return rows.includes(`${title}|${version}|FIRMWARE|thermostats|${title}-${version}.bin`) ? true : rows;
  });
}

async function main() {
  check(FWOTAD && fs.existsSync(FWOTAD), `the fwotad binary (FWOTAD=${FWOTAD})`);
  const server = await startFwotad();
  const rest = restClient(server);
  log(`fwotad on ${server.base}`);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-dev-shm-usage'],
    timeout: 30000,
  });
  log(`Chromium ${browser.version()}`);
  const problems = [];
  let page;
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 900 }, colorScheme: 'light', locale: 'en-GB',
      timezoneId: 'UTC',
    });
    // Nothing may come from anywhere but fwotad (no CDN, nothing fetched at run time).
    const foreign = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${server.base}/`)) return route.continue();
      foreign.push(url);
      return route.abort();
    });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // A refused API call (401, 400) is logged by Chromium as a failed resource load.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
        problems.push(`console error: ${m.text()}`);
      }
    });
    page.on('dialog', (d) => d.accept());  // the delete confirmation

    // ---- Sign in: a wrong key is refused, the right one kept for the session ----
    await page.goto(`${server.base}/dashboard`);
    check(await page.isVisible('#login-form'), 'the sign-in form is shown');
    check(await page.isHidden('#app'), 'the dashboard is hidden before sign-in');
    await page.fill('#api-key', 'fwota_not-the-right-key-0000000000000000000');
    await page.press('#api-key', 'Enter');
    await eventually('the wrong key to be refused', async () => {
      const msg = await page.textContent('#login-error');
      return /Wrong API key: Authentication failed/.test(msg) ? true : msg;
    });
    check(await page.isHidden('#app'), 'the dashboard stays hidden after a wrong key');
    check(await page.evaluate(() => sessionStorage.getItem('fwota.apiKey')) === null,
      'a wrong key is not stored');
    await page.fill('#api-key', server.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForSelector('#app', { state: 'visible' });
    check(await page.evaluate(() => sessionStorage.getItem('fwota.apiKey')) === server.key,
      'the key is kept in sessionStorage');
    await eventually('the count cards', async () => {
      const c = await counts(page);
      return c.waiting === 0 && c.updating === 0 && c.updated === 0 && c.failed === 0 ? true : c;
    });
    // The session survives a reload of the tab; from here on the page is never reloaded.
    await page.reload();
    await page.waitForSelector('#app', { state: 'visible' });
    await page.evaluate(() => { window.e2eNoReload = 'still here'; });
    let navigations = 0;
    page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });
    log('signed in: wrong key refused, right key accepted');

    // ---- A profile and a fleet, through the REST API ----
    const profile = await rest.admin('POST', '/api/deviceProfile', { name: 'thermostats' });
    const profileId = profile.id.id;
    for (let i = 1; i <= DEVICES; i++) {
      await rest.admin('POST', `/api/device?accessToken=token-${deviceName(i)}`,
        { name: deviceName(i), deviceProfileId: { entityType: 'DEVICE_PROFILE', id: profileId } });
    }
    log(`${DEVICES} devices created`);

    // ---- Upload two packages and assign one, through the page ----
    await eventually('the new profile in the upload form', async () =>
      (await page.$$eval('#up-profile option', (os) => os.map((o) => o.textContent)))
        .includes('thermostats'));
    await uploadThroughPage(page, 'fw', '2.0', crypto.randomBytes(96 * 1024 + 5));
    await uploadThroughPage(page, 'fw-spare', '0.9', crypto.randomBytes(4096));
    log('uploaded fw 2.0 and fw-spare 0.9');

    await eventually('fw 2.0 in the assignment form', async () =>
      (await page.$$eval('#as-package option', (os) => os.map((o) => o.textContent)))
        .includes('fw 2.0'));
    await page.selectOption('#as-package', { label: 'fw 2.0' });
    await page.selectOption('#as-target', `profile:${profileId}`);
    await page.getByRole('button', { name: 'Assign' }).click();
    await eventually('the assignment', async () => {
      const msg = await page.textContent('#packages-message');
      return msg === 'Assigned fw 2.0 to device profile thermostats.' ? true : msg;
    });
    check((await rest.admin('GET', `/api/deviceProfile/${profileId}`)).firmwareId.id ===
      (await rest.admin('GET', '/api/otaPackages?pageSize=10&page=0&textSearch=fw'))
        .data.find((p) => p.version === '2.0').id.id, 'the profile has fw 2.0');

    // Every device of the profile is now waiting (or already being notified: a queue may
    // move QUEUED devices to INITIATED at its own pace).
    await eventually('20 devices waiting or updating', async () => {
      const c = await counts(page);
      return c.waiting + c.updating === DEVICES && c.updated === 0 && c.failed === 0 ? true : c;
    });
    await eventually('20 rows targeting fw 2.0', async () => {
      const rows = await deviceRows(page);
      return rows.length === DEVICES && rows.every((r) => r.target === 'fw 2.0') ? true : rows.length;
    });
    log('assigned: the page shows the fleet waiting');

    // The server notifies the devices at its own pace (QUEUED -> INITIATED); like real
    // devices, they start downloading once notified (a report that came first would be
    // overtaken by the notice's INITIATED).
    await eventually('the server to notify every device', async () => {
      const queued = await rest.admin('GET',
        '/api/ota/devices?type=FIRMWARE&state=QUEUED&pageSize=1&page=0');
      return queued.totalElements === 0 ? true : `${queued.totalElements} still QUEUED`;
    }, 60000);
    await eventually('the page to show 20 initiated at 5 %', async () => {
      const c = await counts(page);
      const rows = await deviceRows(page);
      return c.waiting === 0 && c.updating === DEVICES &&
        rows.every((r) => r.state === 'INITIATED' && r.progress === 5) ? true : c;
    });
    log('notified: the page shows the fleet initiated');

    // ---- The fleet reports; the page follows without a reload ----
    const report = (i, values) => rest.telemetry(`token-${deviceName(i)}`, values);
    const all = [...Array(DEVICES).keys()].map((k) => k + 1);
    await Promise.all(all.map((i) =>
      report(i, { fw_state: 'DOWNLOADING', current_fw_title: 'fw', current_fw_version: '1.0' })));
    await eventually('all 20 updating', async () => {
      const c = await counts(page);
      return c.waiting === 0 && c.updating === DEVICES ? true : c;
    });
    await eventually('dev-05 downloading at 10 %', async () => {
      const row = (await deviceRows(page)).find((r) => r.name === 'dev-05');
      return row && row.state === 'DOWNLOADING' && row.progress === 10 &&
        row.progressText === '10%' && row.current === 'fw 1.0' ? true : row;
    });
    log('wave 1: 20 downloading');

    const steps = (i) => {
      if (i <= 12) {
        return [{ fw_state: 'DOWNLOADED' }, { fw_state: 'VERIFIED' }, { fw_state: 'UPDATING' },
          { fw_state: 'UPDATED', current_fw_title: 'fw', current_fw_version: '2.0' }];
      }
      if (i <= 16) {
        return [{ fw_state: 'DOWNLOADED' },
          { fw_state: 'FAILED', fw_error: 'Checksum verification failed (SHA256)' }];
      }
      if (i <= 18) return [{ fw_state: 'DOWNLOADED' }, { fw_state: 'VERIFIED' }];
      return [{ fw_state: 'DOWNLOADING' }];  // progress, still downloading
    };
    await Promise.all(all.map(async (i) => {
      for (const values of steps(i)) await report(i, values);
    }));
    await eventually('12 updated, 4 failed, 4 updating', async () => {
      const c = await counts(page);
      return c.waiting === 0 && c.updating === 4 && c.updated === 12 && c.failed === 4 ? true : c;
    });
    await eventually('the table to follow', async () => {
      const rows = await deviceRows(page);
      const by = Object.fromEntries(rows.map((r) => [r.name, r]));
      const ok = rows.length === DEVICES &&
        by['dev-01'].state === 'UPDATED' && by['dev-01'].progress === 100 &&
        by['dev-01'].current === 'fw 2.0' &&
        by['dev-14'].state === 'FAILED' && by['dev-14'].progress === 99 &&
        by['dev-14'].error === 'Checksum verification failed (SHA256)' &&
        by['dev-17'].state === 'VERIFIED' && by['dev-17'].progress === 60 &&
        by['dev-20'].state === 'DOWNLOADING' && by['dev-20'].progress === 10;
      return ok ? true : rows.map((r) => `${r.name}:${r.state}:${r.progress}`).join(' ');
    });
    log('wave 2: counts and table updated live');

    // ---- Filter by state, search by name ----
    await page.selectOption('#state-filter', 'FAILED');
    await eventually('only the 4 failed devices', async () => {
      const rows = await deviceRows(page);
      return rows.length === 4 && rows.every((r) => r.state === 'FAILED') &&
        (await page.textContent('#devices-total')) === '4 devices' ? true : rows.map((r) => r.name);
    });
    await page.selectOption('#state-filter', 'UPDATED');
    await eventually('only the 12 updated devices', async () => {
      const rows = await deviceRows(page);
      return rows.length === 12 && rows.every((r) => r.state === 'UPDATED') ? true : rows.length;
    });
    await page.selectOption('#state-filter', '');
    await page.fill('#search', 'dev-07');
    await eventually('the search for dev-07', async () => {
      const names = (await deviceRows(page)).map((r) => r.name);
      return names.length === 1 && names[0] === 'dev-07' ? true : names;
    });
    await page.fill('#search', 'dev-1');
    await eventually('the search for dev-1', async () => {
      const names = (await deviceRows(page)).map((r) => r.name).sort();
      return names.join() === [10, 11, 12, 13, 14, 15, 16, 17, 18, 19].map(deviceName).join()
        ? true : names;
    });
    await page.fill('#search', '');
    await eventually('all rows back', async () => (await deviceRows(page)).length === DEVICES);
    log('state filter and name search work');

    // ---- History of one device, opened and closed with the keyboard ----
    const historyButton = page.getByRole('button', { name: 'History of dev-14' });
    await historyButton.focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#history[open]');
    await eventually('the history of dev-14', async () => {
      const events = await page.$$eval('#history-table tbody tr', (trs) => trs.map((tr) =>
        [...tr.cells].slice(1).map((c) => c.textContent).join('|')));
      const want = [
        'FAILED|fw 2.0|device|yes|Checksum verification failed (SHA256)',
        'DOWNLOADED|fw 2.0|device|yes|',
        'DOWNLOADING|fw 1.0|device|yes|',  // the title and version the device reported
        'INITIATED|fw 2.0|server|yes|',
        'QUEUED|fw 2.0|server|yes|',
      ];
      return want.every((w) => events.some((e) => e === w || e.startsWith(w))) ? true : events;
    });
    check((await page.textContent('#history-title')) === 'History of dev-14', 'the dialog title');
    await page.screenshot({ path: path.join(OUT, 'dashboard-history.png') });
    await page.keyboard.press('Escape');
    await page.waitForSelector('#history', { state: 'hidden' });
    check(await page.evaluate(() => document.activeElement.getAttribute('aria-label')) ===
      'History of dev-14', 'focus returns to the History button');
    log('history dialog shows the events');

    // ---- Delete: an unassigned package goes, an assigned one is refused ----
    await page.getByRole('button', { name: 'Delete fw-spare 0.9' }).click();
    await eventually('fw-spare deleted', async () => {
      const msg = await page.textContent('#packages-message');
      const titles = await page.$$eval('#packages tbody th', (ths) => ths.map((t) => t.textContent));
      return msg === 'Deleted fw-spare 0.9.' && !titles.includes('fw-spare') ? true : [msg, titles];
    });
    check((await rest.admin('GET', '/api/otaPackages?pageSize=10&page=0')).totalElements === 1,
      'one package left on the server');
    await page.getByRole('button', { name: 'Delete fw 2.0' }).click();
    await eventually("the server's refusal", async () => {
      const msg = await page.textContent('#packages-message');
      return msg === 'Cannot delete fw 2.0: The otaPackage referenced by the device profile ' +
        'cannot be deleted!' ? true : msg;
    });
    check((await page.$$eval('#packages tbody th', (ths) => ths.map((t) => t.textContent)))
      .includes('fw'), 'fw 2.0 stays in the table');
    check(await page.evaluate(() => document.querySelector('#packages-message').className)
      === 'message error', 'the refusal is shown as an error');
    log('delete: unassigned deleted, assigned refused with the server message');

    // ---- The screenshot, then: no reload happened, nothing foreign loaded ----
    await page.mouse.move(0, 0);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    log(`screenshot: ${SCREENSHOT}`);
    check(await page.evaluate(() => window.e2eNoReload) === 'still here' && navigations === 0,
      `the page was never reloaded (navigations: ${navigations})`);
    check(foreign.length === 0, `no request left fwotad: ${foreign.join(', ')}`);

    // ---- Sign out ----
    await page.click('#logout');
    await page.waitForSelector('#login-form', { state: 'visible' });
    check(await page.evaluate(() => sessionStorage.getItem('fwota.apiKey')) === null,
      'sign-out forgets the key');
    check(problems.length === 0, `no script or CSP errors:\n${problems.join('\n')}`);
  } catch (e) {
    if (page) {
      await page.screenshot({ path: path.join(OUT, 'failure.png'), fullPage: true })
        .catch(() => {});
    }
    if (problems.length) console.error(`page problems:\n${problems.join('\n')}`);
    console.error(`fwotad log (tail):\n${server.readLog().split('\n').slice(-40).join('\n')}`);
    throw e;
  } finally {
    await browser.close();
    const code = await server.stop();
    check(code === 0, `fwotad exited with ${code}`);
  }
  log('PASS');
}

// A hard stop well inside Bazel's timeout, so a hang reports where it was.
const watchdog = setTimeout(() => {
  console.error('dashboard_e2e: FAIL: still running after 150 s');
  process.exit(1);
}, 150000);

main().then(() => clearTimeout(watchdog), (e) => {
  console.error(`dashboard_e2e: FAIL: ${e.stack || e}`);
  process.exit(1);
});
