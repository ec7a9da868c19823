// The seller's workflow and the buyer's pages in real headless Chromium, against the real binary and a real SMTP server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync, ftruncateSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BIN, SmtpSink, Waybill, launchChromium, linkIn, scratchDir, shot } from './support.mjs';

const SHOP = 'Pracownia Tłumaczeń Ani';
const MiB = 1024 * 1024;
const UPLOAD_LIMIT = 128 * MiB;

describe('admin and buyer pages', { concurrency: false }, () => {
  let scratch;
  let sink;
  let server;
  let browser;
  let context;
  let page;
  const problems = [];
  const data = {};

  /** The shipment of an order placed through the API. */
  async function placePaidOrder(externalId, email, name, sku, options) {
    const order = await server.api('POST', '/api/v1/orders', {
      external_id: externalId,
      buyer: { email, name },
      lines: [{ sku, quantity: 1, options: options ?? {} }],
    });
    await server.api('POST', `/api/v1/orders/${order.id}/payment`, { reference: `PAY-${externalId}` });
    return { orderId: order.id, shipmentId: order.shipments[0].id };
  }

  async function shipment(id) {
    return server.api('GET', `/api/v1/shipments/${id}`);
  }

  // Pages that answer 401/403/410/413/422 on purpose make Chromium log "Failed to load resource"; anything else counts.
  const expected = /Failed to load resource: the server responded with a status of (401|403|410|413|422)/;
  function watch(p, label) {
    p.on('console', (m) => {
      if (m.type() === 'error' && !expected.test(m.text())) problems.push(`${label} console: ${m.text()}`);
    });
    p.on('pageerror', (e) => problems.push(`${label} page error: ${e.message}`));
  }

  before(async () => {
    scratch = scratchDir();
    sink = await SmtpSink.start(scratch.dir);
    server = await Waybill.start({ scratch: scratch.dir, smtpUrl: sink.url, shopName: SHOP });

    const ebook = await server.upload('poradnik.pdf', randomBytes(40_000), 'application/pdf');
    await server.api('PUT', '/api/v1/products/ebook', {
      name: 'Poradnik tłumacza (ebook)', kind: 'standard', files: [ebook], link_ttl_hours: 720,
    });
    await server.api('PUT', '/api/v1/products/translation', {
      name: 'Tłumaczenie przysięgłe', kind: 'personalized', download_limit: 3, link_ttl_hours: 720,
      requires_withdrawal_waiver: true,
    });
    await server.api('PUT', '/api/v1/products/contract', {
      name: 'Umowa na zamówienie', kind: 'personalized', link_ttl_hours: 168,
    });
    data.ebook = await placePaidOrder('shop-0998', 'ewa@example.com', 'Ewa Nowak', 'ebook');
    data.ala = await placePaidOrder('shop-1001', 'ala@example.com', 'Ala Kowalska', 'translation',
      { language: 'EN → PL', pages: 4 });
    data.bartek = await placePaidOrder('shop-1002', 'bartek@example.com', 'Bartek Wiśniewski', 'contract');
    data.celina = await placePaidOrder('shop-1003', 'celina@example.com', 'Celina Zając', 'contract');
    data.dorota = await placePaidOrder('shop-1004', 'dorota@example.com', 'Dorota Lis', 'contract');
    for (const who of ['bartek', 'celina']) {
      await server.api('POST', `/api/v1/shipments/${data[who].shipmentId}/items`,
        { label: 'Contract number', value: `UM/2026/${who === 'bartek' ? '0412' : '0413'}` });
    }

    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true, locale: 'en-GB' });
    page = await context.newPage();
    watch(page, 'admin');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await sink?.stop();
    if (process.exitCode && server) console.error(server.log.join('\n'));
    scratch?.cleanup();
  });

  test('without a session, pages redirect to sign-in and actions are refused', async () => {
    const get = await fetch(`${server.base}/admin/shipments/${data.ala.shipmentId}`, { redirect: 'manual' });
    assert.equal(get.status, 303);
    assert.equal(get.headers.get('location'), `/admin/login?next=/admin/shipments/${data.ala.shipmentId}`);
    for (const action of ['prepare', 'revoke', 'resend']) {
      const post = await fetch(`${server.base}/admin/shipments/${data.bartek.shipmentId}/${action}`, {
        method: 'POST', redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'confirmed=1&csrf=x',
      });
      assert.equal(post.status, 403, action);
    }
    const bulk = await fetch(`${server.base}/admin/shipments/bulk`, {
      method: 'POST', redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `action=prepare&ids=${data.bartek.shipmentId}`,
    });
    assert.equal(bulk.status, 403);
    assert.equal((await shipment(data.bartek.shipmentId)).status, 'in_preparation');

    await page.goto(`${server.base}/admin/orders`);
    await page.waitForURL(/\/admin\/login\?next=/);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, '01-sign-in');
  });

  test('signs in with the first-start admin key', async () => {
    await page.getByLabel('API key').fill('wb_not-a-real-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await shot(page, '02-sign-in-refused');

    await page.getByLabel('API key').fill(server.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.base}/admin/orders`);
    await page.getByRole('heading', { name: 'Orders', level: 1 }).waitFor();
    assert.match(await page.locator('.appbar').innerText(), new RegExp(SHOP));

    const cookie = (await context.cookies()).find((c) => c.name === 'waybill_session');
    assert.ok(cookie, 'session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/admin');
    assert.equal(cookie.secure, false, 'plain http: no Secure flag');
    assert.ok(cookie.value.length >= 43, 'at least 32 random bytes');
    const hours = (cookie.expires - Date.now() / 1000) / 3600;
    assert.ok(hours > 11.9 && hours <= 12, `session lasts 12 h, got ${hours}`);
    await shot(page, '03-orders');
  });

  test('Orders → order → Shipments → magnifier → shipment details', async () => {
    await page.getByLabel('Search orders').fill('ala@example');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=ala%40example/);
    const rows = page.locator('table tbody tr');
    assert.equal(await rows.count(), 1);
    await page.getByRole('link', { name: 'shop-1001' }).click();
    await page.getByRole('heading', { name: /Order shop-1001/ }).waitFor();
    const section = page.locator('#shipments');
    await section.getByRole('heading', { name: 'Shipments' }).waitFor();
    assert.match(await section.innerText(), /In preparation/);
    await shot(page, '04-order');

    await section.getByRole('link', { name: `Open shipment ${data.ala.shipmentId}` }).click();
    await page.waitForURL(`${server.base}/admin/shipments/${data.ala.shipmentId}`);
    await page.getByRole('heading', { name: /Digital shipment/ }).waitFor();
    assert.match(await page.locator('h1').innerText(), /In preparation/);
    assert.match(await page.locator('aside').innerText(), /ala@example\.com/);
    assert.match(await page.locator('aside').innerText(), /Tłumaczenie przysięgłe/);
    await shot(page, '05-shipment-in-preparation');
  });

  test('a file over 128 MiB is refused in the browser and by the server', async () => {
    const big = path.join(scratch.dir, 'too-big.bin');
    const fd = openSync(big, 'w');
    ftruncateSync(fd, UPLOAD_LIMIT + 1);
    closeSync(fd);
    let uploads = 0;
    const count = (r) => { if (r.url().includes('/files')) uploads += 1; };
    page.on('request', count);
    await page.getByLabel('File', { exact: true }).setInputFiles(big);
    const error = page.locator('#file-error');
    await error.waitFor();
    assert.match(await error.innerText(), /is 134,217,729 bytes: larger than 128 MiB \(134,217,728 bytes\)/);
    await page.getByRole('button', { name: 'Save' }).click();
    assert.match(await error.innerText(), /Nothing was uploaded/);
    await shot(page, '06-file-too-large');
    page.off('request', count);
    assert.equal(uploads, 0, 'nothing was sent');

    // The server enforces the limit too, before reading the body, with a clear message.
    const csrf = await page.locator('#edit').getAttribute('data-csrf');
    const cookie = (await context.cookies()).find((c) => c.name === 'waybill_session');
    const answer = await new Promise((resolve, reject) => {
      const req = http.request(`${server.base}/admin/shipments/${data.ala.shipmentId}/files?name=big.bin`, {
        method: 'POST',
        headers: {
          cookie: `waybill_session=${cookie.value}`, 'x-csrf-token': csrf, accept: 'application/json',
          'content-type': 'application/octet-stream', 'content-length': String(UPLOAD_LIMIT + 1),
        },
      }, (res) => {
        let body = '';
        res.on('data', (c) => { body += c; });
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    assert.equal(answer.status, 413);
    assert.match(JSON.parse(answer.body).error, /larger than 128 MiB.*Nothing was attached/);
    await page.getByLabel('File', { exact: true }).setInputFiles([]);
    assert.deepEqual((await shipment(data.ala.shipmentId)).files, []);
  });

  test('attaches a file with a progress bar and a text item, and saves', async () => {
    data.translation = randomBytes(3 * MiB);
    const file = path.join(scratch.dir, 'tłumaczenie-umowy.pdf');
    writeFileSync(file, data.translation);
    // Slow the upload down so the progress bar can be seen moving.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 1.5 * MiB,
    });
    await page.getByLabel('File', { exact: true }).setInputFiles(file);
    await page.getByLabel('Label').fill('Sworn translation no.');
    await page.getByLabel('Value').fill('TP/112/2026');
    await page.getByRole('button', { name: 'Save' }).click();
    const progress = page.locator('#upload-progress');
    await progress.waitFor({ state: 'visible' });
    await page.waitForFunction(() => {
      const bar = document.getElementById('upload-progress');
      return bar && bar.value > 5 && bar.value < 95;
    });
    assert.match(await page.locator('#upload-status').innerText(), /Uploading… \d+% of 3 MiB/);
    await shot(page, '07-uploading');
    await page.waitForURL(/done=saved/);
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
    });
    await page.getByRole('status').filter({ hasText: 'file is attached and the text item added' }).waitFor();
    assert.match(await page.locator('#files').innerText(), /tłumaczenie-umowy\.pdf\s+3 MiB/);
    assert.match(await page.locator('#items').innerText(), /Sworn translation no\.\s+TP\/112\/2026/);
    const s = await shipment(data.ala.shipmentId);
    assert.equal(s.status, 'in_preparation');
    assert.equal(s.files.length, 1);
    assert.equal(s.files[0].size, 3 * MiB);
    await shot(page, '08-saved');
  });

  test('"Mark as prepared": cancelling the confirmation changes nothing; confirming prepares and e-mails the buyer', async () => {
    let message = '';
    page.once('dialog', (dialog) => { message = dialog.message(); dialog.dismiss(); });
    await page.getByRole('button', { name: 'Mark as prepared' }).click();
    assert.match(message, /Mark this shipment as prepared\?/);
    assert.match(message, /This is final/);
    assert.match(message, /ala@example\.com is e-mailed the download link/);
    await page.waitForTimeout(300);
    assert.equal(page.url(), `${server.base}/admin/shipments/${data.ala.shipmentId}?done=saved`);
    assert.equal((await shipment(data.ala.shipmentId)).status, 'in_preparation');
    assert.match(await page.locator('h1').innerText(), /In preparation/);
    assert.equal(sink.to('ala@example.com').length, 0);

    page.once('dialog', (dialog) => dialog.accept());
    await page.getByRole('button', { name: 'Mark as prepared' }).click();
    await page.waitForURL(/done=prepared/);
    assert.match(await page.locator('h1').innerText(), /Prepared/);
    await page.getByRole('status').filter({ hasText: 'Shipment prepared' }).waitFor();
    assert.equal(await page.locator('#edit').count(), 0, 'read-only after preparing');
    assert.equal(await page.locator('input[type=file]').count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Remove' }).count(), 0);
    assert.match(await page.locator('.card-head').innerText(), /Read-only: prepared \d{4}-\d\d-\d\d/);

    const [mail] = await sink.waitFor('ala@example.com');
    data.alaLink = linkIn(mail);
    assert.equal(data.alaLink, (await shipment(data.ala.shipmentId)).download_url);
    const s = await shipment(data.ala.shipmentId);
    assert.equal(s.status, 'prepared');
    await page.waitForFunction(async () => true);
    for (let i = 0; i < 50; i += 1) {
      await page.reload();
      if (/Sent/.test(await page.locator('#notification').innerText())) break;
      await page.waitForTimeout(200);
    }
    assert.match(await page.locator('#notification').innerText(), /Status\s+Sent/);
    await shot(page, '09-prepared');
  });

  test('bulk "Mark as prepared" from the list: two prepared, the empty one reported with its reason', async () => {
    await page.getByRole('link', { name: 'Digital shipments' }).click();
    await page.getByRole('heading', { name: 'Digital shipments', level: 1 }).waitFor();
    assert.equal(await page.getByLabel('Status').inputValue(), 'in_preparation');
    assert.equal(await page.getByLabel('Sort').inputValue(), 'oldest');
    const orders = await page.locator('table tbody tr td:nth-child(3)').allInnerTexts();
    assert.deepEqual(orders, ['shop-1002', 'shop-1003', 'shop-1004'], 'the queue, oldest first');
    await shot(page, '10-shipments-queue');

    await page.getByLabel('Select all shipments on this page').check();
    assert.equal(await page.locator('input[name=ids]:checked').count(), 3);
    await page.getByText('3 selected').waitFor();
    await page.getByLabel('With selected').selectOption('prepare');
    let message = '';
    page.once('dialog', (dialog) => { message = dialog.message(); dialog.accept(); });
    await page.getByRole('button', { name: 'Apply' }).click();
    const report = page.locator('.report');
    await report.waitFor();
    assert.match(message, /Mark the 3 selected shipments as prepared\?/);
    const text = await report.innerText();
    assert.match(text, /2 of 3 selected shipments prepared; 1 not prepared/);
    const lines = await report.locator('li').allInnerTexts();
    assert.equal(lines.length, 3);
    assert.match(lines.find((l) => l.includes('shop-1002')), /^Prepared/);
    assert.match(lines.find((l) => l.includes('shop-1003')), /^Prepared/);
    assert.match(lines.find((l) => l.includes('shop-1004')), /^Not prepared.*empty: no files and no items/);
    assert.equal((await shipment(data.bartek.shipmentId)).status, 'prepared');
    assert.equal((await shipment(data.celina.shipmentId)).status, 'prepared');
    assert.equal((await shipment(data.dorota.shipmentId)).status, 'in_preparation');
    await sink.waitFor('bartek@example.com');
    await sink.waitFor('celina@example.com');
    assert.equal(sink.to('dorota@example.com').length, 0);
    // What is left in the queue is the empty one.
    assert.deepEqual(await page.locator('table tbody tr td:nth-child(3)').allInnerTexts(), ['shop-1004']);
    await shot(page, '11-bulk-report');
  });

  test('a POST without the CSRF token is refused, with a session', async () => {
    const before = sink.to('bartek@example.com').length;
    const target = `${server.base}/admin/shipments/${data.bartek.shipmentId}/resend`;
    const missing = await page.request.post(target, { form: { confirmed: '1' }, maxRedirects: 0 });
    assert.equal(missing.status(), 403);
    assert.match(await missing.text(), /security token is missing or out of date/);
    const wrong = await page.request.post(target, { form: { csrf: 'forged', confirmed: '1' }, maxRedirects: 0 });
    assert.equal(wrong.status(), 403);
    const header = await page.request.post(target, { headers: { 'x-csrf-token': 'forged' }, maxRedirects: 0 });
    assert.equal(header.status(), 403);
    const multipart = await page.request.post(`${server.base}/admin/shipments/${data.dorota.shipmentId}`, {
      multipart: { item_label: 'Injected', item_value: 'nope' }, maxRedirects: 0,
    });
    assert.equal(multipart.status(), 403);
    const revoke = await page.request.post(`${server.base}/admin/shipments/${data.bartek.shipmentId}/revoke`, {
      form: { confirmed: '1' }, maxRedirects: 0,
    });
    assert.equal(revoke.status(), 403);
    const multipartAction = await page.request.post(`${server.base}/admin/shipments/${data.bartek.shipmentId}/revoke`, {
      multipart: { confirmed: '1' }, maxRedirects: 0,
    });
    assert.equal(multipartAction.status(), 403, 'an action route takes no multipart form');
    await page.waitForTimeout(300);
    assert.equal(sink.to('bartek@example.com').length, before, 'no e-mail was sent');
    assert.equal((await shipment(data.bartek.shipmentId)).status, 'prepared');
    assert.deepEqual((await shipment(data.dorota.shipmentId)).items, []);
  });

  test('prepared shipments: resend, reset downloads and revoke through their buttons', async () => {
    await page.goto(`${server.base}/admin/shipments/${data.bartek.shipmentId}`);
    await page.getByRole('button', { name: 'Resend notification' }).click();
    await page.getByRole('status').filter({ hasText: 'queued again' }).waitFor();
    await sink.waitFor('bartek@example.com', 2);
    await page.getByRole('button', { name: 'Reset downloads' }).click();
    await page.getByRole('status').filter({ hasText: 'Download counts reset' }).waitFor();
    await shot(page, '12-prepared-actions');

    let message = '';
    page.once('dialog', (dialog) => { message = dialog.message(); dialog.accept(); });
    await page.getByRole('button', { name: 'Revoke access' }).click();
    await page.waitForURL(/done=revoked/);
    assert.match(message, /Revoke the buyer's access\?/);
    assert.match(await page.locator('h1').innerText(), /Revoked/);
    assert.equal((await shipment(data.bartek.shipmentId)).status, 'revoked');
  });

  test('without JavaScript: plain forms save content and "Prepared" asks on a confirmation page', async () => {
    const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } });
    const p = await plain.newPage();
    watch(p, 'no-js');
    await p.goto(`${server.base}/admin/shipments/${data.dorota.shipmentId}`);
    await p.getByLabel('API key').fill(server.key);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.waitForURL(`${server.base}/admin/shipments/${data.dorota.shipmentId}`);
    assert.equal(await p.getByRole('button', { name: 'Mark as prepared' }).isDisabled(), true, 'empty: cannot prepare');

    const small = path.join(scratch.dir, 'umowa-dorota.txt');
    writeFileSync(small, 'Umowa nr UM/2026/0414\n');
    await p.getByLabel('File', { exact: true }).setInputFiles(small);
    await p.getByLabel('Label').fill('Contract number');
    await p.getByLabel('Value').fill('UM/2026/0414');
    await p.getByRole('button', { name: 'Save' }).click();
    await p.waitForURL(/done=saved/);
    assert.match(await p.locator('#files').innerText(), /umowa-dorota\.txt/);
    assert.match(await p.locator('#items').innerText(), /UM\/2026\/0414/);

    await p.getByRole('button', { name: 'Remove item Contract number' }).click();
    await p.waitForURL(/done=item_removed/);
    assert.equal(await p.locator('#items').count(), 0);

    await p.getByRole('button', { name: 'Mark as prepared' }).click();
    await p.getByRole('heading', { name: 'Mark this shipment as prepared?' }).waitFor();
    assert.match(await p.locator('.lead').innerText(),
      /This is final: the shipment's files and text items can no longer be changed, and dorota@example\.com is e-mailed the download link right away\./);
    await shot(p, '13-no-js-confirmation');
    await p.getByRole('link', { name: 'No, go back' }).click();
    assert.equal((await shipment(data.dorota.shipmentId)).status, 'in_preparation');

    await p.getByRole('button', { name: 'Mark as prepared' }).click();
    await p.getByRole('button', { name: 'Yes, mark as prepared and e-mail the buyer' }).click();
    await p.waitForURL(/done=prepared/);
    assert.equal((await shipment(data.dorota.shipmentId)).status, 'prepared');
    await sink.waitFor('dorota@example.com');
    await plain.close();
  });

  test('the buyer opens the link in Polish on a phone, accepts the waiver and downloads the exact bytes', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true,
      locale: 'pl-PL', acceptDownloads: true,
    });
    const p = await phone.newPage();
    watch(p, 'buyer');
    await p.goto(data.alaLink);
    await p.getByRole('heading', { name: 'Jeszcze jeden krok przed otwarciem zamówienia' }).waitFor();
    assert.match(await p.locator('.shop').innerText(), new RegExp(SHOP));
    assert.equal(await p.locator('a[download]').count(), 0, 'no content before the waiver');
    await shot(p, '14-buyer-waiver-pl');

    await p.getByLabel(/Żądam dostarczenia treści cyfrowych teraz/).check();
    await p.getByRole('button', { name: 'Potwierdzam i otwieram zamówienie' }).click();
    await p.getByRole('heading', { name: 'Twoje zamówienie jest gotowe' }).waitFor();
    const body = await p.locator('main').innerText();
    assert.match(body, /tłumaczenie-umowy\.pdf/);
    assert.match(body, /3,1 MB · pozostały 3 pobrania/);
    assert.match(body, /TP\/112\/2026/);
    assert.doesNotMatch(body, /shop-1002|bartek|UM\/2026/, 'nothing about other shipments');
    await shot(p, '15-buyer-content-pl');

    const [download] = await Promise.all([
      p.waitForEvent('download'),
      p.getByRole('link', { name: /Pobierz/ }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'tłumaczenie-umowy.pdf');
    const bytes = readFileSync(await download.path());
    assert.equal(bytes.length, data.translation.length);
    assert.ok(bytes.equals(data.translation), 'downloaded bytes equal the uploaded ones');
    for (let i = 0; i < 50 && (await shipment(data.ala.shipmentId)).status !== 'delivered'; i += 1) {
      await p.waitForTimeout(100);
    }
    assert.equal((await shipment(data.ala.shipmentId)).status, 'delivered');

    await p.goto(`${data.alaLink}?lang=en`);
    await p.getByRole('heading', { name: 'Your order is ready' }).waitFor();
    assert.match(await p.locator('main').innerText(), /2 downloads left/);
    await shot(p, '16-buyer-content-en');
    await phone.close();
  });

  test('buyer pages for invalid and revoked links say what happened and what to do', async () => {
    const p = await context.newPage();
    watch(p, 'buyer-errors');
    const invalid = await p.goto(`${server.base}/d/v4.public.not-a-token`);
    assert.equal(invalid.status(), 403);
    await p.getByRole('heading', { name: 'This link is not valid' }).waitFor();
    assert.match(await p.locator('main').innerText(), /opened the whole link from the e-mail/);
    await shot(p, '17-buyer-invalid-link');

    const [mail] = sink.to('bartek@example.com');
    const revoked = await p.goto(`${linkIn(mail)}?lang=pl`);
    assert.equal(revoked.status(), 410);
    await p.getByRole('heading', { name: 'Ten link już nie działa' }).waitFor();
    assert.doesNotMatch(await p.content(), /UM\/2026\/0412/);
    await shot(p, '18-buyer-revoked-link-pl');
    await p.close();

    // A download error speaks the buyer's language too (not watched: the 404 is the point).
    const q = await context.newPage();
    const missing = await q.goto(`${data.alaLink}/files/${'0'.repeat(64)}?lang=pl`);
    assert.equal(missing.status(), 404);
    await q.getByRole('heading', { name: 'Nie znaleziono pliku' }).waitFor();
    assert.doesNotMatch(await q.locator('main').innerText(), /File not found/);
    await shot(q, '19-buyer-download-error');
    await q.close();
  });

  test('products: list, create with an uploaded file, edit', async () => {
    await page.goto(`${server.base}/admin/orders`);
    await page.getByRole('link', { name: 'Products' }).click();
    await page.getByRole('heading', { name: 'Products', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'New product' }).click();
    await page.getByLabel('SKU').fill('glossary');
    await page.getByLabel('Name').fill('Słowniczek prawniczy');
    await page.getByLabel('Standard').check();
    const file = path.join(scratch.dir, 'slowniczek.pdf');
    writeFileSync(file, randomBytes(12_345));
    await page.getByLabel('Add files').setInputFiles(file);
    await page.getByLabel('Item 1 label').fill('Access code');
    await page.getByLabel('Item 1 value').fill('GLOSS-2026');
    await page.getByLabel('Downloads per file').fill('5');
    await page.getByLabel(/withdrawal-right waiver/).check();
    await shot(page, '20-product-new');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.waitForURL(`${server.base}/admin/products`);
    const product = await server.api('GET', '/api/v1/products/glossary');
    assert.equal(product.kind, 'standard');
    assert.equal(product.files.length, 1);
    assert.equal(product.download_limit, 5);
    assert.equal(product.requires_withdrawal_waiver, true);
    assert.deepEqual(product.items, [{ label: 'Access code', value: 'GLOSS-2026' }]);
    await shot(page, '21-products');

    await page.getByRole('link', { name: 'Słowniczek prawniczy' }).click();
    assert.equal(await page.getByLabel('SKU').getAttribute('readonly'), '');
    await page.getByLabel('Name').fill('Słowniczek prawniczy 2026');
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.waitForURL(`${server.base}/admin/products`);
    assert.equal((await server.api('GET', '/api/v1/products/glossary')).name, 'Słowniczek prawniczy 2026');
  });

  test('plugins: the installed list; a product run by license-key; a failed run shown with its reason, fixed and run again', async () => {
    async function until(what, check) {
      for (let i = 0; i < 150; i += 1) {
        if (await check()) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`timed out waiting for ${what}`);
    }
    await page.getByRole('link', { name: 'Plugins' }).click();
    await page.getByRole('heading', { name: 'Plugins', level: 1 }).waitFor();
    const table = await page.locator('#plugins').innerText();
    for (const name of ['license-key', 'voucher', 'pdf-watermark']) assert.match(table, new RegExp(name));
    assert.match(table, /bundled/);
    await shot(page, '23-plugins');

    // Install from the browser: garbage is refused with the reason, a component is installed.
    const garbage = path.join(scratch.dir, 'not-a-plugin.wasm');
    writeFileSync(garbage, 'definitely not wasm');
    await page.getByLabel('Component (.wasm)').setInputFiles(garbage);
    await page.getByRole('button', { name: 'Install' }).click();
    await page.getByRole('alert').filter({ hasText: 'not a WebAssembly component' }).waitFor();
    const voucher = path.join(path.dirname(path.dirname(BIN)), 'plugins', 'wasm32-wasip2', 'release', 'voucher.wasm');
    await page.getByLabel('Name').fill('bony');
    await page.getByLabel('Component (.wasm)').setInputFiles(voucher);
    await page.getByRole('button', { name: 'Install' }).click();
    await page.waitForURL(/done=installed/);
    assert.match(await page.locator('#plugins').innerText(), /bony\s+\S+\s+\S+ KiB\s+uploaded/);
    const installed = await server.api('GET', '/api/v1/plugins/bony');
    assert.equal(installed.bundled, false);

    await page.getByRole('link', { name: 'Products' }).click();
    await page.getByRole('link', { name: 'New product' }).click();
    await page.getByLabel('SKU').fill('licencja');
    await page.getByLabel('Name').fill('Licencja programu');
    await page.getByLabel('Personalized').check();
    await page.getByLabel('Plugin', { exact: true }).selectOption('license-key');
    await page.getByLabel('Plugin configuration (JSON)').fill('{"groups": 0}');
    await page.getByRole('button', { name: 'Create product' }).click();
    await page.waitForURL(`${server.base}/admin/products`);
    const product = await server.api('GET', '/api/v1/products/licencja');
    assert.deepEqual(product.plugin, { name: 'license-key', config: { groups: 0 } });
    assert.equal(product.auto_prepare, false);

    const { shipmentId } = await placePaidOrder('shop-2001', 'filip@example.com', 'Filip Kos', 'licencja');
    await until('the failed run', async () => (await shipment(shipmentId)).personalization?.status === 'failed');
    await page.goto(`${server.base}/admin/shipments/${shipmentId}`);
    const card = page.locator('#personalization');
    await card.waitFor();
    const failed = await card.innerText();
    assert.match(failed, /Failed/);
    assert.match(failed, /plugin_error/);
    assert.match(failed, /invalid-config/);
    await shot(page, '24-personalization-failed');
    await page.goto(`${server.base}/admin/shipments`);
    const row = page.locator('tr', { hasText: 'Filip Kos' });
    assert.match(await row.innerText(), /Plugin failed/);

    await page.goto(`${server.base}/admin/products/licencja/edit`);
    await page.getByLabel('Plugin configuration (JSON)').fill('{"groups": 4, "prefix": "LP"}');
    await page.getByRole('button', { name: 'Save product' }).click();
    await page.waitForURL(`${server.base}/admin/products`);

    await page.goto(`${server.base}/admin/shipments/${shipmentId}`);
    let question = '';
    page.once('dialog', (dialog) => { question = dialog.message(); dialog.accept(); });
    await card.getByRole('button', { name: 'Run plugin again' }).click();
    await page.waitForURL(/done=personalize_queued/);
    assert.match(question, /Run the plugin again\?/);
    await until('the second run', async () => (await shipment(shipmentId)).personalization?.status === 'succeeded');
    await page.reload();
    assert.match(await card.innerText(), /Done/);
    const items = (await shipment(shipmentId)).items;
    assert.equal(items.length, 1);
    assert.match(items[0].value, /^LP/);
    assert.match(await page.locator('main').innerText(), new RegExp(items[0].value));
    assert.equal((await shipment(shipmentId)).status, 'in_preparation', 'not auto-prepared');
    await shot(page, '25-personalization-done');
  });

  test('settings show the running configuration', async () => {
    await page.getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const text = await page.locator('main').innerText();
    assert.match(text, new RegExp(server.base.replace(/[.]/g, '\\.')));
    assert.match(text, /128 MiB/);
    assert.match(text, /\.well-known\/waybill\/keys/);
    assert.match(text, /Time per run\s+5000 ms/);
    assert.match(text, /License signing key\s+lk1\./);
    await shot(page, '22-settings');
  });

  test('the admin pages fit a phone screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${server.base}/admin/shipments/${data.ala.shipmentId}`);
    await page.getByRole('heading', { name: /Digital shipment/ }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await shot(page, '23-shipment-on-a-phone');
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
    await page.setViewportSize({ width: 1360, height: 900 });
  });

  test('signing out ends the session', async () => {
    const cookie = (await context.cookies()).find((c) => c.name === 'waybill_session');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/admin\/login/);
    await page.getByText('You signed out.').waitFor();
    await page.goto(`${server.base}/admin/orders`);
    await page.waitForURL(/\/admin\/login\?next=/);
    const reuse = await fetch(`${server.base}/admin/orders`, {
      redirect: 'manual', headers: { cookie: `waybill_session=${cookie.value}` },
    });
    assert.equal(reuse.status, 303, 'the old cookie no longer opens a page');
  });

  test('no page logged a script error or a blocked resource', () => {
    assert.deepEqual(problems, []);
  });
});
