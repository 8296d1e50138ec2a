// fwota's live dashboard: plain JavaScript over the admin REST API (docs/api.md).
// The tenant's API key lives in sessionStorage (this tab only) and goes with every call
// as `X-Authorization: Bearer <key>`. The page polls every POLL_MS and updates the DOM in
// place (rows keyed by id, text set only when it changed), so focus and scrolling survive
// the updates. Everything is built with textContent: no server text is parsed as HTML.
'use strict';

(() => {
  const POLL_MS = 1500;
  const LISTS_EVERY = 3;  // packages, profiles and device names: every third poll
  const PAGE_SIZE = 50;
  const HISTORY_SIZE = 100;
  const KEY_STORAGE = 'fwota.apiKey';
  // Dashboard progress by state (the server's UpdateStatus "progress" says the same).
  const PROGRESS = {
    QUEUED: 0, INITIATED: 5, DOWNLOADING: 10, DOWNLOADED: 55,
    VERIFIED: 60, UPDATING: 70, FAILED: 99, UPDATED: 100,
  };

  const $ = (id) => document.getElementById(id);

  const st = {
    key: null,
    type: 'FIRMWARE',
    filter: '',
    search: '',
    page: 0,
    tick: 0,
    timer: null,
    running: false,
    again: false,
    names: new Map(),     // device id -> name
    profiles: [],
    devices: [],
    packages: [],
    history: null,        // {id, name} while the history dialog is open
    signatures: new Map(),  // select id -> what its options were built from
  };

  // ---- The REST API ----

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function errorOf(status, text) {
    let message = '';
    try { message = JSON.parse(text).message || ''; } catch (e) { /* not JSON */ }
    return new ApiError(status, message || `HTTP ${status}`);
  }

  async function apiWith(key, method, path, body) {
    const headers = { 'X-Authorization': `Bearer ${key}` };
    const init = { method, headers, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'the server cannot be reached');
    }
    const text = await response.text();
    if (!response.ok) throw errorOf(response.status, text);
    return text ? JSON.parse(text) : null;
  }

  const api = (method, path, body) => apiWith(st.key, method, path, body);

  // Multipart upload with progress (fetch has no upload progress).
  function uploadFile(path, file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('X-Authorization', `Bearer ${st.key}`);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
        } else {
          reject(errorOf(xhr.status, xhr.responseText));
        }
      };
      xhr.onerror = () => reject(new ApiError(0, 'the upload was interrupted'));
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  // Every page of a paged listing (PageData), as one array.
  async function allPages(path, pageSize = 500) {
    const out = [];
    for (let page = 0; page < 1000; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const data = await api('GET', `${path}${sep}pageSize=${pageSize}&page=${page}`);
      out.push(...data.data);
      if (!data.hasNext) break;
    }
    return out;
  }

  const q = encodeURIComponent;

  // ---- Small DOM and formatting helpers ----

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'className') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'scope' || k === 'type') {
        node.setAttribute(k, v);
      } else node[k] = v;
    }
    for (const c of children) node.append(c);
    return node;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function setAttr(node, name, value) {
    if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }

  function showMessage(node, text, kind) {
    node.className = `message ${kind || ''}`.trim();
    node.textContent = text;
  }

  function fmtAgo(ms) {
    if (!ms) return '—';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return `${s} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return new Date(ms).toLocaleDateString();
  }

  const fmtTime = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

  function fmtBytes(n) {
    if (n === null || n === undefined) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB'];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
  }

  const titleVersion = (t, v) => (t || v ? `${t || '?'} ${v || ''}`.trim() : '—');
  const idOf = (ref) => (ref && ref.id) || '';

  // Keeps `tbody`'s rows in the order of `items`, reusing the row of each key.
  function syncRows(tbody, items, keyOf, create, update) {
    const old = new Map();
    for (const tr of tbody.rows) old.set(tr.dataset.key, tr);
    let prev = null;
    for (const item of items) {
      const key = keyOf(item);
      let tr = old.get(key);
      if (tr) old.delete(key);
      else {
        tr = create(item);
        tr.dataset.key = key;
      }
      update(tr, item);
      const wanted = prev ? prev.nextSibling : tbody.firstChild;
      if (wanted !== tr) tbody.insertBefore(tr, wanted);
      prev = tr;
    }
    for (const tr of old.values()) tr.remove();
  }

  // Rebuilds a select's (or optgroup's) options only when they changed; keeps the choice.
  function fillOptions(container, options) {
    const signature = JSON.stringify(options);
    if (st.signatures.get(container.id) === signature) return;
    st.signatures.set(container.id, signature);
    const select = container.tagName === 'SELECT' ? container : container.parentElement;
    const chosen = select.value;
    container.replaceChildren(...options.map((o) => el('option', { value: o.value, text: o.label })));
    if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
  }

  // ---- Counts, devices, history ----

  async function refreshStats() {
    const s = await api('GET', `/api/ota/stats?type=${st.type}`);
    for (const name of ['waiting', 'updating', 'updated', 'failed']) {
      setText($(`count-${name}`), String(s[name] ?? 0));
    }
  }

  async function loadDeviceNames() {
    st.devices = await allPages('/api/tenant/devices');
    for (const d of st.devices) st.names.set(d.id.id, d.name);
  }

  async function refreshDevices() {
    let path = `/api/ota/devices?type=${st.type}&pageSize=${PAGE_SIZE}&page=${st.page}`;
    if (st.filter) path += `&state=${q(st.filter)}`;
    if (st.search) path += `&textSearch=${q(st.search)}`;
    const data = await api('GET', path);
    // Each status names its device; older servers did not, so fall back to the list.
    for (const s of data.data) if (s.deviceName) st.names.set(s.deviceId.id, s.deviceName);
    if (data.data.some((s) => !st.names.has(s.deviceId.id))) await loadDeviceNames();
    if (st.page > 0 && st.page >= data.totalPages) {
      st.page = Math.max(0, data.totalPages - 1);
      st.again = true;
    }
    renderDevices(data);
  }

  function createDeviceRow() {
    const progress = el('progress', { max: 100, value: 0 });
    const history = el('button', { type: 'button', className: 'link', text: 'History' });
    history.addEventListener('click', () => {
      const id = history.closest('tr').dataset.key;
      openHistory(id, st.names.get(id) || id, history);
    });
    return el('tr', {},
      el('th', { scope: 'row', className: 'name' }),
      el('td', { className: 'current' }),
      el('td', { className: 'target' }),
      el('td', { className: 'since' }, el('time')),
      el('td', { className: 'progress' }, progress, el('span', { className: 'pct' })),
      el('td', { className: 'state' }, el('span', { className: 'badge' })),
      el('td', { className: 'error' }),
      el('td', { className: 'actions' }, history));
  }

  function updateDeviceRow(tr, s) {
    const name = st.names.get(s.deviceId.id) || s.deviceId.id;
    const state = s.state || '';
    const pct = PROGRESS[state] ?? (typeof s.progress === 'number' ? s.progress : 0);
    setAttr(tr, 'data-state', state);
    const [nameCell, current, target, since, progress, stateCell, error, actions] = tr.cells;
    setText(nameCell, name);
    setText(current, titleVersion(s.currentTitle, s.currentVersion));
    setText(target, titleVersion(s.targetTitle, s.targetVersion));
    const time = since.firstChild;
    setText(time, fmtAgo(s.stateSince));
    if (s.stateSince) {
      setAttr(time, 'datetime', new Date(s.stateSince).toISOString());
      setAttr(time, 'title', fmtTime(s.stateSince));
    }
    const bar = progress.firstChild;
    if (bar.value !== pct) bar.value = pct;
    setAttr(bar, 'aria-label', `Progress of ${name}`);
    setAttr(bar, 'class', `bar-${state.toLowerCase()}`);
    setText(progress.lastChild, `${pct}%`);
    const badge = stateCell.firstChild;
    setText(badge, state || '—');
    setAttr(badge, 'class', `badge badge-${state.toLowerCase()}`);
    setText(error, s.error || '');
    setAttr(actions.firstChild, 'aria-label', `History of ${name}`);
  }

  function renderDevices(data) {
    syncRows($('devices').tBodies[0], data.data, (s) => s.deviceId.id, createDeviceRow,
      updateDeviceRow);
    $('devices-empty').hidden = data.data.length > 0;
    const n = data.totalElements;
    setText($('devices-total'), `${n} ${n === 1 ? 'device' : 'devices'}`);
    const pages = Math.max(1, data.totalPages);
    setText($('page-info'), `Page ${Math.min(st.page + 1, pages)} of ${pages}`);
    $('page-prev').disabled = st.page === 0;
    $('page-next').disabled = !data.hasNext;
  }

  async function refreshHistory() {
    const h = st.history;
    if (!h) return;
    let data;
    try {
      data = await api('GET',
        `/api/device/${h.id}/otaHistory?type=${st.type}&pageSize=${HISTORY_SIZE}&page=0`);
    } catch (e) {
      if (e.status === 401) throw e;
      showMessage($('history-message'), `Cannot load the history: ${e.message}`, 'error');
      return;
    }
    if (st.history !== h) return;
    const n = data.totalElements;
    showMessage($('history-message'),
      n === 0 ? 'No events yet.' : `${n} ${n === 1 ? 'event' : 'events'}` +
        (n > data.data.length ? `, the newest ${data.data.length} shown` : ''));
    syncRows($('history-table').tBodies[0], data.data, (e) => e.id,
      () => el('tr', {}, el('td', { className: 'time' }),
        el('td', {}, el('span', { className: 'badge' })), el('td'),
        el('td'), el('td'), el('td')),
      (tr, e) => {
        const [time, state, pkg, source, accepted, note] = tr.cells;
        setText(time, fmtTime(e.createdTime));
        setText(state.firstChild, e.state || '—');
        setAttr(state.firstChild, 'class', `badge badge-${(e.state || '').toLowerCase()}`);
        setText(pkg, titleVersion(e.title, e.version));
        setText(source, e.source || '');
        setText(accepted, e.accepted ? 'yes' : 'no');
        setText(note, [e.error, e.note].filter(Boolean).join(' — '));
        setAttr(tr, 'data-state', e.state || '');
      });
  }

  function openHistory(id, name, opener) {
    st.history = { id, name, opener };
    setText($('history-device'), name);
    $('history-table').tBodies[0].replaceChildren();
    showMessage($('history-message'), 'Loading…');
    $('history').showModal();
    refreshHistory().catch(onPollError);
  }

  // ---- Packages, profiles, assignment ----

  async function refreshLists() {
    const [packages, profiles] = await Promise.all([
      allPages('/api/otaPackages?sortProperty=createdTime&sortOrder=DESC'),
      allPages('/api/deviceProfiles'),
      loadDeviceNames(),
    ]);
    st.packages = packages;
    st.profiles = profiles;
    renderPackages();
    renderChoices();
  }

  function renderPackages() {
    const profileName = new Map(st.profiles.map((p) => [p.id.id, p.name]));
    syncRows($('packages').tBodies[0], st.packages, (p) => p.id.id,
      (p) => {
        const del = el('button', { type: 'button', className: 'danger', text: 'Delete' });
        del.addEventListener('click', () => {
          const pkg = st.packages.find((x) => x.id.id === del.closest('tr').dataset.key);
          if (pkg) deletePackage(pkg, del);
        });
        return el('tr', {}, el('th', { scope: 'row' }), el('td'), el('td'), el('td'), el('td'),
          el('td', { className: 'num' }), el('td', { className: 'checksum' }), el('td'),
          el('td', { className: 'actions' }, del));
      },
      (tr, p) => {
        const [title, version, type, profile, file, size, checksum, created, actions] = tr.cells;
        setText(title, p.title || '');
        setText(version, p.version || '');
        setText(type, p.type || '');
        setText(profile, profileName.get(idOf(p.deviceProfileId)) || '—');
        setText(file, p.url ? p.url : (p.hasData ? p.fileName || '' : 'no data yet'));
        setText(size, p.hasData ? fmtBytes(p.dataSize) : '—');
        const sum = p.checksum ? `${p.checksumAlgorithm} ${p.checksum.slice(0, 12)}…` : '—';
        setText(checksum, sum);
        setAttr(checksum, 'title', p.checksum ? `${p.checksumAlgorithm} ${p.checksum}` : '');
        setText(created, fmtTime(p.createdTime));
        setAttr(actions.firstChild, 'aria-label', `Delete ${p.title} ${p.version}`);
      });
    $('packages-empty').hidden = st.packages.length > 0;
  }

  function renderChoices() {
    const profiles = [...st.profiles].sort((a, b) => a.name.localeCompare(b.name));
    const devices = [...st.devices].sort((a, b) => a.name.localeCompare(b.name));
    fillOptions($('up-profile'), profiles.length
      ? profiles.map((p) => ({ value: p.id.id, label: p.name }))
      : [{ value: '', label: 'No device profiles yet' }]);
    const usable = st.packages.filter((p) => p.type === st.type && (p.hasData || p.url));
    fillOptions($('as-package'), [{ value: '', label: 'No package (remove the assignment)' },
      ...usable.map((p) => ({ value: p.id.id, label: `${p.title} ${p.version}` }))]);
    fillOptions($('as-profiles'), profiles.map((p) => ({ value: `profile:${p.id.id}`, label: p.name })));
    fillOptions($('as-devices'), devices.map((d) => ({ value: `device:${d.id.id}`, label: d.name })));
  }

  async function deletePackage(p, button) {
    const label = `${p.title} ${p.version}`;
    if (!window.confirm(`Delete the package ${label}?`)) return;
    button.disabled = true;
    try {
      await api('DELETE', `/api/otaPackage/${p.id.id}`);
      showMessage($('packages-message'), `Deleted ${label}.`, 'ok');
    } catch (e) {
      if (e.status === 401) return onPollError(e);
      showMessage($('packages-message'), `Cannot delete ${label}: ${e.message}`, 'error');
    } finally {
      button.disabled = false;
    }
    await refreshLists().catch(onPollError);
  }

  async function onUpload(event) {
    event.preventDefault();
    const form = event.currentTarget;
    if (!form.reportValidity()) return;
    const file = $('up-file').files[0];
    const info = {
      title: $('up-title').value.trim(),
      version: $('up-version').value.trim(),
      type: $('up-type').value,
      deviceProfileId: { entityType: 'DEVICE_PROFILE', id: $('up-profile').value },
    };
    const label = `${info.title} ${info.version}`;
    const bar = $('up-progress');
    const submit = $('up-submit');
    submit.disabled = true;
    bar.value = 0;
    bar.hidden = false;
    showMessage($('packages-message'), `Uploading ${label}…`);
    let created = null;
    try {
      created = await api('POST', '/api/otaPackage', info);
      const alg = q($('up-algorithm').value);
      const saved = await uploadFile(`/api/otaPackage/${created.id.id}?checksumAlgorithm=${alg}`,
        file, (f) => { bar.value = Math.round(f * 100); });
      showMessage($('packages-message'),
        `Uploaded ${label}: ${fmtBytes(saved.dataSize)}, ${saved.checksumAlgorithm} ${saved.checksum}.`,
        'ok');
      $('up-title').value = '';
      $('up-version').value = '';
      $('up-file').value = '';
    } catch (e) {
      // All or nothing, as `fwota package create --file`: drop the info of a failed upload.
      if (created) api('DELETE', `/api/otaPackage/${created.id.id}`).catch(() => {});
      showMessage($('packages-message'), `Cannot upload ${label}: ${e.message}`, 'error');
    } finally {
      submit.disabled = false;
      bar.hidden = true;
    }
    await refreshLists().catch(onPollError);
  }

  async function onAssign(event) {
    event.preventDefault();
    const packageId = $('as-package').value;
    const target = $('as-target').value;
    if (!target) {
      showMessage($('packages-message'), 'Choose a device profile or a device.', 'error');
      return;
    }
    const [kind, id] = target.split(':');
    const field = st.type === 'SOFTWARE' ? 'softwareId' : 'firmwareId';
    const ref = packageId ? { entityType: 'OTA_PACKAGE', id: packageId } : null;
    const pkg = st.packages.find((p) => p.id.id === packageId);
    const targetName = $('as-target').selectedOptions[0].textContent;
    const what = kind === 'profile' ? `device profile ${targetName}` : `device ${targetName}`;
    try {
      if (kind === 'profile') {
        await api('POST', '/api/deviceProfile',
          { id: { entityType: 'DEVICE_PROFILE', id }, [field]: ref });
      } else {
        await api('POST', '/api/device', { id: { entityType: 'DEVICE', id }, [field]: ref });
      }
      showMessage($('packages-message'), pkg
        ? `Assigned ${pkg.title} ${pkg.version} to ${what}.`
        : `Removed the ${st.type.toLowerCase()} assignment of ${what}.`, 'ok');
    } catch (e) {
      if (e.status === 401) return onPollError(e);
      showMessage($('packages-message'), `Cannot assign to ${what}: ${e.message}`, 'error');
    }
    refreshNow();
  }

  // ---- Polling ----

  function setLive(text, bad) {
    const live = $('live');
    setText(live, text);
    live.classList.toggle('bad', Boolean(bad));
  }

  function onPollError(e) {
    if (e && e.status === 401) {
      signOut('The API key is no longer accepted: sign in again.');
    } else {
      setLive(`Connection problem (${e && e.message}), retrying…`, true);
    }
  }

  async function poll() {
    st.timer = null;
    if (!st.key) return;
    st.running = true;
    try {
      if (!document.hidden) {
        const jobs = [refreshStats(), refreshDevices()];
        if (st.tick % LISTS_EVERY === 0) jobs.push(refreshLists());
        if (st.history) jobs.push(refreshHistory());
        await Promise.all(jobs);
        st.tick++;
        setLive(`Live · updated ${new Date().toLocaleTimeString()}`);
      }
    } catch (e) {
      onPollError(e);
    } finally {
      st.running = false;
    }
    if (!st.key) return;
    if (st.again) {
      st.again = false;
      poll();
    } else {
      st.timer = setTimeout(poll, POLL_MS);
    }
  }

  // Polls at once (after the poll in flight, if any): a filter or an action changed.
  function refreshNow() {
    if (st.running) {
      st.again = true;
      return;
    }
    if (st.timer) clearTimeout(st.timer);
    poll();
  }

  // ---- Session ----

  function showApp() {
    $('login').hidden = true;
    $('app').hidden = false;
    $('session').hidden = false;
    st.tick = 0;
    refreshNow();
  }

  function signOut(message) {
    st.key = null;
    sessionStorage.removeItem(KEY_STORAGE);
    if (st.timer) clearTimeout(st.timer);
    st.timer = null;
    if ($('history').open) $('history').close();
    $('app').hidden = true;
    $('session').hidden = true;
    $('login').hidden = false;
    for (const id of ['devices', 'packages', 'history-table']) $(id).tBodies[0].replaceChildren();
    st.signatures.clear();
    showMessage($('login-error'), message || '', 'error');
    $('api-key').value = '';
    $('api-key').focus();
  }

  async function onSignIn(event) {
    event.preventDefault();
    const key = $('api-key').value.trim();
    if (!key) {
      showMessage($('login-error'), 'Enter the API key.', 'error');
      return;
    }
    showMessage($('login-error'), '');
    try {
      await apiWith(key, 'GET', '/api/ota/stats?type=FIRMWARE');
    } catch (e) {
      showMessage($('login-error'), e.status === 401
        ? `Wrong API key: ${e.message}.`
        : `Cannot sign in: ${e.message}.`, 'error');
      $('api-key').select();
      return;
    }
    st.key = key;
    sessionStorage.setItem(KEY_STORAGE, key);
    $('api-key').value = '';
    showApp();
    $('type').focus();
  }

  function init() {
    $('login-form').addEventListener('submit', onSignIn);
    $('logout').addEventListener('click', () => signOut(''));
    $('type').addEventListener('change', () => {
      st.type = $('type').value;
      st.page = 0;
      $('up-type').value = st.type;
      $('devices').tBodies[0].replaceChildren();
      renderChoices();
      refreshNow();
    });
    $('state-filter').addEventListener('change', () => {
      st.filter = $('state-filter').value;
      st.page = 0;
      refreshNow();
    });
    let debounce = null;
    $('search').addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => {
        st.search = $('search').value.trim();
        st.page = 0;
        refreshNow();
      }, 250);
    });
    $('device-filter').addEventListener('submit', (e) => {
      e.preventDefault();
      st.search = $('search').value.trim();
      refreshNow();
    });
    $('page-prev').addEventListener('click', () => { st.page = Math.max(0, st.page - 1); refreshNow(); });
    $('page-next').addEventListener('click', () => { st.page++; refreshNow(); });
    $('upload-form').addEventListener('submit', onUpload);
    $('assign-form').addEventListener('submit', onAssign);
    $('history-close').addEventListener('click', () => $('history').close());
    $('history').addEventListener('close', () => {
      const opener = st.history && st.history.opener;
      st.history = null;
      if (opener && opener.isConnected) opener.focus();
    });
    document.addEventListener('visibilitychange', () => { if (!document.hidden && st.key) refreshNow(); });

    const saved = sessionStorage.getItem(KEY_STORAGE);
    if (saved) {
      st.key = saved;
      showApp();
    } else {
      $('api-key').focus();
    }
  }

  init();
})();
